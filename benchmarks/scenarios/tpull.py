"""TPULL: the PULL image three ways in one run: client.pull, its in-process path, and ctr.

On containerd 2.x ``client.pull`` has the daemon pull through its transfer
service, as ``ctr`` 2.x does; ``local=True`` keeps the pull in this process
(the only path on 1.6 and 1.7, where the first two columns measure the same
thing). Same registry, image and cold namespace as PULL.
"""

from __future__ import annotations

import time
from typing import Any

import anyio

import pycontainerd
from pycontainerd.testing import ContainerdDaemon

from . import Scenario
from .pull import NAMESPACE, _figures, _state, cold, ctr, run, setup


async def _in_process(address: str, n: int) -> dict[str, Any]:
    async with pycontainerd.Client(address, namespace=NAMESPACE) as client:
        times = []
        for _ in range(n):
            await cold(client)
            t0 = time.perf_counter()
            await client.pull(_state["ref"], local=True, insecure=True)
            times.append(time.perf_counter() - t0)
    return _figures(sum(times) / len(times))


def in_process(daemon: ContainerdDaemon, n: int) -> dict[str, Any]:
    return anyio.run(_in_process, daemon.address, n)


SCENARIO = Scenario(
    name="TPULL",
    description="the PULL image: client.pull (transfer on 2.x) vs local=True vs ctr pull",
    namespace=NAMESPACE,
    default_n=1,
    sdk=run,
    figures=["elapsed", "mb_s"],
    others={"local": in_process, "ctr": ctr},
    setup=setup,
)
