"""Streaming tar reading and writing over async byte streams (private).

The reader parses ustar, GNU (long names) and PAX headers from an async
iterator of byte chunks and hands out each member's data as chunks, so an
archive of any size passes through in bounded memory. The writer turns
headers into bytes for an exporter to send.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
import zlib
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from typing import Final

import anyio
import attrs

from . import errors
from ._identifiers import shown

__all__ = ["TarEntry", "TarReader", "byte_source", "check_member_name", "tar_header"]

BLOCK: Final = 512
CHUNK: Final = 1024 * 1024
_FILE_READ: Final = 4 * CHUNK  # fewer thread hops; members are still handed out <= CHUNK
_GZIP_MAGIC: Final = b"\x1f\x8b"
_MAX_META: Final = 1024 * 1024  # PAX/GNU long-name records larger than this are refused

REGULAR: Final = frozenset({b"0", b"\x00", b"7"})
DIRECTORY: Final = b"5"
SYMLINK: Final = b"2"
HARDLINK: Final = b"1"
_NO_DATA: Final = frozenset({DIRECTORY, SYMLINK, HARDLINK, b"3", b"4", b"6"})


def _bad(message: str) -> errors.InvalidArchive:
    return errors.InvalidArchive(message)


async def _file_chunks(path: str) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as f:
        while chunk := await f.read(_FILE_READ):
            yield chunk


async def _bytes_chunks(data: bytes) -> AsyncIterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        yield bytes(view[start : start + CHUNK])


def byte_source(
    source: str | os.PathLike[str] | bytes | AsyncIterable[bytes],
) -> AsyncIterator[bytes]:
    """Chunks of an archive given as a path, bytes or an async byte iterator."""
    if isinstance(source, bytes | bytearray | memoryview):
        return _bytes_chunks(bytes(source))
    if isinstance(source, str | os.PathLike):
        return _file_chunks(os.fspath(source))
    if isinstance(source, AsyncIterable):
        return aiter(source)
    raise TypeError(
        f"archive source must be a path, bytes or an async iterable of bytes, not {type(source).__name__}"
    )


async def _gunzip(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    # Bounded output per step: a small compressed chunk may inflate enormously.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    async for chunk in chunks:
        data = chunk
        while data:
            try:
                out = inflater.decompress(data, CHUNK)
            except zlib.error as exc:
                raise _bad(f"archive is not a valid gzip stream: {exc}") from exc
            if out:
                yield out
            data = inflater.unconsumed_tail
            if inflater.eof:
                break
        if inflater.eof:
            break
    tail = inflater.flush()
    if tail:
        yield tail


class _Buffer:
    """Chunks queued for reading, taken in exact sizes without joining large data."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._queue: deque[memoryview] = deque()
        self._queued = 0
        self.eof = False

    async def _fill(self, n: int) -> None:
        while self._queued < n and not self.eof:
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                self.eof = True
                break
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise TypeError(f"archive stream yielded {type(chunk).__name__}, expected bytes")
            if chunk:
                self._queue.append(memoryview(chunk))
                self._queued += len(chunk)

    async def peek(self, n: int) -> bytes:
        await self._fill(n)
        out = bytearray()
        for view in self._queue:
            out += view[: n - len(out)]
            if len(out) >= n:
                break
        return bytes(out)

    async def take_some(self, n: int) -> memoryview:
        """Up to `n` bytes (at least 1 unless at end of stream)."""
        if not self._queue:
            await self._fill(1)
            if not self._queue:
                return memoryview(b"")
        view = self._queue[0]
        if len(view) <= n:
            self._queue.popleft()
        else:
            self._queue[0] = view[n:]
            view = view[:n]
        self._queued -= len(view)
        return view

    async def take(self, n: int) -> bytes:
        """Exactly `n` bytes, or fewer at end of stream."""
        await self._fill(n)
        out = bytearray()
        while len(out) < n:
            part = await self.take_some(n - len(out))
            if not part:
                break
            out += part
        return bytes(out)


@attrs.define
class TarEntry:
    """One archive member: its header and (for regular files) its data, read once."""

    name: str
    type: bytes
    size: int
    linkname: str
    _reader: TarReader = attrs.field(repr=False, alias="_reader")
    _remaining: int = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._remaining = self.size

    @property
    def is_file(self) -> bool:
        """A regular file."""
        return self.type in REGULAR

    async def chunks(self, size: int = CHUNK) -> AsyncIterator[memoryview]:
        """The member's data, in chunks of at most `size` bytes."""
        buf = self._reader._buffer
        while self._remaining > 0:
            part = await buf.take_some(min(size, self._remaining))
            if not part:
                raise _bad(f"archive truncated inside {shown(self.name)}")
            self._remaining -= len(part)
            yield part

    async def read(self, limit: int) -> bytes:
        """The whole member, refused when larger than `limit` bytes."""
        if self.size > limit:
            raise _bad(
                f"archive member {shown(self.name)} is {self.size} bytes, over the {limit} byte limit"
            )
        out = bytearray()
        async for part in self.chunks():
            out += part
        return bytes(out)

    async def skip(self) -> None:
        """Discard whatever of the data was not read."""
        async for _ in self.chunks():
            pass


def _field(block: bytes, start: int, length: int) -> bytes:
    return block[start : start + length].split(b"\x00", 1)[0]


def _number(block: bytes, start: int, length: int, what: str) -> int:
    raw = block[start : start + length]
    if raw and raw[0] & 0x80:  # GNU base-256 (positive values only)
        if raw[0] != 0x80:
            raise _bad(f"invalid tar header: bad {what} field")
        return int.from_bytes(raw[1:], "big")
    text = raw.split(b"\x00", 1)[0].strip(b" \x00")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise _bad(f"invalid tar header: bad {what} field {shown(raw)}") from None


class TarEnd:
    """Watches a tar stream go by, chunk by chunk, and says when it has ended.

    A tar ends with two zero blocks where a header is due; headers say how
    much data follows them, so the data is skipped, never mistaken for the end.
    """

    def __init__(self) -> None:
        self._header = bytearray()
        self._skip = 0
        self._zero_blocks = 0
        self.ended = False

    def feed(self, data: bytes | memoryview) -> None:
        """Take the next bytes of the stream.

        Raises:
            pycontainerd.errors.InvalidArchive: a header is not a tar header.
        """
        view = memoryview(data)
        while view and not self.ended:
            if self._skip:
                step = min(self._skip, len(view))
                self._skip -= step
                view = view[step:]
                continue
            need = BLOCK - len(self._header)
            self._header += view[:need]
            view = view[need:]
            if len(self._header) < BLOCK:
                return
            block = bytes(self._header)
            self._header.clear()
            if not any(block):
                self._zero_blocks += 1
                self.ended = self._zero_blocks == 2
                continue
            self._zero_blocks = 0
            self._skip = -(-_number(block, 124, 12, "size") // BLOCK) * BLOCK


def _parse_pax(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            raise _bad("invalid tar PAX header") from None
        if length <= 0 or pos + length > len(data):
            raise _bad("invalid tar PAX header")
        record = data[space + 1 : pos + length - 1]
        key, eq, value = record.partition(b"=")
        if not eq:
            raise _bad("invalid tar PAX header")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


async def _drain(buffer: _Buffer) -> AsyncIterator[bytes]:
    while part := await buffer.take_some(CHUNK):
        yield bytes(part)


class TarReader:
    """Iterate the members of a tar stream (plain or gzip-compressed).

    Each entry must be consumed (`TarEntry.chunks`, `read` or `skip`) or is
    skipped automatically when the next one is requested.
    """

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._raw = chunks
        self._buffer = _Buffer(chunks)
        self._started = False
        self._current: TarEntry | None = None
        self._globals: dict[str, str] = {}

    async def _open(self) -> None:
        self._started = True
        if await self._buffer.peek(2) == _GZIP_MAGIC:
            self._buffer = _Buffer(_gunzip(_drain(self._buffer)))

    async def _finish_current(self) -> None:
        if self._current is not None:
            await self._current.skip()
            padding = -self._current.size % BLOCK
            if padding and len(await self._buffer.take(padding)) != padding:
                raise _bad(f"archive truncated after {shown(self._current.name)}")
            self._current = None

    def __aiter__(self) -> TarReader:
        return self

    async def __anext__(self) -> TarEntry:
        if not self._started:
            await self._open()
        await self._finish_current()
        pax: dict[str, str] = {}
        long_name: str | None = None
        long_link: str | None = None
        while True:
            block = await self._buffer.take(BLOCK)
            if not block:
                raise StopAsyncIteration
            if len(block) < BLOCK:
                raise _bad("archive truncated inside a tar header")
            if block == b"\x00" * BLOCK:
                raise StopAsyncIteration
            checksum = _number(block, 148, 8, "checksum")
            computed = sum(block[:148]) + 8 * 32 + sum(block[156:])
            if checksum != computed:
                raise _bad("not a tar archive (header checksum mismatch)")
            typeflag = block[156:157]
            size = _number(block, 124, 12, "size")
            if typeflag in (b"x", b"g", b"L", b"K"):
                if size > _MAX_META:
                    raise _bad("tar metadata record is too large")
                data = await self._buffer.take(size + (-size % BLOCK))
                if len(data) < size:
                    raise _bad("archive truncated inside a tar metadata record")
                data = data[:size]
                if typeflag == b"x":
                    pax.update(_parse_pax(data))
                elif typeflag == b"g":
                    self._globals.update(_parse_pax(data))
                elif typeflag == b"L":
                    long_name = data.rstrip(b"\x00").decode("utf-8", "surrogateescape")
                else:
                    long_link = data.rstrip(b"\x00").decode("utf-8", "surrogateescape")
                continue
            name = _field(block, 0, 100).decode("utf-8", "surrogateescape")
            linkname = _field(block, 157, 100).decode("utf-8", "surrogateescape")
            if block[257:262] == b"ustar":
                prefix = _field(block, 345, 155).decode("utf-8", "surrogateescape")
                if prefix and block[257:263] == b"ustar\x00":
                    name = f"{prefix}/{name}"
            records = {**self._globals, **pax}
            name = records.get("path", long_name or name)
            linkname = records.get("linkpath", long_link or linkname)
            if "size" in records:
                try:
                    size = int(records["size"])
                except ValueError:
                    raise _bad("invalid tar PAX size") from None
            data_size = 0 if typeflag in _NO_DATA else size
            entry = TarEntry(name, typeflag, data_size, linkname, _reader=self)
            self._current = entry
            return entry


def check_member_name(entry: TarEntry) -> str:
    """The member's cleaned relative name; refuses absolute paths, ``..`` and escaping links.

    Raises:
        pycontainerd.errors.InvalidArchive: the member could write or point
            outside the archive root.
    """
    name = entry.name
    if name.startswith("/"):
        raise _bad(f"archive member {shown(name)} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _bad(f"archive member {shown(name)} contains '..'")
    if entry.type in (SYMLINK, HARDLINK):
        link = entry.linkname
        if link.startswith("/"):
            raise _bad(f"archive link {shown(name)} -> {shown(link)} points outside the archive")
        base = posixpath.dirname("/".join(parts)) if entry.type == SYMLINK else ""
        target = posixpath.normpath(posixpath.join(base, link))
        if target == ".." or target.startswith("../"):
            raise _bad(f"archive link {shown(name)} -> {shown(link)} points outside the archive")
    return "/".join(parts)


def link_target(entry: TarEntry, clean_name: str) -> str:
    """Where a (checked) symlink or hard link points, relative to the archive root."""
    base = posixpath.dirname(clean_name) if entry.type == SYMLINK else ""
    return posixpath.normpath(posixpath.join(base, entry.linkname))


def tar_header(name: str, size: int, *, mode: int = 0o444, directory: bool = False) -> bytes:
    """A ustar/PAX header block for a regular file or directory (epoch mtime, root owner)."""
    info = tarfile.TarInfo(name)
    info.size = 0 if directory else size
    info.mode = mode
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mtime = 0
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def tar_padding(size: int) -> bytes:
    """Zero bytes that round a member of `size` bytes up to the tar block size."""
    return b"\x00" * (-size % BLOCK)


TAR_END: Final = b"\x00" * (BLOCK * 2)
