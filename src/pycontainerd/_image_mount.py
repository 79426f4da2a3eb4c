"""An image mounted on this host, and unmounted, as ``ctr images mount`` and ``ctr images unmount`` do.

A mount is three things, each named by the target path, as ``ctr`` names
them: a lease whose id is the path, which holds the snapshot (and whose
label ``containerd.io/gc.ref.snapshot.<snapshotter>`` names it); a snapshot
whose key is the path, a read-only view of the image's unpacked chain (or a
writable one); and the host mount of that snapshot on the path. So either
tool unmounts what the other mounted.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import anyio
import attrs

from . import errors
from ._api import _rpc
from ._api.containerd.services.leases.v1 import (
    AddResourceRequest,
    CreateRequest,
    DeleteRequest,
    ListRequest,
    Resource,
)
from ._descriptors import Mount
from ._identifiers import labels as checked_labels
from ._identifiers import shown
from ._mount import host_error, is_mount_point, mount_all, unmount, unmount_all_when_free
from ._oci import LABEL_GC_SNAPSHOT, parse_platform
from ._shield import Creation, Removal, finish
from ._snapshots import SnapshotKind, _check_key

if TYPE_CHECKING:
    from ._client import Client
    from ._images import Image, PlatformLike

__all__ = ["ImageMount", "mount_image", "unmount_image"]

_CLEANUP_TIMEOUT: Final = 10.0
_UNPACK_LEASE_EXPIRY: Final = 24 * 3600.0


@attrs.frozen(kw_only=True)
class ImageMount:
    """An image mounted on a host directory by `Image.mount`.

    The snapshot's key and the lease's id are both the `target` path.

    Attributes:
        target: the absolute path it is mounted on.
        image: the image's name.
        snapshotter: the snapshotter holding the snapshot.
        chain_id: the image's unpacked chain: the snapshot's parent.
        rw: whether the snapshot (and the mount) is writable.
        mounts: the snapshot's mounts, as mounted on `target`.

    Example:
        ```python
        mounted = await image.mount("/mnt/busybox")
        print(mounted.target, mounted.chain_id, mounted.mounts[0].type)
        ```
    """

    target: str
    image: str
    snapshotter: str
    chain_id: str
    rw: bool = False
    mounts: tuple[Mount, ...] = ()


def _target(target: str | os.PathLike[str]) -> str:
    """The absolute path a mount is named by (relative to this process's working directory)."""
    if not isinstance(target, str | os.PathLike):
        raise errors.InvalidArgument(f"invalid mount target {shown(target)}: not a path")
    path = os.fspath(target)
    if not isinstance(path, str) or not path:
        raise errors.InvalidArgument(f"invalid mount target {shown(target)}: not a path")
    return _check_key(os.path.abspath(path), "mount target")


def _free_directory(path: str) -> str:
    """`path`, if it is a directory and not a mount point yet (a quick local check)."""
    if not os.path.isdir(path):
        raise errors.InvalidArgument(f"mount target {shown(path)} is not a directory")
    if is_mount_point(path):
        raise errors.AlreadyExists(f"mount target {shown(path)} is already a mount point")
    return path


async def mount_image(
    image: Image,
    target: str | os.PathLike[str],
    *,
    rw: bool,
    snapshotter: str | None,
    platform: PlatformLike,
) -> ImageMount:
    """See `Image.mount`."""
    from ._images import snapshotter_name, unpack_layers

    client = image._client
    path = _free_directory(_target(target))
    if platform is not None:
        platform = parse_platform(platform)
    name = await snapshotter_name(client, snapshotter)
    lease_labels = checked_labels({f"{LABEL_GC_SNAPSHOT}{name}": path}, "lease labels")
    manifest = await image.manifest(platform)
    snapshots = client.snapshots(name)
    # A lease left by an unmount without removal is the user's: kept on rollback.
    lease_reused = False

    async def create_lease() -> None:
        nonlocal lease_reused
        # The SDK's leases take identifiers only; containerd takes any id, and
        # ctr's is the path: this one is made as ctr makes it, so that ctr
        # unmounts it too.
        try:
            await client._caller.unary(
                _rpc.Leases.Create, CreateRequest(id=path, labels=lease_labels)
            )
        except errors.AlreadyExists:
            lease_reused = True  # used again, as ctr does

    async def hold_snapshot() -> None:
        # What holds the snapshot: the label above is what ctr writes (unmount
        # reads the snapshotter from it), but the collector follows a lease's
        # resources only. Added before the snapshot exists, so that it is
        # never without a hold.
        resource = Resource(id=path, type=f"snapshots/{name}")
        await client._caller.unary(
            _rpc.Leases.AddResource, AddResourceRequest(id=path, resource=resource)
        )

    lease = Creation(create_lease)
    # Refused with AlreadyExists, it made nothing (the snapshot is reused below).
    snapshot = Creation(
        lambda: snapshots.prepare(path, chain) if rw else snapshots.view(path, chain)
    )
    mounted = 0
    try:
        await finish(lease, hold_snapshot, timeout=_CLEANUP_TIMEOUT)
        # The unpack's own lease holds the chain until the mount's snapshot,
        # held by the mount's lease, stands on it.
        async with client.leases.lease(expires_in=_UNPACK_LEASE_EXPIRY) as leased:
            chain = await unpack_layers(
                leased, name, manifest.config, manifest.layers, what=f"image {image.name!r}"
            )
            try:
                mounts: Sequence[Mount] = await finish(snapshot, timeout=_CLEANUP_TIMEOUT)
            except errors.AlreadyExists:
                mounts = await _reuse(client, name, path, chain, rw)
        try:
            mount_all(mounts, path)
        except OSError as exc:
            what = f"cannot mount image {image.name!r} on {path!r}"
            raise host_error(what, exc, doing="mounting") from exc
        mounted = len(mounts)
        # A cancellation that came during the last (shielded) steps undoes the
        # mount here rather than in the caller, who would never see it.
        await anyio.lowlevel.checkpoint_if_cancelled()
    except BaseException:
        for _ in range(mounted):
            unmount(path)
        with contextlib.suppress(TimeoutError, errors.ContainerdError):
            if snapshot.made or snapshot.unsure:
                await finish(Removal(lambda: snapshots.remove(path)), timeout=_CLEANUP_TIMEOUT)
            if (lease.made and not lease_reused) or lease.unsure:
                await finish(Removal(lambda: _delete_lease(client, path)), timeout=_CLEANUP_TIMEOUT)
        raise
    return ImageMount(
        target=path,
        image=image.name,
        snapshotter=name,
        chain_id=chain,
        rw=rw,
        mounts=tuple(mounts),
    )


async def _reuse(client: Client, snapshotter: str, path: str, chain: str, rw: bool) -> list[Mount]:
    """The mounts of the snapshot an earlier mount of `path` left, if it is this image's."""
    snapshots = client.snapshots(snapshotter)
    info = await snapshots.stat(path)
    wanted = SnapshotKind.ACTIVE if rw else SnapshotKind.VIEW
    if info.parent != chain or info.kind is not wanted:
        kind = "writable" if info.kind is SnapshotKind.ACTIVE else "read-only"
        raise errors.AlreadyExists(
            f"snapshot {shown(path)} exists ({kind}, on {info.parent or 'no parent'}): "
            "unmount it and remove its snapshot first"
        )
    return await snapshots.mounts(path)


async def _delete_lease(client: Client, lease_id: str) -> None:
    await client._caller.unary(_rpc.Leases.Delete, DeleteRequest(id=lease_id))


async def _mount_snapshotter(client: Client, path: str) -> str | None:
    """The snapshotter the lease of the mount on `path` names, if there is such a lease."""
    reply = await client._caller.unary(_rpc.Leases.List, ListRequest())
    for lease in reply.leases:
        if lease.id == path:
            for key, value in lease.labels.items():
                if key.startswith(LABEL_GC_SNAPSHOT) and value == path:
                    return key.removeprefix(LABEL_GC_SNAPSHOT)
    return None


async def unmount_image(
    client: Client, target: str | os.PathLike[str], *, remove: bool, snapshotter: str | None
) -> None:
    """See `Images.unmount`."""
    from ._images import snapshotter_name

    path = _target(target)
    if remove:
        # Asked before anything changes: a cancellation here leaves the mount whole.
        name = snapshotter or await _mount_snapshotter(client, path)
        snapshots = client.snapshots(await snapshotter_name(client, name))
    await anyio.lowlevel.checkpoint()  # a cancellation so far lands before anything changes
    try:
        await unmount_all_when_free(path)
    except OSError as exc:
        raise host_error(f"cannot unmount {path!r}", exc, doing="unmounting") from exc
    if not remove:
        return

    async def remove_snapshot() -> None:
        with contextlib.suppress(errors.NotFound):
            await snapshots.remove(path)

    async def delete_lease() -> None:
        with contextlib.suppress(errors.NotFound):
            await _delete_lease(client, path)

    # The snapshot first: while it is there, the lease still holds it.
    await finish(Removal(remove_snapshot), Removal(delete_lease), timeout=_CLEANUP_TIMEOUT)
