from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import stat
import uuid
from pathlib import Path

import anyio
import pytest
from _taskutil import HostContainer, fifo_dirs, host_spec, open_fds, runtime_stock
from anyio.abc import ByteReceiveStream

import pycontainerd
from pycontainerd import stdio, testing

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024
LINE = b"0123456789abcdefghijklmnopqrstuvwxyz\n"


def expected_digest(size: int) -> str:
    """sha256 of `size` bytes of LINE repeated (what `yes ... | head -c` prints)."""
    h = hashlib.sha256()
    full, rest = divmod(size, len(LINE))
    block = LINE * 4096
    n_blocks, n_lines = divmod(full, 4096)
    for _ in range(n_blocks):
        h.update(block)
    h.update(LINE * n_lines + LINE[:rest])
    return h.hexdigest()


YES = ["sh", "-c", f"yes {LINE.decode().strip()} | head -c {100 * MIB}"]


async def test_cat_echoes_and_exits_only_after_close_stdin(host_container: HostContainer) -> None:
    c = await host_container(["cat"])
    data = os.urandom(3 * MIB)
    async with await c.new_task(stdio=stdio.pipes()) as task:
        await task.start()
        assert task.stdin is not None
        assert task.stdout is not None
        received = bytearray()
        all_echoed = anyio.Event()
        async with anyio.create_task_group() as tg:

            async def read_back() -> None:
                assert task.stdout is not None
                async for chunk in task.stdout:
                    received.extend(chunk)
                    if len(received) >= len(data):
                        all_echoed.set()

            tg.start_soon(read_back)
            await task.stdin.send(data)
            await all_echoed.wait()
            # Everything echoed, stdin still open: cat still runs.
            assert (await task.status()).state is pycontainerd.TaskState.RUNNING
            await task.close_stdin()
        assert bytes(received) == data
        assert (await task.wait()).code == 0
    await c.delete()


async def test_pipes_are_there_without_none_checks(host_container: HostContainer) -> None:
    c = await host_container(["sh", "-c", "tr a-z A-Z; echo done >&2"])
    async with await c.new_task(stdio=stdio.pipes()) as task:
        pipes = task.pipes  # typed stdio.Pipes: no None check
        assert isinstance(pipes, stdio.Pipes)
        assert pipes.stdin is task.stdin  # the same streams as the older properties
        assert pipes.stdout is task.stdout
        assert pipes.stderr is task.stderr
        await task.start()
        await pipes.stdin.send(b"hello\n")
        await pipes.stdin.aclose()  # end of file for the process
        out = b"".join([chunk async for chunk in pipes.stdout])
        err = b"".join([chunk async for chunk in pipes.stderr])
        assert (await task.wait()).code == 0
    assert (out, err) == (b"HELLO\n", b"done\n")
    await c.delete()


async def test_other_stdios_have_no_pipes(host_container: HostContainer) -> None:
    c = await host_container(["true"])
    for choice in (stdio.null(), stdio.capture(), None):
        task = await c.new_task(stdio=choice) if choice is not None else await c.new_task()
        async with task:
            assert task.pipes is None
    await c.delete()


async def test_exec_pipes(host_container: HostContainer) -> None:
    c = await host_container(["sleep", "60"])
    async with await c.new_task() as task:
        await task.start()
        async with await task.exec(["tr", "a-z", "A-Z"], stdio=stdio.pipes()) as proc:
            await proc.pipes.stdin.send(b"exec\n")
            await proc.close_stdin()
            assert await proc.pipes.stdout.receive() == b"EXEC\n"
            assert (await proc.wait()).code == 0
        async with await task.exec(["true"], stdio=stdio.capture()) as other:
            assert other.pipes is None
    await c.delete()


async def test_pipes_with_a_terminal_have_an_empty_stderr(host_container: HostContainer) -> None:
    c = await host_container(["sh", "-c", "echo to-err >&2"], terminal=True)
    async with await c.new_task(stdio=stdio.pipes(terminal=True)) as task:
        await task.start()
        with pytest.raises(anyio.EndOfStream):
            await task.pipes.stderr.receive()  # the terminal carries it
        out = b"".join([chunk async for chunk in task.pipes.stdout])
        assert (await task.wait()).code == 0
    assert out.strip() == b"to-err"
    await c.delete()


async def test_pipes_reattached_to_a_task_without_fifos(host_container: HostContainer) -> None:
    c = await host_container(["sleep", "60"])
    async with await c.new_task(stdio=stdio.null()):
        attached = await c.task(stdio=stdio.pipes())
        with pytest.raises(anyio.BrokenResourceError):
            await attached.pipes.stdin.send(b"nobody reads this")
        with pytest.raises(anyio.EndOfStream):
            await attached.pipes.stdout.receive()
        await attached.pipes.stdin.aclose()  # closing what is not there is fine
    await c.delete()


async def test_100_mib_through_pipes(host_container: HostContainer) -> None:
    c = await host_container(YES)
    async with await c.new_task(stdio=stdio.pipes()) as task:
        await task.start()
        assert task.stdout is not None
        h = hashlib.sha256()
        size = 0
        async for chunk in task.stdout:
            h.update(chunk)
            size += len(chunk)
        assert (await task.wait()).code == 0
    assert size == 100 * MIB
    assert h.hexdigest() == expected_digest(100 * MIB)
    await c.delete()


async def test_100_mib_through_capture(host_container: HostContainer) -> None:
    c = await host_container(YES)
    async with await c.new_task(stdio=stdio.capture()) as task:
        await task.start()
        assert (await task.wait()).code == 0
        out = task.captured_stdout
    assert len(out) == 100 * MIB
    assert hashlib.sha256(out).hexdigest() == expected_digest(100 * MIB)
    await c.delete()


async def test_capture_bound_drops_the_rest(host_container: HostContainer) -> None:
    c = await host_container(["sh", "-c", f"head -c {4 * MIB} /dev/zero; echo done >&2"])
    async with await c.new_task(stdio=stdio.capture(1000)) as task:
        await task.start()
        assert (await task.wait()).code == 0  # never blocked on a full pipe
        assert task.captured_stdout == b"\0" * 1000
        assert task.captured_stderr == b"done\n"
        assert task.output_truncated
    await c.delete()


async def test_capture_input_fed_to_stdin(host_container: HostContainer) -> None:
    c = await host_container(["sh", "-c", "wc -c; cat"])
    async with await c.new_task(stdio=stdio.capture(input=b"x" * 100_000)) as task:
        await task.start()
        assert (await task.wait()).code == 0
        assert task.captured_stdout.strip() == b"100000"
    await c.delete()


async def test_tty_reports_size_set_by_resize(host_container: HostContainer) -> None:
    c = await host_container(["sh", "-c", "read go; stty size"], terminal=True)
    async with await c.new_task(stdio=stdio.pipes(terminal=True)) as task:
        assert task.stderr is None  # a terminal merges stderr into stdout
        await task.start()
        await task.resize(123, 45)
        assert task.stdin is not None
        assert task.stdout is not None
        await task.stdin.send(b"go\n")
        out = bytearray()
        async for chunk in task.stdout:
            out.extend(chunk)
        assert (await task.wait()).code == 0
    assert out.replace(b"\r", b"").splitlines()[-1] == b"45 123"
    await c.delete()


async def test_long_argv(host_container: HostContainer) -> None:
    arg = "x" * 20_000
    c = await host_container(["sh", "-c", 'echo "${#1}"; echo "$1" | md5sum', "sh", arg])
    async with await c.new_task(stdio=stdio.capture()) as task:
        await task.start()
        assert (await task.wait()).code == 0
    lines = task.captured_stdout.splitlines()
    assert lines[0] == b"20000"
    assert lines[1].split()[0].decode() == hashlib.md5(arg.encode() + b"\n").hexdigest()
    await c.delete()


async def test_log_file(
    containerd_client: pycontainerd.Client, busybox_rootfs: Path, tmp_path: Path
) -> None:
    # containerd 1.6's shim sends both streams of a file:// log through one fd
    # and closes that fd when stdout ends (pkg/process/io.go, copyPipes): what
    # its stderr copier has not written by then is lost ("error copying
    # stderr"). So the process waits until its stderr line is in the file,
    # which it sees through a read-only bind mount, before it exits.
    log = tmp_path / "task.log"
    script = (
        "echo to-out; echo to-err >&2; i=0; "
        "until grep -q to-err /log/task.log || [ $i -ge 3000 ]; do sleep 0.01; i=$((i+1)); done"
    )
    cid = f"c-{uuid.uuid4().hex[:10]}"
    spec = host_spec(
        busybox_rootfs,
        ["sh", "-c", script],
        namespace=containerd_client.namespace,
        container_id=cid,
    )
    spec["mounts"].append(
        {"destination": "/log", "type": "bind", "source": str(tmp_path), "options": ["rbind", "ro"]}
    )
    c = await containerd_client.containers.create(cid, spec=spec)
    before = fifo_dirs()
    async with await c.new_task(stdio=stdio.log_file(log)) as task:
        assert fifo_dirs() == before  # no FIFOs: the shim writes the file
        await task.start()
        assert (await task.wait()).code == 0
    assert sorted(log.read_bytes().splitlines()) == [b"to-err", b"to-out"]
    await c.delete()


async def test_null(host_container: HostContainer) -> None:
    c = await host_container(["sh", "-c", "cat; echo hi"])
    async with await c.new_task(stdio=stdio.null()) as task:
        assert task.stdin is None
        assert task.stdout is None
        await task.start()
        assert (await task.wait()).code == 0  # stdin is /dev/null: cat ends at once
    await c.delete()


async def test_inherit_copies_to_our_stdout(host_container: HostContainer, capfd) -> None:
    c = await host_container(["sh", "-c", "echo inherited-out; echo inherited-err >&2"])
    async with await c.new_task(stdio=stdio.inherit()) as task:
        await task.start()
        assert (await task.wait()).code == 0
    out, err = capfd.readouterr()
    assert "inherited-out" in out
    assert "inherited-err" in err
    await c.delete()


async def test_fifo_dir_is_private_and_removed(host_container: HostContainer) -> None:
    before = fifo_dirs()
    c = await host_container(["true"])
    async with await c.new_task(stdio=stdio.pipes()) as task:
        new = fifo_dirs() - before
        assert len(new) == 1
        (directory,) = new
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        assert sorted(os.listdir(directory)) == [
            f"{c.id}-stderr",
            f"{c.id}-stdin",
            f"{c.id}-stdout",
        ]
        await task.start()
        await task.wait()
    assert fifo_dirs() == before
    await c.delete()


async def test_concurrent_waiters_share_one_capture(host_container: HostContainer) -> None:
    c = await host_container(["sh", "-c", f"head -c {5 * MIB} /dev/zero; echo end >&2"])
    async with await c.new_task(stdio=stdio.capture()) as task:
        await task.start()
        codes: list[int] = []
        async with anyio.create_task_group() as tg:
            for _ in range(4):

                async def waiter() -> None:
                    codes.append((await task.wait()).code)

                tg.start_soon(waiter)
        assert codes == [0, 0, 0, 0]
        assert task.captured_stdout == b"\0" * (5 * MIB)
        assert task.captured_stderr == b"end\n"
    await c.delete()


# Reading before start (issue #13). The shim opens an exec process's FIFOs only
# when it starts it (a task's during Create): a reader that comes first waits
# for the writer, as with containerd's Go cio, instead of ending at once.

SAY_HI = ["sh", "-c", "echo hi; echo err >&2"]


async def read_all(stream: ByteReceiveStream, into: bytearray) -> None:
    async for chunk in stream:
        into.extend(chunk)


async def read_before_start(
    handle: pycontainerd.Task[stdio.Pipes] | pycontainerd.Process[stdio.Pipes],
) -> tuple[bytes, bytes]:
    """Read both outputs from before `handle` starts to their end; (stdout, stderr)."""
    out, err = bytearray(), bytearray()
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(read_all, handle.pipes.stdout, out)
            tg.start_soon(read_all, handle.pipes.stderr, err)
            await anyio.wait_all_tasks_blocked()  # both have read: nothing yet
            assert (out, err) == (b"", b"")
            await handle.start()
    for stream in (handle.pipes.stdout, handle.pipes.stderr):
        with pytest.raises(anyio.EndOfStream):  # and it stays ended
            await stream.receive()
    assert (await handle.wait()).code == 0
    return bytes(out), bytes(err)


async def test_exec_output_read_before_start(host_container: HostContainer) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        await task.start()
        async with await task.exec(SAY_HI, stdio=stdio.pipes(), start=False) as proc:
            assert await read_before_start(proc) == (b"hi\n", b"err\n")
        # With a terminal the shim opens stdout when it has the console, also at start.
        async with await task.exec(SAY_HI, stdio=stdio.pipes(terminal=True), start=False) as tty:
            assert await read_before_start(tty) == (b"hi\r\nerr\r\n", b"")
    await c.delete()


async def test_task_output_read_before_start(host_container: HostContainer) -> None:
    c = await host_container(SAY_HI)
    async with await c.new_task(stdio=stdio.pipes()) as task:
        assert await read_before_start(task) == (b"hi\n", b"err\n")
    await c.delete()


async def test_exec_capture_waited_before_start(host_container: HostContainer) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        await task.start()
        async with await task.exec(SAY_HI, stdio=stdio.capture(), start=False) as proc:
            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(proc.wait)  # copies the output, from before start
                    await anyio.wait_all_tasks_blocked()
                    await proc.start()
            assert (proc.captured_stdout, proc.captured_stderr) == (b"hi\n", b"err\n")
    await c.delete()


async def test_exec_start_failure_ends_a_waiting_reader(host_container: HostContainer) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        await task.start()
        async with await task.exec(["/nope"], stdio=stdio.pipes(), start=False) as proc:
            out = bytearray()
            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(read_all, proc.pipes.stdout, out)
                    await anyio.wait_all_tasks_blocked()
                    with pytest.raises(pycontainerd.errors.RPCError, match="nope"):
                        await proc.start()
            assert out == b""  # the reader ended: no writer will come
    await c.delete()


async def test_exec_never_started_leaves_nothing(
    containerd_client: pycontainerd.Client, host_container: HostContainer
) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        await task.start()
        await containerd_client.version()  # the connection's own fd is open before counting
        stock = runtime_stock(await testing.inventory(containerd_client))
        dirs, fds = fifo_dirs(), open_fds()

        # Deleted while a reader waits for output: the reader learns the stream was closed.
        proc = await task.exec(SAY_HI, stdio=stdio.pipes(), start=False)
        assert fifo_dirs() != dirs
        failures: list[BaseException] = []

        async def reader(stream: ByteReceiveStream) -> None:
            try:
                await stream.receive()
            except anyio.ClosedResourceError as exc:
                failures.append(exc)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(reader, proc.pipes.stdout)
                tg.start_soon(reader, proc.pipes.stderr)
                await anyio.wait_all_tasks_blocked()
                await proc.delete()
        assert len(failures) == 2

        # Reads cancelled (anyio, then asyncio's own Task.cancel), then left unstarted.
        async with await task.exec(SAY_HI, stdio=stdio.pipes(), start=False) as proc:
            with anyio.move_on_after(0.2) as scope:
                await proc.pipes.stdout.receive()
            assert scope.cancelled_caught
            waiting = asyncio.ensure_future(proc.pipes.stderr.receive())
            await anyio.wait_all_tasks_blocked()
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting

        # A cancelled read leaves the stream usable: read again, then start.
        async with await task.exec(SAY_HI, stdio=stdio.pipes(), start=False) as proc:
            with anyio.move_on_after(0.2):
                await proc.pipes.stdout.receive()
            assert await read_before_start(proc) == (b"hi\n", b"err\n")

        assert [p.pid for p in await task.pids()] == [task.pid]
        assert runtime_stock(await testing.inventory(containerd_client)) == stock
        assert fifo_dirs() == dirs
        assert open_fds() == fds
    await c.delete()


# The logging binary of binary_log(): what the shim gives it (pkg/process/io.go,
# NewBinaryIO and NewBinaryCmd): fd 3 stdout, fd 4 stderr, fd 5 to close when ready,
# CONTAINER_ID and CONTAINER_NAMESPACE, the URI's query as "key value" arguments.
# It records all of that under the directory named by its --dir argument.
LOGGER = """#!/bin/sh
trap '' TERM  # the shim sends SIGTERM once it closed the pipes: finish copying first
for arg in "$@"; do printf '%s\\n' "$arg"; done > "/tmp/.args.$$"
while [ $# -gt 0 ]; do
    [ "$1" = --dir ] && dir=$2
    shift 2
done
record="$dir/$CONTAINER_ID"
mv "/tmp/.args.$$" "$record.args"
printf '%s\\n' "$CONTAINER_ID" "$CONTAINER_NAMESPACE" > "$record.env"
exec 5>&-  # ready: the shim starts the process now
/bin/cat <&3 > "$record.out" &
/bin/cat <&4 > "$record.err"
wait
: > "$record.done"
"""


def logged(directory: Path, name: str) -> dict[str, object]:
    """What the logger recorded for process `name`, once that process is deleted.

    Deleting it, the shim closes the pipes, sends SIGTERM and waits for the
    logger to exit: by then the logger has copied everything and finished.
    """
    assert (directory / f"{name}.done").exists()
    args = (directory / f"{name}.args").read_text().split("\n")[:-1]
    return {
        "args": dict(zip(args[::2], args[1::2], strict=True)),
        "env": (directory / f"{name}.env").read_text().splitlines(),
        "out": (directory / f"{name}.out").read_bytes(),
        "err": (directory / f"{name}.err").read_bytes(),
    }


async def test_binary_log(
    containerd_client: pycontainerd.Client, host_container: HostContainer, tmp_path: Path
) -> None:
    records = tmp_path / "records"
    records.mkdir()
    logger = tmp_path / "my logger #1"  # the URI must escape these
    logger.write_text(LOGGER)
    logger.chmod(0o755)
    args = {"--dir": str(records), "--tag": "a b&c=d?#", "--empty": ""}
    ns = containerd_client.namespace

    c = await host_container(["sh", "-c", "echo to-out; echo to-err >&2; exec sleep 1000"])
    before = fifo_dirs()
    async with await c.new_task(stdio=stdio.binary_log(logger, args)) as task:
        assert fifo_dirs() == before  # no FIFOs: the shim pipes to the logger
        assert task.pipes is None
        await task.start()
        # An exec process gets a logger of its own, named by its exec id.
        log = stdio.binary_log(logger, {"--dir": str(records)})
        async with await task.exec(
            ["sh", "-c", "echo exec-out; echo exec-err >&2"], stdio=log, id="e1"
        ) as proc:
            assert (await proc.wait()).code == 0
        assert logged(records, "e1") == {
            "args": {"--dir": str(records)},
            "env": ["e1", ns],
            "out": b"exec-out\n",
            "err": b"exec-err\n",
        }
        await task.kill(signal.SIGKILL)
        await task.wait()
    assert logged(records, c.id) == {
        "args": args,
        "env": [c.id, ns],
        "out": b"to-out\n",
        "err": b"to-err\n",
    }
    await c.delete()


async def test_binary_log_that_cannot_start_fails_the_create(
    containerd_client: pycontainerd.Client, host_container: HostContainer, tmp_path: Path
) -> None:
    c = await host_container(["true"])
    with pytest.raises(pycontainerd.errors.RPCError, match="binary"):
        await c.new_task(stdio=stdio.binary_log(tmp_path / "missing"))
    with pytest.raises(pycontainerd.errors.NotFound):
        await c.task()
    await c.delete()


async def test_log_file_path_that_needs_escaping(
    containerd_client: pycontainerd.Client, host_container: HostContainer, tmp_path: Path
) -> None:
    # "file://" + path made the shim read "#1?.log" as the URI's fragment and query.
    log = tmp_path / "new dir" / "my app #1?.log"  # the shim makes the directory
    c = await host_container(["echo", "logged"])
    async with await c.new_task(stdio=stdio.log_file(log)) as task:
        await task.start()
        assert (await task.wait()).code == 0
    assert log.read_bytes() == b"logged\n"
    assert os.listdir(tmp_path / "new dir") == [log.name]
    await c.delete()
