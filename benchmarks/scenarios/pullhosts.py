"""PULLHOSTS: the PULL image through a hosts configuration (a mirror), against the same pull without.

The image is pulled as ``mirror.invalid/bench/big:v1``, a name that does
not resolve, with a ``hosts.toml`` that sends it to the local registry as a
mirror (``pull`` and ``resolve``): every request goes through the hosts
lookup and the mirror's own client. The references: the same pull by the
registry's own name without a configuration (``local=True`` on both, so
both run in this process on every release), and ``ctr images pull
--hosts-dir`` with the same directory. Same registry, image and cold
namespace as PULL.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import anyio

import pycontainerd
from pycontainerd.registry import Hosts, Reference
from pycontainerd.testing import ContainerdDaemon

from . import Scenario
from .pull import NAMESPACE, _clean, _figures, _state, cold, setup

MIRRORED = "mirror.invalid"


def _hosts_dir() -> Path:
    """The hosts directory for `MIRRORED`, made once, beside the registry's storage."""
    directory: Path = _state["work"] / "certs.d"
    host = Reference.parse(_state["ref"]).domain
    (directory / MIRRORED).mkdir(parents=True, exist_ok=True)
    (directory / MIRRORED / "hosts.toml").write_text(
        f'[host."http://{host}"]\n  capabilities = ["pull", "resolve"]\n'
    )
    return directory


def _mirrored_ref() -> str:
    return f"{MIRRORED}/{Reference.parse(_state['ref']).path}:v1"


async def run(client: pycontainerd.Client, n: int) -> dict[str, Any]:
    times = []
    for _ in range(n):
        await cold(client)
        t0 = time.perf_counter()
        # Read the directory each time, as a command line would.
        hosts = Hosts.from_directory(_hosts_dir())
        await client.pull(_mirrored_ref(), hosts=hosts, local=True)
        times.append(time.perf_counter() - t0)
    return _figures(sum(times) / len(times))


async def _without(address: str, n: int) -> dict[str, Any]:
    async with pycontainerd.Client(address, namespace=NAMESPACE) as client:
        times = []
        for _ in range(n):
            await cold(client)
            t0 = time.perf_counter()
            await client.pull(_state["ref"], local=True, insecure=True)
            times.append(time.perf_counter() - t0)
    return _figures(sum(times) / len(times))


def without(daemon: ContainerdDaemon, n: int) -> dict[str, Any]:
    return anyio.run(_without, daemon.address, n)


def ctr_hosts(daemon: ContainerdDaemon, n: int) -> dict[str, Any]:
    times = []
    for _ in range(n):
        anyio.run(_clean, daemon.address)
        t0 = time.perf_counter()
        subprocess.run(
            ["ctr", "-a", daemon.address, "-n", NAMESPACE, "images", "pull",
             "--hosts-dir", str(_hosts_dir()), _mirrored_ref()],
            check=True,
            capture_output=True,
        )  # fmt: skip
        times.append(time.perf_counter() - t0)
    return _figures(sum(times) / len(times))


SCENARIO = Scenario(
    name="PULLHOSTS",
    description="the PULL image through a hosts.toml mirror vs the same pull without (both local)",
    namespace=NAMESPACE,
    default_n=1,
    sdk=run,
    figures=["elapsed", "mb_s"],
    others={"without": without, "ctr-hosts": ctr_hosts},
    setup=setup,
)
