"""`Extension`: an opaque, typed blob (a protobuf ``Any``), shared by containers and runtimes."""

from __future__ import annotations

import attrs
from betterproto.lib.google.protobuf import Any as AnyProto

__all__ = ["Extension"]


@attrs.frozen(kw_only=True)
class Extension:
    """An opaque, typed blob attached to a container (a protobuf ``Any``).

    Attributes:
        type_url: what `value` holds (containerd's type URLs carry no
            ``type.googleapis.com/`` prefix: ``containerd.runc.v1.Options``).
        value: the serialised message.

    Example:
        ```python
        Extension(type_url="example.com/my-config", value=b'{"x": 1}')
        ```
    """

    type_url: str
    value: bytes = b""

    def _to_proto(self) -> AnyProto:
        return AnyProto(type_url=self.type_url, value=self.value)
