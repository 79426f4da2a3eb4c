"""A content writer that keeps its ingest when a transfer is interrupted.

``client.content.writer`` aborts the ingest whenever its block ends with an
exception. A pull wants that only when the data was bad: after a
cancellation or a network failure the partial ingest must stay, so the next
pull of the same blob resumes at its offset (a ``Range`` request).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Final

import anyio
from grpclib.const import Cardinality

from .. import errors
from .._api.containerd.services.content.v1 import (
    WriteAction,
    WriteContentRequest,
    WriteContentResponse,
)
from .._content import CHUNK_SIZE, ContentWriter
from .._transport import recv_message
from ._errors import DigestError

if TYPE_CHECKING:
    from .._client import Client

__all__ = ["open_ingest", "prime_ingest"]

_WRITE: Final = "/containerd.services.content.v1.Content/Write"
_CLEANUP_TIMEOUT: Final = 10.0
_WINDOW: Final = 8  # WRITE messages in flight before waiting for an acknowledgement


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class _EncodedWrite(WriteContentRequest):
    """A WRITE request encoded by hand: grpclib only asks a message for its bytes.

    betterproto's encoder (the Rust codec included) copies a 1 MiB ``data``
    field slowly (about 12 ms, most of a pull's CPU time); the wire format of
    ``action=WRITE, offset, data`` is three fields, so it is built here with
    one copy of the chunk.
    """

    def __init__(self, offset: int, data: memoryview) -> None:  # no betterproto init
        head = b"\x08\x01"  # field 1 (action), varint WRITE = 1
        if offset:
            head += b"\x28" + _varint(offset)  # field 5 (offset), varint
        head += b"\x32" + _varint(len(data))  # field 6 (data), length-delimited
        object.__setattr__(self, "_encoded", b"".join((head, data)))

    _encoded: bytes

    def SerializeToString(self) -> bytes:  # grpclib's codec calls this
        return self._encoded

    def __bytes__(self) -> bytes:
        return self._encoded


class _Writer(ContentWriter):
    """`ContentWriter` with hand-encoded WRITE messages (same protocol, same window)."""

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        self._check_open()
        view = memoryview(data).cast("B")
        for start in range(0, len(view), CHUNK_SIZE):
            chunk = view[start : start + CHUNK_SIZE]
            while len(self._pending) >= _WINDOW:
                await self._ack_one()
            await self._send(_EncodedWrite(self._offset, chunk))
            self._offset += len(chunk)
            self._pending.append(self._offset)


@contextlib.asynccontextmanager
async def _session(
    client: Client,
    ref: str,
    total: int,
    expected: str,
    *,
    abort_on: tuple[type[BaseException], ...],
) -> AsyncIterator[ContentWriter]:
    caller = client._caller
    async with caller.stream(
        _WRITE, Cardinality.STREAM_STREAM, WriteContentRequest, WriteContentResponse
    ) as stream:
        with caller.transport.map_errors(_WRITE):
            await stream.send_message(
                WriteContentRequest(
                    action=WriteAction(WriteAction.STAT), ref=ref, total=total, expected=expected
                )
            )
            reply = await recv_message(stream)
        if reply is None:
            raise errors.Unknown(f"content write of ref {ref!r}: no answer", method=_WRITE)
        writer = _Writer(
            stream, caller, ref=ref, offset=reply.offset, total=total, expected=expected
        )
        try:
            yield writer
        except abort_on:
            writer._closed = True
            with anyio.CancelScope(shield=True), anyio.move_on_after(_CLEANUP_TIMEOUT):
                with contextlib.suppress(Exception):
                    await stream.cancel()
                await _abort(client, ref)
            raise
        except BaseException:
            writer._closed = True  # interrupted: keep the ingest for a resume
            with anyio.CancelScope(shield=True), anyio.move_on_after(_CLEANUP_TIMEOUT):
                with contextlib.suppress(Exception):
                    await stream.cancel()
            raise
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLEANUP_TIMEOUT):
            with contextlib.suppress(Exception):
                await stream.cancel()


async def _abort(client: Client, ref: str) -> None:
    # The daemon may still be closing its writer: an abort racing with that
    # fails and is tried again (as the content facade does).
    for _ in range(50):
        try:
            await client.content.abort(ref)
        except (errors.NotFound, errors.ConnectionError):
            return
        except errors.RPCError:
            await anyio.sleep(0.02)
        else:
            return


@contextlib.asynccontextmanager
async def open_ingest(
    client: Client, ref: str, *, total: int, expected: str
) -> AsyncIterator[ContentWriter]:
    """Open (or resume) the ingest `ref` for a blob of known size and digest.

    Leaving with `DigestError` or `errors.FailedPrecondition` (bad data)
    aborts the ingest; any other exception, cancellation included, keeps it.
    A ref locked by another writer is retried with jittered backoff.

    Raises:
        errors.AlreadyExists: the blob is in the store (and, on a leased
            client, now held by the lease too).
    """
    delay = 0.016
    while True:
        try:
            async with _session(
                client, ref, total, expected, abort_on=(DigestError, errors.FailedPrecondition)
            ) as writer:
                yield writer
            return
        except errors.Unavailable as exc:
            if type(exc) is not errors.Unavailable or "locked" not in str(exc):
                raise
        await anyio.sleep(random.uniform(0, delay))
        delay = min(delay * 2, 2.0)


async def prime_ingest(client: Client, ref: str, *, total: int, expected: str) -> int:
    """Open the ingest without a lease (so it outlives one) and return its offset.

    containerd gives an ingest opened outside any lease a 24-hour expiry that
    the garbage collector honours. Opening it once that way before writing
    under the pull's lease lets a cancelled pull's partial blob survive the
    lease's deletion, for the next pull to resume.

    Raises:
        errors.AlreadyExists: the blob is in the store.
    """
    async with open_ingest(client.with_lease(None), ref, total=total, expected=expected) as w:
        return w.offset
