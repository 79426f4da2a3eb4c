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

from .. import errors
from .._api import _rpc
from .._api.containerd.services.containers.v1 import (
    DeleteContainerRequest,
    ListContainersRequest,
)
from .._api.containerd.services.content.v1 import (
    AbortRequest,
    DeleteContentRequest,
    ListContentRequest,
    ListStatusesRequest,
)
from .._api.containerd.services.images.v1 import (
    DeleteImageRequest,
    ListImagesRequest,
)
from .._api.containerd.services.introspection.v1 import PluginsRequest
from .._api.containerd.services.leases.v1 import DeleteRequest as DeleteLeaseRequest
from .._api.containerd.services.leases.v1 import ListRequest as ListLeasesRequest
from .._api.containerd.services.snapshots.v1 import (
    ListSnapshotsRequest,
    RemoveSnapshotRequest,
)
from .._api.containerd.services.tasks.v1 import (
    DeleteTaskRequest,
    KillRequest,
    ListTasksRequest,
    WaitRequest,
)
from .._client import Client

__all__ = ["Inventory", "empty_namespace", "inventory"]


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
        _rpc.Introspection.Plugins,
        PluginsRequest(filters=["type==io.containerd.snapshotter.v1"]),
    )
    return sorted(p.id for p in reply.plugins if not p.init_err.code)


async def _snapshots(client: Client, snapshotter: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    async with client._caller.stream(_rpc.Snapshots.List) as stream:
        await stream.send(ListSnapshotsRequest(snapshotter=snapshotter), end=True)
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
    tasks = await c.unary(_rpc.Tasks.List, ListTasksRequest())
    containers = await c.unary(
        _rpc.Containers.List,
        ListContainersRequest(),
    )
    images = await c.unary(_rpc.Images.List, ListImagesRequest())
    leases = await c.unary(_rpc.Leases.List, ListLeasesRequest())
    content: list[str] = []
    async with c.stream(
        _rpc.Content.List,
    ) as stream:
        await stream.send(ListContentRequest(), end=True)
        async for reply in stream:
            content.extend(i.digest for i in reply.info)
    ingests = await c.unary(
        _rpc.Content.ListStatuses,
        ListStatusesRequest(),
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
            _rpc.Tasks.Kill,
            KillRequest(container_id=container_id, signal=signal.SIGKILL, all=True),
        )
    except (errors.NotFound, errors.FailedPrecondition, errors.Unknown):
        pass  # already stopped or never started
    with anyio.move_on_after(10):
        try:
            await c.unary(_rpc.Tasks.Wait, WaitRequest(container_id=container_id), timeout=10)
        except errors.RPCError:
            pass
    await c.unary(_rpc.Tasks.Delete, DeleteTaskRequest(container_id=container_id))


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
                _rpc.Containers.Delete,
                DeleteContainerRequest(id=cid),
            )
        )
    for name in stock.images:
        await _ignore_missing(
            c.unary(
                _rpc.Images.Delete,
                DeleteImageRequest(name=name),
            )
        )
    for lease in stock.leases:
        await _ignore_missing(c.unary(_rpc.Leases.Delete, DeleteLeaseRequest(id=lease)))
    for ref in stock.ingests:
        await _ignore_missing(c.unary(_rpc.Content.Abort, AbortRequest(ref=ref)))
    for snapshotter in await _snapshotters(client):
        await _remove_snapshots(client, snapshotter)
    for digest in (await inventory(client)).content:
        await _ignore_missing(
            c.unary(
                _rpc.Content.Delete,
                DeleteContentRequest(digest=digest),
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
                    _rpc.Snapshots.Remove,
                    RemoveSnapshotRequest(snapshotter=snapshotter, key=key),
                )
            )


async def _ignore_missing(call: Awaitable[object]) -> None:
    try:
        await call
    except errors.NotFound:
        pass
