"""S5: N sequential /bin/true lifecycles (snapshot + container, task, start, wait, delete)."""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

import pycontainerd

from . import Scenario
from ._lifecycle import IMAGE, ctr_run, ensure_busybox, rss_mib, run_once


async def run(client: pycontainerd.Client, n: int) -> dict[str, Any]:
    image = await client.images.get(IMAGE)
    u = uuid.uuid4().hex[:8]
    c0 = time.process_time()
    t0 = time.perf_counter()
    lat = [await run_once(client, image, f"s5-{u}-{i}") for i in range(n)]
    elapsed = time.perf_counter() - t0
    return {
        "elapsed": elapsed,
        "per_op_ms": elapsed / n * 1e3,
        "p50_ms": statistics.median(lat) * 1e3,
        "client_cpu_ms_per_op": (time.process_time() - c0) / n * 1e3,
        "peak_rss_mib": rss_mib(),
    }


SCENARIO = Scenario(
    name="S5",
    description="N sequential /bin/true task lifecycles (vs Go client and ctr run --rm)",
    namespace="default",
    default_n=20,
    sdk=run,
    go=["S5", "{n}"],
    others={"ctr-run-rm": ctr_run},
    setup=ensure_busybox,
    figures=["per_op_ms", "p50_ms", "client_cpu_ms_per_op"],
)
