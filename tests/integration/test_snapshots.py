"""Snapshots on overlayfs against a real daemon."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from _mount_helpers import mounted

from pycontainerd import Client, Mount, SnapshotInfo, SnapshotKind, errors
from pycontainerd.testing import inventory

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(containerd_client: Client) -> AsyncIterator[Client]:
    # Under a lease: snapshots nothing refers to are garbage.
    async with containerd_client.leases.lease() as leased:
        yield leased


def write_files(mounts: list[Mount], files: dict[str, bytes]) -> None:
    with mounted(mounts) as root:
        for name, data in files.items():
            (root / name).write_bytes(data)


def read_file(mounts: list[Mount], name: str) -> bytes | None:
    with mounted(mounts) as root:
        path = root / name
        return path.read_bytes() if path.exists() else None


async def test_prepare_commit_view_remove(client: Client) -> None:
    snapshots = client.snapshots()
    assert snapshots.name == "overlayfs"

    mounts = await snapshots.prepare("base-work", labels={"stage": "build"})
    assert mounts
    assert all(isinstance(m, Mount) for m in mounts)
    info = await snapshots.stat("base-work")
    assert info.kind is SnapshotKind.ACTIVE
    assert info.parent == ""
    assert info.labels == {"stage": "build"}
    assert info.created_at is not None
    assert await snapshots.mounts("base-work") == mounts

    await anyio.to_thread.run_sync(write_files, mounts, {"hello.txt": b"hello"})
    await snapshots.commit("base", "base-work", labels={"layer": "1"})
    with pytest.raises(errors.NotFound):
        await snapshots.stat("base-work")
    base = await snapshots.stat("base")
    assert base.kind is SnapshotKind.COMMITTED
    assert base.labels == {"layer": "1"}

    work = await snapshots.prepare("child", parent="base")
    assert (await snapshots.stat("child")).parent == "base"
    assert await anyio.to_thread.run_sync(read_file, work, "hello.txt") == b"hello"

    view = await snapshots.view("look", parent="base")
    assert (await snapshots.stat("look")).kind is SnapshotKind.VIEW
    assert await anyio.to_thread.run_sync(read_file, view, "hello.txt") == b"hello"
    with pytest.raises(OSError, match="Read-only"):
        await anyio.to_thread.run_sync(write_files, view, {"nope": b"x"})

    listed = {i.name: i for i in await snapshots.list()}
    assert set(listed) == {"base", "child", "look"}
    assert all(isinstance(i, SnapshotInfo) for i in listed.values())
    assert [i.name for i in await snapshots.list("kind==committed")] == ["base"]
    assert sorted(i.name for i in await snapshots.list("parent==base")) == ["child", "look"]

    with pytest.raises(errors.FailedPrecondition):
        await snapshots.remove("base")
    await snapshots.remove("child")
    await snapshots.remove("look")
    await snapshots.remove("base")
    assert await snapshots.list() == []
    with pytest.raises(errors.NotFound):
        await snapshots.remove("base")


async def test_usage(client: Client) -> None:
    snapshots = client.snapshots()
    mounts = await snapshots.prepare("usage")
    before = await snapshots.usage("usage")
    data = b"x" * 200_000
    await anyio.to_thread.run_sync(write_files, mounts, {"a": data, "b": b"small"})
    after = await snapshots.usage("usage")
    assert after.size >= before.size + len(data)
    assert after.inodes == before.inodes + 2
    await snapshots.commit("usage-c", "usage")
    assert (await snapshots.usage("usage-c")).size == after.size


async def test_update_labels(client: Client) -> None:
    snapshots = client.snapshots()
    await snapshots.prepare("labelled", labels={"a": "1", "b": "2"})
    info = await snapshots.update("labelled", labels={"a": None, "c": "3"})
    assert info.labels == {"b": "2", "c": "3"}
    assert (await snapshots.stat("labelled")).labels == {"b": "2", "c": "3"}
    assert [i.name for i in await snapshots.list('labels."c"==3')] == ["labelled"]


async def test_errors(client: Client) -> None:
    snapshots = client.snapshots()
    await snapshots.prepare("dup")
    with pytest.raises(errors.AlreadyExists):
        await snapshots.prepare("dup")
    with pytest.raises(errors.NotFound):
        await snapshots.prepare("orphan", parent="no-such-parent")
    with pytest.raises(errors.NotFound):
        await snapshots.stat("missing")
    with pytest.raises(errors.InvalidArgument, match="snapshot key"):
        await snapshots.prepare("")
    with pytest.raises(errors.InvalidArgument, match="snapshotter name"):
        client.snapshots("")
    with pytest.raises(errors.InvalidArgument, match="no-such-snapshotter"):
        await client.snapshots("no-such-snapshotter").list()
    assert [s.split("/", 1)[1] for s in (await inventory(client)).snapshots] == ["dup"]


async def test_native_snapshotter(client: Client) -> None:
    native = client.snapshots("native")
    mounts = await native.prepare("n1")
    assert mounts[0].type == "bind"
    assert [i.name for i in await native.list()] == ["n1"]
    assert await client.snapshots().list() == []


async def test_update_can_replace_the_whole_label_set(client: Client) -> None:
    snapshots = client.snapshots()
    await snapshots.prepare("relabelled", labels={"a": "1", "b": "2"})
    info = await snapshots.update("relabelled", labels={"c": "3", "d": None}, replace_labels=True)
    assert info.labels == {"c": "3"}
    assert (await snapshots.stat("relabelled")).labels == {"c": "3"}
    assert (await snapshots.update("relabelled", labels={}, replace_labels=True)).labels == {}
    with pytest.raises(errors.NotFound):
        await snapshots.update("nope", labels={"a": "1"}, replace_labels=True)
