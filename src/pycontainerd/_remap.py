"""Remapped snapshots for user namespaces, on snapshotters that cannot shift ids themselves.

containerd's Go client (``WithUserNSRemappedSnapshot``) prepares a snapshot
of the image's chain, mounts it on the host, changes the owner of every file
to the host ids the user namespace maps it to, and commits the result under a
name derived from the chain and the mappings, so that the next container with
the same image and mappings starts from it at once. This module does the same.
It runs on the daemon's host, as root (mounting needs ``CAP_SYS_ADMIN``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tempfile
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Final

import anyio

from . import errors
from ._descriptors import Mount
from ._mount import host_error, mount_all, unmount
from ._oci import LABEL_GC_SNAPSHOT
from ._shield import Creation, Removal, finish

if TYPE_CHECKING:
    from ._client import Client
    from ._images import Image
    from .oci import UserNamespace

__all__ = ["REMAP_CAPABILITY", "remapped_parent"]

REMAP_CAPABILITY: Final = "remap-ids"
"""The capability a snapshotter advertises when it shifts ids itself, given the remapper labels."""

_CLEANUP_TIMEOUT: Final = 30.0
_BATCH: Final = 512  # files per trip to a worker thread: short enough to stop soon when cancelled


def _tree(root: str) -> Iterator[str]:
    def fail(exc: OSError) -> None:
        raise exc

    yield root
    for top, dirs, files in os.walk(root, onerror=fail):
        for name in (*dirs, *files):
            yield os.path.join(top, name)


_SPECIAL_BITS: Final = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX


def _chown_some(
    paths: Iterator[str],
    root: str,
    userns: UserNamespace,
    seen: dict[tuple[int, int], tuple[int, int]],
) -> bool:
    """Give up to `_BATCH` of `paths` their host owners; whether any were left."""
    count = 0
    for path in paths:
        try:
            st = os.lstat(path)
            linked = st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode)
            inode = (st.st_dev, st.st_ino)
            # Another name of a file already shifted: once is right, twice is not.
            # (On overlayfs the first name's copy-up parts them: the other is
            # still the lower file, with its own owner, and is shifted too.)
            if linked and seen.get(inode) == (st.st_uid, st.st_gid):
                continue
            try:
                uid, gid = userns.to_host(st.st_uid, st.st_gid)
            except ValueError as exc:
                name = "/" + os.path.relpath(path, root).removeprefix(".")
                raise errors.InvalidArgument(
                    f"{name!r} belongs to {st.st_uid}:{st.st_gid}, which the user namespace"
                    f" does not map ({exc})"
                ) from None
            os.lchown(path, uid, gid)  # never through a symlink, to a host file
            if linked:
                seen[inode] = (uid, gid)
            # chown clears setuid and setgid: give the file its mode back, as Go's client does.
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & _SPECIAL_BITS:
                os.chmod(path, stat.S_IMODE(st.st_mode))
        except OSError as exc:
            raise host_error(f"cannot remap {path!r}", exc, doing="remapping a snapshot") from exc
        count += 1
        if count == _BATCH:
            return True
    return False


async def _chown_mounted(mounts: Sequence[Mount], userns: UserNamespace) -> None:
    """Mount `mounts` on a private directory and shift the owner of every file there."""
    target = tempfile.mkdtemp(prefix="pycontainerd-remap-")
    try:
        try:
            mount_all(mounts, target)
        except OSError as exc:
            what = f"cannot mount the snapshot on {target!r}"
            raise host_error(what, exc, doing="remapping a snapshot") from exc
        try:
            paths, seen = _tree(target), dict[tuple[int, int], tuple[int, int]]()
            while await anyio.to_thread.run_sync(_chown_some, paths, target, userns, seen):
                pass
        finally:
            for _ in mounts:
                unmount(target)
    finally:
        os.rmdir(target)


async def remapped_parent(
    client: Client, snapshotter: str, parent: str, userns: UserNamespace, image: Image
) -> str:
    """The snapshot of `parent` whose files belong to `userns`'s host ids, made unless it exists.

    Call it under a lease: the result is referenced by nothing until a
    snapshot is prepared on top of it, or until the image's config refers
    to it (below).

    Raises:
        pycontainerd.errors.NotFound: there is no snapshot `parent`.
        pycontainerd.errors.InvalidArgument: a file belongs to ids `userns` does not map.
        pycontainerd.errors.PermissionDenied: not root on the daemon's host.
    """
    name = userns.remapped_snapshot_name(parent)
    snapshots = client.snapshots(snapshotter)
    with contextlib.suppress(errors.NotFound):
        await snapshots.stat(name)
        return name
    # A key of our own (Go's is name + "-remap"): clients remapping the same
    # image at once do not refuse each other; the first commit serves all.
    work = f"{name}-remap-{secrets.token_hex(4)}"
    creation = Creation(lambda: snapshots.prepare(work, parent))
    committed = False
    try:
        mounts = await finish(creation, timeout=_CLEANUP_TIMEOUT)
        await _chown_mounted(mounts, userns)
        try:
            await snapshots.commit(name, work)
            committed = True
        except errors.AlreadyExists:
            pass  # another client's remap got there first: theirs serves, ours goes
        else:
            # Kept as long as the image, as its unpacked layers are (the config's
            # gc reference): reused by later containers, and never collected
            # on its own, which containerd's collector (1.6, 1.7 and 2.1 alike)
            # does leaving the parent's child index behind: the image's
            # snapshot could then never be removed.
            config = (await image.manifest()).config.digest
            key = f"{LABEL_GC_SNAPSHOT}{snapshotter}/userns.{name.removeprefix('sha256:')[:16]}"
            await client.content.update(config, labels={key: name})
    finally:
        if not committed:
            # The key is ours alone: NotFound means the Prepare made nothing.
            with contextlib.suppress(errors.NotFound, TimeoutError):
                await finish(Removal(lambda: snapshots.remove(work)), timeout=_CLEANUP_TIMEOUT)
    return name
