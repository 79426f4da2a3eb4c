"""CKPT: checkpoint a small running container (its task), then restore it live into a new one.

Each operation: ``Container.checkpoint(ref, task=True, image=False, rw=False)``,
then ``client.restore`` and ``new_task(checkpoint=...)`` + ``start``: what
``ctr containers checkpoint --task ID REF`` and ``ctr containers restore --live
NEW REF`` do (ctr a process per command, as a shell user runs it). The
container to dump is started before, and everything removed after, outside
the timings. The daemon runs the CRIU of `pycontainerd.testing.debian_criu`.
"""

from __future__ import annotations

import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import anyio

import pycontainerd
from pycontainerd import oci
from pycontainerd.testing import ContainerdDaemon, debian_criu

from . import Scenario
from ._lifecycle import IMAGE, ensure_busybox

NAMESPACE = "ckpt"
# A shell that counts: a few MiB of memory for CRIU to dump.
COUNT = "i=0; while true; do i=$((i+1)); echo $i >/tmp/n; sleep 0.05; done"


async def _running(client: pycontainerd.Client, container_id: str) -> pycontainerd.Container:
    image = await client.images.get(IMAGE)
    spec = oci.Spec.from_image(
        await image.config(), args=["sh", "-c", COUNT], namespace=client.namespace, id=container_id
    )
    container = await client.containers.create(container_id, image=image, spec=spec)
    task = await container.new_task()
    await task.start()
    return container


async def _remove(client: pycontainerd.Client, ids: list[str], ref: str) -> None:
    for container_id in ids:
        container = await client.containers.get(container_id)
        task = await container.task()
        await task.kill(9)
        await task.wait()
        await task.delete()
        await container.delete()
    await client.images.delete(ref, sync=True)


async def run(client: pycontainerd.Client, n: int) -> dict[str, Any]:
    u = uuid.uuid4().hex[:8]
    checkpoints, restores = [], []
    for i in range(n):
        source, target, ref = f"ck-{u}-{i}", f"rs-{u}-{i}", f"checkpoints/{u}:{i}"
        container = await _running(client, source)
        t0 = time.perf_counter()
        checkpoint = await container.checkpoint(ref, task=True, image=False, rw=False)
        t1 = time.perf_counter()
        restored = await client.restore(target, checkpoint)
        task = await restored.new_task(checkpoint=checkpoint)
        await task.start()
        t2 = time.perf_counter()
        checkpoints.append(t1 - t0)
        restores.append(t2 - t1)
        await _remove(client, [source, target], ref)
    return _figures(checkpoints, restores)


def ctr(daemon: ContainerdDaemon, n: int) -> dict[str, Any]:
    u = uuid.uuid4().hex[:8]
    base = ["ctr", "-a", daemon.address, "-n", NAMESPACE]
    checkpoints, restores = [], []

    async def with_client(job: Any, *args: Any) -> Any:
        async with pycontainerd.Client(daemon.address, namespace=NAMESPACE) as client:
            return await job(client, *args)

    for i in range(n):
        source, target, ref = f"ctr-ck-{u}-{i}", f"ctr-rs-{u}-{i}", f"checkpoints/ctr-{u}:{i}"
        anyio.run(with_client, _running, source)
        t0 = time.perf_counter()
        subprocess.run([*base, "containers", "checkpoint", "--task", source, ref], check=True)
        t1 = time.perf_counter()
        subprocess.run([*base, "containers", "restore", "--live", target, ref], check=True)
        t2 = time.perf_counter()
        checkpoints.append(t1 - t0)
        restores.append(t2 - t1)
        anyio.run(with_client, _remove, [source, target], ref)
    return _figures(checkpoints, restores)


def _figures(checkpoints: list[float], restores: list[float]) -> dict[str, Any]:
    return {
        "per_op_ms": statistics.mean(c + r for c, r in zip(checkpoints, restores, strict=True))
        * 1e3,
        "checkpoint_ms": statistics.median(checkpoints) * 1e3,
        "restore_ms": statistics.median(restores) * 1e3,
    }


def _criu() -> list[Path]:
    return [debian_criu()]


SCENARIO = Scenario(
    name="CKPT",
    description="checkpoint a running container's task, restore it live into a new one (vs ctr)",
    namespace=NAMESPACE,
    default_n=5,
    sdk=run,
    others={"ctr": ctr},
    setup=ensure_busybox,
    figures=["per_op_ms", "checkpoint_ms", "restore_ms"],
    path=_criu,
)
