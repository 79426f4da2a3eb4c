"""Cancel every long operation midway: nothing may be left behind.

Each test takes stock of tasks, containers, snapshots, leases, FIFO
directories and this process's open file descriptors, cancels an operation
at several points (the delays only spread the cancellation over the
operation's phases; no assertion depends on where it lands), and checks the
stock is unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from _taskutil import HostContainer, fifo_dirs, open_fds, runtime_stock

import pycontainerd
from pycontainerd import stdio, testing

pytestmark = pytest.mark.anyio

DELAYS = [0, 0.001, 0.003, 0.01, 0.02, 0.05, 0.1, 0.2]


@asynccontextmanager
async def nothing_left(client: pycontainerd.Client) -> AsyncIterator[None]:
    await client.version()  # the connection's own fd is open before counting
    stock = runtime_stock(await testing.inventory(client))
    dirs = fifo_dirs()
    fds = open_fds()
    yield
    assert runtime_stock(await testing.inventory(client)) == stock
    assert fifo_dirs() == dirs
    assert open_fds() == fds


async def test_cancel_run_at_every_phase(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    for delay in [*DELAYS, 0.4]:
        async with nothing_left(containerd_client):
            with anyio.move_on_after(delay) as scope:
                await containerd_client.run(
                    busybox_image, ["sh", "-c", "echo started; sleep 1000"], stdin=b"x"
                )
            assert scope.cancelled_caught


async def test_cancel_while_creating_and_starting(
    containerd_client: pycontainerd.Client, host_container: HostContainer
) -> None:
    c = await host_container(["sleep", "1000"])
    for delay in DELAYS:
        async with nothing_left(containerd_client):
            with anyio.move_on_after(delay):
                async with await c.new_task(stdio=stdio.pipes()) as task:
                    await task.start()
                    await anyio.sleep_forever()
    await c.delete()


async def test_cancel_while_waiting(
    containerd_client: pycontainerd.Client, host_container: HostContainer
) -> None:
    c = await host_container(["sleep", "1000"])
    async with nothing_left(containerd_client):
        with anyio.CancelScope() as scope:
            async with await c.new_task(stdio=stdio.capture()) as task:
                await task.start()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(task.wait)
                    await anyio.wait_all_tasks_blocked()
                    scope.cancel()
        assert scope.cancelled_caught
    await c.delete()


async def test_cancel_while_exec_ing(
    containerd_client: pycontainerd.Client, host_container: HostContainer
) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        await task.start()
        for delay in DELAYS:
            async with nothing_left(containerd_client):
                with anyio.move_on_after(delay):
                    await task.exec_run(["sh", "-c", "echo hi; sleep 1000"], stdin=b"in")
                with anyio.move_on_after(delay):
                    async with await task.exec(["cat"], stdio=stdio.pipes()) as proc:
                        await proc.wait()
                assert [p.pid for p in await task.pids()] == [task.pid]
    await c.delete()


async def test_cancel_while_reading_output(
    containerd_client: pycontainerd.Client, host_container: HostContainer
) -> None:
    c = await host_container(["yes", "some output"])
    async with nothing_left(containerd_client):
        with anyio.CancelScope() as scope:
            async with await c.new_task(stdio=stdio.pipes()) as task:
                await task.start()
                assert task.stdout is not None
                received = 0
                async for chunk in task.stdout:
                    received += len(chunk)
                    if received > 1_000_000:
                        scope.cancel()
        assert scope.cancelled_caught
        assert await containerd_client.tasks.list() == []
    async with nothing_left(containerd_client):
        # Capture keeps reading inside wait(): cancel that too.
        with anyio.move_on_after(0.3) as scope:
            async with await c.new_task(stdio=stdio.capture()) as task:
                await task.start()
                await task.wait()
        assert scope.cancelled_caught
    await c.delete()
