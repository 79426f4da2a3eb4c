"""Snapshots: the layered filesystems containers run on.

`Snapshots` (``client.snapshots()``) wraps containerd's Snapshots service for
one snapshotter (``overlayfs`` by default). A snapshot is *active* (writable,
made by `Snapshots.prepare`), a read-only *view* (`Snapshots.view`) or
*committed* (`Snapshots.commit` turns an active snapshot into an immutable
parent for others). Snapshots that nothing refers to are garbage: make them
under a lease (``client.leases.lease()``) or label them as containerd's
unpacker does.
"""

from __future__ import annotations

import builtins
import enum
import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Final

import attrs
from betterproto.lib.google.protobuf import FieldMask

from . import errors
from ._api import _rpc
from ._api.containerd.services.snapshots.v1 import (
    CommitSnapshotRequest,
    ListSnapshotsRequest,
    MountsRequest,
    PrepareSnapshotRequest,
    RemoveSnapshotRequest,
    StatSnapshotRequest,
    UpdateSnapshotRequest,
    UsageRequest,
    ViewSnapshotRequest,
)
from ._api.containerd.services.snapshots.v1 import Info as _Info
from ._convert import timestamp
from ._descriptors import Mount
from ._facade import Facade
from ._identifiers import label_changes, label_paths, shown
from ._identifiers import labels as checked_labels

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["DEFAULT_SNAPSHOTTER", "SnapshotInfo", "SnapshotKind", "Snapshots", "Usage"]


#: The snapshotter `Client.snapshots` uses when none is named.
DEFAULT_SNAPSHOTTER: Final = "overlayfs"


# NUL and line breaks in a key reach the snapshotter's paths, labels and logs.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def _check_key(key: str, what: str = "snapshot key") -> str:
    if not isinstance(key, str) or not key:
        raise errors.InvalidArgument(f"invalid {what} {shown(key)}: must be a non-empty string")
    if _CONTROL.search(key):
        raise errors.InvalidArgument(
            f"invalid {what} {shown(key)}: control characters (NUL, newlines...) are not allowed"
        )
    return key


class SnapshotKind(enum.Enum):
    """What a snapshot is: a read-only view, an active (writable) or a committed one."""

    UNKNOWN = 0
    VIEW = 1
    ACTIVE = 2
    COMMITTED = 3


@attrs.frozen(kw_only=True)
class SnapshotInfo:
    """What the snapshotter knows about one snapshot.

    ``name`` is the key of an active snapshot or view, the name of a
    committed one; ``parent`` is ``""`` for a snapshot without parent.

    Example:
        ```python
        info = await client.snapshots().stat("rootfs-1")
        print(info.kind, info.parent, info.labels)
        ```
    """

    name: str
    parent: str = ""
    kind: SnapshotKind = SnapshotKind.UNKNOWN
    labels: Mapping[str, str] = attrs.field(factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def _from_proto(cls, msg: _Info) -> SnapshotInfo:
        try:
            kind = SnapshotKind(int(msg.kind))
        except ValueError:
            kind = SnapshotKind.UNKNOWN
        return cls(
            name=msg.name,
            parent=msg.parent,
            kind=kind,
            labels=dict(msg.labels),
            created_at=timestamp(msg.created_at),
            updated_at=timestamp(msg.updated_at),
        )


@attrs.frozen(kw_only=True)
class Usage:
    """Disk usage of a snapshot's own layer: bytes and inodes.

    Example:
        ```python
        usage = await client.snapshots().usage("rootfs-1")
        print(usage.size, usage.inodes)
        ```
    """

    size: int
    inodes: int


class Snapshots(Facade):
    """One snapshotter of the client's namespace (``client.snapshots(name)``).

    Example:
        ```python
        snapshots = client.snapshots()  # overlayfs
        mounts = await snapshots.prepare("work", parent="base")
        ...  # mount `mounts`, change files, unmount
        await snapshots.commit("work-done", "work")
        ```
    """

    def __init__(self, client: Client, name: str = DEFAULT_SNAPSHOTTER) -> None:
        super().__init__(client)
        self.name = _check_key(name, "snapshotter name")

    def __repr__(self) -> str:
        return f"<Snapshots {self.name!r} namespace={self._caller.namespace!r}>"

    async def prepare(
        self,
        key: str,
        parent: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> builtins.list[Mount]:
        """Create the active (writable) snapshot `key` on top of `parent`; return its mounts.

        Raises:
            pycontainerd.errors.AlreadyExists: a snapshot `key` exists.
            pycontainerd.errors.NotFound: there is no committed snapshot `parent`.

        Example:
            ```python
            mounts = await client.snapshots().prepare("ctr-1-rootfs", parent=chain_id)
            ```
        """
        _check_key(key)
        if parent:
            _check_key(parent, "parent snapshot")
        reply = await self._caller.unary(
            _rpc.Snapshots.Prepare,
            PrepareSnapshotRequest(
                snapshotter=self.name, key=key, parent=parent or "", labels=checked_labels(labels)
            ),
        )
        return [Mount._from_proto(m) for m in reply.mounts]

    async def view(
        self,
        key: str,
        parent: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> builtins.list[Mount]:
        """Create the read-only view `key` of `parent`; return its mounts.

        Example:
            ```python
            mounts = await client.snapshots().view("inspect-1", parent=chain_id)
            ```
        """
        _check_key(key)
        if parent:
            _check_key(parent, "parent snapshot")
        reply = await self._caller.unary(
            _rpc.Snapshots.View,
            ViewSnapshotRequest(
                snapshotter=self.name, key=key, parent=parent or "", labels=checked_labels(labels)
            ),
        )
        return [Mount._from_proto(m) for m in reply.mounts]

    async def mounts(self, key: str) -> builtins.list[Mount]:
        """The mounts of the active snapshot or view `key`.

        Example:
            ```python
            mounts = await client.snapshots().mounts("ctr-1-rootfs")
            ```
        """
        _check_key(key)
        reply = await self._caller.unary(
            _rpc.Snapshots.Mounts, MountsRequest(snapshotter=self.name, key=key)
        )
        return [Mount._from_proto(m) for m in reply.mounts]

    async def commit(self, name: str, key: str, *, labels: Mapping[str, str] | None = None) -> None:
        """Commit the active snapshot `key` as the immutable snapshot `name`.

        The active snapshot `key` is gone afterwards.

        Raises:
            pycontainerd.errors.AlreadyExists: a snapshot `name` exists.
            pycontainerd.errors.NotFound: there is no active snapshot `key`.

        Example:
            ```python
            await client.snapshots().commit("layer-2", "layer-2-extract")
            ```
        """
        _check_key(name, "snapshot name")
        _check_key(key)
        await self._caller.unary(
            _rpc.Snapshots.Commit,
            CommitSnapshotRequest(
                snapshotter=self.name, name=name, key=key, labels=checked_labels(labels)
            ),
        )

    async def remove(self, key: str) -> None:
        """Remove the snapshot `key` (a committed one only once it has no children).

        Raises:
            pycontainerd.errors.NotFound: there is no snapshot `key`.
            pycontainerd.errors.FailedPrecondition: other snapshots are built on it.

        Example:
            ```python
            await client.snapshots().remove("ctr-1-rootfs")
            ```
        """
        _check_key(key)
        await self._caller.unary(
            _rpc.Snapshots.Remove, RemoveSnapshotRequest(snapshotter=self.name, key=key)
        )

    async def stat(self, key: str) -> SnapshotInfo:
        """What the snapshotter knows about the snapshot `key`.

        Raises:
            pycontainerd.errors.NotFound: there is no snapshot `key`.

        Example:
            ```python
            info = await client.snapshots().stat("layer-2")
            assert info.kind is SnapshotKind.COMMITTED
            ```
        """
        _check_key(key)
        reply = await self._caller.unary(
            _rpc.Snapshots.Stat,
            StatSnapshotRequest(snapshotter=self.name, key=key),
        )
        return SnapshotInfo._from_proto(reply.info)

    async def update(
        self,
        key: str,
        *,
        labels: Mapping[str, str | None],
        replace_labels: bool = False,
    ) -> SnapshotInfo:
        """Set or remove labels key by key; a value of ``None`` removes that label.

        Labels not named keep their values, unless `replace_labels`.

        Args:
            key: the snapshot.
            labels: the labels to set (``None``: remove that label).
            replace_labels: make `labels` the snapshot's whole set of labels
                (the ``labels`` field path, as Go's ``Update(ctx, info,
                "labels")``): every label not named is removed, ``{}``
                removes them all.

        Raises:
            pycontainerd.errors.NotFound: there is no such snapshot.

        Example:
            ```python
            await client.snapshots().update("layer-2", labels={"keep": "yes", "old": None})
            await client.snapshots().update("layer-2", labels={"keep": "yes"}, replace_labels=True)
            ```
        """
        _check_key(key)
        labels = label_changes(labels)
        new = {k: v for k, v in labels.items() if v is not None}
        reply = await self._caller.unary(
            _rpc.Snapshots.Update,
            UpdateSnapshotRequest(
                snapshotter=self.name,
                info=_Info(name=key, labels=new),
                update_mask=FieldMask(paths=label_paths(labels, replace=replace_labels)),
            ),
        )
        return SnapshotInfo._from_proto(reply.info)

    async def list(self, *filters: str) -> builtins.list[SnapshotInfo]:
        """The snapshotter's snapshots, optionally narrowed by `filters` (e.g. ``kind==committed``).

        `filters` mean what they mean for every ``list()``: several are ORed,
        the comma-separated selectors of one are ANDed (containerd's syntax, see
        `pycontainerd.events.filters`).
        Fields include ``name``, ``parent``, ``kind`` and ``labels.<key>``.

        Example:
            ```python
            committed = await client.snapshots().list("kind==committed")
            ```
        """
        found: builtins.list[SnapshotInfo] = []
        async with self._caller.stream(
            _rpc.Snapshots.List,
        ) as stream:
            await stream.send(
                ListSnapshotsRequest(snapshotter=self.name, filters=builtins.list(filters)),
                end=True,
            )
            async for reply in stream:
                found.extend(SnapshotInfo._from_proto(i) for i in reply.info)
        return found

    async def usage(self, key: str) -> Usage:
        """Disk usage of the snapshot `key`'s own layer (not its parents').

        Example:
            ```python
            print((await client.snapshots().usage("ctr-1-rootfs")).size)
            ```
        """
        _check_key(key)
        reply = await self._caller.unary(
            _rpc.Snapshots.Usage, UsageRequest(snapshotter=self.name, key=key)
        )
        return Usage(size=reply.size, inodes=reply.inodes)
