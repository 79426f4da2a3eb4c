"""``ctr run --mount`` syntax: ``type=bind,src=/a,dst=/b,options=rbind:ro`` (a CSV record)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._identifiers import shown

if TYPE_CHECKING:
    from ._model import Mount

__all__ = ["format_mount_flag", "parse_mount_flag", "split_csv"]

_KEYS = {
    "type": "type",
    "source": "source",
    "src": "source",
    "destination": "destination",
    "dst": "destination",
    "target": "destination",
    "options": "options",
}


def split_csv(text: str) -> list[str]:
    """Split one CSV record the way Go's ``encoding/csv`` reads it.

    Fields are separated by commas; a field that starts with ``"`` is quoted
    (``""`` inside it is a literal quote; commas and newlines are kept).

    Raises:
        ValueError: a bare quote in an unquoted field, an unterminated
            quoted field, text after a closing quote, or a newline outside
            quotes (a second record).
    """
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    fields: list[str] = []
    i, n = 0, len(text)
    while True:
        if i < n and text[i] == '"':
            i += 1
            chunk: list[str] = []
            while True:
                close = text.find('"', i)
                if close < 0:
                    raise ValueError(
                        f"unterminated quoted field in mount specification {shown(text)}"
                    )
                chunk.append(text[i:close])
                i = close + 1
                if i < n and text[i] == '"':
                    chunk.append('"')
                    i += 1
                    continue
                break
            fields.append("".join(chunk))
            if i == n:
                return fields
            if text[i] != ",":
                raise ValueError(
                    f"unexpected {text[i]!r} after a quoted field in mount specification {shown(text)}"
                )
            i += 1
        else:
            end = text.find(",", i)
            field = text[i:] if end < 0 else text[i:end]
            if '"' in field:
                raise ValueError(f'bare " in unquoted field {shown(field)} of mount specification')
            if "\n" in field or "\r" in field:
                raise ValueError(
                    f"line break in unquoted field {shown(field)} of mount specification"
                )
            fields.append(field)
            if end < 0:
                return fields
            i = end + 1


def parse_mount_flag(cls: type[Mount], text: str) -> Mount:
    """The body of `oci.Mount.parse` (see there)."""
    if not text.strip():
        raise ValueError("empty mount specification")
    values: dict[str, str] = {}
    for field in split_csv(text):
        key, sep, value = field.partition("=")
        if not sep:
            raise ValueError(f"invalid mount field {shown(field)}: expected key=value")
        name = _KEYS.get(key)
        if name is None:
            raise ValueError(
                f"unknown mount field {shown(key)} (expected type, source/src, destination/dst/target or options)"
            )
        values[name] = value
    destination = values.get("destination", "")
    if not destination:
        raise ValueError(f"mount specification {shown(text)} has no destination (dst=...)")
    # The runtime joins the destination to the rootfs: it must name a place inside it.
    if not destination.startswith("/"):
        raise ValueError(f"mount destination {shown(destination)} is not an absolute path")
    if ".." in destination.split("/"):
        raise ValueError(f"mount destination {shown(destination)} contains '..'")
    for name, value in values.items():
        if "\x00" in value:
            raise ValueError(f"mount {name} {shown(value)} contains a NUL character")
    options = values.get("options", "")
    return cls(
        destination=destination,
        type=values.get("type", ""),
        source=values.get("source", ""),
        options=tuple(options.split(":")) if options else (),
    )


def _quote(value: str) -> str:
    if value == "" or any(c in value for c in ',"\r\n') or value[0] in " \t":
        return '"' + value.replace('"', '""') + '"'
    return value


def format_mount_flag(mount: Mount) -> str:
    """The body of `oci.Mount.format` (see there)."""
    for option in mount.options:
        if not option or ":" in option:
            raise ValueError(f"mount option {option!r} cannot be written in --mount syntax")
    if mount._extras:
        raise ValueError(
            f"mount fields {sorted(mount._extras)} cannot be written in --mount syntax"
        )
    fields = [("type", mount.type), ("source", mount.source), ("destination", mount.destination)]
    if mount.options:
        fields.append(("options", ":".join(mount.options)))
    return ",".join(_quote(f"{key}={value}") for key, value in fields)
