"""S4: write a 64 MiB random blob through Content.Write, read it back, delete (under a lease)."""

from __future__ import annotations

import hashlib
import os
import resource
import time
from typing import Any

import pycontainerd

from . import Scenario

SIZE = 64 << 20


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(client: pycontainerd.Client, n: int) -> dict[str, Any]:
    data = bytearray(os.urandom(SIZE))
    write_rates: list[float] = []
    read_rates: list[float] = []
    cpu = 0.0
    async with client.leases.lease() as leased:
        content = leased.content
        for i in range(n):
            data[:16] = os.urandom(16)  # a unique digest per iteration
            blob = bytes(data)
            digest = "sha256:" + hashlib.sha256(blob).hexdigest()  # as the reference does
            c0 = time.process_time()
            t0 = time.perf_counter()
            await content.write(f"bench-{os.getpid()}-{i}", blob, expected=digest)
            t1 = time.perf_counter()
            back = await content.read(digest)
            t2 = time.perf_counter()
            cpu += time.process_time() - c0
            if back != blob:
                raise RuntimeError("read back differs")
            del back
            write_rates.append(SIZE / (t1 - t0) / 1e6)
            read_rates.append(SIZE / (t2 - t1) / 1e6)
            await content.delete(digest)
    write_rates.sort()
    read_rates.sort()
    return {
        "write_MBps": write_rates[len(write_rates) // 2],
        "read_MBps": read_rates[len(read_rates) // 2],
        "client_cpu_ms_per_op": cpu / n * 1e3,
        # the loop itself holds 3 x 64 MiB (the buffer, the blob, the blob read back)
        "peak_rss_mib": _rss_mib(),
    }


SCENARIO = Scenario(
    name="S4",
    description="N x write a 64 MiB blob (1 MiB chunks, under a lease), read it back, delete",
    namespace="bench-s4",
    default_n=5,
    sdk=run,
    go=["S4", "{n}"],
    figures=["write_MBps", "read_MBps", "client_cpu_ms_per_op", "peak_rss_mib"],
)
