"""Content store: info/list/update/delete, reader and writer against a real daemon."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from _blobs import sha256

from pycontainerd import Client, Content, ContentInfo, errors
from pycontainerd.testing import inventory

pytestmark = pytest.mark.anyio

MiB = 1 << 20


@pytest.fixture
async def client(containerd_client: Client) -> AsyncIterator[Client]:
    # Under a lease: the daemon's GC may run at any time and would collect
    # blobs nothing refers to.
    async with containerd_client.leases.lease() as leased:
        yield leased


async def wait_for_offset(content: Content, ref: str, offset: int) -> None:
    with anyio.fail_after(10):
        while (await content.status(ref)).offset < offset:  # noqa: ASYNC110
            await anyio.sleep(0.01)


@pytest.mark.parametrize("size", [0, 1, 64 * MiB], ids=["0B", "1B", "64MiB"])
async def test_write_and_read_back(client: Client, size: int) -> None:
    data = os.urandom(size)
    digest = await client.content.write(f"blob-{size}", data, labels={"k": "v"})
    assert digest == sha256(data)

    info = await client.content.info(digest)
    assert info.size == size
    assert info.labels == {"k": "v"}
    assert info.created_at is not None

    got = bytearray()
    async with client.content.reader(digest) as r:
        assert r.size == size
        async for chunk in r:
            assert len(chunk) <= MiB
            got += chunk
    assert bytes(got) == data
    assert await client.content.read(digest) == data
    assert (await inventory(client)).ingests == ()


async def test_ranged_read(client: Client) -> None:
    data = bytes(range(256)) * 10_000
    digest = await client.content.write("ranged", data)
    assert await client.content.read(digest, offset=1000, size=5000) == data[1000:6000]
    assert await client.content.read(digest, offset=len(data) - 3) == data[-3:]
    assert await client.content.read(digest, offset=len(data)) == b""
    with pytest.raises(errors.OutOfRange):
        await client.content.read(digest, offset=len(data) + 1)


async def test_reader_stops_early(client: Client) -> None:
    data = os.urandom(5 * MiB)
    digest = await client.content.write("early", data)
    async with client.content.reader(digest) as r:
        async for chunk in r:
            assert chunk == data[: len(chunk)]
            break
    # the connection is still good
    assert (await client.content.info(digest)).size == len(data)


async def test_missing_digest_is_not_found(client: Client) -> None:
    missing = sha256(b"never written")
    with pytest.raises(errors.NotFound):
        await client.content.read(missing)
    with pytest.raises(errors.NotFound):
        async with client.content.reader(missing):
            pass
    with pytest.raises(errors.NotFound):
        await client.content.info(missing)
    with pytest.raises(errors.NotFound):
        await client.content.delete(missing)


async def test_bad_digest_is_invalid_argument(client: Client) -> None:
    with pytest.raises(errors.InvalidArgument, match="sha256:xyz"):
        await client.content.info("sha256:xyz")
    with pytest.raises(errors.InvalidArgument, match="nodigest"):
        await client.content.read("nodigest")
    with pytest.raises(errors.InvalidArgument, match="ingest ref"):
        await client.content.write("", b"x")


async def test_wrong_expected_digest(client: Client) -> None:
    content = client.content
    data = b"some data"
    wrong = sha256(b"other data")
    with pytest.raises(errors.FailedPrecondition):
        await content.write("wrong-digest", data, expected=wrong)
    # nothing committed, nothing left half-written
    with pytest.raises(errors.NotFound):
        await content.info(sha256(data))
    assert (await inventory(client)).ingests == ()
    # the ref is usable again
    assert await content.write("wrong-digest", data, expected=sha256(data)) == sha256(data)


async def test_wrong_expected_digest_at_commit(client: Client) -> None:
    content = client.content
    data = b"payload"

    async def commit_wrong() -> None:
        async with content.writer("commit-wrong") as w:
            await w.write(data)
            await w.commit(expected=sha256(b"nope"))

    with pytest.raises(errors.FailedPrecondition):
        await commit_wrong()
    assert (await inventory(client)).ingests == ()
    async with content.writer("commit-wrong") as w:
        assert w.offset == 0
        await w.write(data)
        assert await w.commit(expected=sha256(data)) == sha256(data)


async def test_wrong_size_at_commit(client: Client) -> None:
    with pytest.raises(errors.FailedPrecondition):
        await client.content.write("short", b"abc", total=4)
    assert (await inventory(client)).ingests == ()


async def test_resume_after_interrupted_write(client: Client, tmp_path: Path) -> None:
    content = client.content
    data = os.urandom(3 * MiB + 17)
    half = len(data) // 2
    # Leave the block without committing: the ingest stays for a resume.
    async with content.writer("resume", total=len(data)) as w:
        assert w.offset == 0
        await w.write(data[:half])
    status = await content.status("resume")
    assert status.offset == half
    assert status.total == len(data)
    assert [s.ref for s in await content.list_statuses()] == ["resume"]

    async with content.writer("resume", total=len(data)) as w:
        assert w.offset == half
        await w.write(data[w.offset :])
        digest = await w.commit()
    assert digest == sha256(data)
    assert await content.read(digest) == data
    assert (await inventory(client)).ingests == ()

    # The one-call helper resumes from a file path too.
    other = os.urandom(2 * MiB)
    path = tmp_path / "blob"
    path.write_bytes(other)
    async with content.writer("resume-path") as w:
        await w.write(other[:MiB])
    assert await content.write("resume-path", path) == sha256(other)
    assert await content.read(sha256(other)) == other


async def test_write_from_async_iterator_resumes(client: Client) -> None:
    content = client.content
    data = os.urandom(MiB + 5)

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 300_000):
            yield data[i : i + 300_000]

    async with content.writer("iter") as w:
        await w.write(data[:400_000])
    assert await content.write("iter", pieces(), expected=sha256(data)) == sha256(data)
    assert await content.read(sha256(data)) == data


async def test_write_existing_blob(client: Client) -> None:
    content = client.content
    data = b"already here"
    digest = await content.write("a", data)
    # with an expected digest: the daemon says so up front
    assert await content.write("b", data, expected=digest) == digest
    with pytest.raises(errors.AlreadyExists):
        async with content.writer("c", expected=digest):
            pass
    # without: the commit finds it
    assert await content.write("d", data) == digest
    assert (await inventory(client)).ingests == ()


async def test_two_writers_on_one_ref(client: Client) -> None:
    content = client.content
    data = os.urandom(2 * MiB)
    first_open = anyio.Event()
    order: list[str] = []

    async def first() -> None:
        async with content.writer("shared", total=len(data)) as w:
            first_open.set()
            await w.write(data[:MiB])
            # the second writer is now retrying against the lock
            await wait_for_offset(content, "shared", MiB)
            await anyio.sleep(0.2)  # let the second writer retry a few times
            await w.write(data[MiB:])
            order.append("first")
            assert await w.commit() == sha256(data)

    async def second() -> None:
        await first_open.wait()
        async with content.writer("shared", total=len(data)) as w:
            order.append("second")
            # the first writer committed: a fresh ingest
            assert w.offset == 0
            await w.write(data)
            with pytest.raises(errors.AlreadyExists):
                await w.commit()

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            tg.start_soon(second)
    assert order == ["first", "second"]
    assert (await inventory(client)).ingests == ()


async def test_locked_ref_times_out(client: Client) -> None:
    content = client.content
    async with content.writer("locked") as w:
        await w.write(b"x")
        with pytest.raises(errors.Unavailable, match="locked"):
            async with content.writer("locked", lock_timeout=0.3):
                pass
        await w.commit()


async def test_concurrent_one_call_writes_same_ref(client: Client) -> None:
    data = os.urandom(4 * MiB)
    results: list[str] = []

    async def put() -> None:
        results.append(await client.content.write("same", data))

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(put)
    assert results == [sha256(data)] * 3
    assert (await inventory(client)).content == (sha256(data),)
    assert (await inventory(client)).ingests == ()


async def test_cancel_midway_leaves_no_ingest(client: Client) -> None:
    content = client.content
    written = anyio.Event()

    async def endless() -> AsyncIterator[bytes]:
        chunk = os.urandom(MiB)
        for i in range(1000):
            if i == 3:
                written.set()
            yield chunk

    async with anyio.create_task_group() as tg:

        async def run() -> None:
            await content.write("cancelled", endless())

        tg.start_soon(run)
        await written.wait()
        tg.cancel_scope.cancel()
    stock = await inventory(client)
    assert stock.ingests == ()
    assert stock.content == ()


@pytest.mark.parametrize("steps", [0, 1, 2, 3, 5, 8])
async def test_cancel_at_any_checkpoint_leaves_no_ingest(client: Client, steps: int) -> None:
    """Cancel after `steps` event-loop turns: negotiation, write or commit."""
    data = os.urandom(2 * MiB)

    async def run() -> None:
        await client.content.write(f"cancel-{steps}", data)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        for _ in range(steps):
            await anyio.lowlevel.checkpoint()
        tg.cancel_scope.cancel()
    stock = await inventory(client)
    assert stock.ingests == ()


async def test_list_update_delete(client: Client) -> None:
    content = client.content
    a = await content.write("a", b"a", labels={"group": "x", "keep": "1"})
    b = await content.write("b", b"b", labels={"group": "y"})
    listed = await content.list()
    assert sorted(i.digest for i in listed) == sorted([a, b])
    assert all(isinstance(i, ContentInfo) for i in listed)
    assert [i.digest for i in await content.list("labels.group==x")] == [a]

    info = await content.update(a, labels={"group": None, "new": "2"})
    assert info.labels == {"keep": "1", "new": "2"}
    assert (await content.info(a)).labels == {"keep": "1", "new": "2"}

    await content.delete(a)
    with pytest.raises(errors.NotFound):
        await content.info(a)
    assert [i.digest for i in await content.list()] == [b]


async def test_abort_and_status(client: Client) -> None:
    content = client.content
    async with content.writer("to-abort", total=10) as w:
        await w.write(b"12345")
    assert (await content.status("to-abort")).offset == 5
    await content.abort("to-abort")
    with pytest.raises(errors.NotFound):
        await content.status("to-abort")
    with pytest.raises(errors.NotFound):
        await content.abort("to-abort")


async def test_writer_closed_after_commit(client: Client) -> None:
    async with client.content.writer("closed") as w:
        await w.write(b"x")
        await w.commit()
        assert w.committed
        with pytest.raises(errors.FailedPrecondition, match="closed"):
            await w.write(b"y")


async def test_corrupt_blob_raises_data_loss(client: Client, containerd_daemon: object) -> None:
    data = os.urandom(100_000)
    digest = await client.content.write("corrupt", data)
    root = Path(containerd_daemon.root)  # type: ignore[attr-defined]
    blob = root / "io.containerd.content.v1.content" / "blobs" / "sha256" / digest.split(":")[1]
    blob.chmod(0o644)
    blob.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(errors.DataLoss, match="digest"):
        await client.content.read(digest)
    # a partial read does not hash
    assert await client.content.read(digest, size=10) == data[:10]


async def test_write_from_missing_path(client: Client, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await client.content.write("missing-file", tmp_path / "nope")
    assert (await inventory(client)).ingests == ()


async def test_source_error_midway_aborts(client: Client) -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield os.urandom(MiB)
        yield os.urandom(MiB)
        raise OSError("source broke")

    with pytest.raises(OSError, match="source broke"):
        await client.content.write("broken-source", failing())
    stock = await inventory(client)
    assert stock.ingests == ()
    assert stock.content == ()


@pytest.mark.parametrize("turns", [0, 1, 3, 6, 20])
async def test_writer_aborts_under_a_second_native_cancel(
    containerd_client: Client, turns: int
) -> None:
    """asyncio's own Task.cancel() lands inside the shielded cleanup: the abort still happens."""
    import asyncio

    async def body() -> None:
        async with containerd_client.content.writer("native") as writer:
            await writer.write(b"y" * 1000)
            await asyncio.sleep(30)

    task = asyncio.ensure_future(body())
    await asyncio.sleep(0.3)
    task.cancel()  # starts the writer's cleanup
    for _ in range(turns):  # ... which a second cancel interrupts somewhere
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(errors.NotFound):
        await containerd_client.content.status("native")


async def test_update_can_replace_the_whole_label_set(client: Client) -> None:
    content = client.content
    digest = await content.write("relabel", b"relabel", labels={"a": "1", "b": "2"})
    info = await content.update(digest, labels={"c": "3", "d": None}, replace_labels=True)
    assert info.labels == {"c": "3"}
    assert (await content.info(digest)).labels == {"c": "3"}
    assert (await content.update(digest, labels={}, replace_labels=True)).labels == {}
    # key by key, the labels not named stay
    await content.update(digest, labels={"x": "1"})
    assert (await content.update(digest, labels={"y": "2"})).labels == {"x": "1", "y": "2"}


async def test_truncate_starts_the_ingest_over(client: Client) -> None:
    content = client.content
    junk, data = os.urandom(MiB + 5), os.urandom(2 * MiB + 3)
    async with content.writer("truncate", total=len(data)) as w:
        await w.truncate()  # nothing written yet: nothing to do
        await w.write(junk)
        await w.truncate()
        assert w.offset == 0
        await w.write(b"abc")
    # The daemon dropped the junk: the ingest resumes after the 3 bytes written since.
    assert (await content.status("truncate")).offset == 3
    async with content.writer("truncate", total=len(data), expected=sha256(data)) as w:
        assert w.offset == 3
        for bad in (1, 4, -1):
            with pytest.raises(errors.InvalidArgument, match=f"to {bad} bytes"):
                await w.truncate(bad)
        await w.truncate(3)  # the current offset: nothing to drop
        await w.truncate()
        await w.write(data[:MiB])
        await w.truncate(0)
        await w.write(data)
        # the daemon's digest restarted with the bytes: the expected one matches
        digest = await w.commit()
        with pytest.raises(errors.FailedPrecondition, match="closed"):
            await w.truncate()
    assert digest == sha256(data)
    assert await content.read(digest) == data
    assert (await inventory(client)).ingests == ()
