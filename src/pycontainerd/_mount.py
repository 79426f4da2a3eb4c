"""Mounting snapshot mounts on this host, with libc's ``mount(2)`` and ``umount2(2)``.

The system calls, through ctypes, rather than ``mount(8)``: no process per
mount, the kernel's own ``errno`` for errors, and the options reach the
kernel as containerd's mount package passes them, whatever util-linux
release is installed (``mount(8)`` goes through libmount, which rewrites
some options and, since 2.39, sends them one by one with the new mount API).

The kernel copies at most one page of a mount's data (4 KiB): an overlay of
many layers lists more lowerdirs than that. containerd then mounts from a
forked process whose working directory is the layers' common parent, with
the lowerdirs relative to it. A process's working directory belongs to all
its threads, so this opens the common parent instead and names it by its
descriptor, ``/proc/self/fd/N``, which the kernel resolves as it mounts: the
mount is made in place, by the caller's thread, and it stays once the
descriptor is closed. With snapshot paths that gives room for about 150
layers.

Past those 150 the options still exceed the page, and the mount is refused
before it is tried, as containerd's ``mountAt`` refuses it.

Root only (``CAP_SYS_ADMIN``). The calls are short and are made in place,
without an await: a mount cut short in a worker thread could land after its
rollback, and nothing interrupts a call made in place halfway.

What containerd's mount package does with a helper process or a loop
device (FUSE types, ``loop``, ``uidmap=``/``gidmap=`` id-mapped mounts) is
refused with `errors.Unimplemented` rather than passed to the kernel.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import re
from collections.abc import Sequence
from typing import Final

import anyio

from . import errors
from ._descriptors import Mount
from ._identifiers import shown

__all__ = [
    "host_error",
    "is_mount_point",
    "mount",
    "mount_all",
    "unmount",
    "unmount_all",
    "unmount_all_when_free",
]

# mount(2) flags by option, as containerd's mount package reads them: (set, clear).
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_SYNCHRONOUS = 1, 2, 4, 8, 16
_MS_REMOUNT, _MS_DIRSYNC, _MS_NOATIME, _MS_NODIRATIME, _MS_BIND = 32, 128, 1024, 2048, 4096
_MS_REC, _MS_RELATIME, _MS_STRICTATIME = 16384, 1 << 21, 1 << 24
_FLAGS: Final = {
    "async": (0, _MS_SYNCHRONOUS),
    "atime": (0, _MS_NOATIME),
    "bind": (_MS_BIND, 0),
    "defaults": (0, 0),
    "dev": (0, _MS_NODEV),
    "diratime": (0, _MS_NODIRATIME),
    "dirsync": (_MS_DIRSYNC, 0),
    "exec": (0, _MS_NOEXEC),
    "noatime": (_MS_NOATIME, 0),
    "nodev": (_MS_NODEV, 0),
    "nodiratime": (_MS_NODIRATIME, 0),
    "noexec": (_MS_NOEXEC, 0),
    "norelatime": (0, _MS_RELATIME),
    "nostrictatime": (0, _MS_STRICTATIME),
    "nosuid": (_MS_NOSUID, 0),
    "rbind": (_MS_BIND | _MS_REC, 0),
    "relatime": (_MS_RELATIME, 0),
    "remount": (_MS_REMOUNT, 0),
    "ro": (_MS_RDONLY, 0),
    "rw": (0, _MS_RDONLY),
    "strictatime": (_MS_STRICTATIME, 0),
    "suid": (0, _MS_NOSUID),
    "sync": (_MS_SYNCHRONOUS, 0),
}
_MNT_DETACH: Final = 2
_LOWERDIR: Final = "lowerdir="
# What containerd's mount package does with a loop device, an id-mapped mount or a helper.
_LOOP: Final = "loop"
_ID_MAPS: Final = ("uidmap=", "gidmap=")
_HELPER_TYPES: Final = ("fuse.", "fuse3.")
# Go's mount.Unmount: a busy target is tried again 50 times, 50 ms apart.
_BUSY_TRIES: Final = 50
_BUSY_PAUSE: Final = 0.05


@functools.cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return libc


def _failed(target: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, os.strerror(err), target)


def _common_parent(lowerdirs: Sequence[str]) -> str:
    parent = os.path.commonpath(lowerdirs)
    # A lowerdir that is the common path itself has no name below it.
    return os.path.dirname(parent) if parent in lowerdirs else parent


def _unsupported(m: Mount) -> str | None:
    """What of `m` containerd's mount package does not pass to ``mount(2)`` as it is."""
    if m.type.startswith(_HELPER_TYPES):
        return f"mount type {shown(m.type)} (mounted by a mount.fuse helper)"
    for option in m.options:
        if option == _LOOP or option.startswith(_ID_MAPS):
            return f"mount option {shown(option)} of a {shown(m.type)} mount"
    return None


def mount(m: Mount, target: str) -> None:
    """Mount one snapshot mount on `target`.

    Raises:
        OSError: the kernel refused it (its errno; ``EPERM`` when not root).
        pycontainerd.errors.Unimplemented: a FUSE type, or a ``loop``,
            ``uidmap=`` or ``gidmap=`` option.
        pycontainerd.errors.InvalidArgument: the options are longer than
            the kernel takes, even with the lowerdirs shortened.
    """
    unsupported = _unsupported(m)
    if unsupported is not None:
        raise errors.Unimplemented(f"{unsupported} is not supported")
    flags, data = 0, []
    for option in m.options:
        if option in _FLAGS:
            on, off = _FLAGS[option]
            flags = (flags | on) & ~off
        else:
            data.append(option)
    page = os.sysconf("SC_PAGE_SIZE")
    layers = 0
    parent_fd = -1
    try:
        if m.type == "overlay" and len(",".join(data)) >= page:
            for i, option in enumerate(data):
                if option.startswith(_LOWERDIR):
                    lowerdirs = option.removeprefix(_LOWERDIR).split(":")
                    layers = len(lowerdirs)
                    parent = _common_parent(lowerdirs)
                    parent_fd = os.open(parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                    short = f"/proc/self/fd/{parent_fd}"
                    relative = (os.path.join(short, os.path.relpath(d, parent)) for d in lowerdirs)
                    data[i] = _LOWERDIR + ":".join(relative)
        options = ",".join(data).encode()
        if len(options) >= page:  # the kernel ends the page it copies with a NUL
            layered = f" ({layers} layers)" if layers else ""
            raise errors.InvalidArgument(
                f"the options of the {shown(m.type)} mount on {shown(target)}{layered} take "
                f"{len(options)} bytes, more than the kernel takes ({page - 1})"
            )
        libc = _libc()
        source, kind = m.source.encode(), m.type.encode()
        if libc.mount(source, target.encode(), kind, flags, options or None) != 0:
            raise _failed(target)
    finally:
        if parent_fd >= 0:
            os.close(parent_fd)
    # A bind mount is made read-only by a remount, which sets all the flags again.
    if flags & _MS_BIND and flags & _MS_RDONLY:
        if libc.mount(None, target.encode(), None, flags | _MS_REMOUNT, None) != 0:
            exc = _failed(target)
            unmount(target)
            raise exc


def mount_all(mounts: Sequence[Mount], target: str) -> None:
    """Mount `mounts` on `target` one over the other, as containerd's ``mount.All``.

    A failure unmounts those already made before it is raised.

    Raises:
        OSError: the kernel refused one.
        pycontainerd.errors.Unimplemented: one needs what `mount` does not do.
        pycontainerd.errors.InvalidArgument: one's options are too long.
    """
    done = 0
    try:
        for m in mounts:
            mount(m, target)
            done += 1
    except BaseException:
        for _ in range(done):
            unmount(target)
        raise


def unmount(target: str) -> None:
    """Unmount the top mount of `target`; one that is busy is detached (unmounted once unused)."""
    libc = _libc()
    if libc.umount2(target.encode(), 0) != 0 and ctypes.get_errno() == errno.EBUSY:
        libc.umount2(target.encode(), _MNT_DETACH)


def host_error(what: str, exc: OSError, *, doing: str) -> errors.RPCError:
    """The typed error for a refused system call, which was `doing` something on the daemon's host."""
    err = exc.errno or errno.EIO
    text = f"{what}: {os.strerror(err)}"
    if err == errno.EPERM:
        return errors.PermissionDenied(f"{text} ({doing} needs root on the daemon's host)")
    if err == errno.EBUSY:
        return errors.FailedPrecondition(f"{text} (a process is using it)")
    if err == errno.ENOENT:
        return errors.FailedPrecondition(f"{text} (the snapshot is not on this host)")
    return errors.FailedPrecondition(text)


def _unescaped(field: str) -> str:
    """A mountinfo path: space, tab, newline and backslash are written as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def is_mount_point(path: str) -> bool:
    """Whether something is mounted on `path` (a bind mount from the same filesystem too).

    `path` may go through symbolic links.

    ``os.path.ismount`` compares devices and inodes, which a bind mount of a
    directory of the same filesystem (a snapshot's on the daemon's disk)
    does not change: the mount table says it.
    """
    real = os.path.realpath(path)  # the table has the mount points' resolved paths
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as table:
        return any(_unescaped(line.split(" ")[4]) == real for line in table)


def unmount_all(target: str) -> int:
    """Unmount every mount stacked on `target`, as containerd's ``mount.UnmountAll``; how many.

    A target that is not a mount point (or does not exist) has none.

    Raises:
        OSError: the kernel refused (``EBUSY``: a process uses it; ``EPERM``: not root).
    """
    libc = _libc()
    count = 0
    while libc.umount2(target.encode(), 0) == 0:
        count += 1
    if ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
        raise _failed(target)
    return count


async def unmount_all_when_free(target: str) -> int:
    """`unmount_all`, tried again while `target` is busy, as containerd's ``mount.Unmount``.

    Up to 50 tries, 50 ms apart: a process leaving the mount (one that exits)
    frees it soon. Each try is made in place; the pauses between them are
    where a cancellation lands, leaving what the last try left.

    Raises:
        OSError: the kernel refused (``EBUSY``: a process still uses it after
            the last try; ``EPERM``: not root).
    """
    for _ in range(_BUSY_TRIES - 1):
        try:
            return unmount_all(target)
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
        await anyio.sleep(_BUSY_PAUSE)
    return unmount_all(target)
