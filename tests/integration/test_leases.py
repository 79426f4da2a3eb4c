"""Leases against a real daemon: CRUD, resources, the lease() block and GC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest

from pycontainerd import Client, Lease, LeaseResource, errors
from pycontainerd.testing import inventory

pytestmark = pytest.mark.anyio


async def force_gc(client: Client) -> None:
    """Run a garbage collection now: a synchronous lease delete waits for one."""
    lease = await client.leases.create()
    await client.leases.delete(lease.id, sync=True)


async def test_create_list_delete(containerd_client: Client) -> None:
    leases = containerd_client.leases
    lease = await leases.create("build-1", labels={"job": "ci"})
    assert isinstance(lease, Lease)
    assert lease.id == "build-1"
    assert lease.labels == {"job": "ci"}
    assert lease.created_at is not None
    assert lease.expires_at is None

    other = await leases.create(expires_in=60)
    assert other.id != lease.id
    assert other.expires_at is not None
    now = datetime.now(UTC)
    assert now < other.expires_at <= now + timedelta(seconds=61)
    assert other.labels["containerd.io/gc.expire"].endswith("Z")

    assert sorted(x.id for x in await leases.list()) == sorted([lease.id, other.id])
    assert [x.id for x in await leases.list('labels."job"==ci')] == ["build-1"]

    with pytest.raises(errors.AlreadyExists):
        await leases.create("build-1")
    await leases.delete("build-1")
    await leases.delete(other.id, sync=True)
    assert await leases.list() == []
    with pytest.raises(errors.NotFound):
        await leases.delete("build-1")


async def test_invalid_lease_id(containerd_client: Client) -> None:
    for bad in ["", "has space", "-dash", "a" * 77, "x/y"]:
        with pytest.raises(errors.InvalidArgument, match="lease"):
            await containerd_client.leases.create(bad)
    with pytest.raises(errors.InvalidArgument, match="lease"):
        containerd_client.with_lease("bad id")
    assert (await inventory(containerd_client)).leases == ()


async def test_resources(containerd_client: Client) -> None:
    leases = containerd_client.leases
    lease = await leases.create()
    async with containerd_client.leases.lease() as leased:
        digest = await leased.content.write("res", b"resource")
        resource = LeaseResource(id=digest, type="content")
        await leases.add_resource(lease.id, resource)
        assert await leases.resources(lease.id) == [resource]
    # the block's lease is gone; `lease` still holds the blob
    await force_gc(containerd_client)
    assert (await containerd_client.content.info(digest)).size == len(b"resource")

    await leases.delete_resource(lease.id, resource)
    assert await leases.resources(lease.id) == []
    await force_gc(containerd_client)
    with pytest.raises(errors.NotFound):
        await containerd_client.content.info(digest)
    await leases.delete(lease.id)


async def test_lease_block_carries_and_deletes_lease(containerd_client: Client) -> None:
    async with containerd_client.leases.lease(labels={"purpose": "test"}) as leased:
        assert leased.lease is not None
        assert leased.namespace == containerd_client.namespace
        (lease,) = await containerd_client.leases.list()
        assert lease.id == leased.lease
        assert lease.labels["purpose"] == "test"
        assert lease.expires_at is not None
        digest = await leased.content.write("carried", b"carried")
        assert await containerd_client.leases.resources(lease.id) == [
            LeaseResource(id=digest, type="content")
        ]
    assert await containerd_client.leases.list() == []


async def test_lease_block_deleted_on_error_and_cancel(containerd_client: Client) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with containerd_client.leases.lease():
            raise RuntimeError("boom")
    assert await containerd_client.leases.list() == []

    entered = anyio.Event()

    async def hold() -> None:
        async with containerd_client.leases.lease():
            entered.set()
            await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        tg.start_soon(hold)
        await entered.wait()
        tg.cancel_scope.cancel()
    assert await containerd_client.leases.list() == []


async def test_gc_keeps_leased_content_only(containerd_client: Client) -> None:
    kept_data, lost_data = b"under a lease", b"without a lease"
    async with containerd_client.leases.lease() as leased:
        kept = await leased.content.write("kept", kept_data)
        lost = await containerd_client.content.write("lost", lost_data)
        await force_gc(containerd_client)
        assert await containerd_client.content.read(kept) == kept_data
        with pytest.raises(errors.NotFound):
            await containerd_client.content.info(lost)
        # once the lease goes (synchronously), so does what it held
        await containerd_client.leases.delete(leased.lease or "", sync=True)
    with pytest.raises(errors.NotFound):
        await containerd_client.content.info(kept)
    assert (await inventory(containerd_client)).empty


@pytest.mark.parametrize("steps", [0, 1, 2, 3, 5, 8])
async def test_lease_block_cancelled_while_entering(containerd_client: Client, steps: int) -> None:
    async def enter() -> None:
        async with containerd_client.leases.lease():
            await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        tg.start_soon(enter)
        for _ in range(steps):
            await anyio.lowlevel.checkpoint()
        tg.cancel_scope.cancel()
    assert await containerd_client.leases.list() == []


async def test_lease_block_keeps_an_existing_lease(containerd_client: Client) -> None:
    await containerd_client.leases.create("taken")
    with pytest.raises(errors.AlreadyExists):
        async with containerd_client.leases.lease("taken"):
            pass
    assert [lease.id for lease in await containerd_client.leases.list()] == ["taken"]
