"""The diff service: apply a layer onto mounts, or compare two mount sets into a layer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from . import _identifiers
from ._api import _rpc
from ._api.containerd.services.diff.v1 import (
    ApplyRequest,
    DiffRequest,
)
from ._descriptors import Descriptor, Mount
from ._facade import Facade
from ._transport import DEFAULT, Timeout

if TYPE_CHECKING:
    pass

__all__ = ["Diff"]


class Diff(Facade):
    """The daemon's diff service (``client.diff``).

    Both calls read or write whole layers and may take a while: they have no
    deadline unless given one.

    Example:
        ```python
        snapshots = client.snapshots()
        lower = await snapshots.view("base-view", parent="base")
        upper = await snapshots.mounts("work")
        layer = await client.diff.compare(lower, upper)  # a gzip tar in the content store
        ```
    """

    async def apply(
        self,
        descriptor: Descriptor,
        mounts: Iterable[Mount],
        *,
        sync_fs: bool = False,
        timeout: Timeout = DEFAULT,
    ) -> Descriptor:
        """Unpack the layer `descriptor` (a blob in the content store) onto `mounts`.

        Returns the descriptor of what was applied: for a compressed layer,
        the uncompressed tar (its digest is the layer's diff ID). Like every
        unary call it has the client's deadline unless given ``timeout=``
        (``None`` for none, for a large layer).

        Args:
            descriptor: the layer.
            mounts: where to unpack it (a snapshot's mounts).
            sync_fs: have the daemon sync the filesystem before it answers
                (containerd 1.7.15 and newer; older daemons ignore it).
            timeout: deadline in seconds (default: the client's; ``None``: none).

        Raises:
            pycontainerd.errors.NotFound: the layer blob is not in the content store.

        Example:
            ```python
            mounts = await client.snapshots().prepare("extract-1", parent=chain_id)
            applied = await client.diff.apply(layer, mounts)
            print(applied.digest)  # the diff ID
            ```
        """
        reply = await self._caller.unary(
            _rpc.Diff.Apply,
            ApplyRequest(
                diff=descriptor._to_proto(),
                mounts=[m._to_proto() for m in mounts],
                sync_fs=sync_fs,
            ),
            timeout=timeout,
        )
        return Descriptor._from_proto(reply.applied)

    async def compare(
        self,
        lower: Iterable[Mount],
        upper: Iterable[Mount],
        *,
        media_type: str | None = None,
        ref: str | None = None,
        labels: Mapping[str, str] | None = None,
        source_date_epoch: datetime | None = None,
        timeout: Timeout = DEFAULT,
    ) -> Descriptor:
        """Write the changes from `lower` to `upper` as a layer into the content store.

        Make the call under a lease (``client.leases.lease()``), or the new
        blob may be garbage-collected before anything refers to it.

        Args:
            lower: the mounts of the older tree (for example a view of the parent).
            upper: the mounts of the newer tree.
            media_type: the layer's media type (default: the daemon's,
                ``application/vnd.oci.image.layer.v1.tar+gzip``).
            ref: the ingest ref to write the blob under (default: a random one).
            labels: labels for the new blob (e.g. ``containerd.io/uncompressed``).
            source_date_epoch: clamp the layer's file times to this moment,
                for reproducible layers (``SOURCE_DATE_EPOCH``; containerd
                1.7 and newer, 1.6 ignores it).
            timeout: deadline in seconds (default: the client's; ``None``: none).

        Example:
            ```python
            async with client.leases.lease() as leased:
                layer = await leased.diff.compare(lower, upper, labels={"owner": "me"})
            ```
        """
        request = DiffRequest(
            left=[m._to_proto() for m in lower],
            right=[m._to_proto() for m in upper],
            media_type=media_type or "",
            ref=ref or "",
            labels=_identifiers.labels(labels),
        )
        if source_date_epoch is not None:
            if source_date_epoch.tzinfo is None:
                raise ValueError(f"source_date_epoch {source_date_epoch!r} must be timezone-aware")
            request.source_date_epoch = source_date_epoch
        reply = await self._caller.unary(
            _rpc.Diff.Diff,
            request,
            timeout=timeout,
        )
        return Descriptor._from_proto(reply.diff)
