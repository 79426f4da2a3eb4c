"""Take stock of a namespace and empty it, through raw calls only.

This deliberately uses the raw generated stubs (``client.services``) rather
than the SDK's facades and transport: cleanup after a test must still work
when the code under test is broken.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Collection

import anyio
import attrs
from grpclib import GRPCError, Status

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
from .._api.containerd.services.leases.v1 import CreateRequest as CreateLeaseRequest
from .._api.containerd.services.leases.v1 import DeleteRequest as DeleteLeaseRequest
from .._api.containerd.services.leases.v1 import ListRequest as ListLeasesRequest
from .._api.containerd.services.sandbox.v1 import (
    ControllerShutdownRequest,
    StoreDeleteRequest,
    StoreListRequest,
)
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
from .._api.containerd.types import Sandbox
from .._client import Client

__all__ = ["Inventory", "empty_namespace", "inventory"]


@attrs.frozen(kw_only=True)
class Inventory:
    """What a namespace holds: ids and names of each kind of object."""

    tasks: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    leases: tuple[str, ...] = ()
    sandboxes: tuple[str, ...] = ()  # containerd 1.7 and newer have a sandbox store
    snapshots: tuple[str, ...] = ()  # "snapshotter/key"
    content: tuple[str, ...] = ()
    ingests: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the namespace holds nothing at all."""
        return not any(attrs.astuple(self))


async def _snapshotters(client: Client) -> list[str]:
    reply = await client.services.introspection.plugins(
        PluginsRequest(filters=["type==io.containerd.snapshotter.v1"])
    )
    return sorted(p.id for p in reply.plugins if not p.init_err.code)


async def _snapshots(client: Client, snapshotter: str) -> list[tuple[str, str]]:
    replies = client.services.snapshots.list(ListSnapshotsRequest(snapshotter=snapshotter))
    return [(info.name, info.parent) async for reply in replies for info in reply.info]


async def _sandboxes(client: Client) -> list[Sandbox]:
    try:
        reply = await client.services.sandbox_store.list(StoreListRequest())
    except GRPCError as exc:
        if exc.status is Status.UNIMPLEMENTED:  # containerd 1.6: no sandbox store
            return []
        raise
    return list(reply.list)


async def inventory(client: Client) -> Inventory:
    """List everything the client's namespace holds.

    Example:
        ```python
        assert (await inventory(client)).empty
        ```
    """
    s = client.services
    tasks = await s.tasks.list(ListTasksRequest())
    containers = await s.containers.list(ListContainersRequest())
    images = await s.images.list(ListImagesRequest())
    leases = await s.leases.list(ListLeasesRequest())
    content = [i.digest async for reply in s.content.list(ListContentRequest()) for i in reply.info]
    ingests = await s.content.list_statuses(ListStatusesRequest())
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
        sandboxes=tuple(sorted(sb.sandbox_id for sb in await _sandboxes(client))),
        snapshots=tuple(sorted(snapshots)),
        content=tuple(sorted(content)),
        ingests=tuple(sorted(s.ref for s in ingests.statuses)),
    )


async def _remove_task(client: Client, container_id: str) -> None:
    tasks = client.services.tasks
    # Already stopped or never started: nothing to kill.
    await _ignore(
        tasks.kill(KillRequest(container_id=container_id, signal=signal.SIGKILL, all=True)),
        (Status.NOT_FOUND, Status.FAILED_PRECONDITION, Status.UNKNOWN),
    )
    # Bounded by the cancel scope, not a gRPC deadline: grpclib raises a deadline by
    # cancelling its own task, and these raw calls have no transport to undo that.
    with anyio.move_on_after(10):
        try:
            await tasks.wait(WaitRequest(container_id=container_id), timeout=None)
        except GRPCError:
            pass
    await tasks.delete(DeleteTaskRequest(container_id=container_id))


async def empty_namespace(client: Client, *, delete: bool = True) -> None:
    """Remove everything in the client's namespace, then (by default) the namespace itself.

    Tasks are killed and deleted, then containers, sandboxes (each shut down
    in its controller first, where the daemon has one that knows it), images,
    leases, snapshots (children before parents), content and ingests are
    removed. Missing objects are ignored, so it can run on a half-cleaned
    namespace.

    Example:
        ```python
        await empty_namespace(client.with_namespace("scratch"))
        ```
    """
    s = client.services
    stock = await inventory(client)
    for task_id in stock.tasks:
        await _remove_task(client, task_id)
    for cid in stock.containers:
        await _ignore(s.containers.delete(DeleteContainerRequest(id=cid)))
    for sandbox in await _sandboxes(client):
        await _remove_sandbox(client, sandbox)
    for name in stock.images:
        await _ignore(s.images.delete(DeleteImageRequest(name=name)))
    for lease in stock.leases:
        await _ignore(s.leases.delete(DeleteLeaseRequest(id=lease)))
    for ref in stock.ingests:
        await _ignore(s.content.abort(AbortRequest(ref=ref)))
    for snapshotter in await _snapshotters(client):
        await _remove_snapshots(client, snapshotter)
    for digest in (await inventory(client)).content:
        await _ignore(s.content.delete(DeleteContentRequest(digest=digest)))
    if delete:
        await client.namespaces.delete(client.namespace)


async def _remove_sandbox(client: Client, sandbox: Sandbox) -> None:
    # containerd deletes a namespace that still holds sandboxes (1.7 keeps
    # their records, orphaned): they go first. A controller that does not run
    # the sandbox, or no controller service at all (2.x without CRI's
    # pod-sandbox controller), leaves nothing to shut down.
    request = ControllerShutdownRequest(sandbox_id=sandbox.sandbox_id, sandboxer=sandbox.sandboxer)
    await _ignore(
        client.services.sandbox_controller.shutdown(request),
        (Status.NOT_FOUND, Status.UNIMPLEMENTED, Status.INVALID_ARGUMENT),
    )
    await _ignore(
        client.services.sandbox_store.delete(StoreDeleteRequest(sandbox_id=sandbox.sandbox_id))
    )


async def _remove_snapshots(client: Client, snapshotter: str) -> None:
    # A leaf can answer "cannot remove snapshot with child" for a child that is
    # gone: containerd's garbage collector removes an unreferenced snapshot
    # (a container's, once the container is deleted) without unlinking it from
    # its parent, and only the collector itself then removes the parent. So a
    # refusal runs the collector to its end before the next round.
    for _ in range(10):
        snaps = await _snapshots(client, snapshotter)
        if not snaps:
            return
        parents = {parent for _, parent in snaps}
        refused = False
        for key in (name for name, _ in snaps if name not in parents):
            try:
                await client.services.snapshots.remove(
                    RemoveSnapshotRequest(snapshotter=snapshotter, key=key)
                )
            except GRPCError as exc:
                if exc.status is Status.FAILED_PRECONDITION:
                    refused = True
                elif exc.status is not Status.NOT_FOUND:
                    raise
        if refused:
            await _collect_garbage(client)
    left = sorted(name for name, _ in await _snapshots(client, snapshotter))
    raise RuntimeError(f"snapshots of {snapshotter} that would not go: {left[:10]}")


async def _collect_garbage(client: Client) -> None:
    """Run the daemon's garbage collector to its end (deleting a lease with ``sync``)."""
    lease = await client.services.leases.create(CreateLeaseRequest())
    await client.services.leases.delete(DeleteLeaseRequest(id=lease.lease.id, sync=True))


async def _ignore(
    call: Awaitable[object], statuses: Collection[Status] = (Status.NOT_FOUND,)
) -> None:
    """Await `call`; an error with one of `statuses` (by default: it is gone already) is fine."""
    try:
        await call
    except GRPCError as exc:
        if exc.status not in statuses:
            raise
