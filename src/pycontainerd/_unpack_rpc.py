"""The few snapshot and diff calls unpack needs, as raw RPCs (private).

Kept apart from the public snapshots/diff facades so the unpacker depends
only on the transport.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from betterproto.lib.google.protobuf import Empty

from ._api.containerd.services.diff.v1 import ApplyRequest, ApplyResponse
from ._api.containerd.services.snapshots.v1 import (
    CommitSnapshotRequest,
    PrepareSnapshotRequest,
    PrepareSnapshotResponse,
    RemoveSnapshotRequest,
    StatSnapshotRequest,
    StatSnapshotResponse,
)
from ._descriptors import Descriptor, Mount

if TYPE_CHECKING:
    from ._client import Client

_SNAPSHOTS = "/containerd.services.snapshots.v1.Snapshots/"


class Snapshotter:
    """Stat, prepare, commit and remove in one snapshotter."""

    def __init__(self, client: Client, name: str) -> None:
        self._caller = client._caller
        self.name = name

    async def stat(self, key: str) -> None:
        """Raise `errors.NotFound` unless the snapshot `key` exists."""
        await self._caller.unary(
            _SNAPSHOTS + "Stat",
            StatSnapshotRequest(snapshotter=self.name, key=key),
            StatSnapshotResponse,
        )

    async def prepare(self, key: str, parent: str, labels: Mapping[str, str]) -> list[Mount]:
        """Prepare an active snapshot `key` on `parent`; its mounts."""
        reply = await self._caller.unary(
            _SNAPSHOTS + "Prepare",
            PrepareSnapshotRequest(
                snapshotter=self.name, key=key, parent=parent, labels=dict(labels)
            ),
            PrepareSnapshotResponse,
        )
        return [Mount._from_proto(m) for m in reply.mounts]

    async def commit(self, name: str, key: str, labels: Mapping[str, str]) -> None:
        """Commit the active snapshot `key` as `name`."""
        await self._caller.unary(
            _SNAPSHOTS + "Commit",
            CommitSnapshotRequest(snapshotter=self.name, name=name, key=key, labels=dict(labels)),
            Empty,
        )

    async def remove(self, key: str) -> None:
        """Remove the snapshot `key`."""
        await self._caller.unary(
            _SNAPSHOTS + "Remove", RemoveSnapshotRequest(snapshotter=self.name, key=key), Empty
        )


async def apply(client: Client, layer: Descriptor, mounts: Sequence[Mount]) -> Descriptor:
    """Apply the layer blob onto `mounts` through the diff service; the applied (uncompressed) descriptor."""
    reply = await client._caller.unary(
        "/containerd.services.diff.v1.Diff/Apply",
        ApplyRequest(diff=layer._to_proto(), mounts=[m._to_proto() for m in mounts]),
        ApplyResponse,
    )
    return Descriptor._from_proto(reply.applied)
