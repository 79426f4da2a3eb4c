"""Work staged under an operation's lease, and its undoing (private).

Image import and conversion each write under one lease: blobs derived from
others (a layer compressed or uncompressed) and image records. On failure
or cancellation the records are put back as they were and the lease is
deleted synchronously, which collects what it held.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncGenerator, Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING

from . import errors
from ._leases import LeaseResource
from ._shield import Removal, finish

if TYPE_CHECKING:
    from ._client import Client
    from ._images import Image

__all__ = ["hold_content", "roll_back", "write_derived"]

_CLEANUP_TIMEOUT = 10.0


def _lease(leased: Client) -> str:
    lease = leased.lease
    # A view from `Leases.lease` always carries its lease.
    assert lease is not None, "not a view from Leases.lease"
    return lease


async def hold_content(leased: Client, digest: str) -> None:
    """Make `leased`'s lease hold the blob `digest`, so that it outlives a GC until referenced."""
    await leased.leases.add_resource(_lease(leased), LeaseResource(id=digest, type="content"))


async def write_derived(
    leased: Client, ref: str, pieces: AsyncGenerator[bytes, None], labels: Mapping[str, str]
) -> tuple[str, int]:
    """Store the blob `pieces` make (under the ingest `ref`); its digest and size.

    An ingest left at `ref` by an interrupted operation is started over. A
    blob already in the store counts as written (its labels stay as they were).
    """
    hasher = hashlib.sha256()
    size = 0
    try:
        async with leased.content.writer(ref) as w, contextlib.aclosing(pieces):
            if w.offset:
                await w.truncate()
            async for piece in pieces:
                hasher.update(piece)
                size += len(piece)
                await w.write(piece)
            await w.commit(expected=f"sha256:{hasher.hexdigest()}", labels=labels)
    except errors.AlreadyExists:
        pass
    return f"sha256:{hasher.hexdigest()}", size


async def roll_back(
    client: Client,
    leased: Client,
    *,
    created: Sequence[str] = (),
    previous: Mapping[str, Image] | None = None,
) -> None:
    """Undo an operation under `leased`'s lease (shielded, bounded in time).

    The images named `created` are deleted, those in `previous` get their
    old target and labels back, then the lease goes with a synchronous GC.
    A record that cannot be put back (changed or deleted meanwhile) is left;
    a daemon out of reach for the whole time leaves everything to the
    lease's expiry.
    """
    lease = _lease(leased)

    async def undo() -> None:
        for name in created:
            await _quietly(client.images.delete(name))
        for name, old in (previous or {}).items():
            await _quietly(
                client.images.update(
                    name, target=old.target, labels=old.labels, replace_labels=True
                )
            )
        with contextlib.suppress(errors.NotFound):
            await client.leases.delete(lease, sync=True)

    with contextlib.suppress(TimeoutError, errors.ConnectionError):
        await finish(Removal(undo), timeout=_CLEANUP_TIMEOUT)


async def _quietly(call: Awaitable[object]) -> None:
    # A lost connection is raised: `finish` tries again once the daemon is back.
    try:
        await call
    except errors.ConnectionError:
        raise
    except errors.RPCError:
        pass
