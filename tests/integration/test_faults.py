"""The fault matrix: the daemon is killed (SIGKILL) in the middle of each long operation.

Every operation runs through `_faults.CuttingProxy`, which counts the HTTP/2
frames between the client and the daemon, kills the daemon at a point chosen
from ``PYCONTAINERD_FAULT_SEED`` (default 15; several points per operation:
the N-th request reaching the daemon, the N-th reply leaving it, after N bytes
sent or received) and starts it again on the same root and state. The counts
come from running the operation once unharmed (its calibration), so every
point lies inside it. Each case then shows:

- the call raises `errors.ConnectionError` (a typed error), or, where the
  operation is documented to ride out a restart (a task's wait, an event
  stream with ``reconnect=True``), carries on with the right result;
- no hang: each step is bounded by `anyio.fail_after`;
- the same client works once the daemon is back;
- nothing the SDK made is left (tasks, containers, images, leases, snapshots,
  ingests; FIFO directories, this process's fds, asyncio tasks, shims); only a
  pull keeps the ingests of blobs it was fetching, documented so that the next
  pull resumes them;
- running the operation again completes, and leaves no ingest or lease behind.

A shim killed under a running task, runc failing at create, and a create
whose answer is lost get the same checks. `FAULT_LOG` collects one line per
case for the matrix's table.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import anyio
import pytest
from _faults import FAULT_LOG, CuttingProxy, KillPoint, parent_pid, shim_pids
from _taskutil import fifo_dirs, host_spec, open_fds
from registry_harness import RegistryServer

import pycontainerd
from pycontainerd import errors, events, stdio, transfer
from pycontainerd.events import filters
from pycontainerd.testing import ContainerdDaemon, empty_namespace, inventory

pytestmark = pytest.mark.anyio

SEED = int(os.environ.get("PYCONTAINERD_FAULT_SEED", "15"))
POINTS = 3  # kill points per operation
STEP = 60.0  # seconds any one step of a case may take (the daemon restarts within it)
BUSYBOX = "docker.io/library/busybox:latest"
BLOB = random.Random(SEED).randbytes(3 * 1024 * 1024 + 17)


@dataclass
class Ctx:
    """What an operation works with: the client under test (through the proxy), and helpers."""

    client: pycontainerd.Client  # through the proxy: the one whose calls are cut
    direct: pycontainerd.Client  # straight to the daemon's socket, for setup and checks
    daemon: ContainerdDaemon
    proxy: CuttingProxy
    archive: bytes
    rootfs: Path
    tmp: Path
    registry_ref: str
    state: dict[str, Any] = field(default_factory=dict)

    def container_spec(self, cid: str, args: list[str]) -> dict[str, Any]:
        return host_spec(self.rootfs, args, namespace=self.client.namespace, container_id=cid)


@dataclass(frozen=True)
class Operation:
    """One long operation: its setup (not cut), its run (cut), and the kill points it takes."""

    setup: Callable[[Ctx], Awaitable[None]]
    run: Callable[[Ctx], Awaitable[None]]
    kinds: tuple[str, ...]
    resilient: bool = False  # documented to ride out a restart: the run completes
    # What it may leave for its next run to resume or reuse: a pull keeps partial
    # blobs as ingests (documented), and what the daemon finished before it died
    # (layer snapshots, the image record) is complete, so the next run keeps it.
    resumes: tuple[str, ...] = ()
    # What it makes: there after it completed (the kill landing in its cleanup).
    product: tuple[str, ...] = ()
    teardown: Callable[[Ctx], Awaitable[None]] | None = None  # after the checks, not cut
    points: int = POINTS  # fewer for the later rows, whose restarts CI's time pays for


async def _nothing(ctx: Ctx) -> None:
    return None


async def _imported(ctx: Ctx) -> None:
    await ctx.direct.images.import_archive(ctx.archive)


async def _unpacked(ctx: Ctx) -> None:
    await ctx.direct.images.import_archive(ctx.archive, unpack=True)


# --- the operations ---------------------------------------------------------


GC_ROOT = {"containerd.io/gc.root": "faults"}  # kept by the garbage collector


async def content_write(ctx: Ctx) -> None:
    digest = await ctx.client.content.write("faults-blob", BLOB, labels=GC_ROOT)
    assert (await ctx.direct.content.info(digest)).size == len(BLOB)


async def _blob_written(ctx: Ctx) -> None:
    ctx.state["digest"] = await ctx.direct.content.write("faults-blob", BLOB, labels=GC_ROOT)


async def content_read(ctx: Ctx) -> None:
    assert await ctx.client.content.read(ctx.state["digest"]) == BLOB


async def import_archive(ctx: Ctx) -> None:
    [image] = await ctx.client.images.import_archive(ctx.archive)
    assert image.name == BUSYBOX


async def export_archive(ctx: Ctx) -> None:
    dest = ctx.tmp / "export.tar"
    try:
        await ctx.client.images.export_archive(dest, [BUSYBOX])
    except BaseException:
        assert not dest.exists()  # a failed export removes its file
        raise
    assert dest.stat().st_size > len(ctx.archive) // 2
    dest.unlink()


async def unpack(ctx: Ctx) -> None:
    image = await ctx.client.images.get(BUSYBOX)
    await image.unpack()
    assert await image.is_unpacked()


async def pull_local(ctx: Ctx) -> None:
    image = await ctx.client.pull(ctx.registry_ref, local=True)
    assert await image.is_unpacked()


async def daemon_transfer(ctx: Ctx) -> None:
    # containerd 2.x pulls itself through its transfer service (what `client.pull`
    # uses there); 1.7's experimental service imports (its pulls need TLS), 1.6 has none.
    if ctx.daemon.version_info < (2, 0, 0):
        await ctx.client.transfer(
            transfer.ImportStream(ctx.archive),
            transfer.ImageStore(
                extra_references=[transfer.ImageName("import", prefix=True, allow_overwrite=True)]
            ),
        )
        assert [i.name for i in await ctx.direct.images.list()] == [BUSYBOX]
        return
    await ctx.client.transfer(
        transfer.Registry(ctx.registry_ref),
        transfer.ImageStore(ctx.registry_ref, unpack=[transfer.Unpack()]),
    )
    assert await (await ctx.direct.images.get(ctx.registry_ref)).is_unpacked()


async def _push_tagged(ctx: Ctx) -> None:
    # A repository of its own: the registry has none of its blobs, so all are sent.
    host = ctx.registry_ref.split("/", 1)[0]
    ref = ctx.state["push"] = f"{host}/faults/push-{uuid.uuid4().hex[:8]}:1"
    [image] = await ctx.direct.images.import_archive(ctx.archive)
    await ctx.direct.images.create(ref, image.target)


async def push_local(ctx: Ctx) -> None:
    pushed = await ctx.client.push(ctx.state["push"], local=True)
    assert pushed == (await ctx.direct.images.get(ctx.state["push"])).target


async def export_transfer(ctx: Ctx) -> None:
    # The daemon writes the archive (1.7 and newer) into a stream this client reads.
    dest = ctx.tmp / "transfer-export.tar"
    try:
        await ctx.client.transfer(transfer.ImageStore(BUSYBOX), transfer.ExportStream(str(dest)))
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    assert dest.stat().st_size > len(ctx.archive) // 2
    dest.unlink()


async def sandbox_create(ctx: Ctx) -> None:
    # A record in the sandbox store (1.7 and newer).
    spec = pycontainerd.oci.Spec.default(namespace=ctx.client.namespace, id="faults-pod")
    await ctx.client.sandboxes.create("faults-pod", spec=spec, labels={"app": "faults"})
    assert (await ctx.direct.sandboxes.get("faults-pod")).labels == {"app": "faults"}


async def _sandbox_deleted(ctx: Ctx) -> None:
    with contextlib.suppress(errors.NotFound):
        await ctx.direct.sandboxes.delete("faults-pod")


async def container_create(ctx: Ctx) -> None:
    image = await ctx.client.images.get(BUSYBOX)
    container = await ctx.client.containers.create("faults-c", image=image)
    assert container.snapshot_key == "faults-c"
    ctx.state["product"] = "container"


async def _host_container(ctx: Ctx) -> None:
    spec = ctx.container_spec("faults-t", ["sh", "-c", "echo out; exit 3"])
    await ctx.direct.containers.create("faults-t", spec=spec)


async def task_lifecycle(ctx: Ctx) -> None:
    container = await ctx.client.containers.get("faults-t")
    async with await container.new_task(stdio=stdio.capture()) as task:
        await task.start()
        assert (await task.wait()).code == 3
        assert task.captured_stdout == b"out\n"


async def _running_task(ctx: Ctx) -> None:
    spec = ctx.container_spec("faults-x", ["sleep", "1000"])
    container = await ctx.direct.containers.create("faults-x", spec=spec)
    await (await container.new_task()).start()


async def exec_run(ctx: Ctx) -> None:
    task = await ctx.client.tasks.get("faults-x")
    result = await task.exec_run(["sh", "-c", "echo hi"])
    assert (result.code, result.stdout) == (0, b"hi\n")


async def _waiting_task(ctx: Ctx) -> None:
    # Made through the client under test, whose handle (and stdin) the run uses.
    spec = ctx.container_spec("faults-w", ["sh", "-c", "read x; exit 5"])
    container = await ctx.client.containers.create("faults-w", spec=spec)
    task = ctx.state["task"] = await container.new_task(stdio=stdio.pipes())
    await task.start()


async def task_wait(ctx: Ctx) -> None:
    # The wait is blocked in the daemon while the client makes other calls; the
    # kill point is one of those, the Wait itself or its reply: it must carry on.
    task: pycontainerd.Task[stdio.Pipes] = ctx.state["task"]
    statuses: list[pycontainerd.ExitStatus] = []
    async with anyio.create_task_group() as tg:

        async def waiter() -> None:
            statuses.append(await task.wait())

        tg.start_soon(waiter)
        for _ in range(4):
            await _retrying(ctx.client.version)
        await anyio.to_thread.run_sync(ctx.proxy.wait_restarted, STEP)
        assert not statuses  # a broken wait is never reported as an exit
        await task.pipes.stdin.send(b"go\n")
    assert statuses[0].code == 5


async def _delete_waited(ctx: Ctx) -> None:
    await ctx.state["task"].delete()


async def event_stream(ctx: Ctx) -> None:
    # Published through the direct client: the cut connection carries the
    # subscription only. After a restart the stream yields one Resync.
    seen: list[str] = []
    resyncs = 0
    async with ctx.client.events.subscribe(
        filters.topic_matches("^/faults/"), reconnect=True
    ) as stream:
        for i in range(8):
            topic = f"/faults/e{i}"
            while topic not in seen:
                await _retrying(
                    lambda t=topic: ctx.direct.events.publish(t, events.ContainerDelete(id="x"))
                )
                with anyio.move_on_after(2):
                    item = await stream.receive()
                    if isinstance(item, events.Resync):
                        resyncs += 1
                    else:
                        seen.append(item.topic)
    assert seen[-1] == "/faults/e7"
    assert resyncs == (1 if ctx.proxy.fired.is_set() else 0)


async def event_stream_no_reconnect(ctx: Ctx) -> None:
    async with ctx.client.events.subscribe(filters.topic_matches("^/faults/")) as stream:
        for i in range(8):
            await _retrying(
                lambda i=i: ctx.direct.events.publish(
                    f"/faults/e{i}", events.ContainerDelete(id="x")
                )
            )
            envelope = await stream.receive()
            assert isinstance(envelope, events.Envelope)
            assert envelope.topic == f"/faults/e{i}"


OPERATIONS: dict[str, Operation] = {
    "content write": Operation(_nothing, content_write, ("request", "sent", "reply")),
    "content read": Operation(_blob_written, content_read, ("request", "received", "reply")),
    "import": Operation(
        _nothing, import_archive, ("request", "sent", "reply"), product=("images",)
    ),
    "export": Operation(_imported, export_archive, ("request", "received", "reply")),
    "unpack": Operation(
        _imported,
        unpack,
        ("request", "reply", "sent"),
        resumes=("snapshots",),
        product=("snapshots",),
    ),
    "pull": Operation(
        _nothing,
        pull_local,
        ("request", "sent", "reply"),
        resumes=("ingests", "snapshots", "images"),
        product=("snapshots", "images"),
    ),
    "transfer": Operation(
        _nothing, daemon_transfer, ("request", "reply", "received"), product=("snapshots", "images")
    ),
    "push": Operation(_push_tagged, push_local, ("received", "request"), points=2),
    "export via transfer": Operation(_imported, export_transfer, ("received", "request"), points=2),
    "sandbox create": Operation(
        _nothing,
        sandbox_create,
        ("reply", "request"),
        product=("sandboxes",),
        teardown=_sandbox_deleted,
        points=2,
    ),
    "container create": Operation(
        _unpacked, container_create, ("request", "reply"), product=("containers", "snapshots")
    ),
    "task create+start": Operation(_host_container, task_lifecycle, ("request", "reply")),
    "exec": Operation(_running_task, exec_run, ("request", "reply", "received")),
    "wait": Operation(
        _waiting_task, task_wait, ("request", "reply"), resilient=True, teardown=_delete_waited
    ),
    "events reconnect": Operation(_nothing, event_stream, ("received",), resilient=True),
    "events": Operation(_nothing, event_stream_no_reconnect, ("received",)),
}


# Operations of services that containerd 1.6 lacks (transfer, the sandbox store).
NEEDS_1_7 = ("transfer", "export via transfer", "sandbox create")


def _points() -> Iterator[Any]:
    for name, op in OPERATIONS.items():
        rng = random.Random(f"{SEED}/{name}")
        for i in range(op.points):
            kind, fraction = op.kinds[i % len(op.kinds)], rng.random()
            yield pytest.param(name, kind, fraction, id=f"{name}-{kind}-{fraction:.2f}")


# --- helpers ----------------------------------------------------------------


async def _retrying(call: Callable[[], Awaitable[Any]]) -> Any:
    """`call`, again while the daemon cannot be reached (the supervisor's loop)."""
    with anyio.fail_after(STEP):
        while True:
            try:
                return await call()
            except errors.ConnectionError:
                await anyio.sleep(0.1)


@dataclass
class Stock:
    """What a case must leave as it found: the namespace's objects, and this process's."""

    objects: dict[str, tuple[str, ...]]
    fifos: set[str]
    fds: int
    tasks: int
    shims: set[int]

    def settled(self, before: Stock) -> bool:
        # Fewer is fine: a connection the kill broke may not be open again yet.
        return self.fds <= before.fds and self.tasks <= before.tasks and self.shims <= before.shims


def _local_stock(daemon: ContainerdDaemon) -> Stock:
    return Stock({}, fifo_dirs(), len(open_fds()), len(asyncio.all_tasks()), shim_pids(daemon))


async def _stock(client: pycontainerd.Client, daemon: ContainerdDaemon) -> Stock:
    inv = await inventory(client)
    stock = _local_stock(daemon)
    stock.objects = {
        "tasks": inv.tasks,
        "containers": inv.containers,
        "images": inv.images,
        "leases": inv.leases,
        "snapshots": inv.snapshots,
        "ingests": inv.ingests,
        "sandboxes": inv.sandboxes,
    }
    return stock


async def _stock_settled(
    client: pycontainerd.Client, daemon: ContainerdDaemon, before: Stock
) -> Stock:
    """The stock once this process's threads, fds and shims have settled (up to 3 s)."""
    after = await _stock(client, daemon)
    for _ in range(60):
        if after.settled(before):
            break
        await anyio.sleep(0.05)
        after = await _stock(client, daemon)
    return after


def _difference(before: Stock, after: Stock, *, allow: tuple[str, ...] = ()) -> list[str]:
    left = [
        f"{kind}: {sorted(set(after.objects[kind]) - set(before.objects[kind]))}"
        for kind in before.objects
        if kind not in allow and set(after.objects[kind]) - set(before.objects[kind])
    ]
    if after.fifos - before.fifos:
        left.append(f"fifo dirs: {sorted(after.fifos - before.fifos)}")
    if after.fds > before.fds:
        left.append(f"fds: {before.fds} -> {after.fds}")
    if after.tasks > before.tasks:
        left.append(f"asyncio tasks: {before.tasks} -> {after.tasks}")
    if after.shims - before.shims:
        left.append(f"shims: {sorted(after.shims - before.shims)}")
    return left


# --- fixtures ---------------------------------------------------------------


@pytest.fixture(scope="module")
def module_proxy(containerd_daemon: ContainerdDaemon) -> Iterator[CuttingProxy]:
    cutting = CuttingProxy(containerd_daemon, containerd_daemon.directory / "faults.sock")
    yield cutting
    cutting.close()


@pytest.fixture
def proxy(
    module_proxy: CuttingProxy, containerd_daemon: ContainerdDaemon
) -> Iterator[CuttingProxy]:
    """The proxy, disarmed; after the test, the daemon serves again whatever happened."""
    module_proxy.reset()
    yield module_proxy
    module_proxy.wait_restarted(STEP)
    module_proxy.reset()
    if not containerd_daemon.running:
        containerd_daemon.start()


_PUSHED: dict[str, str] = {}
_CALIBRATION: dict[str, Any] = {}


@asynccontextmanager
async def _ctx(
    daemon: ContainerdDaemon,
    proxy: CuttingProxy,
    namespace: str,
    archive: bytes,
    rootfs: Path,
    tmp: Path,
    registry: RegistryServer,
) -> AsyncIterator[Ctx]:
    async with (
        pycontainerd.Client(daemon.address, namespace=namespace) as direct,
        pycontainerd.Client(proxy.address, namespace=namespace) as client,
    ):
        if "ref" not in _PUSHED:  # one image in the registry for every pull case
            ref = f"{registry.host}/faults/busybox-{uuid.uuid4().hex[:8]}:1"
            await direct.namespaces.create(f"{namespace}-push")
            pusher = direct.with_namespace(f"{namespace}-push")
            await pusher.images.import_archive(archive)
            await pusher.images.create(ref, (await pusher.images.get(BUSYBOX)).target)
            await pusher.push(ref, local=True)
            await empty_namespace(pusher)
            _PUSHED["ref"] = ref
        yield Ctx(client, direct, daemon, proxy, archive, rootfs, tmp, _PUSHED["ref"])


async def _calibrate(name: str, op: Operation, make: Callable[[str], Any]) -> Any:
    """What the operation sends and receives unharmed (once per operation and session)."""
    if name not in _CALIBRATION:
        namespace = f"faults-calibrate-{uuid.uuid4().hex[:8]}"
        async with make(namespace) as ctx:
            await ctx.direct.namespaces.create(namespace)
            await _collect_garbage(ctx.direct)
            await op.setup(ctx)
            await ctx.client.version()
            ctx.proxy.reset()
            with anyio.fail_after(STEP):
                await op.run(ctx)
            _CALIBRATION[name] = dataclasses.replace(ctx.proxy.counts)
            await empty_namespace(ctx.direct)
    return _CALIBRATION[name]


async def _collect_garbage(client: pycontainerd.Client) -> None:
    """Run the daemon's garbage collector to its end (a lease deleted with ``sync``).

    Blobs that earlier cases left for it go now: a blob still on disk would be
    shared rather than sent, and the counts would differ from the calibration's.
    """
    await client.leases.delete((await client.leases.create()).id, sync=True)


def _resolve(kind: str, fraction: float, total: int) -> KillPoint:
    if kind in ("request", "reply"):
        return KillPoint(kind, 1 + min(int(fraction * total), total - 1))
    return KillPoint(kind, int(fraction * total))


# --- the matrix -------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind", "fraction"), list(_points()))
async def test_daemon_killed_mid_operation(
    name: str,
    kind: str,
    fraction: float,
    containerd_daemon: ContainerdDaemon,
    containerd_client: pycontainerd.Client,
    proxy: CuttingProxy,
    busybox_archive_bytes: bytes,
    busybox_rootfs: Path,
    tmp_path: Path,
    registry: RegistryServer,
) -> None:
    op = OPERATIONS[name]

    def make(namespace: str) -> Any:
        return _ctx(
            containerd_daemon,
            proxy,
            namespace,
            busybox_archive_bytes,
            busybox_rootfs,
            tmp_path,
            registry,
        )

    if name in NEEDS_1_7 and containerd_daemon.version_info < (1, 7, 0):
        async with make(containerd_client.namespace) as ctx:
            await op.setup(ctx)
            with pytest.raises(errors.Unimplemented):  # 1.6 has neither service
                await op.run(ctx)
        FAULT_LOG.append(f"| {name} | - | Unimplemented (containerd 1.6) | none |")
        return
    counts = await _calibrate(name, op, make)
    total = counts.of(kind)
    assert total > 0, f"{name} has no {kind}: {counts}"
    point = _resolve(kind, fraction, total)
    async with make(containerd_client.namespace) as ctx:
        await _collect_garbage(ctx.direct)
        await op.setup(ctx)
        await ctx.client.version()  # the client's connection is open before counting
        before = await _stock(ctx.direct, containerd_daemon)
        proxy.arm(point)
        outcome = "completed"
        try:
            with anyio.fail_after(STEP):
                await op.run(ctx)
        except errors.ConnectionError as exc:
            outcome = type(exc).__name__
            failure: errors.ConnectionError | None = exc
        else:
            failure = None
        assert not (op.resilient and failure), f"{name} must ride out a restart: {failure!r}"
        with anyio.fail_after(STEP):
            await anyio.to_thread.run_sync(proxy.wait_restarted, STEP)
        assert proxy.fired.is_set(), f"{point} was never reached: {proxy.counts}"
        assert proxy.restarted.is_set()
        if failure is None and not op.resilient:
            # The kill landed in a cleanup step, which waited for the daemon to return.
            outcome = "completed (its cleanup waited for the restart)"
        # The same client works again.
        assert (await _retrying(ctx.client.version)).version
        after = await _stock_settled(ctx.direct, containerd_daemon, before)
        left = _difference(before, after, allow=op.resumes if failure else op.product)
        kept = [
            f"{len(set(after.objects[k]) - set(before.objects[k]))} {k}"
            for k in op.resumes
            if set(after.objects[k]) - set(before.objects[k])
        ]
        FAULT_LOG.append(
            f"| {name} | {point} | {outcome} | {', '.join(left) or 'none'}"
            + (f" (kept for the rerun: {', '.join(kept)})" if kept else "")
            + " |"
        )
        assert not left, f"left behind after {name} was cut at {point}: {left}"
        proxy.reset()
        if op.teardown is not None:
            await op.teardown(ctx)
        elif failure is not None:  # running it again completes, and consumes what was kept
            with anyio.fail_after(STEP):
                await op.run(ctx)
            again = await _stock(ctx.direct, containerd_daemon)
            assert not again.objects["ingests"], again.objects["ingests"]
            assert not again.objects["leases"], again.objects["leases"]


# --- shims and runc ---------------------------------------------------------


async def _settled_local(daemon: ContainerdDaemon, before: Stock) -> Stock:
    after = _local_stock(daemon)
    for _ in range(60):
        if after.settled(before):
            break
        await anyio.sleep(0.05)
        after = _local_stock(daemon)
    return after


@pytest.mark.parametrize("when", ["created", "running", "exec"])
async def test_shim_killed_under_a_task(
    when: str,
    containerd_daemon: ContainerdDaemon,
    containerd_client: pycontainerd.Client,
    busybox_rootfs: Path,
) -> None:
    client = containerd_client
    spec = host_spec(
        busybox_rootfs, ["sleep", "1000"], namespace=client.namespace, container_id="s"
    )
    container = await client.containers.create("s", spec=spec)
    await client.version()
    before = _local_stock(containerd_daemon)
    with anyio.fail_after(STEP):
        async with await container.new_task(stdio=stdio.pipes()) as task:
            if when != "created":
                await task.start()
            async with contextlib.AsyncExitStack() as stack:
                if when == "exec":
                    process = await stack.enter_async_context(
                        await task.exec(["sleep", "1000"], stdio=stdio.capture())
                    )
                os.kill(parent_pid(task.pid), signal.SIGKILL)
                try:
                    status = await task.wait()
                except errors.RPCError as exc:
                    outcome = type(exc).__name__
                else:
                    outcome = f"wait() -> ExitStatus(code={status.code})"
                if when == "exec":
                    try:
                        exec_status = await process.wait()
                    except errors.RPCError as exc:
                        outcome += f"; exec wait() -> {type(exc).__name__}"
                    else:
                        outcome += f"; exec wait() -> ExitStatus(code={exec_status.code})"
    left = _difference(before, await _settled_local(containerd_daemon, before))
    inv = await inventory(client)
    if inv.tasks:
        left.append(f"tasks: {inv.tasks}")
    FAULT_LOG.append(f"| shim SIGKILL | task {when} | {outcome} | {', '.join(left) or 'none'} |")
    assert not left
    # The container takes a new task.
    with anyio.fail_after(STEP):
        async with await container.new_task() as task:
            await task.start()
            await task.kill(signal.SIGKILL)
            assert (await task.wait()).code == 128 + signal.SIGKILL
    await container.delete()


@pytest.mark.parametrize("fault", ["missing binary", "missing mount source", "missing rootfs"])
async def test_runc_fails_at_create(
    fault: str,
    containerd_daemon: ContainerdDaemon,
    containerd_client: pycontainerd.Client,
    busybox_rootfs: Path,
) -> None:
    client = containerd_client
    spec = host_spec(
        busybox_rootfs, ["sh", "-c", "exit 4"], namespace=client.namespace, container_id="r"
    )
    if fault == "missing binary":
        bad = dict(spec, process=dict(spec["process"], args=["/no/such/binary"]))
    elif fault == "missing mount source":
        mount = {
            "destination": "/x",
            "type": "bind",
            "source": "/no/such/dir",
            "options": ["rbind"],
        }
        bad = dict(spec, mounts=[*spec["mounts"], mount])
    else:
        bad = dict(spec, root={"path": "/no/such/rootfs", "readonly": True})
    container = await client.containers.create("r", spec=bad)
    await client.version()
    before = _local_stock(containerd_daemon)
    with anyio.fail_after(STEP):
        try:
            async with await container.new_task(stdio=stdio.capture()) as task:
                await task.start()
                outcome = f"wait() -> ExitStatus(code={(await task.wait()).code})"
        except errors.RPCError as exc:
            outcome = type(exc).__name__
    left = _difference(before, await _settled_local(containerd_daemon, before))
    inv = await inventory(client)
    if inv.tasks:
        left.append(f"tasks: {inv.tasks}")
    FAULT_LOG.append(f"| runc fails | {fault} | {outcome} | {', '.join(left) or 'none'} |")
    assert not left
    assert outcome in ("Unknown", "NotFound", "FailedPrecondition", "InvalidArgument"), outcome
    # Fixed, the same container runs.
    await container.update(spec=spec)
    with anyio.fail_after(STEP):
        async with await container.new_task() as task:
            await task.start()
            assert (await task.wait()).code == 4
    await container.delete()


# --- the supervisor of docs/pages/reliability.md ------------------------------

RELIABILITY = Path(__file__).parents[2] / "docs" / "pages" / "reliability.md"


def _documented_retrying() -> Callable[..., Awaitable[Any]]:
    """The ``retrying`` helper of the guide's supervisor, as the guide writes it."""
    text = RELIABILITY.read_text()
    block = next(
        b.split("```", 1)[0] for b in text.split("```python\n") if "async def retrying" in b
    )
    code = block.replace("anyio.run(main)", "")
    scope: dict[str, Any] = {}
    exec(compile(code, str(RELIABILITY), "exec"), scope)
    return cast(Callable[..., Awaitable[Any]], scope["retrying"])


async def test_supervisor_rides_out_daemon_kills(
    containerd_client: pycontainerd.Client,
    proxy: CuttingProxy,
    busybox_image: pycontainerd.Image,
) -> None:
    retrying = _documented_retrying()
    kills = {1: KillPoint("request", 2), 3: KillPoint("reply", 4), 4: KillPoint("request", 6)}
    async with pycontainerd.Client(proxy.address, namespace=containerd_client.namespace) as client:
        image = await retrying(lambda: client.images.get(BUSYBOX))
        for i in range(6):
            if i in kills:
                proxy.arm(kills[i])
            with anyio.fail_after(STEP):
                result = await retrying(lambda i=i: client.run(image, ["echo", str(i)]))
            assert (result.code, result.stdout) == (0, f"{i}\n".encode())
            if i in kills:
                assert proxy.fired.is_set(), f"{kills[i]} was not reached: {proxy.counts}"
                await anyio.to_thread.run_sync(proxy.wait_restarted, STEP)
            proxy.reset()
    stock = await inventory(containerd_client)
    assert (stock.containers, stock.tasks, stock.leases, stock.ingests) == ((), (), (), ())
    assert stock.images == (BUSYBOX,)


# --- a create whose answer the kill loses -------------------------------------


@pytest.mark.parametrize("there", [True, False], ids=["anothers", "fresh"])
@pytest.mark.parametrize("kind", ["container", "task", "exec", "lease"])
async def test_a_create_whose_answer_is_lost(
    kind: str,
    there: bool,
    containerd_daemon: ContainerdDaemon,
    containerd_client: pycontainerd.Client,
    proxy: CuttingProxy,
    busybox_rootfs: Path,
) -> None:
    """The create reaches the daemon, which answers, and the daemon dies before the client reads it.

    The rollback cannot tell a refusal (``AlreadyExists``: the object of
    that name is another's) from a success by the answer: it looks at what
    the daemon has. Another's object stays as it was; the one this create
    made is removed, not leaked.
    """
    direct = containerd_client
    namespace = direct.namespace
    spec = host_spec(busybox_rootfs, ["sleep", "1000"], namespace=namespace, container_id="c")
    theirs = {"owner": "another"}
    if kind != "container" or there:
        await direct.containers.create("c", spec=spec, labels=theirs)
    if kind == "exec" or (kind == "task" and there):
        task = await (await direct.containers.get("c")).new_task()
        await task.start()
        if kind == "exec" and there:
            await task.exec(["sleep", "1000"], id="e", stdio=None)
    if kind == "lease" and there:
        await direct.leases.create("l", labels=theirs)
    process = pycontainerd.oci.Process(args=("true",), cwd="/", env=("PATH=/bin",))
    async with pycontainerd.Client(
        proxy.address, namespace=namespace, fifo_dir=containerd_daemon.fifo_dir
    ) as client:
        # Handles first, and the namespace's defaults read (once per client, by
        # a create): the kill is the next reply, the create's.
        await client.containers.create("warm-up", spec=spec)
        await client.containers.delete("warm-up")
        container = await client.containers.get("c") if kind == "task" else None
        handle = await client.tasks.get("c") if kind == "exec" else None

        async def create() -> None:
            if kind == "container":
                await client.containers.create("c", spec=spec)
            elif kind == "task":
                assert container is not None
                await container.new_task(stdio=stdio.capture())
            elif kind == "exec":
                assert handle is not None
                await handle.exec(process=process, id="e", stdio=stdio.capture())
            else:
                async with client.leases.lease("l"):
                    pass

        await client.version()
        proxy.arm(KillPoint("reply", 1))
        with anyio.fail_after(STEP), pytest.raises(errors.ConnectionError) as info:
            await create()
        assert info.value.in_flight
        created = {"container": "Containers/Create", "task": "Tasks/Create", "exec": "Tasks/Exec"}
        assert (info.value.method or "").endswith(created.get(kind, "Leases/Create"))
        await anyio.to_thread.run_sync(proxy.wait_restarted, STEP)
        assert proxy.fired.is_set()
        proxy.reset()
    stock = await inventory(direct)
    if kind == "container":
        assert stock.containers == (("c",) if there else ())
        if there:
            assert (await direct.containers.get("c")).labels == theirs
    elif kind == "task":
        assert stock.tasks == (("c",) if there else ())
        if there:  # another's task, running on
            status = await (await direct.tasks.get("c")).status()
            assert status.state is pycontainerd.TaskState.RUNNING
    elif kind == "exec":
        task = await direct.tasks.get("c")
        if there:
            status = await (await task.load_process("e")).status()
            assert status.state is pycontainerd.TaskState.RUNNING
        else:
            with pytest.raises(errors.NotFound):
                await task.load_process("e")
    else:
        assert stock.leases == (("l",) if there else ())
        if there:
            [lease] = await direct.leases.list("id==l")
            assert dict(lease.labels) == theirs
