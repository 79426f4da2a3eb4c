"""What the generated event classes (``_api/_events.py``) build on: their base and `Unknown`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import attrs

__all__ = ["Unknown"]


def _labels(value: Mapping[str, str]) -> Mapping[str, str]:
    return dict(value)


class _Event:
    """Base of the typed events, one attrs class per containerd event message.

    ``TYPE_URL`` is the message's full protobuf name (what containerd puts in
    the envelope's ``Any``); ``TOPIC`` the topic containerd publishes it on
    (``None`` for values held by other events, such as `TaskIO`). Fields
    carry the message's field names; sub-messages are ``None`` when unset.
    """

    TYPE_URL: ClassVar[str]
    TOPIC: ClassVar[str | None]


@attrs.frozen(kw_only=True)
class Unknown:
    """An event (or an ``Any`` value) whose type the SDK does not know.

    Attributes:
        type_url: the message's full name, e.g. ``example.com.MyEvent``.
        value: the serialized message.
    """

    type_url: str
    value: bytes = b""
