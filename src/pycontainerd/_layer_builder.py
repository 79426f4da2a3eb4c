"""Pack a directory into one deterministic gzip layer (private).

The same tree always gives the same bytes: entries sorted by name, every
mtime fixed at the epoch, ownership (numeric uid/gid, no user names) and
permission bits kept, symlinks stored as links, hard links stored once
and then as links to the first name, gzip header without name or time.
The tree is read through directory descriptors, never following a symlink
(see `_pack_tree`).
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import stat
import tarfile
from typing import IO, Any

import attrs

from . import errors
from ._identifiers import shown

__all__ = ["PackedLayer", "pack_directory"]

_CHUNK = 1024 * 1024


@attrs.frozen(kw_only=True)
class PackedLayer:
    """A packed layer: the gzip blob's digest and size, and the tar's digest (diff ID)."""

    digest: str
    size: int
    diff_id: str


class _HashingWriter:
    """A write-only file object that hashes and counts what goes through it."""

    def __init__(self, target: IO[bytes] | _HashingWriter | gzip.GzipFile | None) -> None:
        self._target = target
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.hash.update(view)
        self.size += len(view)
        if self._target is not None:
            self._target.write(view)
        return len(view)

    def flush(self) -> None:
        if self._target is not None:
            self._target.flush()


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO put in a file's place must not block the open.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def _open_at(dir_fd: int, name: str, flags: int) -> int:
    """Open `name` in the directory `dir_fd` with `flags` (which say no-follow).

    The one step a test interposes on, to change the tree between the
    listing and the open.
    """
    return os.open(name, flags, dir_fd=dir_fd)


def _changed(name: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(
        f"cannot pack {shown(name)}: it changed while the directory was being packed"
    )


def _open_checked(dir_fd: int, name: str, rel: str, flags: int, seen: os.stat_result) -> int:
    """`name` opened in `dir_fd`, if it is still the entry the listing saw (same inode and type)."""
    try:
        fd = _open_at(dir_fd, name, flags)
    except (FileNotFoundError, NotADirectoryError) as exc:  # gone, or now a symlink
        raise _changed(rel) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink now, refused by O_NOFOLLOW
            raise _changed(rel) from exc
        raise
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino, stat.S_IFMT(st.st_mode)) != (
        seen.st_dev,
        seen.st_ino,
        stat.S_IFMT(seen.st_mode),
    ):
        os.close(fd)
        raise _changed(rel)
    return fd


def _children(dir_fd: int) -> list[tuple[str, os.stat_result]]:
    """Names and lstat of a directory's entries, sorted by their bytes."""
    with os.scandir(dir_fd) as it:
        names = sorted((e.name for e in it), key=os.fsencode)
    return [(n, os.stat(n, dir_fd=dir_fd, follow_symlinks=False)) for n in names]


def _tarinfo(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid = st.st_uid
    info.gid = st.st_gid
    info.uname = ""
    info.gname = ""
    info.mtime = 0
    return info


def _pack_tree(
    tar: tarfile.TarFile, dir_fd: int, rel: str, links: dict[tuple[int, int], str]
) -> None:
    """Add the entries of the directory open as `dir_fd` (named `rel` in the layer), depth-first.

    Everything is opened relative to its parent's descriptor, without
    following symlinks, and checked against what the listing saw: a
    directory swapped for a symlink (or a file for another) while the tree
    is packed fails the packing instead of putting something from outside
    the tree into the layer. Symlinks are stored as links, never followed.
    """
    for child, st in _children(dir_fd):
        name = f"{rel}/{child}" if rel else child
        info = _tarinfo(name, st)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            fd = _open_checked(dir_fd, child, name, _DIR_FLAGS, st)
            try:
                info = _tarinfo(name, os.fstat(fd))
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
                _pack_tree(tar, fd, name, links)
            finally:
                os.close(fd)
            continue
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            info.type = tarfile.LNKTYPE
            info.linkname = links[key]
            tar.addfile(info)
            continue
        if st.st_nlink > 1:
            links[key] = name
        if stat.S_ISREG(mode):
            fd = _open_checked(dir_fd, child, name, _FILE_FLAGS, st)
            with os.fdopen(fd, "rb") as f:
                opened = os.fstat(fd)
                info = _tarinfo(name, opened)
                info.type = tarfile.REGTYPE
                info.size = opened.st_size
                tar.addfile(info, f)
        elif stat.S_ISLNK(mode):
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(child, dir_fd=dir_fd)
            tar.addfile(info)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            info.devmajor = os.major(st.st_rdev)
            info.devminor = os.minor(st.st_rdev)
            tar.addfile(info)
        elif stat.S_ISFIFO(mode):
            info.type = tarfile.FIFOTYPE
            tar.addfile(info)
        else:
            raise errors.InvalidArgument(
                f"cannot pack {shown(name)}: a socket or other special file, "
                "which a layer cannot carry"
            )


def pack_directory(path: str | os.PathLike[str], out: IO[bytes]) -> PackedLayer:
    """Write `path` as a deterministic gzip tar layer to `out` (blocking; run in a thread).

    Raises:
        NotADirectoryError: `path` is not a directory.
        pycontainerd.errors.InvalidArgument: the tree holds something a layer
            cannot carry (a socket), or changed while it was being packed.
    """
    root = os.fspath(path)
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except NotADirectoryError:
        raise NotADirectoryError(f"not a directory: {shown(root)}") from None
    except FileNotFoundError:
        raise NotADirectoryError(f"not a directory: {shown(root)} does not exist") from None
    blob = _HashingWriter(out)
    try:
        with gzip.GzipFile(filename="", mode="wb", fileobj=blob, mtime=0, compresslevel=6) as gz:
            tar_stream = _HashingWriter(gz)
            with tarfile.open(fileobj=tar_stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                _pack_tree(tar, root_fd, "", {})
    finally:
        os.close(root_fd)
    out.flush()
    return PackedLayer(
        digest="sha256:" + blob.hash.hexdigest(),
        size=blob.size,
        diff_id="sha256:" + tar_stream.hash.hexdigest(),
    )
