"""The protobuf wire codec of the hot paths (private).

betterproto decodes a message by building an object per field, map entry
and timestamp (~0.2 ms per container or event envelope) and encodes a large
``bytes`` field element by element (~10 ms per MiB). Where that is measured
to matter (listing containers, the event stream, content reads and writes,
small requests), this module reads and writes the wire format itself.

Everything is driven by the schemas ``protos/generate.py`` writes into
``_api/_schemas.py`` from the same descriptors as the stubs: no field number
is typed here. One varint and one timestamp serve every user (grpclib frames
the messages). Unknown fields are skipped, as protobuf requires; ``uint64``
values stay unsigned. Malformed input raises `WireError` (a `ValueError`),
never `IndexError` or `struct.error`, and never loops.

Decoding is compiled per message into a `Plan` (the field key as it is on
the wire -> what to do with the value); `record` makes a `Builder` that
decodes a sub-message straight into a Python value.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from types import MappingProxyType
from typing import Any, Final, NamedTuple

import attrs

from . import errors
from ._api import _schemas

__all__ = [
    "Builder",
    "Field",
    "Plan",
    "WireError",
    "any_span",
    "data_loss",
    "decode",
    "decoder",
    "encode",
    "encode_large",
    "encode_scalars",
    "field_header",
    "fields",
    "message_name",
    "number",
    "read_content_chunk",
    "read_varint",
    "record",
    "split",
    "timestamp",
    "varint",
    "write_content_request",
    "write_content_response",
]


class WireError(ValueError):
    """The bytes are not a well-formed message of the expected shape."""


def data_loss(what: str, exc: Exception) -> errors.DataLoss:
    """The error for a message from the daemon that does not decode."""
    return errors.DataLoss(f"malformed {what} from the daemon: {exc}")


# --- varints -------------------------------------------------------------------

_MASK64: Final = (1 << 64) - 1
_SIGN64: Final = 1 << 63


def varint(value: int) -> bytes:
    """An integer as a protobuf varint (negative: ten-byte two's complement, as int64)."""
    value &= _MASK64
    if value < 0x80:
        return _ONE_BYTE[value]
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_ONE_BYTE: Final = tuple(bytes([i]) for i in range(0x80))


def read_varint(data: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """The varint at `pos`, and the position after it.

    Raises:
        WireError: the varint is cut short or longer than ten bytes.
    """
    try:
        byte = data[pos]
        if byte < 0x80:  # most keys, lengths and values: one byte, no loop
            return byte, pos + 1
        value = byte & 0x7F
        shift = 7
        while True:
            pos += 1
            byte = data[pos]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value & _MASK64, pos + 1
            shift += 7
            if shift > 63:
                raise WireError("varint too long")
    except IndexError:
        raise WireError("truncated varint") from None


def field_header(data: bytes | bytearray | memoryview, pos: int) -> tuple[int, int, int]:
    """The field at `pos`: ``(key, value, position after the header)``.

    The value is the varint for wire type 0, the length for wire type 2 and
    the size (8 or 4) of a fixed field, whose bytes follow the header.

    Raises:
        WireError: cut short, or a group (wire types 3, 4) or unknown wire type.
    """
    key, pos = read_varint(data, pos)
    wire = key & 7
    if wire == 0 or wire == 2:
        value, pos = read_varint(data, pos)
        return key, value, pos
    if wire == 1 or wire == 5:
        return key, 8 if wire == 1 else 4, pos
    raise WireError(f"unsupported wire type {wire}")


# --- schemas -----------------------------------------------------------------------


class Field(NamedTuple):
    """One field of a message, as ``_api/_schemas.py`` describes it."""

    name: str
    number: int
    wire: int
    kind: str  # the protobuf type: "string", "uint64", "message", "map", ...
    repeated: bool
    type_name: str  # of a message, enum or map entry


@cache
def fields(message: str) -> tuple[Field, ...]:
    """The fields of a message, by its full protobuf name.

    Raises:
        KeyError: no schema is generated for `message`.
    """
    return tuple(Field(*f) for f in _schemas.MESSAGES[message])


@cache
def _by_name(message: str) -> dict[str, Field]:
    return {f.name: f for f in fields(message)}


def number(message: str, field: str) -> int:
    """The field number of `field` in `message`."""
    return _by_name(message)[field].number


_CLASS_NAMES: dict[type, str] = {}


def message_name(cls: type) -> str:
    """The full protobuf name of a generated betterproto message class.

    Raises:
        KeyError: `cls` is not a generated message class.
    """
    if not _CLASS_NAMES:
        from ._api import _registry

        _CLASS_NAMES.update((c, name) for name, c in _registry.MESSAGES.items())
    return _CLASS_NAMES[cls]


# --- timestamps ----------------------------------------------------------------------

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_TIMESTAMP: Final = "google.protobuf.Timestamp"
_last_second: tuple[int, datetime] = (0, _EPOCH)
_SECONDS_KEY: Final = number(_TIMESTAMP, "seconds") << 3  # both varints: wire type 0
_NANOS_KEY: Final = number(_TIMESTAMP, "nanos") << 3


def timestamp(data: bytes | memoryview, pos: int, end: int) -> datetime | None:
    """The ``google.protobuf.Timestamp`` in ``data[pos:end]`` as a UTC datetime (microseconds).

    ``None`` for the epoch (what an unset timestamp decodes to).

    Raises:
        WireError: malformed, or out of the range of `datetime`.
    """
    global _last_second
    seconds = nanos = 0
    while pos < end:
        key = data[pos]  # both keys are one byte
        if key == _SECONDS_KEY:
            seconds, pos = read_varint(data, pos + 1)
        elif key == _NANOS_KEY:
            nanos, pos = read_varint(data, pos + 1)
        else:
            key, value, pos = field_header(data, pos)
            if key & 7 != 0:
                pos += value  # an unknown field's bytes
    if seconds >= _SIGN64:
        seconds -= 1 << 64
    if nanos >= _SIGN64:
        nanos -= 1 << 64
    if pos != end:
        raise WireError("malformed timestamp")
    if not seconds and not nanos:
        return None
    if not 0 <= nanos < 1_000_000_000:
        raise WireError("timestamp nanos out of range")
    # timestamps come in bursts within one second: reuse that second's datetime
    last, base = _last_second
    if seconds != last:
        try:
            base = _EPOCH + timedelta(seconds=seconds)
        except OverflowError:
            raise WireError("timestamp out of range") from None
        _last_second = (seconds, base)
    return base.replace(microsecond=nanos // 1000)


def _encode_timestamp(value: datetime) -> bytes:
    delta = value - _EPOCH
    return encode(
        _TIMESTAMP,
        {
            "seconds": delta.days * 86400 + delta.seconds,
            "nanos": delta.microseconds * 1000,
        },
    )


# --- decoding ---------------------------------------------------------------------------

Builder = Callable[[bytes, int, int], Any]
"""Decodes the message in ``data[pos:end]`` into a value."""

# What a plan does with a field's value.
_STR: Final = 0
_BYTES: Final = 1
_SPAN: Final = 2  # (start, end) of a bytes field, not a copy
_MESSAGE: Final = 3  # a Builder's value
_MAP: Final = 4  # a Builder's (key, value) pair
_PACKED: Final = 5  # packed repeated varints
_UINT: Final = 6  # uint32, uint64, enum, fixed32, fixed64
_INT: Final = 7  # int32, int64 (two's complement over 64 bits)
_BOOL: Final = 8
_SINT: Final = 9  # sint32, sint64 (zigzag)
_SFIXED: Final = 10
_FLOAT: Final = 11  # double, float
_REPEATED: Final = 0x100  # flag: append to a list

_VARINT_KINDS: Final = {
    "uint32": _UINT,
    "uint64": _UINT,
    "enum": _UINT,
    "int32": _INT,
    "int64": _INT,
    "bool": _BOOL,
    "sint32": _SINT,
    "sint64": _SINT,
}
_FIXED_KINDS: Final = {
    "fixed32": _UINT,
    "fixed64": _UINT,
    "sfixed32": _SFIXED,
    "sfixed64": _SFIXED,
    "double": _FLOAT,
    "float": _FLOAT,
}

# key on the wire -> (name, action, argument)
Plan = dict[int, tuple[str, int, Any]]


def _defaults(message: str) -> dict[str, Any]:
    """Each field's value when it is absent (maps: an empty read-only mapping)."""
    out: dict[str, Any] = {}
    for f in fields(message):
        if f.kind == "map":
            out[f.name] = MappingProxyType({})
        elif f.repeated:
            out[f.name] = ()
        elif f.kind == "string":
            out[f.name] = ""
        elif f.kind == "bytes":
            out[f.name] = b""
        elif f.kind == "message":
            out[f.name] = None
        elif f.kind == "bool":
            out[f.name] = False
        else:
            out[f.name] = 0.0 if f.kind in ("double", "float") else 0
    return out


def _nested(type_name: str, builders: Mapping[str, Builder]) -> Builder:
    """The builder of a sub-message: given, a timestamp, or a dict of its fields."""
    build = builders.get(type_name)
    if build is not None:
        return build
    if type_name == _TIMESTAMP:
        return timestamp
    return record(type_name, dict, builders)


def _entry(type_name: str, builders: Mapping[str, Builder]) -> Builder:
    """The builder of a map entry: its (key, value)."""
    key_field, value_field = fields(type_name)
    plan = decoder(type_name, builders)
    defaults = _defaults(type_name)

    def build(data: bytes, pos: int, end: int) -> tuple[Any, Any]:
        got = _decode(data, pos, end, plan)
        return (
            got.get(key_field.name, defaults[key_field.name]),
            got.get(value_field.name, defaults[value_field.name]),
        )

    if key_field.kind == value_field.kind == "string":
        return _string_entry(key_field, value_field, build)
    return build


def _string_entry(key_field: Field, value_field: Field, other: Builder) -> Builder:
    """A ``map<string, string>`` entry: short key then value read inline, else `other`."""
    key_key, value_key = key_field.number << 3 | 2, value_field.number << 3 | 2

    def build(data: bytes, pos: int, end: int) -> tuple[str, str]:
        if end - pos >= 2 and data[pos] == key_key and data[pos + 1] < 0x80:
            stop = pos + 2 + data[pos + 1]
            if stop == end:
                return data[pos + 2 : stop].decode(), ""
            if (
                stop + 2 <= end
                and data[stop] == value_key
                and data[stop + 1] < 0x80
                and stop + 2 + data[stop + 1] == end
            ):
                return data[pos + 2 : stop].decode(), data[stop + 2 : end].decode()
        return other(data, pos, end)  # type: ignore[no-any-return]

    return build


def _plan_entry(f: Field, builders: Mapping[str, Builder], spans: Iterable[str]) -> Any:
    """(action, argument) for a field's length-delimited or scalar value."""
    if f.kind == "map":
        return _MAP, _entry(f.type_name, builders)
    if f.kind == "message":
        return _MESSAGE, _nested(f.type_name, builders)
    if f.kind == "string":
        return _STR, None
    if f.kind == "bytes":
        return (_SPAN if f.name in spans else _BYTES), None
    if f.kind in _VARINT_KINDS:
        return _VARINT_KINDS[f.kind], None
    return _FIXED_KINDS[f.kind], f.kind


def decoder(
    message: str, builders: Mapping[str, Builder] | None = None, spans: Iterable[str] = ()
) -> Plan:
    """The plan that decodes `message` (see `decode`).

    Args:
        message: the full protobuf name.
        builders: how to decode sub-messages, by their full names; others
            become a dict of their fields, timestamps a datetime.
        spans: bytes fields to give as their ``(start, end)`` in the data.
    """
    builders = builders or {}
    spans = frozenset(spans)
    plan: Plan = {}
    for f in fields(message):
        action, arg = _plan_entry(f, builders, spans)
        repeated = f.repeated and f.kind != "map"
        plan[f.number << 3 | f.wire] = (f.name, action | _REPEATED if repeated else action, arg)
        if repeated and f.wire != 2:  # packed repeated scalars, as protobuf 3 writes them
            plan[f.number << 3 | 2] = (f.name, _PACKED, (action, f.wire, arg))
    return plan


def _scalar(action: int, value: int, arg: Any) -> Any:
    """A varint or fixed field's value (fixed ones arrive as little-endian unsigned ints)."""
    if action == _UINT:
        return value
    if action == _INT:
        return value - (1 << 64) if value >= _SIGN64 else value
    if action == _BOOL:
        return value != 0
    if action == _SINT:
        return (value >> 1) ^ -(value & 1)
    width = 8 if arg in ("fixed64", "sfixed64", "double") else 4
    if action == _SFIXED:
        return value - (1 << (width * 8)) if value >> (width * 8 - 1) else value
    fmt = "<d" if width == 8 else "<f"
    return struct.unpack(fmt, value.to_bytes(width, "little"))[0]


def _packed(data: bytes | memoryview, pos: int, end: int, how: tuple[int, int, Any]) -> list[Any]:
    action, wire, arg = how
    out = []
    while pos < end:
        if wire == 0:
            value, pos = read_varint(data, pos)
        else:
            size = 8 if wire == 1 else 4
            value = int.from_bytes(data[pos : pos + size], "little")
            pos += size
        out.append(_scalar(action, value, arg))
    if pos != end:
        raise WireError("packed field runs past its end")
    return out


def _store(out: dict[str, Any], name: str, action: int, value: Any) -> None:
    if action & _REPEATED:
        out.setdefault(name, []).append(value)
    else:
        out[name] = value


def _delimited(
    out: dict[str, Any], field: tuple[str, int, Any], data: Any, pos: int, end: int
) -> None:
    """Store a length-delimited value other than a single string or message."""
    name, action, arg = field
    kind = action & ~_REPEATED
    if kind == _MAP:
        key, value = arg(data, pos, end)
        found = out.get(name)
        if found is None:
            found = out[name] = {}
        found[key] = value
    elif kind == _PACKED:
        out.setdefault(name, []).extend(_packed(data, pos, end, arg))
    elif kind == _STR:
        _store(out, name, action, str(data[pos:end], "utf-8"))
    elif kind == _MESSAGE:
        _store(out, name, action, arg(data, pos, end))
    elif kind == _BYTES:
        _store(out, name, action, bytes(data[pos:end]))
    else:
        _store(out, name, action, (pos, end))


def _number(out: dict[str, Any], field: tuple[str, int, Any], value: int) -> None:
    """Store a varint or fixed field's value."""
    name, action, arg = field
    _store(out, name, action, _scalar(action & ~_REPEATED, value, arg))


def _fixed(
    out: dict[str, Any], field: tuple[str, int, Any] | None, data: Any, pos: int, wire: int
) -> int:
    """Read (or skip) a fixed-size field; the position after it."""
    stop = pos + (8 if wire == 1 else 4)
    if field is not None and stop <= len(data):
        _number(out, field, int.from_bytes(data[pos:stop], "little"))
    return stop


def _decode(data: Any, pos: int, end: int, plan: Plan) -> dict[str, Any]:
    """The fields of the message in ``data[pos:end]`` that `plan` names, by name.

    Raises:
        WireError: malformed (every builder runs inside this, so no other error
            of a bad message gets out of any of them).
    """
    out: dict[str, Any] = {}
    try:  # free unless raised (Python 3.11)
        while pos < end:
            key = data[pos]
            if key < 0x80:
                pos += 1
            else:
                key, pos = read_varint(data, pos)
            field = plan.get(key)
            wire = key & 7
            if wire == 2:
                n = data[pos] if pos < end else 0x80
                if n < 0x80:
                    pos += 1
                else:
                    n, pos = read_varint(data, pos)
                stop = pos + n
                if stop > end:
                    raise WireError("a field runs past the end of its message")
                if field is not None:
                    action = field[1]
                    if action == _STR:
                        out[field[0]] = data[pos:stop].decode()
                    elif action == _MESSAGE:
                        out[field[0]] = field[2](data, pos, stop)
                    else:
                        _delimited(out, field, data, pos, stop)
                pos = stop
            elif wire == 0:
                value, pos = read_varint(data, pos)
                if field is not None:
                    if field[1] == _UINT:
                        out[field[0]] = value
                    else:
                        _number(out, field, value)
            elif wire == 1 or wire == 5:
                pos = _fixed(out, field, data, pos, wire)
            else:
                raise WireError(f"unsupported wire type {wire}")
    except (UnicodeDecodeError, OverflowError) as exc:
        raise WireError(str(exc)) from None
    if pos != end:
        raise WireError("a field runs past the end of its message")
    return out


def record(
    message: str,
    make: Callable[..., Any],
    builders: Mapping[str, Builder] | None = None,
    spans: Iterable[str] = (),
) -> Builder:
    """A builder calling ``make(**fields)``, absent fields at their defaults.

    Example:
        ```python
        from pycontainerd._descriptors import Mount
        from pycontainerd._wire import encode, record

        mount = record("containerd.types.Mount", Mount)
        data = encode("containerd.types.Mount", {"type": "bind"})
        assert mount(data, 0, len(data)) == Mount(type="bind", source="")
        ```
    """
    plan = decoder(message, builders, spans)
    defaults = _defaults(message)
    if isinstance(make, type) and attrs.has(make):  # it has defaults: fill only the required
        required = {a.name for a in attrs.fields(make) if a.default is attrs.NOTHING}
        defaults = {k: v for k, v in defaults.items() if k in required}
    fill = tuple(defaults.items())

    def build(data: bytes, pos: int, end: int) -> Any:
        got = _decode(data, pos, end, plan)
        for name, value in fill:
            if name not in got:
                got[name] = value
        return make(**got)

    return build


_ANY: Final = "google.protobuf.Any"
_TYPE_URL_KEY: Final = number(_ANY, "type_url") << 3 | 2
_VALUE_KEY: Final = number(_ANY, "value") << 3 | 2


def any_span(data: bytes, pos: int, end: int) -> tuple[str, int, int]:
    """The type URL of the ``google.protobuf.Any`` in ``data[pos:end]`` and where its value is.

    Returns ``(type_url, start, stop)``: the value is ``data[start:stop]``,
    left in place for the caller to decode without a copy.

    Raises:
        WireError: not such a message.
    """
    url = ""
    start = stop = end
    while pos < end:
        key = data[pos]
        n = data[pos + 1] if pos + 1 < end else 0x80
        if key & 7 == 2 and key < 0x80 and n < 0x80:  # the usual case: one-byte key and length
            pos += 2
        else:
            key, n, pos = field_header(data, pos)
        if not key & 7:
            continue  # a varint: field_header has read it
        field_end = pos + n
        if field_end > end:
            raise WireError("a field runs past the end of its message")
        if key == _TYPE_URL_KEY:
            url = _text(data, pos, field_end)
        elif key == _VALUE_KEY:
            start, stop = pos, field_end
        pos = field_end
    if pos != end:
        raise WireError("a field runs past the end of its message")
    return url, start, stop


def _text(data: bytes, pos: int, end: int) -> str:
    try:
        return data[pos:end].decode()
    except UnicodeDecodeError as exc:
        raise WireError(str(exc)) from None


def split(data: bytes, message: str, field: str) -> list[bytes]:
    """The serialised values of a repeated message `field`, undecoded, in order.

    Raises:
        WireError: `data` is not a `message`.
    """
    f = _by_name(message)[field]
    want = f.number << 3 | 2
    out: list[bytes] = []
    append = out.append
    pos, end = 0, len(data)
    while pos < end:
        if data[pos] == want:  # the usual case: a one-byte key, then the length
            value, pos = read_varint(data, pos + 1)
            key = want
        else:
            key, value, pos = field_header(data, pos)
        if key == want and pos + value <= end:
            append(data[pos : pos + value])
        if key & 7:
            pos += value
    if pos != end:
        raise WireError("a field runs past the end of its message")
    return out


def decode(plan: Plan, data: bytes, pos: int = 0, end: int | None = None) -> dict[str, Any]:
    """Decode a message with `plan` into ``{field name: value}`` (absent fields left out).

    Strings become `str`, repeated fields lists, maps dicts, sub-messages
    what the plan's builders make.

    Raises:
        WireError: the bytes are not such a message.
    """
    return _decode(data, pos, len(data) if end is None else end, plan)


# --- encoding -----------------------------------------------------------------------------


def _key(f: Field, wire: int | None = None) -> bytes:
    return varint(f.number << 3 | (f.wire if wire is None else wire))


def _delimited_field(f: Field, payload: bytes | memoryview) -> list[bytes | memoryview]:
    return [_key(f), varint(len(payload)), payload]


def _delimited_field_wire2(f: Field, payload: bytes) -> list[bytes | memoryview]:
    return [_key(f, 2), varint(len(payload)), payload]


def _encode_value(f: Field, value: Any) -> list[bytes | memoryview]:
    """One occurrence of a field, as parts."""
    kind = f.kind
    if kind == "string":
        return _delimited_field(f, value.encode())
    if kind == "bytes":
        return _delimited_field(f, value)
    if kind == "message":
        if f.type_name == _TIMESTAMP and isinstance(value, datetime):
            return _delimited_field(f, _encode_timestamp(value))
        return _delimited_field(f, encode(f.type_name, value))
    if kind in ("sint32", "sint64"):
        return [_key(f), varint(value << 1 if value >= 0 else (-value << 1) - 1)]
    if f.wire == 0:
        return [_key(f), varint(int(value))]
    width = 8 if f.wire == 1 else 4
    if kind in ("double", "float"):
        return [_key(f), struct.pack("<d" if width == 8 else "<f", value)]
    return [_key(f), (int(value) & ((1 << width * 8) - 1)).to_bytes(width, "little")]


def _get(values: Any, name: str) -> Any:
    if isinstance(values, Mapping):
        return values.get(name)
    return getattr(values, name, None)


def _encode_field(f: Field, value: Any) -> list[bytes | memoryview]:
    if f.kind == "map":
        key_field, value_field = fields(f.type_name)
        parts: list[bytes | memoryview] = []
        for k, v in value.items():
            entry = encode(f.type_name, {key_field.name: k, value_field.name: v})
            parts += _delimited_field(f, entry)
        return parts
    if f.repeated:
        if f.kind in ("string", "bytes", "message"):
            return [part for item in value for part in _encode_value(f, item)]
        if not value:
            return []
        # numbers are packed, as protobuf 3 writes them: one key, then the values
        packed = b"".join(bytes(_encode_value(f, item)[1]) for item in value)
        return _delimited_field_wire2(f, packed)
    if f.kind != "message" and not value:
        return []  # proto3 leaves out zero values
    return _encode_value(f, value)


def encode(message: str, values: Any) -> bytes:
    """Serialise `message` from a mapping or an object with its fields as attributes.

    Missing and ``None`` fields are left out, as are zero scalars; a
    sub-message is a mapping or an object again (timestamps: a datetime).

    Example:
        ```python
        from pycontainerd._wire import encode

        data = encode("containerd.types.Mount", {"type": "bind", "source": "/srv"})
        ```
    """
    parts: list[bytes | memoryview] = []
    for f in fields(message):
        value = _get(values, f.name)
        if value is not None:
            parts += _encode_field(f, value)
    return b"".join(parts)


def encode_scalars(cls: type, **values: str | bytes | int) -> bytes:
    """The serialised `cls` message with these scalar fields, built without betterproto.

    Only strings, bytes, integers, booleans and enums; unset and default
    values are left out, as proto3 does. The bytes equal what betterproto
    sends for ``cls(**values)``.

    Raises:
        TypeError: `cls` has no scalar field of that name.

    Example:
        ```python
        from pycontainerd._api.containerd.services.tasks.v1 import GetRequest
        from pycontainerd._wire import encode_scalars

        request = encode_scalars(GetRequest, container_id="web")  # == bytes(GetRequest(...))
        ```
    """
    schema = _by_name(message_name(cls))
    parts: list[bytes | memoryview] = []
    for name, value in values.items():
        f = schema.get(name)
        if f is None or f.repeated or f.kind in ("message", "map"):
            raise TypeError(f"{cls.__name__} has no scalar field {name!r}")
        if value:
            parts += _encode_value(f, value)
    return b"".join(parts)


_LARGE: Final = 32 * 1024


@cache
def _bytes_fields(message: str) -> tuple[Field, ...]:
    return tuple(f for f in fields(message) if f.kind == "bytes" and not f.repeated)


def encode_large(message: Any) -> bytes:
    """Serialise a betterproto message; its large top-level bytes fields are appended raw.

    betterproto's encoders convert a ``bytes`` field element by element
    (~10 ms per MiB). Protobuf lets fields come in any order, so the message
    is serialised with those fields emptied and each is appended as key,
    length and the bytes themselves: one copy. The message is left as it was.
    """
    try:
        candidates = _bytes_fields(message_name(type(message)))
    except KeyError:
        candidates = ()
    big = [(f, v) for f in candidates if len(v := getattr(message, f.name)) >= _LARGE]
    if not big:
        return bytes(message)
    for f, _ in big:
        setattr(message, f.name, b"")
    try:
        parts: list[bytes | memoryview] = [bytes(message)]
    finally:
        for f, value in big:
            setattr(message, f.name, value)
    for f, value in big:
        parts += _delimited_field(f, value)
    return b"".join(parts)


# --- content ------------------------------------------------------------------------------

_READ_RESPONSE: Final = "containerd.services.content.v1.ReadContentResponse"
_WRITE_RESPONSE: Final = "containerd.services.content.v1.WriteContentResponse"
_WRITE_REQUEST: Final = "containerd.services.content.v1.WriteContentRequest"


@cache
def _read_plan() -> Plan:
    return decoder(_READ_RESPONSE, spans=("data",))


@cache
def _write_response_plan() -> Plan:
    return decoder(_WRITE_RESPONSE)


def read_content_chunk(payload: bytes | memoryview) -> tuple[int, memoryview]:
    """The ``(offset, data)`` of one ``ReadContentResponse``; `data` views `payload`, no copy.

    Raises:
        WireError: `payload` is not such a message.
    """
    view = memoryview(payload)
    got = _decode(view, 0, len(view), _read_plan())  # no strings: a view will do
    start, end = got.get("data", (0, 0))
    return got.get("offset", 0), view[start:end]


def write_content_response(payload: bytes) -> dict[str, Any]:
    """The fields of a ``WriteContentResponse`` (absent ones at their defaults).

    Keys: ``action``, ``started_at``, ``updated_at`` (datetime or ``None``),
    ``offset``, ``total``, ``digest``.

    Raises:
        WireError: `payload` is not such a message.
    """
    return {**_defaults(_WRITE_RESPONSE), **decode(_write_response_plan(), payload)}


def write_content_request(data: bytes | memoryview, **values: Any) -> bytes:
    """A serialised ``WriteContentRequest`` carrying `data`, which is copied once.

    `values` are its other fields (``action``, ``ref``, ``offset``,
    ``total``, ``expected``, ``labels``); the data field goes last.

    Example:
        ```python
        from pycontainerd._api.containerd.services.content.v1 import WriteAction
        from pycontainerd._wire import write_content_request

        message = write_content_request(bytes(1 << 20), action=WriteAction.WRITE, offset=0)
        ```
    """
    if "data" in values:
        raise TypeError("pass the data as the first argument")
    head = encode(_WRITE_REQUEST, values)
    if not len(data):
        return head
    return b"".join((head, _key(_by_name(_WRITE_REQUEST)["data"]), varint(len(data)), data))
