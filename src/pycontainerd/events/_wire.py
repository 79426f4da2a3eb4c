"""What ``pycontainerd._content`` still imports from here, on top of `pycontainerd._wire`.

The content module is being rewritten to use `pycontainerd._wire`
directly; delete this module then. `schema_of` names the message (from the
generated schemas, not betterproto's metadata) and `fields` decodes it with
the one codec, keeping the fields the schema was narrowed to.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from .._wire import Plan, data_loss, decode, decoder, message_name
from .._wire import fields as _fields

__all__ = ["data_loss", "fields", "schema_of"]

Schema = dict[int, tuple[str, str, None]]


def schema_of(proto: type) -> Schema:
    """``{number: (field name, message name, None)}`` of a generated message class."""
    message = message_name(proto)
    return {f.number: (f.name, message, None) for f in _fields(message)}


def fields(data: bytes, pos: int, end: int, schema: Schema) -> dict[str, Any]:
    """The fields of the message in ``data[pos:end]`` that `schema` names."""
    names = {name for name, _, _ in schema.values()}
    messages = {message for _, message, _ in schema.values()}
    got: dict[str, Any] = {}
    for message in messages:
        got = decode(_plan(message), data, pos, end)
    return {k: v for k, v in got.items() if k in names}


@cache
def _plan(message: str) -> Plan:
    return decoder(message)
