"""No request the SDK builds takes the daemon down, on every containerd of the matrix.

containerd 1.7 and 2.x decode messages with Go's protobuf, where an unset
message field is a nil pointer, and some handlers dereference such fields
without a check: an ``Images.Update`` whose image had no target panicked the
daemon. Each test here sends one kind of request in the shapes the SDK builds
(updates naming only labels, empty label sets, optional fields left out) and
then checks that the same daemon process still serves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from _taskutil import HostContainer

import pycontainerd
from pycontainerd import Client, LeaseResource, Mount
from pycontainerd.testing import ContainerdDaemon

pytestmark = pytest.mark.anyio


async def images(client: Client, image: pycontainerd.Image) -> None:
    copy = await client.images.create("example.com/safety:1", image.target)
    await client.images.update(copy.name, labels={"a": "1"})
    await client.images.update(copy.name, labels={"a": None})
    await client.images.update(copy.name, labels={})
    await client.images.update(copy.name, target=image.target)
    await client.images.update(copy.name, target=image.target, labels={"b": "2"})
    await client.images.delete(copy.name, sync=True)


async def containers(client: Client, image: pycontainerd.Image) -> None:
    container = await client.containers.create("safety", image=image)
    await client.containers.update(container.id, labels={"a": "1"})
    await client.containers.update(container.id, labels={"a": "2"}, replace_labels=True)
    await client.containers.update(container.id)
    await client.containers.update(container.id, spec=container.spec)
    await client.containers.update(container.id, image=image)
    await container.delete()


async def leases(client: Client, image: pycontainerd.Image) -> None:
    lease = await client.leases.create("safety", labels={"a": "1"})
    resource = LeaseResource(id=image.target.digest, type="content")
    await client.leases.add_resource(lease.id, resource)
    assert await client.leases.resources(lease.id) == [resource]
    await client.leases.delete_resource(lease.id, resource)
    await client.leases.delete(lease.id, sync=True)


async def snapshots(client: Client, image: pycontainerd.Image) -> None:
    async with client.leases.lease() as leased:
        store = leased.snapshots()
        await store.prepare("safety-active")
        await store.update("safety-active", labels={"a": "1"})
        await store.update("safety-active", labels={"a": None})
        await store.commit("safety-committed", "safety-active", labels={"b": "2"})
        await store.view("safety-view", parent="safety-committed")
        await store.usage("safety-committed")
        for key in ("safety-view", "safety-committed"):
            await store.remove(key)


async def content(client: Client, image: pycontainerd.Image) -> None:
    async with client.leases.lease() as leased:
        digest = await leased.content.write("safety", b"safety blob")
        await leased.content.update(digest, labels={"a": "1"})
        await leased.content.update(digest, labels={"a": None})
        await leased.content.delete(digest)


async def namespaces(client: Client, image: pycontainerd.Image) -> None:
    name = f"{client.namespace}-extra"
    await client.namespaces.create(name)
    await client.namespaces.update(name, labels={"a": "1"})
    await client.namespaces.update(name, labels={"a": None})
    await client.namespaces.delete(name)


async def diff(client: Client, image: pycontainerd.Image) -> None:
    async with client.leases.lease() as leased:
        store = leased.snapshots()
        lower: list[Mount] = await store.view("safety-lower")
        upper = await store.prepare("safety-upper")
        layer = await leased.diff.compare(lower, upper)
        target = await store.prepare("safety-target")
        await leased.diff.apply(layer, target)
        for key in ("safety-target", "safety-upper", "safety-lower"):
            await store.remove(key)


async def events(client: Client, image: pycontainerd.Image) -> None:
    await client.events.publish("/safety/empty", pycontainerd.events.ImageDelete(name=""))


REQUESTS: dict[str, Callable[[Client, pycontainerd.Image], Awaitable[None]]] = {
    f.__name__: f
    for f in (images, containers, leases, snapshots, content, namespaces, diff, events)
}


@pytest.mark.parametrize("kind", REQUESTS)
async def test_requests_leave_the_daemon_serving(
    kind: str,
    containerd_daemon: ContainerdDaemon,
    containerd_client: Client,
    busybox_image: pycontainerd.Image,
) -> None:
    pid = containerd_daemon.pid
    await REQUESTS[kind](containerd_client, busybox_image)
    assert (await containerd_client.version()).version == containerd_daemon.version
    assert containerd_daemon.pid == pid, containerd_daemon.log()[-3000:]


async def test_task_requests_leave_the_daemon_serving(
    containerd_daemon: ContainerdDaemon,
    containerd_client: Client,
    host_container: HostContainer,
) -> None:
    pid = containerd_daemon.pid
    container = await host_container(["sleep", "30"])
    async with await container.new_task() as task:
        await task.start()
        await task.update({"cpu": {"shares": 512}})
        await task.pause()
        await task.resume()
        await task.pids()
        await task.metrics()
        process = await task.exec(["true"])
        await process.wait()
        await process.delete()
        await task.stop(grace=0)
    await container.delete()
    assert (await containerd_client.version()).version == containerd_daemon.version
    assert containerd_daemon.pid == pid, containerd_daemon.log()[-3000:]
