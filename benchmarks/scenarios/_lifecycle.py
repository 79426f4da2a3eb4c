"""Shared pieces of the container/task scenarios (S2raw, S3unary, S5, S6)."""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pycontainerd
from pycontainerd import stdio
from pycontainerd.testing import ContainerdDaemon, busybox_archive

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference-bench"
CTDBENCH = Path("/tmp/ctdbench/ctdbench")
IMAGE = "docker.io/library/busybox:latest"


def small_spec() -> bytes:
    return (REFERENCE / "spec-small.json").read_bytes()


def go(daemon: ContainerdDaemon, *args: str) -> dict[str, Any]:
    """Run the Go reference with other arguments than the scenario's own."""
    out = subprocess.run(
        [str(CTDBENCH), "-a", daemon.address, "-d", str(REFERENCE), *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def ensure_busybox(client: pycontainerd.Client) -> None:
    """The image S5/S6 need, unpacked, in the client's namespace."""
    try:
        image = await client.images.get(IMAGE)
    except pycontainerd.errors.NotFound:
        [image] = await client.images.import_archive(busybox_archive(), unpack=True)
    if not await image.is_unpacked():
        await image.unpack()


async def run_once(
    client: pycontainerd.Client, image: pycontainerd.Image, container_id: str
) -> float:
    """One S5 lifecycle: snapshot + container, task (no stdio), start, exit, delete all."""
    t0 = time.perf_counter()
    spec = pycontainerd.oci.Spec.from_image(
        await image.config(), args=["/bin/true"], namespace=client.namespace, id=container_id
    )
    container = await client.containers.create(container_id, image=image, spec=spec)
    task = await container.new_task(stdio=stdio.null())
    await task.start()
    status = await task.wait()
    if status.code != 0:
        raise RuntimeError(f"exit code {status.code}")
    await task.delete()
    await container.delete()
    return time.perf_counter() - t0


def ctr_run(daemon: ContainerdDaemon, n: int) -> dict[str, Any]:
    """``ctr run --rm`` n times in sequence (a process per run, as a shell user would)."""
    lat = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        subprocess.run(
            [
                "ctr",
                "-a",
                daemon.address,
                "-n",
                "default",
                "run",
                "--rm",
                IMAGE,
                f"ctr-{uuid.uuid4().hex[:8]}-{i}",
                "/bin/true",
            ],
            check=True,
            capture_output=True,
        )
        lat.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - t0
    return {"per_op_ms": elapsed / n * 1e3, "p50_ms": statistics.median(lat) * 1e3}
