"""Leases: hold content, snapshots and ingests back from garbage collection.

containerd's garbage collector removes every blob and snapshot that nothing
refers to. A lease is such a reference: resources created by calls that carry
the lease (``client.with_lease(id)``), or added to it explicitly, live at
least as long as the lease. A lease may expire by itself (the
``containerd.io/gc.expire`` label, as set by containerd's Go client).
"""

from __future__ import annotations

import builtins
import contextlib
import secrets
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

import anyio
import attrs

from . import _identifiers, errors
from ._api import _rpc
from ._api.containerd.services.leases.v1 import (
    AddResourceRequest,
    CreateRequest,
    DeleteRequest,
    DeleteResourceRequest,
    ListRequest,
    ListResourcesRequest,
    Resource,
)
from ._api.containerd.services.leases.v1 import Lease as _Lease
from ._convert import timestamp
from ._facade import Facade
from ._shield import Creation, Removal, finish
from ._transport import DEFAULT, Timeout

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["EXPIRE_LABEL", "Lease", "LeaseResource", "Leases"]


#: The label holding a lease's expiry time (RFC 3339); the GC drops expired leases.
EXPIRE_LABEL: Final = "containerd.io/gc.expire"

_CLEANUP_TIMEOUT: Final = 10.0


def _random_id() -> str:
    return f"pycontainerd-{secrets.token_hex(8)}"


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.frozen(kw_only=True)
class Lease:
    """A lease: an id, its labels and when it was created.

    Example:
        ```python
        lease = await client.leases.create(expires_in=3600)
        print(lease.id, lease.expires_at)
        ```
    """

    id: str
    labels: Mapping[str, str] = attrs.field(factory=dict)
    created_at: datetime | None = None

    @property
    def expires_at(self) -> datetime | None:
        """When the lease expires (from its ``containerd.io/gc.expire`` label), if ever."""
        value = self.labels.get(EXPIRE_LABEL)
        if not value:
            return None
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None

    @classmethod
    def _from_proto(cls, msg: _Lease) -> Lease:
        return cls(id=msg.id, labels=dict(msg.labels), created_at=timestamp(msg.created_at))


@attrs.frozen(kw_only=True)
class LeaseResource:
    """A resource a lease holds.

    ``type`` is ``"content"`` (id: a digest), ``"ingests"`` (id: an ingest
    ref) or ``"snapshots/<snapshotter>"`` (id: a snapshot key).

    Example:
        ```python
        LeaseResource(id="sha256:...", type="content")
        LeaseResource(id="my-rootfs", type="snapshots/overlayfs")
        ```
    """

    id: str
    type: str

    @classmethod
    def _from_proto(cls, msg: Resource) -> LeaseResource:
        return cls(id=msg.id, type=msg.type)

    def _to_proto(self) -> Resource:
        return Resource(id=self.id, type=self.type)


class Leases(Facade):
    """The leases of the client's namespace (``client.leases``).

    Example:
        ```python
        async with client.leases.lease(expires_in=600) as leased:
            digest = await leased.content.write("blob", b"data")
            # the blob outlives a garbage collection while the block runs
        ```
    """

    async def create(
        self,
        id: str | None = None,
        *,
        expires_in: float | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Lease:
        """Create a lease.

        Args:
            id: the lease's id (default: a random one).
            expires_in: seconds until the garbage collector may drop the lease
                (default: it never expires).
            labels: labels for the lease.

        Raises:
            pycontainerd.errors.InvalidArgument: `id` is not a valid identifier.
            pycontainerd.errors.AlreadyExists: a lease with this id exists.

        Example:
            ```python
            lease = await client.leases.create(expires_in=24 * 3600, labels={"job": "pull"})
            ```
        """
        return await self._send(self._request(id, expires_in, labels), timeout=DEFAULT)

    @staticmethod
    def _request(
        id: str | None, expires_in: float | None, labels: Mapping[str, str] | None
    ) -> CreateRequest:
        """The Create request for these arguments, checked (a random id if none)."""
        if id is None:
            id = _random_id()
        _identifiers.validate(id, "lease")
        all_labels = _identifiers.labels(labels, "lease labels")
        if expires_in is not None:
            if expires_in < 0:
                raise errors.InvalidArgument(f"invalid expires_in {expires_in!r}: negative")
            all_labels[EXPIRE_LABEL] = _rfc3339(datetime.now(UTC) + timedelta(seconds=expires_in))
        return CreateRequest(id=id, labels=all_labels)

    async def _send(self, request: CreateRequest, *, timeout: Timeout) -> Lease:
        reply = await self._caller.unary(_rpc.Leases.Create, request, timeout=timeout)
        return Lease._from_proto(reply.lease)

    async def _create_surely(
        self, id: str | None, expires_in: float | None, labels: Mapping[str, str] | None
    ) -> str:
        """Create a lease however the caller is cancelled; its id.

        A cancelled Create may still make the lease after a Delete sent to
        clean it up: the (short, bounded) Create finishes, then the
        cancellation is honoured with the lease known and deleted. The id is
        chosen here, so a Create cut short can be sent again. A Create whose
        answer was lost removes the lease of the caller's `id` only if its
        labels are the ones asked for (the expiry's is to the microsecond):
        another's lease of that id stays.
        """
        request = self._request(id, expires_in, labels)

        async def as_asked() -> bool:
            found = await self.list(f"id=={request.id}")
            return any(dict(lease.labels) == request.labels for lease in found)

        creation = Creation(
            lambda: self._send(request, timeout=_CLEANUP_TIMEOUT),
            ours=None if id is None else as_asked,  # no one else has a random id
        )
        try:
            await finish(creation, timeout=_CLEANUP_TIMEOUT)
        except BaseException:
            if creation.made or creation.unsure:

                async def undo() -> None:
                    if await creation.owned():
                        await self.delete(request.id)

                with contextlib.suppress(TimeoutError, errors.ContainerdError):
                    await finish(Removal(undo), timeout=_CLEANUP_TIMEOUT)
            raise
        return request.id

    async def list(self, *filters: str) -> builtins.list[Lease]:
        """The namespace's leases, optionally narrowed by `filters` (e.g. ``labels."job"==pull``).

        `filters` mean what they mean for every ``list()``: several are ORed,
        the comma-separated selectors of one are ANDed (containerd's syntax, see
        `pycontainerd.events.filters`).
        Fields include ``id`` and ``labels.<key>``.

        Example:
            ```python
            print([lease.id for lease in await client.leases.list()])
            ```
        """
        reply = await self._caller.unary(
            _rpc.Leases.List, ListRequest(filters=builtins.list(filters))
        )
        return [Lease._from_proto(lease) for lease in reply.leases]

    async def delete(self, id: str, *, sync: bool = False) -> None:
        """Delete the lease `id`; what only it held becomes garbage.

        Args:
            id: the lease.
            sync: wait for a garbage collection to run before returning, so
                that what the lease alone held is gone when this returns.

        Raises:
            pycontainerd.errors.NotFound: there is no such lease.

        Example:
            ```python
            await client.leases.delete(lease.id, sync=True)
            ```
        """
        _identifiers.validate(id, "lease")
        await self._caller.unary(_rpc.Leases.Delete, DeleteRequest(id=id, sync=sync))

    async def add_resource(self, id: str, resource: LeaseResource) -> None:
        """Make the lease `id` hold `resource`.

        Example:
            ```python
            await client.leases.add_resource(lease.id, LeaseResource(id=digest, type="content"))
            ```
        """
        _identifiers.validate(id, "lease")
        await self._caller.unary(
            _rpc.Leases.AddResource,
            AddResourceRequest(id=id, resource=resource._to_proto()),
        )

    async def delete_resource(self, id: str, resource: LeaseResource) -> None:
        """Stop the lease `id` holding `resource`.

        Example:
            ```python
            await client.leases.delete_resource(lease.id, LeaseResource(id=digest, type="content"))
            ```
        """
        _identifiers.validate(id, "lease")
        await self._caller.unary(
            _rpc.Leases.DeleteResource,
            DeleteResourceRequest(id=id, resource=resource._to_proto()),
        )

    async def resources(self, id: str) -> builtins.list[LeaseResource]:
        """What the lease `id` holds.

        Example:
            ```python
            for r in await client.leases.resources(lease.id):
                print(r.type, r.id)
            ```
        """
        _identifiers.validate(id, "lease")
        reply = await self._caller.unary(_rpc.Leases.ListResources, ListResourcesRequest(id=id))
        return [LeaseResource._from_proto(r) for r in reply.resources]

    @contextlib.asynccontextmanager
    async def lease(
        self,
        id: str | None = None,
        *,
        expires_in: float | None = 3600,
        labels: Mapping[str, str] | None = None,
        sync_delete: bool = False,
    ) -> AsyncIterator[Client]:
        """Create a lease for the block and yield a client view whose calls carry it.

        The lease is deleted when the block ends, by an exception or by
        cancellation too (shielded, bounded in time); the expiry is a
        safety net in case the process dies first. Entering and leaving each
        make one short call; a cancellation arriving while entering waits for
        the lease to be created, then deletes it and propagates.

        Args:
            id: the lease's id (default: a random one).
            expires_in: seconds until the lease expires by itself (``None``: never).
            labels: labels for the lease.
            sync_delete: on exit, wait for the garbage collection the deletion
                triggers.

        Example:
            ```python
            async with client.leases.lease(expires_in=3600) as leased:
                await leased.content.write("layer", "/tmp/layer.tar.gz")
                ...  # create the image that refers to the blob, then leave
            ```
        """
        lease_id = await self._create_surely(id, expires_in, labels)

        async def delete() -> None:
            with contextlib.suppress(errors.NotFound):
                await self.delete(lease_id, sync=sync_delete)

        try:
            await anyio.lowlevel.checkpoint()
            yield self._client.with_lease(lease_id)
        finally:
            with contextlib.suppress(TimeoutError, errors.ContainerdError):
                await finish(Removal(delete), timeout=_CLEANUP_TIMEOUT)
