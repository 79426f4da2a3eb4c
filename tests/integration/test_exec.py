from __future__ import annotations

import signal

import anyio
import pytest
from _taskutil import HostContainer, fifo_dirs

import pycontainerd
from pycontainerd import errors, stdio

pytestmark = pytest.mark.anyio


async def test_exec_exit_code_output_and_pids(host_container: HostContainer) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        await task.start()
        async with await task.exec(["sh", "-c", "echo $0; exit 4"], stdio=stdio.capture()) as p:
            assert p.pid > 0
            assert p.returncode is None
            assert (await p.wait()).code == 4
            assert p.returncode == 4
            assert p.captured_stdout == b"sh\n"
        async with await task.exec(["sleep", "1000"], id="sleeper") as sleeper:
            pids = await task.pids()
            by_pid = {p.pid: p.exec_id for p in pids}
            assert task.pid in by_pid
            assert by_pid[sleeper.pid] == "sleeper"
            with pytest.raises(errors.FailedPrecondition):
                await sleeper.delete()
            await sleeper.send_signal("KILL")
            assert (await sleeper.wait()).code == 128 + signal.SIGKILL
        # The process context deleted it: it no longer exists.
        with pytest.raises(errors.NotFound):
            await sleeper.status()
    await c.delete()


async def test_exec_pipes_like_anyio_process(host_container: HostContainer) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        await task.start()
        async with await task.exec(
            ["sh", "-c", "tr a-z A-Z; echo bye >&2"], stdio=stdio.pipes()
        ) as p:
            assert p.stdin is not None
            assert p.stdout is not None
            assert p.stderr is not None
            await p.stdin.send(b"hello exec\n")
            await p.stdin.aclose()  # closing the stream gives EOF, like anyio
            out = b"".join([chunk async for chunk in p.stdout])
            err = b"".join([chunk async for chunk in p.stderr])
            assert (await p.wait()).code == 0
        assert out == b"HELLO EXEC\n"
        assert err == b"bye\n"
    await c.delete()


async def test_exec_run(host_container: HostContainer) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        await task.start()
        result = await task.exec_run(
            ["sh", "-c", "echo $GREETING from $(pwd); cat; exit 2"],
            stdin=b"input",
            env={"GREETING": "hi"},
            cwd="/tmp",
        )
        assert result.code == 2
        assert result.stdout == b"hi from /tmp\ninput"
        with pytest.raises(errors.ExitCodeError) as info:
            await task.exec_run(["sh", "-c", "echo oops >&2; exit 9"], check=True)
        assert info.value.code == 9
        assert info.value.result.stderr == b"oops\n"
        with pytest.raises(errors.DeadlineExceeded):  # a TimeoutError, as any timeout=
            await task.exec_run(["sleep", "1000"], timeout=0.2)
        # Only the init process is left.
        assert [p.pid for p in await task.pids()] == [task.pid]
    await c.delete()


async def test_exec_missing_binary_fails_fast(host_container: HostContainer) -> None:
    c = await host_container(["sleep", "1000"])
    before = fifo_dirs()
    async with await c.new_task() as task:
        await task.start()
        with anyio.fail_after(30), pytest.raises(errors.RPCError, match="nope"):
            await task.exec(["/nope"], stdio=stdio.capture())
        assert fifo_dirs() == before
        assert [p.pid for p in await task.pids()] == [task.pid]
    await c.delete()


async def test_exec_bad_arguments(host_container: HostContainer) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        await task.start()
        with pytest.raises(ValueError, match="args"):
            await task.exec([])
        with pytest.raises(errors.InvalidArgument, match="bad id!"):
            await task.exec(["true"], id="bad id!")
        # Names are looked up in the spec's root directory (this container has no image).
        with pytest.raises(errors.InvalidArgument, match="no user 'ghost'"):
            await task.exec(["true"], user="ghost")
        # Environment, args and cwd are checked as specs' are, before any call.
        with pytest.raises(errors.InvalidArgument, match="'A=B'"):
            await task.exec(["true"], env={"A=B": "1"})
        with pytest.raises(TypeError, match="not 'A=B'"):
            await task.exec(["true"], env="A=B")  # type: ignore[arg-type]
        for bad in ({"A": "x\0y"}, ["A\0=1"]):
            with pytest.raises(errors.InvalidArgument, match="NUL"):
                await task.exec(["true"], env=bad)
        with pytest.raises(errors.InvalidArgument, match="NUL"):
            await task.exec(["echo", "a\0b"])
        with pytest.raises(errors.InvalidArgument, match="NUL"):
            await task.exec(["true"], cwd="/tmp\0x")
        assert len(await task.pids()) == 1  # nothing reached the shim
        # A bare NAME in a list unsets the variable, as in specs.
        assert b"PATH=" in (await task.exec_run(["/bin/env"])).stdout
        r = await task.exec_run(["/bin/env"], env=["PATH", "X=1"])
        assert b"PATH=" not in r.stdout
        assert b"X=1\n" in r.stdout
    await c.delete()


async def test_process_kill_terminate_like_anyio(host_container: HostContainer) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        await task.start()
        async with await task.exec(["sleep", "1000"]) as p:
            await p.kill(signal.SIGKILL)
            assert (await p.wait()).code == 128 + signal.SIGKILL
            assert p.exit_status is not None
            assert p.exit_status.signal is signal.SIGKILL
        script = "trap 'exit 42' TERM; echo ready; sleep 1000 & wait"
        async with await task.exec(["sh", "-c", script], stdio=stdio.pipes()) as p:
            assert p.stdout is not None
            assert await p.stdout.receive() == b"ready\n"  # the trap is set
            await p.terminate()
            assert (await p.wait()).code == 42
    await c.delete()


async def test_load_process_gives_a_handle_on_an_existing_exec(
    host_container: HostContainer,
) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        await task.start()
        started = await task.exec(["sh", "-c", "sleep 1000"], id="loaded")
        again = await (await c.task()).load_process("loaded")
        assert (again.id, again.pid, again.returncode) == ("loaded", started.pid, None)
        await again.kill(signal.SIGKILL)
        assert (await started.wait()).code == 128 + signal.SIGKILL
        done = await task.load_process("loaded")  # exited, not yet deleted
        assert done.returncode == 128 + signal.SIGKILL
        assert (await done.delete()).code == 128 + signal.SIGKILL
        with pytest.raises(errors.NotFound):
            await task.load_process("loaded")
        with pytest.raises(errors.InvalidArgument, match="bad/id"):
            await task.load_process("bad/id")
    await c.delete()


async def test_task_and_process_agree_on_kill_wait_and_aclose(
    host_container: HostContainer,
) -> None:
    # kill() sends SIGTERM by default to a task and to an exec process alike
    # (as containerd's Go client and `ctr tasks kill` do); both wait()s give
    # an ExitStatus; both have aclose(), which deletes them.
    script = "trap 'exit 42' TERM; echo ready; sleep 1000 & wait"
    c = await host_container(["sh", "-c", script])
    task = await c.new_task(stdio=stdio.pipes())
    try:
        await task.start()
        assert task.stdout is not None
        assert await task.stdout.receive() == b"ready\n"  # the trap is set
        proc = await task.exec(["sh", "-c", script], stdio=stdio.pipes())
        try:
            assert proc.stdout is not None
            assert await proc.stdout.receive() == b"ready\n"
            await proc.kill()
            proc_status = await proc.wait()
            assert isinstance(proc_status, pycontainerd.ExitStatus)
            assert proc_status.code == 42  # the TERM trap ran: SIGTERM was sent
            assert proc_status == proc.exit_status
            assert proc.returncode == 42
        finally:
            await proc.aclose()
        with pytest.raises(errors.NotFound):
            await proc.status()  # aclose() deleted it
        await task.kill()
        task_status = await task.wait()
        assert isinstance(task_status, pycontainerd.ExitStatus)
        assert task_status.code == 42
    finally:
        await task.aclose()
    with pytest.raises(errors.NotFound):
        await task.status()  # aclose() deleted it
    await proc.aclose()  # closing again is a no-op
    await task.aclose()
    await c.delete()


async def test_load_process_of_an_unstarted_exec_reads_from_start(
    host_container: HostContainer,
) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        await task.start()
        async with await task.exec(
            ["echo", "hi"], id="later", stdio=stdio.pipes(), start=False
        ) as proc:
            again = await task.load_process("later", stdio=stdio.pipes())
            out = bytearray()
            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:

                    async def read() -> None:
                        async for chunk in again.pipes.stdout:
                            out.extend(chunk)

                    tg.start_soon(read)
                    await anyio.wait_all_tasks_blocked()  # created, not started: it waits
                    await again.start()
            assert out == b"hi\n"
            assert (await proc.wait()).code == 0
    await c.delete()


async def test_load_process_of_an_exited_exec_ends_at_once(host_container: HostContainer) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        await task.start()
        async with await task.exec(["echo", "hi"], id="done", stdio=stdio.capture()) as proc:
            assert (await proc.wait()).code == 0
            again = await task.load_process("done", stdio=stdio.pipes())
            with anyio.fail_after(5), pytest.raises(anyio.EndOfStream):
                await again.pipes.stdout.receive()  # its shim closed the FIFO: no writer comes
    await c.delete()
