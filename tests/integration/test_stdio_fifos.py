"""Where FIFOs live and when they go (issue #15): any handle's delete, collection, safe roots."""

from __future__ import annotations

import errno
import gc
import os
import signal
import stat
import warnings
from pathlib import Path

import anyio
import pytest
from _taskutil import HostContainer, fifo_dirs, open_fds

import pycontainerd
from pycontainerd import errors, stdio
from pycontainerd.testing import ContainerdDaemon

pytestmark = pytest.mark.anyio


def collect_expecting_warnings() -> list[str]:
    """Run the garbage collector; the messages of the ResourceWarnings it caused."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


async def test_fifos_are_0600_in_a_0700_dir_under_the_clients_root(
    containerd_client: pycontainerd.Client,
    containerd_daemon: ContainerdDaemon,
    host_container: HostContainer,
) -> None:
    # The test client's root is the private daemon's own FIFO directory.
    assert containerd_client.fifo_dir == str(containerd_daemon.fifo_dir)
    assert containerd_daemon.fifo_dir.parent == containerd_daemon.directory
    c = await host_container(["sleep", "1000"])
    before = fifo_dirs()
    async with await c.new_task(stdio=stdio.pipes()) as task:
        await task.start()
        async with await task.exec(["true"], stdio=stdio.capture(), id="probe") as proc:
            new = fifo_dirs() - before
            assert {os.path.dirname(d) for d in new} == {str(containerd_daemon.fifo_dir)}
            assert len(new) == 2
            modes = {}
            for directory in new:
                assert stat.S_IMODE(os.lstat(directory).st_mode) == 0o700
                for name in os.listdir(directory):
                    st = os.lstat(os.path.join(directory, name))
                    assert stat.S_ISFIFO(st.st_mode)
                    modes[name] = stat.S_IMODE(st.st_mode)
            assert modes == {
                f"{c.id}-stdin": 0o600,
                f"{c.id}-stdout": 0o600,
                f"{c.id}-stderr": 0o600,
                "probe-stdout": 0o600,
                "probe-stderr": 0o600,
            }
            await proc.wait()
    assert fifo_dirs() == before
    await c.delete()


async def test_deleting_through_another_handle_releases_the_fifos(
    containerd_client: pycontainerd.Client, host_container: HostContainer
) -> None:
    c = await host_container(["sleep", "1000"])
    dirs, fds = fifo_dirs(), open_fds()
    task = await c.new_task(stdio=stdio.pipes())
    await task.start()
    first = await task.exec(["sleep", "1000"], stdio=stdio.capture())
    second = await task.exec(["sleep", "1000"], stdio=stdio.pipes())
    assert len(fifo_dirs() - dirs) == 3

    # An exec process deleted through a handle loaded from another task handle.
    other_task = await containerd_client.tasks.get(c.id)
    other_first = await other_task.load_process(first.id)
    await other_first.kill(signal.SIGKILL)
    await other_first.wait()
    await other_first.delete()
    assert len(fifo_dirs() - dirs) == 2

    # The task deleted through another handle: its exec process's FIFOs go too.
    await (await containerd_client.tasks.get(c.id)).delete(force=True)
    assert fifo_dirs() == dirs
    assert open_fds() == fds
    with pytest.raises(anyio.ClosedResourceError):
        await task.pipes.stdout.receive()
    with pytest.raises(anyio.ClosedResourceError):
        await second.pipes.stdin.send(b"x")
    # The first handles find nothing left to do.
    for handle in (first, second, task):
        await handle.aclose()
    await c.delete()


async def test_a_wait_collecting_output_ends_when_another_handle_deletes(
    containerd_client: pycontainerd.Client, host_container: HostContainer
) -> None:
    c = await host_container(["sh", "-c", "echo started; exec sleep 1000"])
    dirs = fifo_dirs()
    async with await c.new_task(stdio=stdio.capture()) as task:
        await task.start()
        statuses: list[pycontainerd.ExitStatus] = []
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:

                async def wait() -> None:
                    statuses.append(await task.wait())  # copies the output meanwhile

                tg.start_soon(wait)
                await anyio.wait_all_tasks_blocked()
                await (await containerd_client.tasks.get(c.id)).delete(force=True)
        assert [s.code for s in statuses] == [128 + signal.SIGKILL]
        assert fifo_dirs() == dirs
    await c.delete()


async def test_a_dropped_handle_releases_its_fifos_with_a_resource_warning(
    containerd_client: pycontainerd.Client, host_container: HostContainer
) -> None:
    c = await host_container(["sh", "-c", "echo hello; exec sleep 1000"])
    dirs, fds = fifo_dirs(), open_fds()
    task = await c.new_task(stdio=stdio.pipes())
    await task.start()
    pipes = task.pipes
    del task
    # The streams keep what they read from alive: nothing is released under a reader.
    assert collect_expecting_warnings() == []
    assert await pipes.stdout.receive() == b"hello\n"
    assert len(fifo_dirs() - dirs) == 1
    del pipes
    assert collect_expecting_warnings() == [
        f"unclosed FIFOs of task {c.id!r} in namespace {containerd_client.namespace!r}"
    ]
    assert fifo_dirs() == dirs
    assert open_fds() == fds

    # An exec process's handle, dropped before it was started.
    task = await containerd_client.tasks.get(c.id)
    proc = await task.exec(["true"], stdio=stdio.capture(), start=False, id="dropped")
    del proc
    assert collect_expecting_warnings() == [
        f"unclosed FIFOs of exec process 'dropped' of task {c.id!r} in namespace "
        f"{containerd_client.namespace!r}"
    ]
    assert fifo_dirs() == dirs
    await task.delete(force=True)
    await c.delete()


async def test_many_tasks_deleted_elsewhere_or_dropped_leave_no_fifo_dirs(
    containerd_client: pycontainerd.Client, host_container: HostContainer
) -> None:
    # What a test session did before #15: each of these left its pycontainerd-* directory.
    dirs = fifo_dirs()
    for i in range(24):
        c = await host_container(["true"])
        task = await c.new_task(stdio=stdio.capture() if i % 2 else stdio.pipes())
        await task.start()
        if i % 3:
            other = await containerd_client.tasks.get(c.id)
            await other.wait()
            await other.delete()
        else:
            del task
            collect_expecting_warnings()
            await (await containerd_client.tasks.get(c.id)).delete(force=True)
        await c.delete()
    assert fifo_dirs() == dirs


async def test_a_fifo_dir_of_the_stdio(
    containerd_client: pycontainerd.Client, host_container: HostContainer, tmp_path: Path
) -> None:
    root = tmp_path / "nested" / "fifos"  # made, 0700, as Go's MkdirAll(root, 0700)
    c = await host_container(["sh", "-c", "cat; echo err >&2"])
    async with await c.new_task(stdio=stdio.pipes(fifo_dir=root)) as task:
        assert stat.S_IMODE(root.stat().st_mode) == 0o700
        [made] = list(root.iterdir())
        assert made.name.startswith("pycontainerd-")
        await task.start()
        await task.pipes.stdin.send(b"through the fifo dir\n")
        await task.pipes.stdin.aclose()
        out = b"".join([chunk async for chunk in task.pipes.stdout])
        err = b"".join([chunk async for chunk in task.pipes.stderr])
        assert (await task.wait()).code == 0
    assert (out, err) == (b"through the fifo dir\n", b"err\n")
    assert list(root.iterdir()) == []
    await c.delete()


async def test_an_unsafe_fifo_root_is_refused_before_any_call(
    containerd_client: pycontainerd.Client, host_container: HostContainer, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o700)
    os.chown(foreign, 65534, 65534)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "ok", target_is_directory=True)
    (tmp_path / "ok").mkdir(mode=0o700)

    c = await host_container(["sleep", "1000"])
    dirs, fds = fifo_dirs(), open_fds()
    cases = [
        (shared, "writable by its group or others \\(mode 0777\\)"),
        (foreign, "owned by uid 65534"),
        (link, "symbolic link"),
    ]
    for root, reason in cases:
        with pytest.raises(errors.UnsafeFifoDir, match=reason) as caught:
            await c.new_task(stdio=stdio.capture(fifo_dir=root))
        assert caught.value.path == str(root)
        with pytest.raises(errors.NotFound):
            await c.task()  # refused before Tasks.Create
    async with await c.new_task() as task:
        await task.start()
        with pytest.raises(errors.UnsafeFifoDir):
            await task.exec(["true"], stdio=stdio.pipes(fifo_dir=shared), id="refused")
        with pytest.raises(errors.NotFound):
            await task.load_process("refused")  # refused before Tasks.Exec
    assert list(shared.iterdir()) == list(foreign.iterdir()) == list(link.iterdir()) == []
    assert fifo_dirs() == dirs
    assert open_fds() == fds
    await c.delete()


async def test_reattaching_does_not_follow_a_replaced_fifo(
    containerd_client: pycontainerd.Client, host_container: HostContainer, tmp_path: Path
) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task(stdio=stdio.pipes()) as task:
        await task.start()
        status = await task.status()
        assert status.pid == task.pid
        stdout = task.pipes.stdout
        assert isinstance(stdout, stdio.FifoReceiveStream)
        path = stdout._name
        decoy = tmp_path / "decoy"
        os.mkfifo(decoy, 0o600)
        os.unlink(path)
        os.symlink(decoy, path)  # another user's swap, say
        attached = await containerd_client.tasks.get(c.id, stdio=stdio.pipes())
        with pytest.raises(anyio.EndOfStream):  # no stdout FIFO there: nothing opened
            await attached.pipes.stdout.receive()
        with pytest.raises(OSError, match="No such device") as caught:  # nobody reads the decoy
            os.open(decoy, os.O_WRONLY | os.O_NONBLOCK)
        assert caught.value.errno == errno.ENXIO
    await c.delete()
