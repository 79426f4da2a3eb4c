"""Content writers for a pull: an interrupted transfer keeps its ingest.

``client.content.writer`` aborts the ingest whenever its block ends with an
exception. A pull wants that only when the data was bad: after a
cancellation or a network failure the partial ingest must stay, so the next
pull of the same blob resumes at its offset (a ``Range`` request). Both use
the content store's one Write session, with a different abort policy.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Final

from .. import errors
from .._shield import Removal, finish
from ._errors import DigestError

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from .._client import Client
    from .._content import ContentWriter

__all__ = ["abort_ingest", "open_ingest", "prime_ingest"]

_CLEANUP_TIMEOUT: Final = 10.0
# Bad data: the only reasons a pull throws a partial ingest away.
_ABORT_ON: Final = (DigestError, errors.FailedPrecondition)


async def abort_ingest(client: Client, ref: str) -> None:
    """Abort the ingest `ref` if it exists (shielded, bounded in time)."""
    with contextlib.suppress(TimeoutError):
        await finish(Removal(lambda: client.content._abort_settled(ref)), timeout=_CLEANUP_TIMEOUT)


def open_ingest(
    client: Client, ref: str, *, total: int, expected: str
) -> AbstractAsyncContextManager[ContentWriter]:
    """Open (or resume) the ingest `ref` for a blob of known size and digest.

    Leaving with `DigestError` or `errors.FailedPrecondition` (bad data)
    aborts the ingest; any other exception, cancellation included, keeps it.
    A ref locked by another writer is retried with jittered backoff.

    Raises:
        errors.AlreadyExists: the blob is in the store (and, on a leased
            client, now held by the lease too).
    """
    return client.content._writer(ref, total, expected, lock_timeout=None, abort_on=_ABORT_ON)


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
