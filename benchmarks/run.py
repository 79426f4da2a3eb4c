"""Benchmarks: pycontainerd side by side with containerd's Go client.

    python benchmarks/run.py S1 [-n N] [--rounds R] [--containerd debian:sid]
    python benchmarks/run.py --list

Each scenario lives in ``benchmarks/scenarios/<name>.py`` and defines
``SCENARIO``. The runner starts a private containerd (pycontainerd.testing),
builds the Go reference (``../shared/reference-bench``) if needed, then runs
the Go reference and the SDK in alternating rounds against the same daemon and
prints the median of each figure and the ratio SDK / reference.
``--containerd`` picks the daemon (a binary's path, or ``debian:SUITE`` for
Debian's build of that suite, as ``PYCONTAINERD_TEST_CONTAINERD`` does for
the tests); the ``ctr`` beside it is the one the ctr columns run. These
machines are shared and noisy: compare ratios from one run, not absolute
times across runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scenarios import Scenario  # noqa: E402

import pycontainerd  # noqa: E402
from pycontainerd.testing import ContainerdDaemon, debian_containerd  # noqa: E402

REFERENCE = HERE.parent.parent / "shared" / "reference-bench"
CTDBENCH = Path("/tmp/ctdbench/ctdbench")


def scenarios() -> dict[str, Scenario]:
    import scenarios as pkg

    found: dict[str, Scenario] = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"scenarios.{info.name}")
        scenario = getattr(module, "SCENARIO", None)
        if isinstance(scenario, Scenario):
            found[scenario.name] = scenario
    return found


def ensure_ctdbench() -> Path:
    if not CTDBENCH.exists():
        print(f"building the Go reference into {CTDBENCH} ...", file=sys.stderr)
        subprocess.run(["bash", str(REFERENCE / "build.sh"), str(CTDBENCH)], check=True)
    return CTDBENCH


def run_go(daemon: ContainerdDaemon, args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [str(ensure_ctdbench()), "-a", daemon.address, "-d", str(REFERENCE), *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _fmt(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"


def report(name: str, n: int, rows: dict[str, dict[str, list[float]]], keys: list[str]) -> None:
    clients = list(rows)
    print(f"\n{name}  n={n}  rounds={len(next(iter(rows.values()))[keys[0]])}  (medians)")
    header = f"{'figure':<24}" + "".join(f"{c:>14}" for c in clients)
    if "sdk" in rows and len(clients) > 1:
        header += "".join(f"{'sdk/' + c:>14}" for c in clients if c != "sdk")
    print(header)
    for key in keys:
        meds = {c: statistics.median(rows[c][key]) for c in clients if rows[c].get(key)}
        line = f"{key:<24}" + "".join(f"{_fmt(meds[c]) if c in meds else '-':>14}" for c in clients)
        if "sdk" in meds:
            for c in clients:
                if c != "sdk":
                    ratio = meds["sdk"] / meds[c] if meds.get(c) else float("nan")
                    line += f"{ratio:>13.2f}x"
        print(line)


async def _sdk_round(daemon: ContainerdDaemon, scenario: Scenario, n: int) -> dict[str, Any]:
    async with pycontainerd.Client(daemon.address, namespace=scenario.namespace) as client:
        return await scenario.sdk(client, n)


async def _setup(daemon: ContainerdDaemon, scenario: Scenario) -> None:
    async with pycontainerd.Client(daemon.address, namespace=scenario.namespace) as client:
        if scenario.setup is not None:
            await scenario.setup(client)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="*", help="scenario names (default: all)")
    parser.add_argument("-n", type=int, default=None, help="operations per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--list", action="store_true", help="list scenarios and exit")
    parser.add_argument(
        "--containerd",
        default=os.environ.get("PYCONTAINERD_TEST_CONTAINERD"),
        help="the daemon: a binary's path or debian:SUITE (default: containerd on PATH)",
    )
    args = parser.parse_args()
    known = scenarios()
    if args.list:
        for s in known.values():
            print(f"{s.name:<10} {s.description}")
        return
    chosen = args.scenario or sorted(known)
    unknown = [name for name in chosen if name not in known]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {sorted(known)}")
    binary = args.containerd
    if binary and binary.startswith("debian:"):
        binary = str(debian_containerd(binary.removeprefix("debian:")))
    if binary:
        # The ctr columns run the ctr of the same release.
        os.environ["PATH"] = os.pathsep.join([str(Path(binary).parent), os.environ["PATH"]])
    path = [d for name in chosen if known[name].path for d in known[name].path()]
    with ContainerdDaemon(containerd=binary, path=path) as daemon:
        print(f"containerd {daemon.version}", file=sys.stderr)
        for name in chosen:
            scenario = known[name]
            n = args.n or scenario.default_n
            anyio.run(_setup, daemon, scenario)
            rows: dict[str, dict[str, list[float]]] = {}
            for _ in range(args.rounds):
                results: dict[str, dict[str, Any]] = {}
                if scenario.go is not None:
                    results["go"] = run_go(daemon, [a.format(n=n) for a in scenario.go])
                for label, other in scenario.others.items():
                    results[label] = other(daemon, n)
                results["sdk"] = anyio.run(_sdk_round, daemon, scenario, n)
                for client, figures in results.items():
                    for key in scenario.figures:
                        if key in figures:
                            rows.setdefault(client, {}).setdefault(key, []).append(
                                float(figures[key])
                            )
            # The SDK first, then the references.
            ordered = {"sdk": rows.pop("sdk"), **rows}
            report(name, n, ordered, scenario.figures)


if __name__ == "__main__":
    main()
