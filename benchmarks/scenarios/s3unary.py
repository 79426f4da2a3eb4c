"""S3unary: N x list 1000 containers with the unary List."""

from __future__ import annotations

import time
from typing import Any

import pycontainerd

from . import Scenario
from ._lifecycle import rss_mib, small_spec

COUNT = 1000


async def setup(client: pycontainerd.Client) -> None:
    # The same 1000 containers the reference's S3setup makes.
    existing = {c.id for c in await client.containers.list()}
    spec = small_spec()
    for i in range(COUNT):
        cid = f"s3-{i:05d}"
        if cid not in existing:
            await client.containers.create(cid, spec=spec, labels={"bench": "s3", "idx": str(i)})


async def run(client: pycontainerd.Client, n: int) -> dict[str, Any]:
    await client.version()
    c0 = time.process_time()
    t0 = time.perf_counter()
    count = 0
    for _ in range(n):
        count = len(await client.containers.list())  # specs stay undecoded
    elapsed = time.perf_counter() - t0
    assert count == COUNT, count
    return {
        "elapsed": elapsed,
        "per_op_ms": elapsed / n * 1e3,
        "client_cpu_ms_per_op": (time.process_time() - c0) / n * 1e3,
        "peak_rss_mib": rss_mib(),
    }


SCENARIO = Scenario(
    name="S3unary",
    description="N x list 1000 containers (unary List)",
    namespace="bench-s3",
    default_n=50,
    sdk=run,
    go=["S3unary", "{n}"],
    setup=setup,
    figures=["per_op_ms", "client_cpu_ms_per_op"],
)
