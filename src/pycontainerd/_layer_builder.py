"""Pack a directory into one deterministic gzip layer (private).

The same tree always gives the same bytes: entries sorted by name, every
mtime fixed at the epoch, ownership (numeric uid/gid, no user names) and
permission bits kept, symlinks stored as links, hard links stored once
and then as links to the first name, gzip header without name or time.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
from typing import IO, Any

import attrs

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


def _walk(root: str, rel: str = "") -> list[tuple[str, str]]:
    """(relative posix name, absolute path) of every entry under `root`, sorted depth-first."""
    entries: list[tuple[str, str]] = []
    with os.scandir(os.path.join(root, rel) if rel else root) as it:
        children = sorted(it, key=lambda e: os.fsencode(e.name))
    for child in children:
        name = f"{rel}/{child.name}" if rel else child.name
        entries.append((name, child.path))
        if child.is_dir(follow_symlinks=False):
            entries.extend(_walk(root, name))
    return entries


def _tarinfo(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid = st.st_uid
    info.gid = st.st_gid
    info.uname = ""
    info.gname = ""
    info.mtime = 0
    return info


def pack_directory(path: str | os.PathLike[str], out: IO[bytes]) -> PackedLayer:
    """Write `path` as a deterministic gzip tar layer to `out` (blocking; run in a thread).

    Raises:
        NotADirectoryError: `path` is not a directory.
        ValueError: the tree holds something a layer cannot carry (a socket).
    """
    root = os.fspath(path)
    if not os.path.isdir(root):
        raise NotADirectoryError(f"not a directory: {root!r}")
    blob = _HashingWriter(out)
    with gzip.GzipFile(filename="", mode="wb", fileobj=blob, mtime=0, compresslevel=6) as gz:
        tar_stream = _HashingWriter(gz)
        links: dict[tuple[int, int], str] = {}
        with tarfile.open(fileobj=tar_stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            for name, full in _walk(root):
                st = os.lstat(full)
                info = _tarinfo(name, st)
                mode = st.st_mode
                if stat.S_ISDIR(mode):
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
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
                    info.type = tarfile.REGTYPE
                    info.size = st.st_size
                    with open(full, "rb") as f:
                        tar.addfile(info, f)
                elif stat.S_ISLNK(mode):
                    info.type = tarfile.SYMTYPE
                    info.linkname = os.readlink(full)
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
                    raise ValueError(f"cannot pack {full!r}: not a file, directory, link or device")
    out.flush()
    return PackedLayer(
        digest="sha256:" + blob.hash.hexdigest(),
        size=blob.size,
        diff_id="sha256:" + tar_stream.hash.hexdigest(),
    )
