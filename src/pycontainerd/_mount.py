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

Root only (``CAP_SYS_ADMIN``). The calls are short and are made in place: a
mount cut short in a worker thread could land after its rollback.
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

from ._descriptors import Mount

__all__ = ["is_mount_point", "mount", "mount_all", "unmount", "unmount_all"]

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


def mount(m: Mount, target: str) -> None:
    """Mount one snapshot mount on `target`.

    Raises:
        OSError: the kernel refused it (its errno; ``EPERM`` when not root).
    """
    flags, data = 0, []
    for option in m.options:
        if option in _FLAGS:
            on, off = _FLAGS[option]
            flags = (flags | on) & ~off
        else:
            data.append(option)
    parent_fd = -1
    try:
        if m.type == "overlay" and len(",".join(data)) >= os.sysconf("SC_PAGE_SIZE"):
            for i, option in enumerate(data):
                if option.startswith(_LOWERDIR):
                    lowerdirs = option.removeprefix(_LOWERDIR).split(":")
                    parent = _common_parent(lowerdirs)
                    parent_fd = os.open(parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                    short = f"/proc/self/fd/{parent_fd}"
                    relative = (os.path.join(short, os.path.relpath(d, parent)) for d in lowerdirs)
                    data[i] = _LOWERDIR + ":".join(relative)
        libc = _libc()
        options = ",".join(data).encode() or None
        if libc.mount(m.source.encode(), target.encode(), m.type.encode(), flags, options) != 0:
            raise _failed(target)
    finally:
        if parent_fd >= 0:
            os.close(parent_fd)
    if flags & _MS_BIND and flags & _MS_RDONLY:  # a bind mount is made read-only by a remount
        if libc.mount(None, target.encode(), None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY, None) != 0:
            exc = _failed(target)
            unmount(target)
            raise exc


def mount_all(mounts: Sequence[Mount], target: str) -> None:
    """Mount `mounts` on `target` one over the other, as containerd's ``mount.All``.

    A failure unmounts those already made before it is raised.

    Raises:
        OSError: the kernel refused one.
    """
    done = 0
    try:
        for m in mounts:
            mount(m, target)
            done += 1
    except OSError:
        for _ in range(done):
            unmount(target)
        raise


def unmount(target: str) -> None:
    """Unmount the top mount of `target`; one that is busy is detached (unmounted once unused)."""
    libc = _libc()
    if libc.umount2(target.encode(), 0) != 0 and ctypes.get_errno() == errno.EBUSY:
        libc.umount2(target.encode(), _MNT_DETACH)


def _unescaped(field: str) -> str:
    """A mountinfo path: space, tab, newline and backslash are written as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def is_mount_point(path: str) -> bool:
    """Whether something is mounted on `path` (a bind mount from the same filesystem too).

    ``os.path.ismount`` compares devices and inodes, which a bind mount of a
    directory of the same filesystem (a snapshot's on the daemon's disk)
    does not change: the mount table says it.
    """
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as table:
        return any(_unescaped(line.split(" ")[4]) == path for line in table)


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
