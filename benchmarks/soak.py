"""Soak: thousands of operations at once, cancelled at random points, watched for growth.

Workers run concurrently against one private containerd, each in a loop:
container lifecycles (a container from the busybox image, its task with
captured output, start, wait, delete both), execs in a long-running task,
event subscriptions (subscribe, publish, receive, leave) and content writes
(a blob under a lease, read back). A seeded share of the operations is
cancelled at a random moment: half through an anyio cancel scope, half with
asyncio's own ``Task.cancel()`` (what Ctrl-C under ``asyncio.run`` does).

Every ``--interval`` seconds it prints the operations per second, this
process's RSS, open fds and asyncio tasks, and the daemon's objects in the
soak's namespace (containers, tasks, snapshots, leases, ingests, content),
its RSS and its shims. At the end it fits a line through RSS and fds against
operations done (after a warm-up of the first fifth of the samples) and
fails when:

- anything is left once the workers stop: an object in the namespace beyond
  the image and the exec container, an ingest, a lease, a shim, a FIFO
  directory, an fd or an asyncio task more than at the start;
- the fd slope is above ``--max-fd-slope`` per 1000 operations (0.5: a leak
  of one fd in 2000 operations) and the fitted growth after the warm-up is
  more than the 16 fds that the operations in flight may hold when sampled;
- the RSS slope is above ``--max-rss-slope`` KiB per 1000 operations (256:
  a leak of a quarter KiB per operation) and RSS grew by more than 8 MiB
  after the warm-up.

RSS does grow in short runs: tracemalloc puts the largest growth in h2
(under grpclib), which remembers the ids of up to 65536 closed streams per
connection (about 150 bytes each, some 10 MiB in all, then no more). At a
few streams per operation that bound is reached after some 15 to 20
thousand operations: a 3-minute run stays below it and shows the climb
(about 0.9 MiB per 1000 operations on containerd 1.6); the 30-minute run's
warm-up (its first fifth) should pass it, and its slope is what the verdict
judges.

Slopes need samples: runs shorter than 2000 operations after the warm-up
print them but judge only the leftovers (the CI test runs it for 20 s).

    PYTHONPATH=src python benchmarks/soak.py --duration 1800            # 30 minutes
    PYTHONPATH=src python benchmarks/soak.py --duration 180 --containerd debian:sid
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio

import pycontainerd
from pycontainerd import events, oci
from pycontainerd.events import filters
from pycontainerd.testing import (
    ContainerdDaemon,
    build_busybox_image,
    debian_containerd,
    empty_namespace,
    inventory,
)

KINDS = ("lifecycle", "exec", "events", "content")
MIN_OPS_FOR_SLOPES = 2000
# The fds that the operations in flight may hold when a sample is taken.
FDS_IN_FLIGHT = 16


@dataclass
class Sample:
    at: float
    ops: int
    rss_kib: int
    fds: int
    tasks: int
    daemon: dict[str, int]


@dataclass
class Soak:
    client: pycontainerd.Client
    daemon_pid: int | None
    image: pycontainerd.Image
    rng: random.Random
    cancel_share: float
    done: Counter[str] = field(default_factory=Counter)
    cancelled: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def _rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _shims(address: str) -> list[str]:
    """The ``-id`` of every shim of the daemon at `address` (the task it was started for)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(b"containerd-shim" in a for a in args[:1]) and address.encode() in b" ".join(
                args
            ):
                found.append(args[args.index(b"-id") + 1].decode() if b"-id" in args else entry)
    return sorted(found)


def _fifo_dirs(root: str) -> int:
    return sum(n.startswith("pycontainerd-") for n in os.listdir(root))


async def _daemon_counts(soak: Soak) -> dict[str, int]:
    inv = await inventory(soak.client)
    counts = {
        "containers": len(inv.containers),
        "tasks": len(inv.tasks),
        "snapshots": len(inv.snapshots),
        "leases": len(inv.leases),
        "ingests": len(inv.ingests),
        "content": len(inv.content),
        "images": len(inv.images),
        "shims": len(_shims(soak.client.address)),
        "fifo_dirs": _fifo_dirs(soak.client.fifo_dir or ""),
    }
    if soak.daemon_pid is not None:
        counts["daemon_rss_mib"] = _rss_kib(soak.daemon_pid) // 1024
    return counts


# --- the operations ----------------------------------------------------------


async def lifecycle(soak: Soak, n: int) -> None:
    # Container (and its snapshot) from the image, task, start, wait, delete both.
    result = await soak.client.run(soak.image, ["echo", str(n)])
    assert (result.code, result.stdout) == (0, f"{n}\n".encode()), result


async def exec_once(soak: Soak, n: int) -> None:
    task = await soak.client.tasks.get("soak-exec")
    result = await task.exec_run(["echo", str(n)])
    assert result.stdout == f"{n}\n".encode(), result


async def event_round(soak: Soak, n: int) -> None:
    topic = f"/soak/e{n}"
    async with soak.client.events.subscribe(filters.topic(topic), buffer=16) as stream:
        for i in range(3):
            await soak.client.events.publish(topic, events.ContainerDelete(id=f"x{i}"))
        for _ in range(3):
            envelope = await stream.receive()
            assert isinstance(envelope, events.Envelope)
            assert envelope.topic == topic


async def content_round(soak: Soak, n: int) -> None:
    data = random.Random(n).randbytes(64 * 1024)
    async with soak.client.leases.lease(expires_in=600) as leased:
        digest = await leased.content.write(f"soak-{n}", data)
        assert await leased.content.read(digest) == data


OPERATIONS: dict[str, Callable[[Soak, int], Awaitable[None]]] = {
    "lifecycle": lifecycle,
    "exec": exec_once,
    "events": event_round,
    "content": content_round,
}
# A cut is placed within this many seconds of the start (the slower kinds get longer).
TYPICAL = {"lifecycle": 0.4, "exec": 0.15, "events": 0.05, "content": 0.03}


async def _run_one(soak: Soak, kind: str, n: int) -> None:
    op = OPERATIONS[kind]
    roll = soak.rng.random()
    if roll >= soak.cancel_share:
        await op(soak, n)
        soak.done[kind] += 1
        return
    delay = soak.rng.uniform(0, TYPICAL[kind])
    if roll < soak.cancel_share / 2:  # anyio's cancellation
        with anyio.move_on_after(delay) as scope:
            await op(soak, n)
        (soak.cancelled if scope.cancelled_caught else soak.done)[kind] += 1
        return
    # asyncio's own Task.cancel(), as Ctrl-C under asyncio.run sends it
    task = asyncio.get_running_loop().create_task(op(soak, n))
    await asyncio.wait({task}, timeout=delay)
    if task.done():
        task.result()
        soak.done[kind] += 1
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        soak.cancelled[kind] += 1
    else:
        soak.done[kind] += 1


async def _worker(soak: Soak, kind: str, stop: anyio.Event, counter: list[int]) -> None:
    while not stop.is_set():
        counter[0] += 1
        try:
            await _run_one(soak, kind, counter[0])
        except Exception as exc:  # counted and reported; the soak fails on any
            soak.failed[kind] += 1
            if len(soak.errors) < 20:
                soak.errors.append(f"{kind}: {type(exc).__name__}: {exc}"[:300])


def _slope(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if var == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var


@dataclass
class Verdict:
    ok: bool
    lines: list[str]


async def soak(
    address: str,
    *,
    duration: float,
    seed: int = 15,
    workers: int = 2,
    interval: float = 10.0,
    cancel_share: float = 0.2,
    daemon_pid: int | None = None,
    max_fd_slope: float = 0.5,
    max_rss_slope: float = 256.0,
    out: Callable[[str], None] = print,
) -> Verdict:
    """Run the soak against the daemon at `address` in a namespace of its own."""
    namespace = f"soak-{uuid.uuid4().hex[:8]}"
    # FIFOs of its own: a FIFO directory left behind is then its own, whatever
    # else runs on the machine.
    with tempfile.TemporaryDirectory(prefix="pycontainerd-soak-fifo-") as fifo_root:
        async with pycontainerd.Client(address, namespace=namespace, fifo_dir=fifo_root) as client:
            await client.namespaces.create(namespace)
            image = await build_busybox_image(client)
            spec = oci.Spec.from_image(
                await image.config(), args=["sleep", "1000000"], namespace=namespace, id="soak-exec"
            )
            exec_container = await client.containers.create("soak-exec", image=image, spec=spec)
            exec_task = await exec_container.new_task()
            await exec_task.start()
            state = Soak(client, daemon_pid, image, random.Random(seed), cancel_share)
            await client.version()
            base = Sample(0, 0, _rss_kib(), _fds(), len(asyncio.all_tasks()), {})
            base.daemon = await _daemon_counts(state)
            samples: list[Sample] = []
            stop = anyio.Event()
            counters = {kind: [0] for kind in KINDS}
            start = time.monotonic()
            out(
                f"soak: seed {seed}, {workers} workers per kind, {duration:.0f} s, namespace {namespace}"
            )
            out(
                f"{'t/s':>6} {'ops':>7} {'ops/s':>6} {'rss KiB':>8} {'fds':>4} {'tasks':>5}  daemon"
            )

            async def sampler() -> None:
                last_ops, last_t = 0, start
                while not stop.is_set():
                    with anyio.move_on_after(interval):
                        await stop.wait()
                    now = time.monotonic()
                    ops = sum(state.done.values()) + sum(state.cancelled.values())
                    sample = Sample(
                        now - start,
                        ops,
                        _rss_kib(),
                        _fds(),
                        len(asyncio.all_tasks()),
                        await _daemon_counts(state),
                    )
                    samples.append(sample)
                    rate = (ops - last_ops) / max(now - last_t, 1e-9)
                    last_ops, last_t = ops, now
                    daemon = " ".join(f"{k}={v}" for k, v in sample.daemon.items())
                    out(
                        f"{sample.at:6.0f} {ops:7d} {rate:6.1f} {sample.rss_kib:8d} "
                        f"{sample.fds:4d} {sample.tasks:5d}  {daemon}"
                    )

            async with anyio.create_task_group() as tg:
                tg.start_soon(sampler)
                for kind in KINDS:
                    for _ in range(workers):
                        tg.start_soon(_worker, state, kind, stop, counters[kind])
                await anyio.sleep(duration)
                stop.set()

            await exec_task.delete(force=True)
            await exec_container.delete()
            # Settle: threads, fds and shims end asynchronously.
            end = Sample(0, 0, 0, 0, 0, {})
            for _ in range(50):
                end = Sample(0, 0, _rss_kib(), _fds(), len(asyncio.all_tasks()), {})
                end.daemon = await _daemon_counts(state)
                if end.fds <= base.fds and end.tasks <= base.tasks and end.daemon["shims"] == 0:
                    break
                await anyio.sleep(0.1)
            lines, ok = _judge(state, base, end, samples, max_fd_slope, max_rss_slope)
            await empty_namespace(client)
        for line in lines:
            out(line)
        return Verdict(ok, lines)


def _judge(
    state: Soak,
    base: Sample,
    end: Sample,
    samples: list[Sample],
    max_fd_slope: float,
    max_rss_slope: float,
) -> tuple[list[str], bool]:
    ok = True
    lines = [
        f"done: {dict(state.done)}",
        f"cancelled: {dict(state.cancelled)}",
        f"failed: {dict(state.failed)}",
    ]
    lines += [f"  {e}" for e in state.errors]
    if state.failed:
        ok = False
    # What the soak's own objects must be back to: the image, nothing else.
    expected = dict(base.daemon)
    expected["containers"] = base.daemon["containers"] - 1  # the exec container went
    expected["tasks"] = base.daemon["tasks"] - 1
    expected["snapshots"] = base.daemon["snapshots"] - 1
    expected["shims"] = 0
    for key in ("containers", "tasks", "snapshots", "leases", "ingests", "images", "shims"):
        if end.daemon[key] != expected[key]:
            ok = False
            lines.append(f"LEFT: {key} {expected[key]} -> {end.daemon[key]}")
            if key == "shims":
                lines.append(f"  shims of: {_shims(state.client.address)}")
    if end.daemon["fifo_dirs"] > base.daemon["fifo_dirs"]:
        ok = False
        lines.append(f"LEFT: fifo dirs {base.daemon['fifo_dirs']} -> {end.daemon['fifo_dirs']}")
    if end.fds > base.fds:
        ok = False
        lines.append(f"LEFT: fds {base.fds} -> {end.fds}")
    if end.tasks > base.tasks:
        ok = False
        lines.append(f"LEFT: asyncio tasks {base.tasks} -> {end.tasks}")
    lines.append(
        f"start: rss {base.rss_kib} KiB, fds {base.fds}, tasks {base.tasks}; "
        f"end: rss {end.rss_kib} KiB, fds {end.fds}, tasks {end.tasks}"
    )
    steady = samples[len(samples) // 5 :]
    if len(steady) >= 3:
        ops = [s.ops / 1000 for s in steady]
        rss = _slope(ops, [s.rss_kib for s in steady])
        fds = _slope(ops, [s.fds for s in steady])
        grown = steady[-1].rss_kib - steady[0].rss_kib
        judged = steady[-1].ops - steady[0].ops >= MIN_OPS_FOR_SLOPES
        lines.append(
            f"slopes after warm-up ({steady[-1].ops - steady[0].ops} ops): "
            f"rss {rss:.1f} KiB/1000 ops (grew {grown} KiB), fds {fds:.3f}/1000 ops"
            + ("" if judged else f" (under {MIN_OPS_FOR_SLOPES} ops: not judged)")
        )
        # Samples are taken while operations run and hold fds of their own
        # (sockets, FIFOs): a slope counts only when the fitted growth over
        # the window passes what the workers in flight can hold at once.
        fds_grown = fds * (ops[-1] - ops[0])
        if judged and fds > max_fd_slope and fds_grown > FDS_IN_FLIGHT:
            ok = False
            lines.append(f"GROWS: fds {fds:.3f} per 1000 ops > {max_fd_slope}")
        if judged and rss > max_rss_slope and grown > 8 * 1024:
            ok = False
            lines.append(f"GROWS: rss {rss:.1f} KiB per 1000 ops > {max_rss_slope}")
    lines.append("soak: " + ("OK" if ok else "FAILED"))
    return lines, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=180.0, help="seconds (default 180)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2, help="concurrent workers per kind")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--cancel-share", type=float, default=0.2)
    parser.add_argument("--max-fd-slope", type=float, default=0.5)
    parser.add_argument("--max-rss-slope", type=float, default=256.0)
    parser.add_argument(
        "--containerd",
        default=os.environ.get("PYCONTAINERD_TEST_CONTAINERD"),
        help="a containerd binary, or debian:trixie / debian:sid",
    )
    args = parser.parse_args(argv)
    binary = args.containerd
    if binary and binary.startswith("debian:"):
        binary = str(debian_containerd(binary.removeprefix("debian:")))
    with ContainerdDaemon(containerd=binary) as daemon:
        print(f"containerd {daemon.version}")
        verdict = anyio.run(
            lambda: soak(
                daemon.address,
                duration=args.duration,
                seed=args.seed,
                workers=args.workers,
                interval=args.interval,
                cancel_share=args.cancel_share,
                daemon_pid=daemon.pid,
                max_fd_slope=args.max_fd_slope,
                max_rss_slope=args.max_rss_slope,
            )
        )
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
