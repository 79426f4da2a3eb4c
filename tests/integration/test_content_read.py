"""`Content.read` from the start: one Read stream (no Info first), same checks and errors."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from _blobs import sha256

from pycontainerd import Client, Content, _content, errors

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(containerd_client: Client) -> AsyncIterator[Client]:
    # Under a lease: the daemon's GC may run at any time.
    async with containerd_client.leases.lease() as leased:
        yield leased


def corrupt(root: str, digest: str, data: bytes) -> None:
    """Flip the last byte of a stored blob behind the daemon's back."""
    blob = Path(root) / "io.containerd.content.v1.content" / "blobs" / "sha256" / digest[7:]
    blob.chmod(0o644)
    blob.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))


@pytest.fixture
def no_info(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record calls of `Content.info` (a read from the start should need none)."""
    calls: list[str] = []
    original = Content.info

    async def info(self: Content, digest: str) -> Any:
        calls.append(digest)
        return await original(self, digest)

    monkeypatch.setattr(Content, "info", info)
    return calls


async def test_whole_read_asks_no_info(client: Client, no_info: list[str]) -> None:
    data = os.urandom(3 << 20)  # several chunks, hashed in a worker thread
    digest = await client.content.write("whole", data)
    assert await client.content.read(digest) == data
    assert await client.content.read(digest, size=len(data) + 100) == data
    assert await client.content.read(digest, size=len(data)) == data
    assert no_info == []
    # A read that fills its limit may be partial: Info then tells (as before).
    assert await client.content.read(digest, size=10) == data[:10]
    assert no_info == [digest]


async def test_missing_blob_is_not_found(client: Client, no_info: list[str]) -> None:
    missing = sha256(b"never written here")
    with pytest.raises(errors.NotFound):
        await client.content.read(missing)
    with pytest.raises(errors.NotFound):
        await client.content.read(missing, size=100)
    with pytest.raises(errors.NotFound):
        await client.content.read(missing, size=0)
    # the connection is still good
    assert await client.content.read(await client.content.write("after", b"ok")) == b"ok"


async def test_empty_blob(client: Client) -> None:
    digest = await client.content.write("empty", b"")
    assert await client.content.read(digest) == b""
    assert await client.content.read(digest, size=5) == b""
    assert await client.content.read(digest, size=0) == b""


async def test_partial_reads(client: Client) -> None:
    data = bytes(range(256)) * 100
    digest = await client.content.write("partial", data)
    assert await client.content.read(digest, size=1) == data[:1]
    assert await client.content.read(digest, size=len(data) - 1) == data[:-1]
    assert await client.content.read(digest, offset=5, size=10) == data[5:15]
    with pytest.raises(errors.InvalidArgument, match="negative"):
        await client.content.read(digest, size=-1)


async def test_corrupt_blob_is_data_loss_whatever_the_limit(
    client: Client, containerd_daemon: Any, no_info: list[str]
) -> None:
    data = os.urandom(50_000)
    digest = await client.content.write("corrupt", data)
    corrupt(containerd_daemon.root, digest, data)
    with pytest.raises(errors.DataLoss, match="digest"):
        await client.content.read(digest)
    with pytest.raises(errors.DataLoss, match="digest"):
        await client.content.read(digest, size=len(data) + 1)
    assert no_info == []
    # A limit the blob fills exactly: only Info can tell whole from partial.
    with pytest.raises(errors.DataLoss, match="digest"):
        await client.content.read(digest, size=len(data))
    assert no_info == [digest]
    # A partial read cannot be checked against the digest, and is not.
    assert await client.content.read(digest, size=100) == data[:100]


async def test_corrupt_large_blob_is_data_loss(client: Client, containerd_daemon: Any) -> None:
    # Large enough that its chunks are hashed in a worker thread.
    data = os.urandom(3 << 20)
    digest = await client.content.write("corrupt-large", data)
    corrupt(containerd_daemon.root, digest, data)
    with pytest.raises(errors.DataLoss, match="digest"):
        await client.content.read(digest)


async def test_whole_read_cancelled_midway(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(8 << 20)
    digest = await client.content.write("cancelled-read", data)
    chunks = 0
    scope = anyio.CancelScope()
    original = _content._Assembler.add

    async def add(self: Any, pieces: list[memoryview]) -> None:
        nonlocal chunks
        chunks += 1
        await original(self, pieces)
        if chunks == 2:
            scope.cancel()  # with the second batch still being taken in its thread

    monkeypatch.setattr(_content._Assembler, "add", add)
    with scope:
        await client.content.read(digest)
    assert scope.cancelled_caught
    assert 2 <= chunks < 8  # stopped within a chunk or so, not at the end of its 8
    monkeypatch.undo()
    # The stream was reset and nothing is left running: the next read is whole.
    assert await client.content.read(digest) == data
