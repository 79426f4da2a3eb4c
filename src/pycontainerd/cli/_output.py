"""Output helpers for pyctr: aligned tables, JSON, one-line errors."""

from __future__ import annotations

import base64
import enum
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TextIO, TypeVar, cast

import attrs
import betterproto

_T = TypeVar("_T")
# betterproto 2.0.0b7's Casing holds functions, so its "members" are plain
# functions (what to_pydict calls), which its annotation does not admit.
_SNAKE = cast(betterproto.Casing, betterproto.Casing.SNAKE)


def jsonable(value: Any) -> Any:
    """A JSON-ready copy of `value` (attrs classes, datetimes, bytes, enums, mappings)."""
    if isinstance(value, betterproto.Message):
        # protobuf's field names; fields at their zero value left out, as Go's JSON
        return jsonable(value.to_pydict(casing=_SNAKE))
    if attrs.has(type(value)):
        return {f.name: jsonable(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, enum.Enum):
        return value.name if not isinstance(value, int) else int(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, BaseException):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def warn(message: str) -> None:
    """Write ``pyctr: warning: <message>`` on stderr (the command goes on)."""
    sys.stderr.write(f"pyctr: warning: {message}\n")
    sys.stderr.flush()


def print_json(value: Any, *, out: TextIO | None = None, indent: int | None = 2) -> None:
    """Write `value` as JSON and a newline."""
    stream = out or sys.stdout
    stream.write(json.dumps(jsonable(value), indent=indent, sort_keys=False) + "\n")
    stream.flush()


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, out: TextIO | None = None
) -> None:
    """Write rows as a table whose columns are aligned (the last one is not padded)."""
    stream = out or sys.stdout
    cells = [[str(h) for h in headers]] + [[cell_text(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for r in cells:
        line = "   ".join(c.ljust(w) for c, w in zip(r[:-1], widths[:-1], strict=True))
        stream.write((line + "   " + r[-1] if len(r) > 1 else r[0]).rstrip() + "\n")
    stream.flush()


def listing(
    args: Any,
    items: Sequence[_T],
    *,
    key: Callable[[_T], object],
    headers: Sequence[str],
    row: Callable[[_T], Sequence[Any]],
    json_value: Any = None,
) -> int:
    """Print a listing the pyctr way and return the exit code.

    ``--format json`` prints `json_value` (default: the items), ``-q`` one
    `key` a line, otherwise an aligned table of `row`s under `headers`.
    """
    if args.format == "json":
        print_json(items if json_value is None else json_value)
    elif args.quiet:
        for item in items:
            print(key(item))
    else:
        table(headers, (row(item) for item in items))
    return 0


def cell_text(value: Any) -> str:
    """How a value looks in a table cell."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items())) or "-"
    if isinstance(value, list | tuple):
        return ",".join(cell_text(v) for v in value) or "-"
    if isinstance(value, enum.Enum):
        return str(value.name).lower()
    return str(value) if value != "" else "-"


def human_size(size: int) -> str:
    """1536 -> '1.5 KiB'."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover
