"""The content store: blobs addressed by digest, and ingests (writes in progress).

`Content` (``client.content``) wraps containerd's Content service. Reading and
writing are async context managers that own one gRPC stream each:

* `Content.reader` streams a blob in chunks of about 1 MiB and, when the
  whole blob was read, checks its size and digest.
* `Content.writer` opens (or resumes) an ingest under a ref, pipelines
  ~1 MiB WRITE messages without waiting for each acknowledgement, and
  commits. Leaving the block with an exception or by cancellation aborts
  the ingest; leaving it normally without committing keeps the ingest so a
  later writer on the same ref resumes at its offset.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import io
import os
import random
import re
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

import anyio
import attrs
from betterproto.lib.google.protobuf import FieldMask

from . import _wire, errors
from ._api import _rpc
from ._api.containerd.services.content.v1 import (
    AbortRequest,
    DeleteContentRequest,
    InfoRequest,
    ListContentRequest,
    ListStatusesRequest,
    ReadContentRequest,
    ReadContentResponse,
    StatusRequest,
    UpdateRequest,
    WriteAction,
    WriteContentRequest,
    WriteContentResponse,
)
from ._api.containerd.services.content.v1 import Info as _Info
from ._api.containerd.services.content.v1 import Status as _Status
from ._convert import timestamp
from ._facade import Facade
from ._identifiers import label_changes, label_paths, shown
from ._identifiers import labels as labels_checked
from ._shield import Removal, finish

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from ._transport import Call

__all__ = [
    "CHUNK_SIZE",
    "Content",
    "ContentInfo",
    "ContentReader",
    "ContentWriter",
    "IngestStatus",
]

_READ: Final = _rpc.Content.Read.path
_WRITE: Final = _rpc.Content.Write.path

_STAT: Final = WriteAction(WriteAction.STAT)
_WRITE_ACTION: Final = WriteAction(WriteAction.WRITE)
_COMMIT: Final = WriteAction(WriteAction.COMMIT)

#: Size of the chunks readers yield and writers send.
CHUNK_SIZE: Final = 1 << 20
# How many WRITE messages may be in flight before waiting for an acknowledgement.
_WINDOW: Final = 8
# Chunks at least this large are hashed in a worker thread.
_THREADED_HASH_MIN: Final = 256 << 10
# Bounds for cleanup paths (abort after an error or cancellation).
_CLEANUP_TIMEOUT: Final = 10.0
# Backoff for a ref locked by another writer: jittered, doubling, capped.
_RETRY_FIRST: Final = 0.016
_RETRY_MAX: Final = 2.048

_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_DIGEST_IN_TEXT = re.compile(
    r"\b(?:sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})\b"
)
_HASHES: Final = {"sha256": 64, "sha384": 96, "sha512": 128}


def _ack(raw: bytes) -> dict[str, Any]:
    """A Write reply's fields (``offset``, ``digest``, ...), decoded by the one codec.

    One comes for every 1 MiB chunk written, and betterproto's decoder costs
    more than the rest of the chunk's handling.
    """
    try:
        return _wire.write_content_response(raw)
    except _wire.WireError as exc:
        raise _wire.data_loss("content write reply", exc) from None


def _chunk(raw: bytes) -> memoryview:
    """A Read reply's data: a view of the received message, not a copy."""
    try:
        return _wire.read_content_chunk(raw)[1]
    except _wire.WireError as exc:
        raise _wire.data_loss("content read reply", exc) from None


def _check_digest(digest: str) -> str:
    if not isinstance(digest, str) or _DIGEST.fullmatch(digest) is None:
        raise errors.InvalidArgument(f"invalid digest {shown(digest)}: expected <algorithm>:<hex>")
    algorithm, _, encoded = digest.partition(":")
    length = _HASHES.get(algorithm)
    if length is not None and (len(encoded) != length or not re.fullmatch("[0-9a-f]+", encoded)):
        raise errors.InvalidArgument(
            f"invalid digest {shown(digest)}: {algorithm} takes {length} lowercase hex digits"
        )
    return digest


def _check_ref(ref: str) -> str:
    if not isinstance(ref, str) or not ref:
        raise errors.InvalidArgument(f"invalid ingest ref {shown(ref)}: must be a non-empty string")
    return ref


class _Hasher(Protocol):
    """What the reader uses of a hashlib object."""

    @property
    def name(self) -> str: ...

    def update(self, data: bytes | memoryview, /) -> None: ...

    def hexdigest(self) -> str: ...


def _hasher(digest: str) -> _Hasher | None:
    algorithm = digest.partition(":")[0]
    return hashlib.new(algorithm) if algorithm in _HASHES else None


class _Assembler:
    """Copies a blob's pieces into its buffer and hashes them, in a worker thread.

    Copying into the fresh buffer (mostly page faults) and hashing each cost
    about as much CPU as receiving. In a thread, one batch behind the
    reader, they overlap the event loop's receiving of the next batch
    (hashlib releases the GIL, and so does the loop in its socket reads).
    Batches are handled in order, one at a time; each runs as a task of
    `task_group`, which the caller keeps open until `digest` returns.
    """

    def __init__(self, hasher: _Hasher, buffer: io.BytesIO, task_group: TaskGroup) -> None:
        self._hasher = hasher
        self._buffer = buffer
        self._task_group = task_group
        self._idle = anyio.Event()
        self._idle.set()

    async def add(self, pieces: Sequence[bytes | memoryview]) -> None:
        """Queue `pieces` (kept unchanged until taken) once the previous batch is done."""
        await self._idle.wait()
        if sum(len(piece) for piece in pieces) < _THREADED_HASH_MIN:
            self._take(pieces)
            return
        self._idle = anyio.Event()
        self._task_group.start_soon(self._take_in_thread, pieces, self._idle)

    def _take(self, pieces: Sequence[bytes | memoryview]) -> None:
        write, update = self._buffer.write, self._hasher.update
        for piece in pieces:
            write(piece)
            update(piece)

    async def _take_in_thread(
        self, pieces: Sequence[bytes | memoryview], idle: anyio.Event
    ) -> None:
        try:
            await anyio.to_thread.run_sync(self._take, pieces)
        finally:
            idle.set()

    async def digest(self) -> str:
        """``algorithm:hex`` of everything given to `add` (all of it in the buffer then)."""
        await self._idle.wait()
        return f"{self._hasher.name}:{self._hasher.hexdigest()}"


@attrs.frozen(kw_only=True)
class ContentInfo:
    """What the content store knows about a committed blob.

    Example:
        ```python
        info = await client.content.info("sha256:...")
        print(info.size, info.labels)
        ```
    """

    digest: str
    size: int
    labels: Mapping[str, str] = attrs.field(factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def _from_proto(cls, msg: _Info) -> ContentInfo:
        return cls(
            digest=msg.digest,
            size=msg.size,
            labels=dict(msg.labels),
            created_at=timestamp(msg.created_at),
            updated_at=timestamp(msg.updated_at),
        )


@attrs.frozen(kw_only=True)
class IngestStatus:
    """The state of an ingest: a write in progress under a ref.

    ``total`` is 0 and ``expected`` empty when the writer did not declare them.

    Example:
        ```python
        status = await client.content.status("my-upload")
        print(f"{status.offset}/{status.total} bytes")
        ```
    """

    ref: str
    offset: int
    total: int = 0
    expected: str = ""
    started_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def _from_proto(cls, msg: _Status) -> IngestStatus:
        return cls(
            ref=msg.ref,
            offset=msg.offset,
            total=msg.total,
            expected=msg.expected,
            started_at=timestamp(msg.started_at),
            updated_at=timestamp(msg.updated_at),
        )


class ContentReader:
    """An open read of one blob: an async iterator of ``bytes`` chunks (about 1 MiB each).

    Made by `Content.reader`. When the whole blob is read (offset 0, no size),
    the byte count and digest are checked at the end of the iteration and a
    mismatch raises `pycontainerd.errors.DataLoss`. A partial read checks the
    byte count only.

    Attributes:
        digest: the blob's digest.
        size: the blob's full size in bytes.
        offset: where this read starts.
        length: how many bytes this read yields.
    """

    def __init__(
        self,
        call: Call[ReadContentRequest, ReadContentResponse] | None,
        *,
        digest: str,
        size: int,
        offset: int,
        length: int,
    ) -> None:
        self._call = call
        self.digest = digest
        self.size = size
        self.offset = offset
        self.length = length
        self._received = 0
        self._hash = _hasher(digest) if offset == 0 and length == size else None
        self._done = call is None

    def __aiter__(self) -> ContentReader:
        return self

    async def __anext__(self) -> bytes:
        while not self._done:
            assert self._call is not None
            raw = await self._call.recv_raw()
            if raw is None:
                await self._call.finish()  # the daemon's error, if it sent one
                self._done = True
                self._verify()
                break
            data = bytes(_chunk(raw))
            if not data:
                continue
            self._received += len(data)
            if self._received > self.length:
                raise errors.DataLoss(
                    f"content {self.digest}: received {self._received} bytes, "
                    f"expected {self.length}",
                    method=_READ,
                )
            if self._hash is not None:
                if len(data) >= _THREADED_HASH_MIN:
                    # hashlib releases the GIL: the event loop keeps receiving
                    # the next chunks while this one is hashed.
                    await anyio.to_thread.run_sync(self._hash.update, data)
                else:
                    self._hash.update(data)
            return data
        raise StopAsyncIteration

    def _verify(self) -> None:
        if self._received != self.length:
            raise errors.DataLoss(
                f"content {self.digest}: received {self._received} bytes, expected {self.length}",
                method=_READ,
            )
        if self._hash is not None:
            actual = f"{self._hash.name}:{self._hash.hexdigest()}"
            if actual != self.digest:
                raise errors.DataLoss(
                    f"content {self.digest}: data read has digest {actual}",
                    method=_READ,
                )


class ContentWriter:
    """An open ingest under a ref: write bytes, then commit them as a blob.

    Made by `Content.writer`. Writes are pipelined: `write` returns once its
    chunks are sent and at most a few are still unacknowledged, so errors
    from the daemon may surface on a later `write` or on `commit`.

    Attributes:
        ref: the ingest's ref.
        total: the size declared when opening (0 when unknown).
        expected: the digest declared when opening ('' when unknown).
        digest: the committed digest, once `commit` succeeded.
    """

    def __init__(
        self,
        call: Call[WriteContentRequest, WriteContentResponse],
        *,
        ref: str,
        offset: int,
        total: int,
        expected: str,
    ) -> None:
        self._call = call
        self.ref = ref
        self.total = total
        self.expected = expected
        self.digest: str | None = None
        self._offset = offset
        self._pending: list[int] = []  # offsets the in-flight WRITEs should be acked at
        self._closed = False

    @property
    def offset(self) -> int:
        """Bytes in the ingest so far (resumed plus written): where the next write lands."""
        return self._offset

    @property
    def committed(self) -> bool:
        """Whether `commit` succeeded."""
        return self.digest is not None

    def _check_open(self) -> None:
        if self._closed:
            raise errors.FailedPrecondition(
                f"the writer for ref {self.ref!r} is closed (committed or failed)",
                method=_WRITE,
            )

    async def _recv(self) -> dict[str, Any]:
        raw = await self._call.recv_raw()
        if raw is None:
            await self._call.finish()  # the daemon's error, if it sent one
            raise errors.Unknown(
                f"content write of ref {self.ref!r}: the daemon ended the stream early",
                method=_WRITE,
            )
        return _ack(raw)

    async def _ack_one(self) -> None:
        want = self._pending.pop(0)
        offset = (await self._recv())["offset"]
        if offset != want:
            raise errors.DataLoss(
                f"content write of ref {self.ref!r}: daemon at offset {offset}, expected {want}",
                method=_WRITE,
            )

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append `data` to the ingest, in chunks of at most 1 MiB.

        Raises:
            pycontainerd.errors.FailedPrecondition: the writer is closed.
            pycontainerd.errors.RPCError: the daemon refused an earlier or this write.

        Example:
            ```python
            async with client.content.writer("upload-1") as w:
                await w.write(b"hello ")
                await w.write(b"world")
                digest = await w.commit()
            ```
        """
        self._check_open()
        view = memoryview(data).cast("B")
        for start in range(0, len(view), CHUNK_SIZE):
            chunk = view[start : start + CHUNK_SIZE]
            while len(self._pending) >= _WINDOW:
                await self._ack_one()
            # The message is encoded (copied) before `send` returns: the
            # caller may reuse its buffer once `write` returns.
            await self._call.send(
                _wire.write_content_request(chunk, action=_WRITE_ACTION, offset=self._offset)
            )
            self._offset += len(chunk)
            self._pending.append(self._offset)

    async def truncate(self, size: int = 0) -> None:
        """Drop what the ingest holds past `size` bytes; the next write lands there.

        Go's ``content.Writer.Truncate``. containerd's content service can
        only start an ingest over: `size` is 0 (the usual case, e.g. a resumed
        ingest whose bytes turn out not to match), or the current `offset`
        (nothing to drop). The daemon drops the bytes and resets the digest
        it computes; `offset` is then 0.

        Raises:
            pycontainerd.errors.InvalidArgument: `size` is neither 0 nor the
                current offset (raised before anything is sent).
            pycontainerd.errors.FailedPrecondition: the writer is closed.

        Example:
            ```python
            async with client.content.writer("upload-1", total=len(data)) as w:
                if w.offset:  # bytes of an earlier attempt, from a source that changed
                    await w.truncate()  # start over
                await w.write(data)
                await w.commit()
            ```
        """
        self._check_open()
        if isinstance(size, bool) or not isinstance(size, int) or size not in (0, self._offset):
            raise errors.InvalidArgument(
                f"cannot truncate ref {self.ref!r} to {size!r} bytes: containerd truncates "
                f"an ingest only to 0 (or its current offset, {self._offset})"
            )
        if size == self._offset:
            return
        while len(self._pending) >= _WINDOW:
            await self._ack_one()
        # A WRITE at offset 0 into a non-empty ingest is how the daemon truncates.
        await self._call.send(_wire.write_content_request(b"", action=_WRITE_ACTION, offset=0))
        self._offset = 0
        self._pending.append(0)

    async def commit(
        self,
        *,
        labels: Mapping[str, str] | None = None,
        size: int | None = None,
        expected: str | None = None,
    ) -> str:
        """Commit what was written as a blob and return its digest.

        Args:
            labels: labels to set on the new blob.
            size: the size the blob must have (default: the size declared when opening).
            expected: the digest the blob must have (default: the one declared when opening).

        Raises:
            pycontainerd.errors.FailedPrecondition: the size or digest differ from
                what was expected. The writer is then closed and, as the error
                leaves the ``async with`` block, the ingest is aborted.
            pycontainerd.errors.AlreadyExists: a blob with this digest exists.

        Example:
            ```python
            async with client.content.writer("cfg", expected=digest) as w:
                await w.write(data)
                await w.commit(labels={"owner": "me"})
            ```
        """
        self._check_open()
        labels = labels_checked(labels)
        if expected is not None:
            _check_digest(expected)
        want_size = size if size is not None else self.total
        want_digest = expected if expected is not None else self.expected
        self._closed = True
        await self._call.send(
            WriteContentRequest(
                action=_COMMIT,
                offset=self._offset,
                total=want_size,
                expected=want_digest,
                labels=labels,
            ),
            end=True,
        )
        while self._pending:
            await self._ack_one()
        reply = await self._recv()
        offset, digest = reply["offset"], reply["digest"]
        if want_size and offset != want_size:
            raise errors.FailedPrecondition(
                f"ref {self.ref!r} committed {offset} bytes, expected {want_size}",
                method=_WRITE,
            )
        if want_digest and digest != want_digest:
            raise errors.FailedPrecondition(
                f"ref {self.ref!r} committed digest {digest}, expected {want_digest}",
                method=_WRITE,
            )
        self.digest = digest
        return str(digest)


class Content(Facade):
    """The content store of the client's namespace (``client.content``).

    Example:
        ```python
        digest = await client.content.write("greeting", b"hello")
        assert await client.content.read(digest) == b"hello"
        await client.content.delete(digest)
        ```
    """

    async def info(self, digest: str) -> ContentInfo:
        """What the store knows about the blob `digest`.

        Raises:
            pycontainerd.errors.NotFound: there is no such blob.

        Example:
            ```python
            info = await client.content.info(digest)
            ```
        """
        _check_digest(digest)
        reply = await self._caller.unary(_rpc.Content.Info, InfoRequest(digest=digest))
        return ContentInfo._from_proto(reply.info)

    async def list(self, *filters: str) -> list[ContentInfo]:
        """Every blob in the namespace, optionally narrowed by `filters`.

        `filters` mean what they mean for every ``list()``: several are ORed,
        the comma-separated selectors of one are ANDed (containerd's syntax, see
        `pycontainerd.events.filters`).
        Fields include ``digest``, ``size`` and ``labels.<key>``.

        Example:
            ```python
            mine = await client.content.list("labels.owner==me")
            ```
        """
        found: list[ContentInfo] = []
        async with self._caller.stream(
            _rpc.Content.List,
        ) as stream:
            await stream.send(ListContentRequest(filters=list(filters)), end=True)
            async for reply in stream:
                found.extend(ContentInfo._from_proto(i) for i in reply.info)
        return found

    async def update(
        self,
        digest: str,
        *,
        labels: Mapping[str, str | None],
        replace_labels: bool = False,
    ) -> ContentInfo:
        """Set or remove labels key by key; a value of ``None`` removes that label.

        Labels not named keep their values, unless `replace_labels`.

        Args:
            digest: the blob.
            labels: the labels to set (``None``: remove that label).
            replace_labels: make `labels` the blob's whole set of labels (the
                ``labels`` field path, as Go's ``Update(ctx, info, "labels")``):
                every label not named is removed, ``{}`` removes them all.

        Raises:
            pycontainerd.errors.NotFound: there is no such blob.

        Example:
            ```python
            await client.content.update(digest, labels={"owner": "me", "old": None})
            await client.content.update(digest, labels={"owner": "me"}, replace_labels=True)
            ```
        """
        _check_digest(digest)
        labels = label_changes(labels)
        new = {k: v for k, v in labels.items() if v is not None}
        reply = await self._caller.unary(
            _rpc.Content.Update,
            UpdateRequest(
                info=_Info(digest=digest, labels=new),
                update_mask=FieldMask(paths=label_paths(labels, replace=replace_labels)),
            ),
        )
        return ContentInfo._from_proto(reply.info)

    async def delete(self, digest: str) -> None:
        """Delete the blob `digest` from the namespace.

        Raises:
            pycontainerd.errors.NotFound: there is no such blob.

        Example:
            ```python
            await client.content.delete(digest)
            ```
        """
        _check_digest(digest)
        await self._caller.unary(_rpc.Content.Delete, DeleteContentRequest(digest=digest))

    async def status(self, ref: str) -> IngestStatus:
        """The state of the ingest `ref`.

        Raises:
            pycontainerd.errors.NotFound: there is no such ingest.

        Example:
            ```python
            print((await client.content.status("upload-1")).offset)
            ```
        """
        _check_ref(ref)
        reply = await self._caller.unary(_rpc.Content.Status, StatusRequest(ref=ref))
        return IngestStatus._from_proto(reply.status)

    async def list_statuses(self, *filters: str) -> builtins.list[IngestStatus]:
        """The ingests in progress, optionally narrowed by `filters` (e.g. ``ref~="layer-"``).

        `filters` mean what they mean for every ``list()``: several are ORed,
        the comma-separated selectors of one are ANDed (containerd's syntax, see
        `pycontainerd.events.filters`).

        Example:
            ```python
            for s in await client.content.list_statuses():
                print(s.ref, s.offset)
            ```
        """
        reply = await self._caller.unary(
            _rpc.Content.ListStatuses,
            ListStatusesRequest(filters=list(filters)),
        )
        return [IngestStatus._from_proto(s) for s in reply.statuses]

    async def abort(self, ref: str) -> None:
        """Abort the ingest `ref`, dropping what was written.

        Raises:
            pycontainerd.errors.NotFound: there is no such ingest.

        Example:
            ```python
            await client.content.abort("upload-1")
            ```
        """
        _check_ref(ref)
        await self._caller.unary(_rpc.Content.Abort, AbortRequest(ref=ref))

    async def _abort_settled(self, ref: str) -> None:
        """Abort `ref` once the daemon has closed its writer; a missing ingest is fine.

        Should the daemon still be closing its writer (a graceful end timed
        out), an abort racing with it fails ("directory not empty"): it is
        tried again, up to about a second.
        """
        for _ in range(50):
            try:
                await self.abort(ref)
            except errors.NotFound:
                return
            except errors.ConnectionError:
                raise  # the caller's `finish` retries it once the daemon is back
            except errors.RPCError:
                await anyio.sleep(0.02)
            else:
                return

    @contextlib.asynccontextmanager
    async def reader(
        self, digest: str, *, offset: int = 0, size: int | None = None
    ) -> AsyncIterator[ContentReader]:
        """Read the blob `digest` as a stream of chunks of about 1 MiB.

        Entering asks for the blob's size (so a missing blob raises here) and
        opens the stream; leaving closes it. Neither blocks for long.

        Args:
            digest: the blob to read.
            offset: where to start.
            size: how many bytes to read at most (default: up to the end).

        Raises:
            pycontainerd.errors.NotFound: there is no such blob.
            pycontainerd.errors.OutOfRange: `offset` is past the end of the blob.
            pycontainerd.errors.DataLoss: (while iterating) the bytes read do not
                match the blob's size or digest.

        Example:
            ```python
            async with client.content.reader(digest) as r:
                async with await anyio.open_file("blob", "wb") as f:
                    async for chunk in r:
                        await f.write(chunk)
            ```
        """
        if offset < 0 or (size is not None and size < 0):
            raise errors.InvalidArgument(
                f"invalid read range offset={offset!r} size={size!r}: must not be negative"
            )
        info = await self.info(digest)
        if offset > info.size:
            raise errors.OutOfRange(
                f"offset {offset} is past the end of {digest} ({info.size} bytes)",
                method=_READ,
            )
        length = info.size - offset if size is None else min(size, info.size - offset)
        if length == 0:
            # containerd reads "size 0" as "to the end": ask for nothing at all.
            empty = ContentReader(None, digest=digest, size=info.size, offset=offset, length=0)
            yield empty
            return
        async with self._caller.stream(_rpc.Content.Read) as call:
            await call.send(ReadContentRequest(digest=digest, offset=offset, size=length), end=True)
            reader = ContentReader(
                call, digest=digest, size=info.size, offset=offset, length=length
            )
            try:
                yield reader
            finally:
                if not reader._done:
                    # Stopped early: reset the stream rather than wait for its end.
                    await _cancel(call)

    async def read(self, digest: str, *, offset: int = 0, size: int | None = None) -> bytes:
        """The blob `digest` (or the range asked for) as one ``bytes`` value.

        The whole value is held in memory: use `reader` for large blobs. A
        read from the start is checked against the digest whenever it
        covers the whole blob, as `reader` does.

        Raises:
            pycontainerd.errors.NotFound: there is no such blob.
            pycontainerd.errors.OutOfRange: `offset` is past the end of the blob.
            pycontainerd.errors.DataLoss: the bytes read do not match the
                blob's size or digest.

        Example:
            ```python
            manifest = json.loads(await client.content.read(digest))
            ```
        """
        if offset == 0 and size != 0 and _hasher(_check_digest(digest)) is not None:
            if size is not None and size < 0:
                raise errors.InvalidArgument(
                    f"invalid read range offset={offset!r} size={size!r}: must not be negative"
                )
            return await self._read_from_start(digest, size)
        async with self.reader(digest, offset=offset, size=size) as r:
            # BytesIO grows one buffer in place and hands it over without a
            # copy; joining a list would hold every chunk and the result.
            buffer = io.BytesIO()
            async for chunk in r:
                buffer.write(chunk)
            return buffer.getvalue()

    async def _read_from_start(self, digest: str, limit: int | None) -> bytes:
        """`read` from offset 0 in one round trip: no ``Info`` call for the size first.

        The Read stream itself reports a missing blob. Without the size, a
        read that stops short of `limit` (or has none) is the whole blob, so
        its digest must match; one that fills `limit` exactly may be partial,
        so a digest mismatch then asks ``Info`` whether the blob is longer.
        """
        hasher = _hasher(digest)
        assert hasher is not None
        buffer = io.BytesIO()
        failure: Exception | None = None
        async with anyio.create_task_group() as tg:
            assembler = _Assembler(hasher, buffer, tg)
            try:
                received = await self._receive_blob(digest, limit, assembler)
                actual = await assembler.digest()
            except Exception as exc:
                # Raised after the task group, so that callers see it unwrapped.
                failure = exc
                tg.cancel_scope.cancel()
        if failure is not None:
            raise failure
        if actual != digest and (
            limit is None or received < limit or (await self.info(digest)).size == received
        ):
            raise errors.DataLoss(f"content {digest}: data read has digest {actual}", method=_READ)
        return buffer.getvalue()

    async def _receive_blob(self, digest: str, limit: int | None, assembler: _Assembler) -> int:
        """Stream `digest` from its start into `assembler`; the byte count.

        Each reply's data is taken as a view of the received message (not
        decoded into a message object) and handed over in batches of about a
        chunk (1 MiB), so it is copied once, into the blob.
        """
        received = 0
        async with self._caller.stream(_rpc.Content.Read) as call:
            done = False
            try:
                # containerd reads size 0 as "to the end" and clips a size past the end.
                await call.send(ReadContentRequest(digest=digest, size=limit or 0), end=True)
                batch: list[memoryview] = []
                batched = 0
                while (raw := await call.recv_raw()) is not None:
                    data = _chunk(raw)
                    received += len(data)
                    if limit is not None and received > limit:
                        raise errors.DataLoss(
                            f"content {digest}: received {received} bytes, expected at most {limit}",
                            method=_READ,
                        )
                    batch.append(data)
                    batched += len(data)
                    if batched >= CHUNK_SIZE:
                        await assembler.add(batch)
                        batch, batched = [], 0
                if batch:
                    await assembler.add(batch)
                await call.finish()  # the daemon's error, if it sent one
                done = True
                return received
            finally:
                if not done:
                    await _cancel(call)

    @contextlib.asynccontextmanager
    async def writer(
        self,
        ref: str,
        *,
        total: int | None = None,
        expected: str | None = None,
        lock_timeout: float | None = None,
    ) -> AsyncIterator[ContentWriter]:
        """Open the ingest `ref` for writing, resuming it if it exists.

        The writer's `ContentWriter.offset` says where writing resumes: an
        existing ingest keeps what was written before, and the next write
        must carry on from there. If another writer holds the ref, entering
        retries with jittered exponential backoff (as containerd's Go client
        does) until the ref is free, or raises
        `pycontainerd.errors.Unavailable` after `lock_timeout` seconds.

        Leaving the block with an exception (including a failed commit) or by
        cancellation aborts the ingest (shielded, bounded in time). Leaving it
        normally without committing keeps the ingest for a later resume.
        Entering may block while the ref is locked; leaving does not block
        for long.

        Args:
            ref: the ingest's name, unique to the content being written
                (e.g. ``"layer-sha256:..."``).
            total: the blob's size, if known.
            expected: the blob's digest, if known.
            lock_timeout: how long to retry a locked ref (``None``: until cancelled).

        Raises:
            pycontainerd.errors.AlreadyExists: `expected` is already in the store.
            pycontainerd.errors.Unavailable: the ref stayed locked for `lock_timeout`.

        Example:
            ```python
            async with client.content.writer("upload-1", total=len(data)) as w:
                await w.write(data[w.offset :])
                digest = await w.commit(labels={"owner": "me"})
            ```
        """
        _check_ref(ref)
        if expected is not None:
            _check_digest(expected)
        if total is not None and total < 0:
            raise errors.InvalidArgument(f"invalid total {total!r}: must not be negative")
        async with self._writer(
            ref, total or 0, expected or "", lock_timeout=lock_timeout, abort_on=(BaseException,)
        ) as writer:
            yield writer

    @contextlib.asynccontextmanager
    async def _writer(
        self,
        ref: str,
        total: int,
        expected: str,
        *,
        lock_timeout: float | None,
        abort_on: tuple[type[BaseException], ...],
    ) -> AsyncIterator[ContentWriter]:
        """`writer` with its abort policy as a parameter.

        Leaving the block with an exception of `abort_on` aborts the ingest;
        any other exception ends the call and keeps what was written, for a
        later writer to resume (what a pull wants after a cancellation or a
        network failure, while bad data must go).
        """
        delay = _RETRY_FIRST
        deadline = None if lock_timeout is None else anyio.current_time() + lock_timeout
        while True:
            try:
                async with self._write_session(ref, total, expected, abort_on) as writer:
                    yield writer
                return
            except _Locked as locked:
                if deadline is not None and anyio.current_time() >= deadline:
                    raise locked.error from None
            await anyio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, _RETRY_MAX)

    @contextlib.asynccontextmanager
    async def _write_session(
        self, ref: str, total: int, expected: str, abort_on: tuple[type[BaseException], ...]
    ) -> AsyncIterator[ContentWriter]:
        async with self._caller.stream(_rpc.Content.Write) as call:
            try:
                await call.send(
                    WriteContentRequest(action=_STAT, ref=ref, total=total, expected=expected)
                )
                raw = await call.recv_raw()
                if raw is None:
                    await call.finish()
                    raise errors.Unknown(
                        f"content write of ref {shown(ref)}: no answer", method=_WRITE
                    )
            except errors.Unavailable as exc:
                # Another writer holds the ref.
                if type(exc) is errors.Unavailable and "locked" in str(exc):
                    raise _Locked(exc) from None
                if isinstance(exc, errors.ConnectionError) and exc.in_flight:
                    # The daemon may have opened the ingest and died before answering.
                    await self._end(call, ref, abort=isinstance(exc, abort_on))
                raise
            except errors.RPCError:
                raise  # the daemon answered: no ingest was opened
            except BaseException as exc:
                # Interrupted before the answer: the daemon may be creating the
                # ingest right now. Let it finish before anyone looks at the ref.
                await self._end(call, ref, abort=isinstance(exc, abort_on))
                raise
            writer = ContentWriter(
                call,
                ref=ref,
                offset=_ack(raw)["offset"],
                total=total,
                expected=expected,
            )
            try:
                yield writer
            except BaseException as exc:
                writer._closed = True
                await self._end(call, ref, abort=isinstance(exc, abort_on))
                raise
            if writer._closed:  # committed
                await _cancel(call)
                return
            # Left without committing: keep the ingest for a later writer. End
            # the call gracefully so the daemon writes every byte sent so far
            # and closes its writer (releasing the ref) before this returns.
            writer._closed = True
            with anyio.move_on_after(_CLEANUP_TIMEOUT):
                await self._finish(call)
            await _cancel(call)

    async def _finish(self, call: Call[WriteContentRequest, WriteContentResponse]) -> None:
        """End the client side of a Write call and wait until the daemon ended it.

        The daemon answers the pending WRITEs, closes its writer (unlocking the
        ref and updating the ingest) and only then sends the call's status, so
        once this returns the ingest is at rest. Errors are ignored: they mean
        the call is over too.
        """
        with contextlib.suppress(errors.ContainerdError):
            await call.end()  # fails if the COMMIT already ended our side: fine
        with contextlib.suppress(errors.ContainerdError):
            while await call.recv_raw() is not None:
                pass
            await call.finish()

    async def _end(
        self, call: Call[WriteContentRequest, WriteContentResponse], ref: str, *, abort: bool
    ) -> None:
        """End an interrupted call gracefully, then reset it; abort the ingest if asked.

        Shielded and bounded in time. A reset alone would let the daemon's
        handler run on (creating the ingest, writing, or closing its writer
        with the ref still locked) after the caller moved on, so an abort
        sent next could come first and the ingest outlive it.
        """

        async def end_call() -> None:
            with anyio.move_on_after(_CLEANUP_TIMEOUT / 2):
                await self._finish(call)

        async def reset() -> None:
            await _cancel(call)

        async def abort_it() -> None:
            await self._abort_settled(ref)

        with contextlib.suppress(TimeoutError):
            await finish(
                end_call, reset, *([Removal(abort_it)] if abort else []), timeout=_CLEANUP_TIMEOUT
            )

    async def write(
        self,
        ref: str,
        source: bytes | bytearray | memoryview | str | os.PathLike[str] | AsyncIterable[bytes],
        *,
        expected: str | None = None,
        total: int | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> str:
        """Write a blob from bytes, a file path or an async byte iterator; return its digest.

        Memory stays constant (chunks of 1 MiB) for paths and iterators. An
        existing ingest under `ref` is resumed: a path is read from the
        resume offset and an iterator's first bytes are skipped. If the blob
        already exists, nothing is written and its digest is returned.

        Raises:
            pycontainerd.errors.FailedPrecondition: the data does not match
                `expected` or `total`; the ingest is aborted.

        Example:
            ```python
            digest = await client.content.write("rootfs", "/tmp/rootfs.tar.gz",
                                                labels={"owner": "me"})
            ```
        """
        labels = labels_checked(labels)
        if isinstance(source, bytes | bytearray | memoryview):
            view = memoryview(source).cast("B")
            if total is None:
                total = len(view)
        elif isinstance(source, str | os.PathLike) and total is None:
            total = (await anyio.Path(source).stat()).st_size
        try:
            async with self.writer(ref, total=total, expected=expected) as w:
                if isinstance(source, bytes | bytearray | memoryview):
                    await w.write(view[w.offset :])
                elif isinstance(source, str | os.PathLike):
                    async with await anyio.open_file(source, "rb") as f:
                        await f.seek(w.offset)
                        while chunk := await f.read(CHUNK_SIZE):
                            await w.write(chunk)
                else:
                    skip = w.offset
                    async for chunk in source:
                        if skip:
                            if len(chunk) <= skip:
                                skip -= len(chunk)
                                continue
                            chunk, skip = chunk[skip:], 0
                        await w.write(chunk)
                return await w.commit(labels=labels)
        except errors.AlreadyExists as exc:
            # Another writer got there first: the blob is in the store.
            if expected is not None:
                return expected
            found = _DIGEST_IN_TEXT.search(str(exc))
            if found is None:
                raise
            return found.group(0)


class _Locked(Exception):
    """The ref is locked by another writer (internal: drives the retry)."""

    def __init__(self, error: errors.Unavailable) -> None:
        super().__init__(str(error))
        self.error = error


async def _cancel(call: Call[Any, Any]) -> None:
    """Reset the call (idempotent): the daemon stops sending and closes its side."""
    with contextlib.suppress(errors.ContainerdError):
        await call.cancel()
