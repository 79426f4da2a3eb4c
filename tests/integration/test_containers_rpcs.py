"""The container lifecycle asks containerd only what it must (no repeated reads, no extra calls)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from _taskutil import runtime_stock

import pycontainerd
from pycontainerd import errors, oci, testing
from pycontainerd._api._rpc import Rpc
from pycontainerd._oci import chain_id
from pycontainerd._transport import Caller

pytestmark = pytest.mark.anyio


@pytest.fixture
def rpcs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every method called through any `Caller`, by its short name (``Snapshots/Mounts``)."""
    calls: list[str] = []
    # Every unary call goes through unary_raw.
    unary, stream = Caller.unary_raw, Caller.stream

    def short(rpc: Rpc[Any, Any]) -> str:
        service, name = rpc.path.rsplit("/", 2)[-2:]
        return service.rsplit(".", 1)[-1] + "/" + name

    async def spy_unary(self: Caller, rpc: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(short(rpc))
        return await unary(self, rpc, *args, **kwargs)

    def spy_stream(self: Caller, rpc: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(short(rpc))
        return stream(self, rpc, *args, **kwargs)

    monkeypatch.setattr(Caller, "unary_raw", spy_unary)
    monkeypatch.setattr(Caller, "stream", spy_stream)
    return calls


async def test_image_handle_reads_manifest_and_config_once(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image, rpcs: list[str]
) -> None:
    image = await containerd_client.images.get(busybox_image.name)
    rpcs.clear()
    config = await image.config()
    # Manifest and config, one Read stream each: no Info for their sizes.
    assert rpcs == ["Content/Read", "Content/Read"]
    assert await image.config() is config
    assert (await image.manifest()).config.digest == (await image.manifest()).config.digest
    assert await image.chain_id() == chain_id(config.diff_ids)
    assert rpcs == ["Content/Read", "Content/Read"]
    # Another handle reads afresh, and agrees.
    again = await containerd_client.images.get(busybox_image.name)
    rpcs.clear()
    assert await again.config() == config
    assert rpcs == ["Content/Read", "Content/Read"]


async def test_concurrent_first_reads_of_a_handle_read_once(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image, rpcs: list[str]
) -> None:
    image = await containerd_client.images.get(busybox_image.name)
    rpcs.clear()
    configs: list[object] = []

    async def read() -> None:
        configs.append(await image.config())

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(read)
        tg.start_soon(image.manifest)
    assert rpcs == ["Content/Read", "Content/Read"]
    assert all(c is configs[0] for c in configs)


async def test_create_from_image_then_task_calls(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image, rpcs: list[str]
) -> None:
    before = await testing.inventory(containerd_client)
    image = await containerd_client.images.get(busybox_image.name)
    spec = oci.Spec.from_image(
        await image.config(), args=["/bin/true"], namespace=containerd_client.namespace, id="c1"
    )
    rpcs.clear()
    container = await containerd_client.containers.create("c1", image=image, spec=spec)
    # No temporary lease: the container is recorded first and protects its snapshot.
    # Naming no snapshotter, the namespace's default label is read first.
    assert rpcs == ["Namespaces/List", "Containers/Create", "Snapshots/Prepare"]
    stock = await testing.inventory(containerd_client)
    assert "overlayfs/c1" in stock.snapshots
    assert stock.leases == before.leases
    rpcs.clear()
    async with await container.new_task() as task:
        await task.start()
        assert (await task.wait()).code == 0
    # The mounts Prepare answered with serve the first task: no Snapshots/Mounts.
    assert "Snapshots/Mounts" not in rpcs
    assert rpcs[0] == "Tasks/Create"
    # A second task on the same handle asks for them (the snapshot may have changed).
    rpcs.clear()
    async with await container.new_task() as task:
        await task.start()
        assert (await task.wait()).code == 0
    assert rpcs[:2] == ["Snapshots/Mounts", "Tasks/Create"]
    await container.delete()
    after = await testing.inventory(containerd_client)
    assert runtime_stock(after) == runtime_stock(before)


async def test_create_reads_the_namespace_defaults_only_when_needed(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image, rpcs: list[str]
) -> None:
    containers = containerd_client.containers
    await containerd_client.images.get(busybox_image.name)  # its config is read once per client
    await containers.create("warm", image=busybox_image, runtime="io.containerd.runc.v2")
    # Runtime and snapshotter named: no namespace read.
    rpcs.clear()
    await containers.create(
        "both", image=busybox_image, runtime="io.containerd.runc.v2", snapshotter="overlayfs"
    )
    assert rpcs == ["Containers/Create", "Snapshots/Prepare"]
    # The default runtime's label is read once per client view (as Go's client does) ...
    rpcs.clear()
    await containers.create("s1", spec={})
    await containers.create("s2", spec={})
    assert rpcs == ["Containers/Create", "Containers/Create"]  # read above, with the snapshotter
    fresh = containerd_client.with_namespace(containerd_client.namespace).containers
    rpcs.clear()
    await fresh.create("s3", spec={})
    await fresh.create("s4", spec={})
    assert rpcs == ["Namespaces/List", "Containers/Create", "Containers/Create"]
    # ... the snapshotter's on each create that needs one (as Go's client does).
    rpcs.clear()
    await containers.create("img", image=busybox_image)
    assert rpcs == ["Namespaces/List", "Containers/Create", "Snapshots/Prepare"]
    for cid in ("warm", "both", "s1", "s2", "s3", "s4", "img"):
        await containers.delete(cid)


async def test_create_failing_after_the_container_leaves_nothing(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    before = await testing.inventory(containerd_client)
    # The snapshot key is taken (by a snapshot a lease holds): the container
    # recorded first is removed again, the snapshot is not touched.
    async with containerd_client.leases.lease() as leased:
        await leased.snapshots().prepare("taken", await busybox_image.chain_id())
        kept = await testing.inventory(containerd_client)
        assert "overlayfs/taken" in kept.snapshots
        with pytest.raises(errors.AlreadyExists):
            await containerd_client.containers.create("taken", image=busybox_image)
        after = await testing.inventory(containerd_client)
        assert after.containers == before.containers
        assert after.snapshots == kept.snapshots
        assert after.leases == kept.leases
        await leased.snapshots().remove("taken")
    # An id already in use fails before any snapshot is made.
    await containerd_client.containers.create("dup", spec={})
    with pytest.raises(errors.AlreadyExists):
        await containerd_client.containers.create("dup", image=busybox_image)
    assert "overlayfs/dup" not in (await testing.inventory(containerd_client)).snapshots
    await containerd_client.containers.delete("dup")


async def test_create_unpacks_an_image_not_unpacked_yet(
    containerd_client: pycontainerd.Client, busybox_archive_bytes: bytes
) -> None:
    [image] = await containerd_client.images.import_archive(busybox_archive_bytes)
    assert not await image.is_unpacked()
    container = await containerd_client.containers.create("fresh", image=image)
    assert await image.is_unpacked()
    async with await container.new_task() as task:
        await task.start()
        assert (await task.wait()).code == 0
    await container.delete()
    stock = await testing.inventory(containerd_client)
    assert (stock.containers, stock.leases) == ((), ())
    assert "overlayfs/fresh" not in stock.snapshots


async def test_cancelled_create_from_image_leaves_nothing(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    before = await testing.inventory(containerd_client)
    for i, delay in enumerate([0, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02]):
        made: pycontainerd.Container | None = None
        with anyio.move_on_after(delay):
            made = await containerd_client.containers.create(f"cancel-{i}", image=busybox_image)
        if made is not None:  # created before the deadline: not cancelled
            await made.delete()
        after = await testing.inventory(containerd_client)
        assert runtime_stock(after) == runtime_stock(before)
