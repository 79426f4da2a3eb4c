"""Ctrl-C in a user's script leaves nothing behind, wherever it lands.

A script written as the README writes one (``anyio.run(main)``, a task in an
``async with`` block, ``finally: await container.delete()``; ``client.run``;
a lease block) runs in a subprocess and sends itself SIGINT right before a
chosen call, so asyncio's own ``Task.cancel()`` lands inside that call,
cleanup calls included. Afterwards the namespace holds only the image, and
no shim of it runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest

import pycontainerd
from pycontainerd.testing import ContainerdDaemon, inventory

pytestmark = pytest.mark.anyio

SCRIPT = Path(__file__).with_name("_interrupted.py")

POINTS = [
    ("task", "Containers/Create"),
    ("task", "Snapshots/Prepare"),
    ("task", "Tasks/Create"),
    ("task", "Tasks/Start"),
    ("task", "Tasks/Wait"),
    ("task", "Tasks/Kill"),
    ("task", "Tasks/Delete"),
    ("task", "Snapshots/Remove"),
    ("task", "Containers/Delete"),
    ("run", "Tasks/Create"),
    ("run", "Tasks/Wait"),
    ("run", "Tasks/Delete"),
    ("run", "Containers/Delete"),
    ("lease", "Leases/Create"),
    ("lease", "Leases/Delete"),
]


def _shims_of(namespace: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"containerd-shim" in args[0] and namespace.encode() in args:
                pids.append(int(entry.name))
    return pids


@pytest.mark.parametrize(("flow", "at"), POINTS, ids=[f"{f}-{a}" for f, a in POINTS])
async def test_ctrl_c_leaves_nothing(
    flow: str,
    at: str,
    containerd_daemon: ContainerdDaemon,
    containerd_client: pycontainerd.Client,
    busybox_image: pycontainerd.Image,
) -> None:
    env = {
        **os.environ,
        "ADDRESS": containerd_daemon.address,
        "NAMESPACE": containerd_client.namespace,
    }
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, str(SCRIPT), flow, at], env=env, check=False
        )
    stderr = done.stderr.decode()
    assert "interrupting at" in stderr, stderr  # the point was reached
    assert "KeyboardInterrupt" in stderr, stderr  # and the script stopped there
    assert "not interrupted" not in stderr
    stock = await inventory(containerd_client)
    assert (stock.tasks, stock.containers, stock.leases, stock.ingests) == ((), (), (), ())
    assert stock.images == (busybox_image.name,)
    # Only the image's own (unpacked) snapshots remain.
    assert all(not key.endswith(("/demo", "/interrupted")) for key in stock.snapshots)
    assert len(stock.snapshots) == 1
    # A deleted task's shim exits shortly after; none may stay. (It is another
    # process: there is no event to wait for, only its entry in /proc.)
    with anyio.fail_after(10):
        while _shims_of(containerd_client.namespace):  # noqa: ASYNC110
            await anyio.sleep(0.05)
