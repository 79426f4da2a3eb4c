"""S1: sequential Version calls (the floor of one unary round trip)."""

from __future__ import annotations

import resource
import time
from typing import Any

import pycontainerd

from . import Scenario


async def run(client: pycontainerd.Client, n: int) -> dict[str, Any]:
    await client.version()  # warm the connection, as the reference does
    c0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(n):
        await client.version()
    elapsed = time.perf_counter() - t0
    return {
        "elapsed": elapsed,
        "per_op_ms": elapsed / n * 1e3,
        "client_cpu_ms_per_op": (time.process_time() - c0) / n * 1e3,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


SCENARIO = Scenario(
    name="S1",
    description="N sequential version() calls",
    namespace="bench",
    default_n=2000,
    sdk=run,
    go=["S1", "{n}"],
    figures=["per_op_ms", "client_cpu_ms_per_op"],
)
