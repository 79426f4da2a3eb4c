"""Output helpers for pyctr: tables, JSON, progress, one-line warnings.

On a terminal, tables and progress bars are drawn with rich when it is
installed (``pip install 'pycontainerd[cli]'``); without rich, or when the
output is not a terminal, tables are plain aligned columns and no progress is
drawn, so that what scripts read is the same with or without the extra.
"""

from __future__ import annotations

import base64
import enum
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO, TypeVar, cast

import attrs
import betterproto

if TYPE_CHECKING:
    import rich.progress

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
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    out: TextIO | None = None,
    terminal: bool | None = None,
) -> None:
    """Write rows as a table: rich's on a terminal, else aligned columns (the last not padded).

    `terminal` defaults to whether the stream is one; without rich, a terminal
    gets the aligned columns too.
    """
    stream = out or sys.stdout
    cells = [[cell_text(c) for c in row] for row in rows]
    if (stream.isatty() if terminal is None else terminal) and _rich_table(headers, cells, stream):
        return
    cells.insert(0, [str(h) for h in headers])
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for r in cells:
        line = "   ".join(c.ljust(w) for c, w in zip(r[:-1], widths[:-1], strict=True))
        stream.write((line + "   " + r[-1] if len(r) > 1 else r[0]).rstrip() + "\n")
    stream.flush()


def _rich_table(headers: Sequence[str], cells: list[list[str]], stream: TextIO) -> bool:
    """Draw the table with rich; False when rich is not installed."""
    try:
        from rich import box
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text
    except ImportError:
        return False
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for header in headers:
        # long digests and references wrap whole rather than being cut with an ellipsis
        grid.add_column(header, overflow="fold")
    for row in cells:
        grid.add_row(*(Text(c) for c in row))  # Text: a "[...]" in a cell is not markup
    Console(file=stream, force_terminal=True, highlight=False).print(grid)
    stream.flush()
    return True


class Progress:
    """A transfer's progress on stderr while it runs (a context manager).

    On a terminal, with `per_item` (a pull's or push's blobs) a bar for the
    whole and one per item, else (the one stream of an import or export) one
    bar; without rich, one line redrawn in place. When stderr is not a
    terminal nothing is drawn: stdout carries the command's result, and
    stderr stays empty on success.

    Example:
        ```python
        with Progress("pulling", per_item=True) as progress:
            progress.update("sha256:ab...", "layer ab12", done=1 << 20, total=4 << 20)
        ```
    """

    def __init__(self, label: str, *, per_item: bool, stream: TextIO | None = None) -> None:
        self._label = label
        self._per_item = per_item
        self._stream = stream or sys.stderr
        self._items: dict[str, tuple[int, int | None]] = {}
        self._bar: rich.progress.Progress | None = None
        self._tasks: dict[str, rich.progress.TaskID] = {}
        self._line_shown = -1
        self.enabled = self._stream.isatty()

    def __enter__(self) -> Progress:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish()

    def start(self) -> None:
        """Start drawing (on a terminal)."""
        if not self.enabled:
            return
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
            from rich.progress import Progress as Bars
        except ImportError:
            return  # the plain line
        self._bar = Bars(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(file=self._stream, highlight=False),
        )
        self._bar.start()
        if self._per_item:
            self._tasks[""] = self._bar.add_task(self._label, total=None)

    def finish(self) -> None:
        """Stop drawing: the bars stay as they ended, the plain line is wiped."""
        if self._bar is not None:
            self._bar.stop()
        elif self.enabled and self._line_shown >= 0:
            self._stream.write("\r\x1b[K")
            self._stream.flush()

    @property
    def done(self) -> int:
        """Bytes done, over every item."""
        return sum(done for done, _ in self._items.values())

    def update(self, key: str, description: str, *, done: int, total: int | None) -> None:
        """Item `key` (shown as `description`) has `done` of `total` bytes (None: unknown)."""
        self._items[key] = (done, total)
        if not self.enabled:
            return
        if self._bar is None:
            self._redraw_line()
            return
        if key not in self._tasks:
            self._tasks[key] = self._bar.add_task(description, total=total)
        self._bar.update(self._tasks[key], completed=done, total=total)
        if "" in self._tasks:
            totals = [t for _, t in self._items.values()]
            whole = None if None in totals else sum(t or 0 for t in totals)
            self._bar.update(self._tasks[""], completed=self.done, total=whole)

    def advance(self, n: int) -> None:
        """The one stream of an import or export has `n` more bytes (total as set)."""
        done, total = self._items.get(self._label, (0, None))
        self.update(self._label, self._label, done=done + n, total=total)

    def set_total(self, total: int | None) -> None:
        """The one stream's total size, when known before it starts."""
        self._items[self._label] = (self._items.get(self._label, (0, None))[0], total)

    def _redraw_line(self) -> None:
        done = self.done
        step = done >> 20  # redraw once a MiB
        if step == self._line_shown:
            return
        self._line_shown = step
        totals = [t for _, t in self._items.values()]
        whole = "" if None in totals else f" / {human_size(sum(t or 0 for t in totals))}"
        self._stream.write(f"\r{self._label}: {human_size(done)}{whole}\x1b[K")
        self._stream.flush()


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
