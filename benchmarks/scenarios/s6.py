"""S6: N rounds of 20 concurrent /bin/true lifecycles."""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

import anyio

import pycontainerd

from . import Scenario
from ._lifecycle import IMAGE, ensure_busybox, rss_mib, run_once

PARALLEL = 20


async def run(client: pycontainerd.Client, n: int) -> dict[str, Any]:
    image = await client.images.get(IMAGE)
    u = uuid.uuid4().hex[:8]
    lat: list[float] = []
    rounds: list[float] = []

    async def one(cid: str) -> None:
        lat.append(await run_once(client, image, cid))

    c0 = time.process_time()
    t0 = time.perf_counter()
    for r in range(n):
        tr = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for j in range(PARALLEL):
                tg.start_soon(one, f"s6-{u}-{r}-{j}")
        rounds.append(time.perf_counter() - tr)
    elapsed = time.perf_counter() - t0
    ops = n * PARALLEL
    return {
        "elapsed": elapsed,
        "per_op_ms": elapsed / ops * 1e3,
        "ops_per_s": ops / elapsed,
        "round_p50_s": statistics.median(rounds),
        "task_p50_ms": statistics.median(lat) * 1e3,
        "client_cpu_ms_per_op": (time.process_time() - c0) / ops * 1e3,
        "peak_rss_mib": rss_mib(),
    }


SCENARIO = Scenario(
    name="S6",
    description="N rounds of 20 concurrent /bin/true task lifecycles",
    namespace="default",
    default_n=3,
    sdk=run,
    go=["S6", "{n}"],
    setup=ensure_busybox,
    figures=["ops_per_s", "round_p50_s", "task_p50_ms", "client_cpu_ms_per_op"],
)
