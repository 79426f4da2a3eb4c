"""Diff service: compare two snapshots into a layer, apply it onto a fresh one."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import anyio
import pytest
from _mount_helpers import mounted

from pycontainerd import Client, Descriptor, Mount, errors
from pycontainerd._oci import OCI_LAYER, OCI_LAYER_GZIP
from pycontainerd.testing import ContainerdDaemon

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(containerd_client: Client) -> AsyncIterator[Client]:
    # Under a lease: the layers and snapshots made here are referenced by nothing else.
    async with containerd_client.leases.lease() as leased:
        yield leased


def change(mounts: list[Mount], write: dict[str, bytes], delete: tuple[str, ...] = ()) -> None:
    with mounted(mounts) as root:
        for name, data in write.items():
            (root / name).write_bytes(data)
        for name in delete:
            (root / name).unlink()


def listing(mounts: list[Mount]) -> dict[str, bytes]:
    with mounted(mounts) as root:
        return {p.name: p.read_bytes() for p in root.iterdir() if p.is_file()}


async def make_base(client: Client) -> None:
    snapshots = client.snapshots()
    mounts = await snapshots.prepare("base-work")
    await anyio.to_thread.run_sync(change, mounts, {"old.txt": b"old", "keep.txt": b"keep"})
    await snapshots.commit("base", "base-work")


async def test_compare_then_apply(client: Client) -> None:
    snapshots = client.snapshots()
    await make_base(client)
    upper = await snapshots.prepare("upper", parent="base")
    await anyio.to_thread.run_sync(change, upper, {"new.txt": b"new file"}, ("old.txt",))
    lower = await snapshots.view("base-view", parent="base")

    layer = await client.diff.compare(lower, upper, labels={"made-by": "test"})
    assert isinstance(layer, Descriptor)
    assert layer.media_type == OCI_LAYER_GZIP
    info = await client.content.info(layer.digest)
    assert info.size == layer.size
    assert info.labels["made-by"] == "test"

    blob = await client.content.read(layer.digest)
    tar_bytes = gzip.decompress(blob)
    names = tarfile.open(fileobj=io.BytesIO(tar_bytes)).getnames()
    assert "new.txt" in names
    assert ".wh.old.txt" in names
    assert "keep.txt" not in names

    target = await snapshots.prepare("target", parent="base")
    applied = await client.diff.apply(layer, target)
    # the applied descriptor is the uncompressed tar: its digest is the diff ID
    assert applied.digest == "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
    assert applied.size == len(tar_bytes)
    files = await anyio.to_thread.run_sync(listing, target)
    assert files == {"keep.txt": b"keep", "new.txt": b"new file"}


async def test_uncompressed_compare_and_apply_on_empty(client: Client) -> None:
    snapshots = client.snapshots()
    empty = await snapshots.view("empty-view")
    upper = await snapshots.prepare("one")
    await anyio.to_thread.run_sync(change, upper, {"a.txt": b"A"})
    layer = await client.diff.compare(empty, upper, media_type=OCI_LAYER, ref="my-diff")
    assert layer.media_type == OCI_LAYER
    tar_bytes = await client.content.read(layer.digest)
    assert tarfile.open(fileobj=io.BytesIO(tar_bytes)).getnames() == ["a.txt"]

    fresh = await snapshots.prepare("fresh")
    applied = await client.diff.apply(layer, fresh)
    assert applied.digest == layer.digest
    assert await anyio.to_thread.run_sync(listing, fresh) == {"a.txt": b"A"}


async def test_apply_missing_blob(client: Client) -> None:
    mounts = await client.snapshots().prepare("nothing")
    missing = Descriptor(
        media_type=OCI_LAYER_GZIP, digest="sha256:" + hashlib.sha256(b"nope").hexdigest(), size=4
    )
    with pytest.raises(errors.NotFound):
        await client.diff.apply(missing, mounts)


async def test_source_date_epoch_and_sync_fs(
    client: Client, containerd_daemon: ContainerdDaemon
) -> None:
    snapshots = client.snapshots()
    empty = await snapshots.view("epoch-empty")
    upper = await snapshots.prepare("epoch-upper")
    await anyio.to_thread.run_sync(change, upper, {"a.txt": b"A"})
    epoch = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    layer = await client.diff.compare(empty, upper, media_type=OCI_LAYER, source_date_epoch=epoch)
    tar_bytes = await client.content.read(layer.digest)
    [member] = tarfile.open(fileobj=io.BytesIO(tar_bytes)).getmembers()
    if containerd_daemon.version_info >= (1, 7, 0):
        assert member.mtime == int(epoch.timestamp())  # clamped
    else:  # 1.6 ignores the field: the file keeps its own time
        assert member.mtime > int(epoch.timestamp())
    with pytest.raises(ValueError, match="timezone"):
        await client.diff.compare(empty, upper, source_date_epoch=datetime(2020, 1, 1))
    fresh = await snapshots.prepare("epoch-fresh")
    assert (await client.diff.apply(layer, fresh, sync_fs=True)).digest == layer.digest
    assert await anyio.to_thread.run_sync(listing, fresh) == {"a.txt": b"A"}
