"""S2raw: create + delete N containers (metadata only, the reference's small spec)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pycontainerd
from pycontainerd.testing import ContainerdDaemon

from . import Scenario
from ._lifecycle import go, rss_mib, small_spec


async def run(client: pycontainerd.Client, n: int) -> dict[str, Any]:
    spec = small_spec()
    await client.version()
    u = uuid.uuid4().hex[:8]
    c0 = time.process_time()
    t0 = time.perf_counter()
    for i in range(n):
        # The SDK's own path: create, then Container.delete (which also checks
        # that no task exists, as the Go client's Delete does).
        container = await client.containers.create(f"s2-{u}-{i}", spec=spec)
        await container.delete()
    elapsed = time.perf_counter() - t0
    return {
        "elapsed": elapsed,
        "per_op_ms": elapsed / n * 1e3,
        "client_cpu_ms_per_op": (time.process_time() - c0) / n * 1e3,
        "peak_rss_mib": rss_mib(),
    }


def go_high_level(daemon: ContainerdDaemon, n: int) -> dict[str, Any]:
    return go(daemon, "S2", str(n))  # NewContainer + Container.Delete


SCENARIO = Scenario(
    name="S2raw",
    description="N x container create + delete (SDK; Go raw service calls and Go NewContainer)",
    namespace="bench-s2",
    default_n=500,
    sdk=run,
    go=["S2raw", "{n}"],
    others={"go-S2": go_high_level},
    figures=["per_op_ms", "client_cpu_ms_per_op"],
)
