"""S7recv: the typed event stream receiving a burst another process publishes.

The Go reference's ``S7gen`` publishes N ``ContainerCreate`` events on
``/bench/ev`` in namespace ``bench-s7r`` from 8 goroutines. The SDK side
subscribes with ``client.events.subscribe`` (typed envelopes, default buffer),
starts the generator once the stream is live and counts the events; the Go
side is the reference's own ``S7recv`` receiver against the same generator.
Both report events per second from the first event to the last.
"""

from __future__ import annotations

import json
import resource
import subprocess
import time
from typing import Any

import anyio

import pycontainerd
from pycontainerd import events
from pycontainerd.events import filters
from pycontainerd.testing import ContainerdDaemon

from . import Scenario


def _gen_command(address: str, n: int) -> list[str]:
    from run import REFERENCE, ensure_ctdbench

    return [str(ensure_ctdbench()), "-a", address, "-d", str(REFERENCE), "S7gen", str(n)]


async def run(client: pycontainerd.Client, n: int) -> dict[str, Any]:
    command = _gen_command(client.address, n)
    got = 0
    t_first = c_first = 0.0
    async with client.events.subscribe(filters.topic("/bench/ev")) as stream:
        async with await anyio.open_process(command, stdout=subprocess.DEVNULL) as gen:
            async for envelope in stream:
                if got == 0:
                    t_first, c_first = time.perf_counter(), time.process_time()
                assert isinstance(envelope.event, events.ContainerCreate)
                got += 1
                if got == n:
                    break
            elapsed = time.perf_counter() - t_first
            cpu = time.process_time() - c_first
            await gen.wait()
    return {
        "elapsed": elapsed,
        "events": n,
        "events_per_s": (n - 1) / elapsed,
        "client_cpu_ms_per_op": cpu / n * 1e3,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def go_receiver(daemon: ContainerdDaemon, n: int) -> dict[str, Any]:
    from run import REFERENCE, ensure_ctdbench

    recv = subprocess.Popen(
        [str(ensure_ctdbench()), "-a", daemon.address, "-d", str(REFERENCE), "S7recv", str(n)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert recv.stderr is not None
    for line in recv.stderr:
        if line.strip() == "READY":
            break
    else:
        raise RuntimeError(f"S7recv never became ready: {recv.wait()}")
    subprocess.run(_gen_command(daemon.address, n), check=True, stdout=subprocess.DEVNULL)
    out, _ = recv.communicate(timeout=180)
    if recv.returncode:
        raise RuntimeError(f"S7recv failed with {recv.returncode}")
    return dict(json.loads(out.strip().splitlines()[-1]))


SCENARIO = Scenario(
    name="S7recv",
    description="typed event stream receiving N events published by another process (S7gen)",
    namespace="bench-s7r",
    default_n=20000,
    sdk=run,
    others={"go": go_receiver},
    figures=["events_per_s", "client_cpu_ms_per_op"],
)
