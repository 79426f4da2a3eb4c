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
from .._api.containerd.services.content.v1 import WriteAction, WriteContentRequest
from .._content import ContentWriter, _WriteAck
from .._transport import recv_message
from ._errors import DigestError

if TYPE_CHECKING:
    from grpclib.client import Stream

    from .._client import Client

__all__ = ["abort_ingest", "open_ingest", "prime_ingest"]

_WRITE: Final = "/containerd.services.content.v1.Content/Write"
_CLEANUP_TIMEOUT: Final = 10.0


class _Locked(Exception):
    """The ref is locked by another writer (internal: opening is retried)."""


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
        _WRITE, Cardinality.STREAM_STREAM, WriteContentRequest, _WriteAck
    ) as stream:
        try:
            with caller.transport.map_errors(_WRITE):
                await stream.send_message(
                    WriteContentRequest(
                        action=WriteAction(WriteAction.STAT),
                        ref=ref,
                        total=total,
                        expected=expected,
                    )
                )
                reply = await recv_message(stream)
        except errors.Unavailable as exc:
            if type(exc) is errors.Unavailable and "locked" in str(exc):
                raise _Locked from None  # another writer holds the ref: retried by the caller
            raise
        except errors.RPCError:
            raise  # the daemon answered: its call is over
        except BaseException:
            # Interrupted before the answer: the daemon may be creating the
            # ingest right now. Let it finish before anyone looks at the ref.
            await _end(client, stream)
            raise
        if reply is None:
            raise errors.Unknown(f"content write of ref {ref!r}: no answer", method=_WRITE)
        writer = ContentWriter(
            stream, caller, ref=ref, offset=reply.offset, total=total, expected=expected
        )
        try:
            yield writer
        except abort_on:
            writer._closed = True
            await _end(client, stream)
            with anyio.CancelScope(shield=True), anyio.move_on_after(_CLEANUP_TIMEOUT):
                await client.content._abort_settled(ref)
            raise
        except BaseException:
            writer._closed = True  # interrupted: keep the ingest for a resume
            await _end(client, stream)
            raise
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLEANUP_TIMEOUT):
            with contextlib.suppress(Exception):
                await stream.cancel()


async def _end(client: Client, stream: Stream[WriteContentRequest, _WriteAck]) -> None:
    """End an interrupted Write call gracefully, then reset it (shielded, bounded).

    A reset alone lets the daemon's handler run on: it may still be creating
    the ingest, writing, or closing its writer (the ref stays locked) after
    the caller moved on, so an abort sent next could come first and the
    ingest outlive it. Ending our side and waiting for the call's status
    means the daemon's writer is closed and the ingest at rest.
    """
    with anyio.CancelScope(shield=True):
        with anyio.move_on_after(_CLEANUP_TIMEOUT), contextlib.suppress(Exception):
            await client.content._finish(stream)
        with anyio.move_on_after(_CLEANUP_TIMEOUT), contextlib.suppress(Exception):
            await stream.cancel()


async def abort_ingest(client: Client, ref: str) -> None:
    """Abort the ingest `ref` if it exists (shielded, bounded in time)."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(_CLEANUP_TIMEOUT):
        await client.content._abort_settled(ref)


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
            session = _session(
                client, ref, total, expected, abort_on=(DigestError, errors.FailedPrecondition)
            )
            writer = await session.__aenter__()
        except _Locked:
            await anyio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, 2.0)
            continue
        break
    try:
        yield writer
    except BaseException as exc:
        if not await session.__aexit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        await session.__aexit__(None, None, None)


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
