"""stdio factories and FIFO streams, without a daemon."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import anyio
import pytest

from pycontainerd import stdio
from pycontainerd.stdio import FifoReceiveStream


def test_factories_validate() -> None:
    with pytest.raises(ValueError, match="absolute"):
        stdio.log_file("relative.log")
    with pytest.raises(ValueError, match="max_bytes"):
        stdio.capture(-1)
    assert stdio.pipes(terminal=True).terminal


@pytest.fixture
def fifo(tmp_path: Path) -> str:
    path = str(tmp_path / "out")
    os.mkfifo(path, 0o700)
    return path


def reader(path: str) -> FifoReceiveStream:
    """The read end as TaskIO opens it (non-blocking, before any writer)."""
    return FifoReceiveStream(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), path)


def writer(path: str) -> int:
    return os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)


@pytest.mark.anyio
async def test_a_read_before_any_writer_waits_for_one(fifo: str) -> None:
    stream = reader(fifo)
    got: list[bytes] = []
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:

            async def read_all() -> None:
                got.extend([chunk async for chunk in stream])

            tg.start_soon(read_all)
            await anyio.wait_all_tasks_blocked()  # read, found no writer: waits
            assert got == []
            w = writer(fifo)
            await anyio.wait_all_tasks_blocked()  # a writer, no data yet: still waits
            os.write(w, b"hi\n")
            os.close(w)
    assert got == [b"hi\n"]
    assert stream.eof
    stream.close()


@pytest.mark.anyio
async def test_a_writer_that_came_and_went_before_the_read(fifo: str) -> None:
    stream = reader(fifo)
    w = writer(fifo)
    os.write(w, b"early")
    os.close(w)
    with anyio.fail_after(10):
        assert await stream.receive() == b"early"
        with pytest.raises(anyio.EndOfStream):
            await stream.receive()
    stream.close()


@pytest.mark.anyio
async def test_a_reader_opened_while_a_writer_is_open_ends_when_it_closes(fifo: str) -> None:
    w = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # a writer already there (re-attach)
    stream = reader(fifo)
    os.close(w)
    with anyio.fail_after(10), pytest.raises(anyio.EndOfStream):
        await stream.receive()
    stream.close()


@pytest.mark.anyio
async def test_end_without_writer_ends_a_waiting_read(fifo: str) -> None:
    stream = reader(fifo)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:

            async def expect_end() -> None:
                with pytest.raises(anyio.EndOfStream):
                    await stream.receive()

            tg.start_soon(expect_end)
            await anyio.wait_all_tasks_blocked()
            stream._end_without_writer()
    stream.close()
    stream._end_without_writer()  # closed: nothing to do


@pytest.mark.anyio
async def test_a_waiting_read_cancelled_or_closed(fifo: str) -> None:
    stream = reader(fifo)
    with anyio.move_on_after(0.05) as scope:
        await stream.receive()
    assert scope.cancelled_caught
    waiting = asyncio.ensure_future(stream.receive())
    await anyio.wait_all_tasks_blocked()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not stream.eof  # still usable
    w = writer(fifo)
    os.write(w, b"after")
    with anyio.fail_after(10):
        assert await stream.receive() == b"after"
        async with anyio.create_task_group() as tg:

            async def expect_closed() -> None:
                with pytest.raises(anyio.ClosedResourceError):
                    await stream.receive()

            tg.start_soon(expect_closed)
            await anyio.wait_all_tasks_blocked()
            stream.close()  # as deleting the process does
    os.close(w)
