"""stdio factories and FIFO streams, without a daemon."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import stat
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

import pycontainerd
from pycontainerd import errors, stdio
from pycontainerd.stdio import FifoReceiveStream
from pycontainerd.stdio import _io as stdio_io


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


DATA = Path(__file__).parent.parent / "data"


@pytest.mark.parametrize(
    "case", json.loads((DATA / "stdio_log_uris.json").read_text()), ids=lambda c: c["uri"][:40]
)
def test_log_uris_are_the_ones_go_writes(case: dict[str, Any]) -> None:
    # cio.LogURIGenerator's output (tests/data/README.md): the shim parses it with
    # Go's url.Parse, so a path with a space, "#" or "?" must arrive whole.
    if case["scheme"] == "file":
        choice = stdio.log_file(case["path"])
    else:
        choice = stdio.binary_log(case["path"], case["args"])
    io = choice._open("x")
    assert (io.stdin_uri, io.stdout_uri, io.stderr_uri) == ("", case["uri"], case["uri"])
    terminal = attrs.evolve(choice, terminal=True)._open("x")
    assert (terminal.stdout_uri, terminal.stderr_uri) == (case["uri"], "")


def test_binary_log_and_fifo_dir_validate() -> None:
    bad: list[Callable[[], object]] = [
        lambda: stdio.binary_log("logger"),
        lambda: stdio.binary_log("/bin/logger\0"),
        lambda: stdio.binary_log("/bin/logger", {"": "x"}),
        lambda: stdio.binary_log("/bin/logger", {"k": "v\0"}),
        lambda: stdio.binary_log("/bin/logger", {"k": 1}),  # type: ignore[dict-item]
        lambda: stdio.pipes(fifo_dir="relative"),
        lambda: stdio.capture(fifo_dir="/run/\0"),
        lambda: stdio.inherit(fifo_dir=""),
        lambda: pycontainerd.Client("/run/x.sock", fifo_dir="relative"),
    ]
    for make in bad:
        with pytest.raises(errors.InvalidArgument):
            make()
    long = "x" * 100_000
    with pytest.raises(errors.InvalidArgument) as caught:
        stdio.pipes(fifo_dir=long)
    assert len(str(caught.value)) < 200  # the bad value is named, shortened
    assert stdio.pipes(fifo_dir=Path("/run/a/../b/")).fifo_dir == "/run/b"
    assert pycontainerd.Client("/run/x.sock", fifo_dir=Path("/run/f")).fifo_dir == "/run/f"
    assert pycontainerd.Client("/run/x.sock").fifo_dir is None


@pytest.mark.anyio
async def test_fifos_are_0600_in_a_new_0700_dir_and_go_on_close(tmp_path: Path) -> None:
    root = tmp_path / "made" / "root"
    io = stdio.pipes(fifo_dir=root)._open("p")
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    [directory] = list(root.iterdir())
    assert stat.S_IMODE(directory.lstat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.lstat().st_mode) for p in directory.iterdir()}
    assert modes == {"p-stdin": 0o600, "p-stdout": 0o600, "p-stderr": 0o600}
    io.close()
    assert list(root.iterdir()) == []


def test_unsafe_fifo_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    shared.chmod(0o770)
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(target)
    afile = tmp_path / "file"
    afile.write_text("")
    for root, reason in ((shared, "mode 0770"), (link, "symbolic link"), (afile, "not a dir")):
        with pytest.raises(errors.UnsafeFifoDir, match=reason):
            stdio.capture(fifo_dir=root)._open("p")
    # The default root too, as root (a non-root process skips a root that is not its own).
    assert os.geteuid() == 0
    monkeypatch.setattr(stdio_io, "FIFO_ROOT", str(shared))
    with pytest.raises(errors.UnsafeFifoDir, match="group or others"):
        stdio.pipes()._open("p")
    os.chown(shared, 65534, 65534)
    shared.chmod(0o700)
    with pytest.raises(errors.UnsafeFifoDir, match="owned by uid 65534, not 0"):
        stdio.pipes()._open("p")
    assert list(shared.iterdir()) == list(target.iterdir()) == []


@pytest.mark.anyio
async def test_collected_fifos_are_released_with_a_resource_warning(tmp_path: Path) -> None:
    root = str(tmp_path)
    io = stdio.capture(fifo_dir=root)._open("p")
    assert len(os.listdir(root)) == 1
    fds = len(os.listdir("/proc/self/fd"))
    assert io.stdout is not None
    stream = io.stdout
    del io
    gc.collect()
    assert len(os.listdir(root)) == 1  # a stream still holds them
    del stream
    with pytest.warns(ResourceWarning, match="unclosed FIFOs of "):
        gc.collect()
    assert os.listdir(root) == []
    assert len(os.listdir("/proc/self/fd")) == fds - 2  # stdout's and stderr's
    closed = stdio.capture(fifo_dir=root)._open("q")
    closed.close()
    del closed
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        gc.collect()


def test_fifo_ends_open_only_fifos_and_follow_no_link(tmp_path: Path, fifo: str) -> None:
    regular = tmp_path / "regular"
    regular.write_text("not a fifo")
    link = tmp_path / "link"
    link.symlink_to(fifo)
    flags = os.O_RDONLY | os.O_NONBLOCK
    for path in (regular, link, tmp_path / "missing"):
        assert stdio_io._open_fifo(str(path), flags) is None
    fd = stdio_io._open_fifo(fifo, flags)
    assert fd is not None
    os.close(fd)
    # A re-attach opens what is still a FIFO, and nothing else.
    io = stdio.pipes()._attach(str(link), fifo, str(regular))
    assert (io.stdin, io.stderr) == (None, None)
    assert io.stdout is not None
    io.stdout._discard()
