"""Every list() reads filters as containerd does: filters ORed, selectors in one ANDed.

Against the real daemon: where it filters (containers, images, content,
ingests, snapshots, leases, plugins) the SDK must pass the filters through
as separate filters; where it ignores them (namespaces, tasks) the SDK's own
matching must give what containerd's rules give.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest
from _taskutil import HostContainer

import pycontainerd
from pycontainerd import errors
from pycontainerd.events import filters

pytestmark = pytest.mark.anyio

ListNames = Callable[..., Awaitable[set[str]]]
LABELS = {"a": ("1", "1"), "b": ("2", "1"), "c": ("3", "2")}  # name: (x, y)


@pytest.fixture
def keys() -> tuple[str, str]:
    """Label keys of this test only (namespaces and plugins are daemon-wide)."""
    suffix = uuid.uuid4().hex[:8]
    return f"x_{suffix}", f"y_{suffix}"


def labels_of(name: str, keys: tuple[str, str]) -> dict[str, str]:
    x, y = LABELS[name]
    return {keys[0]: x, keys[1]: y}


async def check_label_filters(list_names: ListNames, keys: tuple[str, str]) -> None:
    """The three objects a, b, c labelled as LABELS, selected under each combination."""
    x, y = (f"labels.{k}" for k in keys)
    cases: list[tuple[Sequence[str], set[str]]] = [
        ((), {"a", "b", "c"}),
        ((f"{x}==1", f"{x}==2"), {"a", "b"}),  # two filters: OR
        ((f"{x}==1,{y}==1",), {"a"}),  # one filter, two selectors: AND
        ((f"{x}==1,{y}==2",), set()),
        ((f"{y}==1,{x}!=1", f"{y}==2"), {"b", "c"}),  # an OR of ANDs
        ((f'{x}~="^[12]$",{y}==1',), {"a", "b"}),
        ((f"{x}==1", f"{x}==1"), {"a"}),  # an object matched twice is listed once
        ((f"{x},{y}==2",), {"c"}),  # presence
        ((f"{x}==9",), set()),
    ]
    for given, expected in cases:
        got = await list_names(*given)
        assert got & {"a", "b", "c"} == expected, given
        if given:
            assert got <= {"a", "b", "c"}, given


async def test_containers(
    containerd_client: pycontainerd.Client, host_container: HostContainer, keys: tuple[str, str]
) -> None:
    for name in LABELS:
        await host_container(["true"], id=name, labels=labels_of(name, keys))

    async def names(*given: str) -> set[str]:
        return {c.id for c in await containerd_client.containers.list(*given)}

    await check_label_filters(names, keys)
    assert await names("id==a", "id==c") == {"a", "c"}
    assert await names(f"id==a,labels.{keys[0]}==2") == set()


async def test_images(
    containerd_client: pycontainerd.Client,
    busybox_image: pycontainerd.Image,
    keys: tuple[str, str],
) -> None:
    images = containerd_client.images
    prefix = "example.com/filters/"
    for name in LABELS:
        await images.create(
            prefix + name + ":1", busybox_image.target, labels=labels_of(name, keys)
        )

    async def names(*given: str) -> set[str]:
        found = {i.name for i in await images.list(*given)}
        return {n.removeprefix(prefix).removesuffix(":1") for n in found}

    await check_label_filters(names, keys)
    both = await names(filters.field("name", prefix + "a:1"), filters.field("name", prefix + "b:1"))
    assert both == {"a", "b"}


async def test_content_and_ingests(
    containerd_client: pycontainerd.Client, keys: tuple[str, str]
) -> None:
    async with containerd_client.leases.lease() as leased:
        digests = {}
        for name in LABELS:
            data = f"filtered blob {name} {keys[0]}".encode()
            digests["sha256:" + hashlib.sha256(data).hexdigest()] = name
            await leased.content.write(f"blob-{name}", data, labels=labels_of(name, keys))

        async def names(*given: str) -> set[str]:
            found = await leased.content.list(*given)
            return {digests[i.digest] for i in found if i.digest in digests}

        await check_label_filters(names, keys)

        # Ingests have no labels: select them by ref.
        async with contextlib.AsyncExitStack() as stack:
            for name in ("ref-a1", "ref-b1", "other-a2"):
                writer = await stack.enter_async_context(leased.content.writer(name, total=10))
                await writer.write(b"abc")

            async def refs(*given: str) -> set[str]:
                return {s.ref for s in await leased.content.list_statuses(*given)}

            assert await refs() == {"ref-a1", "ref-b1", "other-a2"}
            assert await refs("ref==ref-a1", "ref==other-a2") == {"ref-a1", "other-a2"}
            assert await refs('ref~="^ref-",ref~="a"') == {"ref-a1"}
            assert await refs('ref~="^ref-",ref~="2$"') == set()


async def test_snapshots(containerd_client: pycontainerd.Client, keys: tuple[str, str]) -> None:
    # Under a lease: the daemon's garbage collector removes snapshots nothing holds,
    # and may run (for another namespace's deletions) while the filters are checked.
    async with containerd_client.leases.lease() as leased:
        snapshots = leased.snapshots()
        for name in LABELS:
            await snapshots.prepare(name, labels=labels_of(name, keys))

        async def names(*given: str) -> set[str]:
            return {s.name for s in await snapshots.list(*given)}

        await check_label_filters(names, keys)
        assert await names("name==a", "name==b") == {"a", "b"}
        assert await names("name==a,kind==active") == {"a"}
        assert await names("name==a,kind==committed") == set()


async def test_leases(containerd_client: pycontainerd.Client, keys: tuple[str, str]) -> None:
    for name in LABELS:
        await containerd_client.leases.create(name, labels=labels_of(name, keys))

    async def names(*given: str) -> set[str]:
        return {lease.id for lease in await containerd_client.leases.list(*given)}

    await check_label_filters(names, keys)
    assert await names("id==a", "id==b") == {"a", "b"}


@contextlib.asynccontextmanager
async def made_namespaces(
    client: pycontainerd.Client, keys: tuple[str, str]
) -> AsyncIterator[dict[str, str]]:
    stem = keys[0].replace("_", "-")
    names = {name: f"{stem}-{name}" for name in LABELS}
    try:
        for name, full in names.items():
            await client.namespaces.create(full, labels=labels_of(name, keys))
        yield names
    finally:
        for full in names.values():
            with contextlib.suppress(errors.NotFound):
                await client.namespaces.delete(full)


async def test_namespaces_are_matched_here_by_the_same_rules(
    containerd_client: pycontainerd.Client, keys: tuple[str, str]
) -> None:
    # The daemon ignores ListNamespacesRequest.filter: the SDK matches.
    async with made_namespaces(containerd_client, keys) as full:
        short = {v: k for k, v in full.items()}

        async def names(*given: str) -> set[str]:
            return {
                short[n.name]
                for n in await containerd_client.namespaces.list(*given)
                if n.name in short
            }

        await check_label_filters(names, keys)
        assert await names(f"name=={full['a']}", f"name=={full['c']}") == {"a", "c"}
        assert await names(f"name=={full['a']},labels.{keys[1]}==2") == set()
        every = {n.name for n in await containerd_client.namespaces.list()}
        assert containerd_client.namespace in every
        assert {n.name for n in await containerd_client.namespaces.list("name")} == every
        with pytest.raises(errors.InvalidArgument):
            await containerd_client.namespaces.list("name==/bad")  # unquoted /: as the daemon
        with pytest.raises(errors.InvalidArgument):
            await containerd_client.namespaces.list('name~="("')  # a regexp that does not compile


async def test_tasks_are_matched_here_by_the_same_rules(
    containerd_client: pycontainerd.Client, host_container: HostContainer
) -> None:
    # The daemon ignores ListTasksRequest.filter: the SDK matches.
    async with contextlib.AsyncExitStack() as stack:
        tasks = {}
        for name in LABELS:
            container = await host_container(["sleep", "1000"], id=name)
            tasks[name] = await stack.enter_async_context(await container.new_task())
        await tasks["a"].start()
        await tasks["b"].start()  # c stays created

        async def names(*given: str) -> set[str]:
            return {t.container_id for t in await containerd_client.tasks.list(*given)}

        assert await names() == {"a", "b", "c"}
        assert await names("id==a", "id==c") == {"a", "c"}  # OR
        assert await names("status==running") == {"a", "b"}
        assert await names("id==a,status==running") == {"a"}  # AND
        assert await names("id==c,status==running") == set()
        assert await names("status==running,id!=a", "status==created") == {"b", "c"}
        assert await names(f"pid=={tasks['a'].pid}", 'container_id~="^c$"') == {"a", "c"}
        assert await names("nosuchfield") == set()
        assert await names("nosuchfield!=x") == {"a", "b", "c"}  # absent is "", as containerd
        with pytest.raises(errors.InvalidArgument):
            await containerd_client.tasks.list("id==,")
    for name in LABELS:
        await containerd_client.containers.delete(name)


async def test_plugins(containerd_client: pycontainerd.Client) -> None:
    async def ids(*given: str) -> set[str]:
        return {f"{p.type}/{p.id}" for p in await containerd_client.plugins(*given)}

    snapshotters = await ids("type==io.containerd.snapshotter.v1")
    assert "io.containerd.snapshotter.v1/overlayfs" in snapshotters
    assert "io.containerd.snapshotter.v1/native" in snapshotters
    content = await ids("type==io.containerd.content.v1")
    assert content
    assert await ids("type==io.containerd.snapshotter.v1", "type==io.containerd.content.v1") == (
        snapshotters | content
    )
    assert await ids("type==io.containerd.snapshotter.v1,id==native") == {
        "io.containerd.snapshotter.v1/native"
    }
    assert await ids("type==io.containerd.content.v1,id==native") == set()
