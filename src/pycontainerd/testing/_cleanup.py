"""Take stock of a namespace and empty it, through raw calls only.

This deliberately uses the generated messages and the transport rather than
the SDK's facades: cleanup after a test must still work when the facade
under test is broken.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable

import anyio
import attrs
from betterproto.lib.google.protobuf import Empty
from grpclib.const import Cardinality

from .. import errors
from .._api.containerd.services.containers.v1 import (
    DeleteContainerRequest,
    ListContainersRequest,
    ListContainersResponse,
)
from .._api.containerd.services.content.v1 import (
    AbortRequest,
    DeleteContentRequest,
    ListContentRequest,
    ListContentResponse,
    ListStatusesRequest,
    ListStatusesResponse,
)
from .._api.containerd.services.images.v1 import (
    DeleteImageRequest,
    ListImagesRequest,
    ListImagesResponse,
)
from .._api.containerd.services.introspection.v1 import PluginsRequest, PluginsResponse
from .._api.containerd.services.leases.v1 import DeleteRequest as DeleteLeaseRequest
from .._api.containerd.services.leases.v1 import ListRequest as ListLeasesRequest
from .._api.containerd.services.leases.v1 import ListResponse as ListLeasesResponse
from .._api.containerd.services.snapshots.v1 import (
    ListSnapshotsRequest,
    ListSnapshotsResponse,
    RemoveSnapshotRequest,
)
from .._api.containerd.services.tasks.v1 import (
    DeleteResponse,
    DeleteTaskRequest,
    KillRequest,
    ListTasksRequest,
    ListTasksResponse,
    WaitRequest,
    WaitResponse,
)
from .._client import Client

__all__ = ["Inventory", "empty_namespace", "inventory"]

_TASKS = "/containerd.services.tasks.v1.Tasks/"
_SNAPSHOTS = "/containerd.services.snapshots.v1.Snapshots/"


@attrs.frozen(kw_only=True)
class Inventory:
    """What a namespace holds: ids and names of each kind of object."""

    tasks: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    leases: tuple[str, ...] = ()
    snapshots: tuple[str, ...] = ()  # "snapshotter/key"
    content: tuple[str, ...] = ()
    ingests: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the namespace holds nothing at all."""
        return not any(attrs.astuple(self))


async def _snapshotters(client: Client) -> list[str]:
    reply = await client._caller.unary(
        "/containerd.services.introspection.v1.Introspection/Plugins",
        PluginsRequest(filters=["type==io.containerd.snapshotter.v1"]),
        PluginsResponse,
    )
    return sorted(p.id for p in reply.plugins if not p.init_err.code)


async def _snapshots(client: Client, snapshotter: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    async with client._caller.stream(
        _SNAPSHOTS + "List", Cardinality.UNARY_STREAM, ListSnapshotsRequest, ListSnapshotsResponse
    ) as stream:
        await stream.send_message(ListSnapshotsRequest(snapshotter=snapshotter), end=True)
        async for reply in stream:
            found.extend((info.name, info.parent) for info in reply.info)
    return found


async def inventory(client: Client) -> Inventory:
    """List everything the client's namespace holds.

    Example:
        ```python
        assert (await inventory(client)).empty
        ```
    """
    c = client._caller
    tasks = await c.unary(_TASKS + "List", ListTasksRequest(), ListTasksResponse)
    containers = await c.unary(
        "/containerd.services.containers.v1.Containers/List",
        ListContainersRequest(),
        ListContainersResponse,
    )
    images = await c.unary(
        "/containerd.services.images.v1.Images/List", ListImagesRequest(), ListImagesResponse
    )
    leases = await c.unary(
        "/containerd.services.leases.v1.Leases/List", ListLeasesRequest(), ListLeasesResponse
    )
    content: list[str] = []
    async with c.stream(
        "/containerd.services.content.v1.Content/List",
        Cardinality.UNARY_STREAM,
        ListContentRequest,
        ListContentResponse,
    ) as stream:
        await stream.send_message(ListContentRequest(), end=True)
        async for reply in stream:
            content.extend(i.digest for i in reply.info)
    ingests = await c.unary(
        "/containerd.services.content.v1.Content/ListStatuses",
        ListStatusesRequest(),
        ListStatusesResponse,
    )
    snapshots = [
        f"{sn}/{name}"
        for sn in await _snapshotters(client)
        for name, _ in await _snapshots(client, sn)
    ]
    return Inventory(
        tasks=tuple(sorted(t.id for t in tasks.tasks)),
        containers=tuple(sorted(x.id for x in containers.containers)),
        images=tuple(sorted(i.name for i in images.images)),
        leases=tuple(sorted(lease.id for lease in leases.leases)),
        snapshots=tuple(sorted(snapshots)),
        content=tuple(sorted(content)),
        ingests=tuple(sorted(s.ref for s in ingests.statuses)),
    )


async def _remove_task(client: Client, container_id: str) -> None:
    c = client._caller
    try:
        await c.unary(
            _TASKS + "Kill",
            KillRequest(container_id=container_id, signal=signal.SIGKILL, all=True),
            Empty,
        )
    except (errors.NotFound, errors.FailedPrecondition, errors.Unknown):
        pass  # already stopped or never started
    with anyio.move_on_after(10):
        try:
            await c.unary(
                _TASKS + "Wait", WaitRequest(container_id=container_id), WaitResponse, timeout=10
            )
        except errors.RPCError:
            pass
    await c.unary(_TASKS + "Delete", DeleteTaskRequest(container_id=container_id), DeleteResponse)


async def empty_namespace(client: Client, *, delete: bool = True) -> None:
    """Remove everything in the client's namespace, then (by default) the namespace itself.

    Tasks are killed and deleted, then containers, images, leases, snapshots
    (children before parents), content and ingests are removed. Missing
    objects are ignored, so it can run on a half-cleaned namespace.

    Example:
        ```python
        await empty_namespace(client.with_namespace("scratch"))
        ```
    """
    c = client._caller
    stock = await inventory(client)
    for task_id in stock.tasks:
        await _remove_task(client, task_id)
    for cid in stock.containers:
        await _ignore_missing(
            c.unary(
                "/containerd.services.containers.v1.Containers/Delete",
                DeleteContainerRequest(id=cid),
                Empty,
            )
        )
    for name in stock.images:
        await _ignore_missing(
            c.unary(
                "/containerd.services.images.v1.Images/Delete",
                DeleteImageRequest(name=name),
                Empty,
            )
        )
    for lease in stock.leases:
        await _ignore_missing(
            c.unary(
                "/containerd.services.leases.v1.Leases/Delete", DeleteLeaseRequest(id=lease), Empty
            )
        )
    for ref in stock.ingests:
        await _ignore_missing(
            c.unary("/containerd.services.content.v1.Content/Abort", AbortRequest(ref=ref), Empty)
        )
    for snapshotter in await _snapshotters(client):
        await _remove_snapshots(client, snapshotter)
    for digest in (await inventory(client)).content:
        await _ignore_missing(
            c.unary(
                "/containerd.services.content.v1.Content/Delete",
                DeleteContentRequest(digest=digest),
                Empty,
            )
        )
    if delete:
        await client.namespaces.delete(client.namespace)


async def _remove_snapshots(client: Client, snapshotter: str) -> None:
    while True:
        snaps = await _snapshots(client, snapshotter)
        if not snaps:
            return
        parents = {parent for _, parent in snaps}
        for key in (name for name, _ in snaps if name not in parents):
            await _ignore_missing(
                client._caller.unary(
                    _SNAPSHOTS + "Remove",
                    RemoveSnapshotRequest(snapshotter=snapshotter, key=key),
                    Empty,
                )
            )


async def _ignore_missing(call: Awaitable[object]) -> None:
    try:
        await call
    except errors.NotFound:
        pass
