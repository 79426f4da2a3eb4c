"""Typed events and their envelope, decoded straight from the wire.

The event classes are generated from containerd's event protos into
``_api/_events.py`` (one per message, named after it, with its ``TYPE_URL``
and ``TOPIC``; `pycontainerd.events` exports them); `pycontainerd._wire`
decodes and encodes them by the generated schemas.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import attrs
import betterproto
from betterproto.lib.google.protobuf import Any as _Any

from .. import _wire
from .._api._events import EVENTS, Event
from .._descriptors import Mount
from ._values import Unknown, _Event

__all__ = ["EVENTS", "Envelope", "Event", "Unknown", "decode", "decode_event", "encode"]

_GOOGLE_PREFIX: Final = "type.googleapis.com/"
_ANY: Final = "google.protobuf.Any"
_ENVELOPE: Final = "containerd.types.Envelope"


def _event_builders() -> dict[str, _wire.Builder]:
    """A builder for every event class (and the values they hold), by type URL.

    A class is compiled once the classes of its sub-messages are (`TaskIO`
    before `TaskCreate`).
    """
    builders: dict[str, _wire.Builder] = {
        _ANY: _wire.record(_ANY, Unknown),
        "containerd.types.Mount": _wire.record("containerd.types.Mount", Mount),
    }
    pending = {cls.TYPE_URL: cls for cls in EVENTS}
    while pending:
        ready = [
            url
            for url in pending
            if all(
                f.type_name in builders or f.type_name not in pending
                for f in _wire.fields(url)
                if f.kind == "message"
            )
        ]
        if not ready:
            raise RuntimeError(f"event messages hold each other: {sorted(pending)}")
        for url in ready:
            builders[url] = _wire.record(url, pending.pop(url), builders)
    del builders[_ANY], builders["containerd.types.Mount"]
    return builders


_BUILDERS: Final = _event_builders()
_BY_URL: Final[dict[str, type[_Event]]] = {cls.TYPE_URL: cls for cls in EVENTS}
_URL_BY_MESSAGE: dict[type[betterproto.Message], str] = {}


def _decode_event(type_url: str, data: bytes, start: int, end: int) -> Event:
    """The typed event in ``data[start:end]``; `Unknown` when not modelled or corrupt."""
    build = _BUILDERS.get(type_url)
    if build is None:
        type_url = type_url.removeprefix(_GOOGLE_PREFIX)
        build = _BUILDERS.get(type_url)
    if build is not None:
        try:
            return build(data, start, end)  # type: ignore[no-any-return]
        except (ValueError, TypeError, OverflowError):
            pass  # a corrupt payload is still delivered, undecoded
    return Unknown(type_url=type_url, value=data[start:end])


def _event_in_place(data: bytes, pos: int, end: int) -> Event:
    type_url, start, stop = _wire.any_span(data, pos, end)
    return _decode_event(type_url, data, start, stop)


_ENVELOPE_PLAN: Final = _wire.decoder(_ENVELOPE, {_ANY: _event_in_place})
_NO_EVENT: Final = Unknown(type_url="", value=b"")


def decode(any_: _Any) -> Event:
    """The typed event for an ``Any``; `Unknown` for types the SDK does not model."""
    return decode_event(any_.type_url, bytes(any_.value))


def decode_event(type_url: str, value: bytes) -> Event:
    """The typed event for a type URL and serialized message; `Unknown` when not modelled."""
    return _decode_event(type_url, value, 0, len(value))


def encode(event: Event | betterproto.Message) -> _Any:
    """An ``Any`` for a typed event, an `Unknown` or a generated message.

    Raises:
        TypeError: `event` is a generated message with no known type URL.
    """
    if isinstance(event, Unknown):
        return _Any(type_url=event.type_url, value=event.value)
    if isinstance(event, _Event):
        return _Any(type_url=event.TYPE_URL, value=_wire.encode(event.TYPE_URL, event))
    if isinstance(event, betterproto.Message):
        try:
            url = _wire.message_name(type(event))
        except KeyError:
            raise TypeError(
                f"no type URL is known for the message {type(event).__name__}"
            ) from None
        return _Any(type_url=url, value=bytes(event))
    raise TypeError(f"cannot publish {event!r}: not an event value or a protobuf message")


@attrs.frozen(kw_only=True)
class Envelope:
    """One event as the daemon delivered it.

    Attributes:
        timestamp: when the daemon published it (UTC).
        namespace: the namespace it happened in.
        topic: e.g. ``/tasks/exit``.
        event: the typed event (`TaskExit`, `ContainerCreate`, ... or `Unknown`).

    Example:
        ```python
        async for envelope in stream:
            if isinstance(envelope.event, events.TaskExit):
                print(envelope.event.container_id, envelope.event.exit_status)
        ```
    """

    timestamp: datetime | None
    namespace: str
    topic: str
    event: Event

    @classmethod
    def _from_wire(cls, data: bytes) -> Envelope:
        """Decode a serialized ``Envelope``; its event is decoded in place, without a copy.

        Raises:
            pycontainerd.errors.DataLoss: `data` is not an envelope.
        """
        try:
            got: dict[str, Any] = _wire.decode(_ENVELOPE_PLAN, data)
        except _wire.WireError as exc:
            raise _wire.data_loss("event envelope", exc) from exc
        return cls(
            timestamp=got.get("timestamp"),
            namespace=got.get("namespace", ""),
            topic=got.get("topic", ""),
            event=got.get("event", _NO_EVENT),
        )
