"""Conversions between generated protobuf messages and Python values."""

from __future__ import annotations

from datetime import UTC, datetime

import betterproto

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(value: datetime | None) -> datetime | None:
    """A decoded protobuf Timestamp as an aware UTC datetime, or ``None`` when unset.

    betterproto 2.0.0b7 decodes an unset Timestamp as the epoch.
    """
    if value is None or value == _EPOCH:
        return None
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def is_set(message: betterproto.Message | None) -> bool:
    """Whether a sub-message was present on the wire (betterproto fills unset ones with defaults)."""
    return message is not None and betterproto.serialized_on_wire(message)
