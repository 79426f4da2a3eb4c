from __future__ import annotations

import signal
from pathlib import Path

import anyio
import attrs
import pytest
from _taskutil import HostContainer, fifo_dirs

import pycontainerd
import pycontainerd.testing
from pycontainerd import errors, stdio
from pycontainerd._api import _rpc
from pycontainerd._api.containerd.services.tasks.v1 import WaitRequest
from pycontainerd.testing import BUSYBOX_CONFIG, make_busybox_rootfs

pytestmark = pytest.mark.anyio


async def test_exit_code_and_output_from_wait_and_delete(host_container: HostContainer) -> None:
    c = await host_container(["sh", "-c", "echo out; echo err >&2; exit 7"])
    async with await c.new_task(stdio=stdio.capture()) as task:
        assert task.pid > 0
        await task.start()
        status = await task.wait()
        assert status.code == 7
        assert status.exited_at is not None
        assert task.captured_stdout == b"out\n"
        assert task.captured_stderr == b"err\n"
        deleted = await task.delete()
        assert deleted.code == 7
        # Retrying a delete that got through is not an error.
        assert (await task.delete()).code == 7
    await c.delete()


async def test_wait_before_start_repeated_and_concurrent(host_container: HostContainer) -> None:
    c = await host_container(["sh", "-c", "exit 3"])
    results: list[pycontainerd.ExitStatus] = []
    async with await c.new_task() as task:
        async with anyio.create_task_group() as tg:

            async def waiter() -> None:
                results.append(await task.wait())

            for _ in range(5):
                tg.start_soon(waiter)  # waiting before start is valid
            await anyio.wait_all_tasks_blocked()
            await task.start()
        again = await task.wait()
        assert {r.code for r in results} == {3}
        assert len({r.exited_at for r in results}) == 1
        assert again == results[0]
        # Kill after exit: the process is gone.
        with pytest.raises(errors.NotFound):
            await task.kill(signal.SIGKILL)
        assert (await task.status()).state is pycontainerd.TaskState.STOPPED
    await c.delete()


async def test_delete_running_task_and_container_refused(
    containerd_client: pycontainerd.Client, host_container: HostContainer
) -> None:
    c = await host_container(["sleep", "1000"])
    task = await c.new_task()
    await task.start()
    with pytest.raises(errors.FailedPrecondition):
        await task.delete()
    with pytest.raises(errors.FailedPrecondition):
        await c.delete()
    assert [t.container_id for t in await containerd_client.tasks.list()] == [c.id]
    assert (await task.status()).state is pycontainerd.TaskState.RUNNING
    status = await task.delete(force=True)
    assert status.code == 128 + signal.SIGKILL
    assert status.signal is signal.SIGKILL
    assert await containerd_client.tasks.list() == []
    await c.delete()
    assert await containerd_client.containers.list() == []


async def test_missing_binary_fails_fast(
    containerd_client: pycontainerd.Client, host_container: HostContainer
) -> None:
    before = fifo_dirs()
    c = await host_container(["/no/such/binary"])
    with anyio.fail_after(30), pytest.raises(errors.RPCError, match="no/such/binary"):
        await c.new_task(stdio=stdio.capture())
    assert await containerd_client.tasks.list() == []
    assert fifo_dirs() == before
    await c.delete()


async def test_stop_uses_sigterm_then_reaps(host_container: HostContainer) -> None:
    c = await host_container(["sh", "-c", "trap 'exit 143' TERM; echo ready; sleep 1000 & wait"])
    async with await c.new_task(stdio=stdio.pipes()) as task:
        await task.start()
        assert task.stdout is not None
        assert await task.stdout.receive() == b"ready\n"  # the trap is set
        status = await task.stop(grace=20)
        assert status.code == 128 + signal.SIGTERM
        assert (await task.delete()).code == status.code
    await c.delete()


async def test_stop_escalates_to_sigkill(host_container: HostContainer) -> None:
    # The shell ignores SIGTERM; stop() must fall back to SIGKILL.
    c = await host_container(["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"])
    async with await c.new_task(stdio=stdio.pipes()) as task:
        await task.start()
        assert task.stdout is not None
        assert await task.stdout.receive() == b"ready\n"
        status = await task.stop(grace=0.5)
        assert status.code == 128 + signal.SIGKILL
    await c.delete()


async def test_pause_resume_status(host_container: HostContainer) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        assert (await task.status()).state is pycontainerd.TaskState.CREATED
        await task.start()
        await task.pause()
        assert (await task.status()).state is pycontainerd.TaskState.PAUSED
        await task.resume()
        assert (await task.status()).state is pycontainerd.TaskState.RUNNING
    await c.delete()


async def test_metrics_decode(host_container: HostContainer) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        await task.start()
        m = await task.metrics()
        assert m.container_id == c.id
        assert m.type_url.endswith("io.containerd.cgroups.v1.Metrics")
        assert m.pids
        assert m.pids >= 1
        assert m.memory_usage
        assert m.data is not None
    await c.delete()


async def test_update_memory_limit_seen_in_cgroup(host_container: HostContainer) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        await task.start()
        limit = 96 * 1024 * 1024
        await task.update({"memory": {"limit": limit}})
        result = await task.exec_run(["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"])
        assert result.code == 0, result.stderr
        assert int(result.stdout) == limit
        assert (await task.metrics()).memory_limit == limit
    await c.delete()


async def test_reattach_to_running_task(host_container: HostContainer) -> None:
    c = await host_container(["sh", "-c", "read line; echo got $line"])
    async with await c.new_task(stdio=stdio.pipes()) as task:
        await task.start()
        attached = await c.task(stdio=stdio.pipes())
        assert attached.pid == task.pid
        assert attached.stdin is not None
        assert attached.stdout is not None
        await attached.stdin.send(b"hello\n")
        assert await attached.stdout.receive() == b"got hello\n"
        assert (await attached.wait()).code == 0
        await attached.delete()
        with pytest.raises(errors.NotFound):
            await task.delete()  # the other handle deleted it
    await c.delete()


async def test_wait_survives_daemon_restart(
    containerd_daemon: pycontainerd.testing.ContainerdDaemon, host_container: HostContainer
) -> None:
    c = await host_container(["sh", "-c", "read x; exit 5"])
    async with await c.new_task(stdio=stdio.pipes()) as task:
        await task.start()
        async with anyio.create_task_group() as tg:
            statuses: list[pycontainerd.ExitStatus] = []

            async def waiter() -> None:
                statuses.append(await task.wait())

            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            await anyio.to_thread.run_sync(containerd_daemon.restart)
            assert not statuses  # the broken wait was not reported as an exit
            assert task.stdin is not None
            await task.stdin.send(b"go\n")
        assert statuses[0].code == 5
    await c.delete()


async def test_hundred_concurrent_tasks(
    containerd_client: pycontainerd.Client, host_container: HostContainer
) -> None:
    codes: dict[int, int] = {}

    async def one(i: int) -> None:
        c = await host_container(["sh", "-c", f"exit {i % 50}"])
        async with await c.new_task() as task:
            await task.start()
            codes[i] = (await task.wait()).code
        await c.delete()

    async with anyio.create_task_group() as tg:
        for i in range(100):
            tg.start_soon(one, i)
    assert codes == {i: i % 50 for i in range(100)}
    assert await containerd_client.tasks.list() == []


async def test_blocking_unary_call_ends_cleanly_on_deadline_and_cancel(
    host_container: HostContainer, containerd_client: pycontainerd.Client
) -> None:
    """Tasks.Wait blocks in the daemon: a deadline or a cancellation ends it and frees its stream."""
    c = await host_container(["sleep", "30"])
    async with await c.new_task() as task:
        await task.start()
        wait = WaitRequest(container_id=c.id)
        caller = containerd_client._caller
        with pytest.raises(errors.DeadlineExceeded):
            await caller.unary(_rpc.Tasks.Wait, wait, timeout=0.2)
        with anyio.move_on_after(0.2) as scope:
            await caller.unary(_rpc.Tasks.Wait, wait, timeout=None)
        assert scope.cancelled_caught
        channel = containerd_client._transport.channel()
        assert channel._protocol is not None
        assert channel._protocol.processor.streams == {}  # both calls reset and released
        assert (await task.status()).state is pycontainerd.TaskState.RUNNING
    await c.delete()


STOP_SIGNAL_LABEL = "io.containerd.image.config.stop-signal"  # containerd's name for it
TRAPS = "trap 'exit 42' USR1; trap 'exit 43' TERM; echo ready; while :; do sleep 0.05; done"


async def test_stop_sends_the_images_stop_signal(
    containerd_client: pycontainerd.Client, tmp_path: Path
) -> None:
    # The image's StopSignal is recorded on the container as containerd's label (Go's
    # WithImageStopSignal), and Task.stop sends it, also from a handle loaded later.
    config = attrs.evolve(BUSYBOX_CONFIG, cmd=("sh", "-c", TRAPS), stop_signal="SIGUSR1")
    root = make_busybox_rootfs(tmp_path / "rootfs")
    image = await containerd_client.images.create_from_directory(
        "example.com/stop-signal:1", root, config=config
    )
    await image.unpack()
    plain = attrs.evolve(config, stop_signal="")
    image_without = await containerd_client.images.create_from_directory(
        "example.com/stop-signal:none", root, config=plain
    )
    await image_without.unpack()

    cases = [
        ("with-signal", image, {}, "SIGUSR1", 42),
        ("label-given", image, {STOP_SIGNAL_LABEL: "SIGTERM"}, "SIGTERM", 43),  # the caller's wins
        ("no-signal", image_without, {}, None, 43),  # SIGTERM by default
    ]
    for cid, img, labels, recorded, code in cases:
        c = await containerd_client.containers.create(cid, image=img, labels=labels)
        stored = await containerd_client.containers.get(cid)  # as the daemon keeps it
        assert stored.labels.get(STOP_SIGNAL_LABEL) == recorded
        async with await c.new_task(stdio=stdio.pipes()) as task:
            await task.start()
            seen = b""
            with anyio.fail_after(30):
                while b"ready\n" not in seen:  # the traps are set
                    seen += await task.pipes.stdout.receive()
            loaded = await containerd_client.tasks.get(cid)
            with anyio.fail_after(60):
                assert (await loaded.stop(grace=30)).code == code
        await c.delete()
