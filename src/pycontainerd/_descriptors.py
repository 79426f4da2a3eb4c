"""Content descriptors and mounts: the values content, images, snapshots and diff share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import attrs

from ._api.containerd.types import Descriptor as _Descriptor
from ._api.containerd.types import Mount as _Mount

__all__ = ["Descriptor", "Mount"]


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@attrs.frozen(kw_only=True)
class Descriptor:
    """A pointer to a blob in the content store: media type, digest and size.

    Example:
        ```python
        desc = Descriptor(
            media_type="application/vnd.oci.image.manifest.v1+json",
            digest="sha256:...",
            size=1234,
        )
        ```
    """

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = attrs.field(factory=dict)

    @classmethod
    def _from_proto(cls, msg: _Descriptor) -> Descriptor:
        return cls(
            media_type=msg.media_type,
            digest=msg.digest,
            size=msg.size,
            annotations=dict(msg.annotations),
        )

    def _to_proto(self) -> _Descriptor:
        return _Descriptor(
            media_type=self.media_type,
            digest=self.digest,
            size=self.size,
            annotations=dict(self.annotations),
        )


@attrs.frozen(kw_only=True)
class Mount:
    """A mount as containerd describes it (what a snapshot returns, what diff applies to).

    Example:
        ```python
        Mount(type="bind", source="/srv/data", options=("rbind", "ro"))
        ```
    """

    type: str
    source: str
    target: str = ""
    options: Sequence[str] = attrs.field(default=(), converter=_strings)

    @classmethod
    def _from_proto(cls, msg: _Mount) -> Mount:
        return cls(type=msg.type, source=msg.source, target=msg.target, options=msg.options)

    def _to_proto(self) -> _Mount:
        return _Mount(
            type=self.type, source=self.source, target=self.target, options=list(self.options)
        )
