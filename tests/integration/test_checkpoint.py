"""Checkpoint and restore against a daemon whose runc runs a CRIU that works on this kernel.

Debian 12's CRIU (3.17) fails ``criu check`` on newer kernels (it cannot read
their vDSO): this module's daemon gets the CRIU of a newer Debian suite on its
``PATH`` (`pycontainerd.testing.debian_criu`). Where even that CRIU's
``criu check`` fails, the tests that dump a task are skipped with CRIU's own
words; the others run.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import pycontainerd
from pycontainerd import _checkpoint, _oci, _transport, errors, oci
from pycontainerd._api.containerd.runc.v1 import CheckpointOptions
from pycontainerd.runtime import CriuOptions
from pycontainerd.testing import ContainerdDaemon, Inventory, debian_criu, inventory
from pycontainerd.testing.pytest_plugin import _chosen_containerd

pytestmark = pytest.mark.anyio

# Counts in /tmp/n (written aside and renamed, so a reader never sees it half-written).
COUNT = (
    "i=0; while true; do i=$((i+1)); echo $i >/tmp/n.new; mv /tmp/n.new /tmp/n; sleep 0.02; done"
)


def _criu_check(criu: Path) -> str | None:
    """CRIU's complaint when ``criu check`` fails on this machine, else ``None``."""
    done = subprocess.run(
        [str(criu / "criu"), "check"], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode == 0:
        return None
    errors_ = [line for line in done.stderr.splitlines() if "Error" in line]
    return "; ".join(errors_[-4:]) or done.stderr.strip()[-300:]


@pytest.fixture(scope="module")
def criu() -> Path:
    """The directory of the newer CRIU's launcher (fetched on first use)."""
    return debian_criu()


@pytest.fixture(scope="module")
def criu_failure(criu: Path) -> str | None:
    return _criu_check(criu)


@pytest.fixture
def criu_works(criu_failure: str | None) -> None:
    """Skip a test that dumps a task where CRIU cannot (the one skip the tests allow)."""
    if criu_failure is not None:
        pytest.skip(f"`criu check` fails on this kernel: {criu_failure}")


live = pytest.mark.usefixtures("criu_works")


@pytest.fixture(scope="module")
def containerd_daemon(criu: Path) -> Iterator[ContainerdDaemon]:
    """This module's daemon: the chosen containerd, with the newer CRIU first on its PATH."""
    with ContainerdDaemon(containerd=_chosen_containerd(), path=[criu]) as daemon:
        yield daemon


async def _counter(
    client: pycontainerd.Client, image: pycontainerd.Image, id: str
) -> tuple[pycontainerd.Container, pycontainerd.Task[None]]:
    spec = oci.Spec.from_image(
        await image.config(), namespace=client.namespace, id=id, args=["sh", "-c", COUNT]
    )
    container = await client.containers.create(id, image=image, spec=spec)
    task = await container.new_task()
    await task.start()
    await _count_reaches(task, 5)
    return container, task


async def _count(task: pycontainerd.Task[None]) -> int:
    result = await task.exec_run(["cat", "/tmp/n"], check=True)
    return int(result.stdout)


async def _count_reaches(task: pycontainerd.Task[None], at_least: int) -> int:
    with anyio.fail_after(20):
        while True:
            try:
                n = await _count(task)
            except (ValueError, errors.ExitCodeError):
                n = 0  # not written yet
            if n >= at_least:
                return n
            await anyio.sleep(0.05)


async def _index(client: pycontainerd.Client, image: pycontainerd.Image) -> dict[str, object]:
    return json.loads(await client.content.read(image.target.digest))


def _by_type(index: dict[str, object]) -> dict[str, dict[str, object]]:
    manifests = index["manifests"]
    assert isinstance(manifests, list)
    return {m["mediaType"]: m for m in manifests}


async def _settled(client: pycontainerd.Client) -> Inventory:
    """The namespace's inventory once a garbage collection has run (waited for).

    What the test's fixtures wrote without keeping (the imported archive's
    index, for one) may be collected at any time: comparing inventories taken
    after a collection each compares what is referenced.
    """
    async with client.leases.lease(sync_delete=True):
        pass
    return await inventory(client)


async def _stop(task: pycontainerd.Task[None]) -> None:
    await task.kill(9)
    await task.wait()
    await task.delete()


async def _discard(task: pycontainerd.Task[None]) -> None:
    """Stop the task and delete its container (snapshot first, as 1.6's collector needs)."""
    await _stop(task)
    await task.container.delete()


# --- what runs without CRIU ---------------------------------------------------------------


async def test_bad_input_is_refused_before_any_rpc(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    container = await containerd_client.containers.create("c", image=busybox_image)
    task = await container.new_task()
    before = await _settled(containerd_client)
    with pytest.raises(errors.InvalidArgument, match="relative"):
        await task.checkpoint(image_path="relative/dir")
    with pytest.raises(errors.InvalidArgument, match="image name"):
        await task.checkpoint(name=" padded ")
    with pytest.raises(errors.InvalidArgument, match="image name"):
        await container.checkpoint("")
    # Not a checkpoint: a plain image (its target is a manifest) cannot be restored.
    with pytest.raises(errors.InvalidArgument, match="not a checkpoint"):
        await containerd_client.restore("r", busybox_image)
    with pytest.raises(errors.InvalidArgument, match="not a checkpoint"):
        await container.new_task(checkpoint=busybox_image)
    with pytest.raises(errors.InvalidArgument, match="container"):
        await containerd_client.restore("bad/id", busybox_image)
    assert await _settled(containerd_client) == before
    await task.delete(force=True)
    await container.delete()


async def test_an_index_without_a_dump_or_names_is_refused(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    # An index holding only the image: no CRIU dump, no runtime or snapshotter.
    async with containerd_client.leases.lease() as leased:  # until the image holds it
        index, data, labels = _checkpoint._index([(busybox_image.target, None)], {})
        await _checkpoint.write_blobs(leased, [("t", data, labels)])
        image = await leased.images.create("not-a-checkpoint", index)
    container = await containerd_client.containers.create("c", image=busybox_image)
    with pytest.raises(errors.InvalidArgument, match="holds no task"):
        await container.new_task(checkpoint=image)
    with pytest.raises(errors.InvalidArgument, match="names no image name"):
        await containerd_client.restore("r", image)
    assert [c.id for c in await containerd_client.containers.list()] == ["c"]
    await container.delete()


async def test_checkpoint_without_a_task_is_not_found(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    container = await containerd_client.containers.create("c", image=busybox_image)
    before = await _settled(containerd_client)
    with pytest.raises(errors.NotFound):
        await container.checkpoint("ck")
    assert await _settled(containerd_client) == before
    await container.delete()


# --- live: CRIU dumps and restores ------------------------------------------------------------


@live
async def test_container_checkpoint_layout(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    container, task = await _counter(containerd_client, busybox_image, "c")
    image = await container.checkpoint("ck")
    assert image.name == "ck"
    assert image.target.media_type == _oci.OCI_INDEX
    index = await _index(containerd_client, image)
    assert index["annotations"] == {
        "io.containerd.checkpoint.runtime": "io.containerd.runc.v2",
        "io.containerd.checkpoint.snapshotter": "overlayfs",
        "org.opencontainers.image.ref.name": busybox_image.name,
    }
    parts = _by_type(index)
    assert set(parts) == {
        _oci.CHECKPOINT,
        _oci.CHECKPOINT_CONFIG,
        "application/vnd.containerd.container.checkpoint.options.v1+proto",
        _oci.OCI_LAYER_GZIP,
        busybox_image.target.media_type,
    }
    assert parts[busybox_image.target.media_type]["digest"] == busybox_image.target.digest
    # The spec blob is the container's spec as an Any message, as the daemon stores it.
    config = parts[_oci.CHECKPOINT_CONFIG]
    spec_any = pycontainerd._containers.AnyProto().parse(
        await containerd_client.content.read(str(config["digest"]))
    )
    assert spec_any.type_url == container.spec_type
    assert json.loads(spec_any.value) == json.loads(container.spec_json)
    # The options: Go's default for a container checkpoint keeps file locks.
    options = parts["application/vnd.containerd.container.checkpoint.options.v1+proto"]
    stored = pycontainerd._containers.AnyProto().parse(
        await containerd_client.content.read(str(options["digest"]))
    )
    assert CheckpointOptions().parse(stored.value) == CheckpointOptions(file_locks=True)
    # Every part is held by the index's GC labels, and nothing by a lease.
    info = await containerd_client.content.info(image.target.digest)
    assert sorted(info.labels.values()) == sorted(m["digest"] for m in index["manifests"])
    assert await containerd_client.leases.list() == []
    # The task is running again (it was paused for the dump).
    assert (await task.status()).state is pycontainerd.TaskState.RUNNING
    await _discard(task)


@live
async def test_counting_container_is_restored_where_it_was(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    container, task = await _counter(containerd_client, busybox_image, "c")
    checkpoint = await container.checkpoint("ck", exit=True)
    assert (await task.wait()).code != 0 or True  # exited by CRIU, whatever the code
    dumped = await _count_on_disk(containerd_client, container)
    await task.delete()
    restored = await containerd_client.restore("r", checkpoint, rw=True)
    assert restored.image_name == busybox_image.name
    assert restored.runtime.name == "io.containerd.runc.v2"
    assert json.loads(restored.spec_json) == json.loads(container.spec_json)
    async with await restored.new_task(checkpoint=checkpoint) as again:
        await again.start()
        # It carries on from the dumped count: neither from scratch nor from the
        # image (whose /tmp/n does not exist).
        first = await _count(again)
        assert dumped <= first < dumped + 50
        assert await _count_reaches(again, first + 10) > first
    await restored.delete()
    await container.delete()


async def _count_on_disk(client: pycontainerd.Client, container: pycontainerd.Container) -> int:
    """The count in the stopped container's rootfs, read through a view of its snapshot."""
    result = await client.run(
        await client.images.get(container.image_name),
        ["cat", "/mnt/tmp/n"],
        mounts=[
            oci.Mount(
                destination="/mnt",
                type="bind",
                source=await _upper_dir(client, container),
                options=["rbind", "ro"],
            )
        ],
        check=True,
    )
    return int(result.stdout)


async def _upper_dir(client: pycontainerd.Client, container: pycontainerd.Container) -> str:
    [mount] = await client.snapshots(container.snapshotter).mounts(container.snapshot_key)
    [upper] = [o.removeprefix("upperdir=") for o in mount.options if o.startswith("upperdir=")]
    return upper


@live
async def test_task_checkpoint_leaves_it_running_and_restores_in_place(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    container, task = await _counter(containerd_client, busybox_image, "c")
    image = await task.checkpoint()
    assert image.name.startswith("containerd.io/checkpoint/c:")
    assert image.labels == {"containerd.io/checkpoint": "true"}
    index = await _index(containerd_client, image)
    assert index["annotations"] == {"image.name": busybox_image.name}
    assert set(_by_type(index)) == {
        _oci.CHECKPOINT,
        _oci.CHECKPOINT_CONFIG,
        busybox_image.target.media_type,
        _oci.OCI_LAYER_GZIP,
    }
    # leave-running: it counts on
    n = await _count(task)
    assert await _count_reaches(task, n + 5) > n
    await _stop(task)
    # A task checkpoint names no image: it restores into its own container only.
    with pytest.raises(errors.InvalidArgument, match="only a container checkpoint"):
        await containerd_client.restore("r", image)
    async with await container.new_task(checkpoint=image) as again:
        await again.start()
        assert await _count(again) >= 5
    await container.delete()


@live
async def test_image_path_and_work_path_reach_criu(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image, tmp_path: Path
) -> None:
    container, task = await _counter(containerd_client, busybox_image, "c")
    images = await containerd_client.images.list()
    work = tmp_path / "work"
    dump = tmp_path / "dump"
    result = await task.checkpoint(
        image_path=str(dump), criu=CriuOptions(work_path=str(work)), exit=True
    )
    assert result is None
    assert (dump / "inventory.img").exists()  # CRIU's files, not in the store
    assert (work / "dump.log").exists()
    assert await containerd_client.images.list() == images
    assert (await task.wait()).exited_at is not None
    await task.delete()
    await container.delete()


# An established TCP connection inside the container, and the counter.
# (Each end reads a pipe that never ends: nc closes the connection at end of input.)
FOREVER = "(while true; do sleep 1; done)"
CONNECTED = (
    f"{FOREVER} | busybox nc -l -p 5000 >/dev/null & sleep 0.2; "
    f"{FOREVER} | busybox nc 127.0.0.1 5000 >/dev/null & {COUNT}"
)


@live
async def test_criu_failure_is_typed_and_leaves_the_task_running(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image, tmp_path: Path
) -> None:
    spec = oci.Spec.from_image(
        await busybox_image.config(),
        namespace=containerd_client.namespace,
        id="c",
        args=["sh", "-c", CONNECTED],
    )
    container = await containerd_client.containers.create("c", image=busybox_image, spec=spec)
    task = await container.new_task()
    await task.start()
    await _count_reaches(task, 20)
    before = await _settled(containerd_client)
    # CRIU refuses an established connection unless told to dump it.
    with pytest.raises(errors.Unknown, match="criu failed") as caught:
        await task.checkpoint(criu=CriuOptions(work_path=str(tmp_path)))
    assert "dump.log" in str(caught.value)  # runc names CRIU's log ...
    assert caught.value.__cause__ is not None  # ... and the daemon's error is kept
    assert "tcp-established" in (tmp_path / "dump.log").read_text()
    assert (await task.status()).state is pycontainerd.TaskState.RUNNING
    assert await _settled(containerd_client) == before
    await _discard(task)


@live
async def test_second_checkpoint_of_one_spec(
    containerd_daemon: ContainerdDaemon,
    containerd_client: pycontainerd.Client,
    busybox_image: pycontainerd.Image,
) -> None:
    _, task = await _counter(containerd_client, busybox_image, "c")
    first = await task.checkpoint(name="ck1")
    if containerd_daemon.version_info >= (2, 0, 0):
        second = await task.checkpoint(name="ck2")
        assert second.target.digest != first.target.digest
    else:
        # Before 2.0 the daemon fails once the spec blob is there: refused up front.
        before = await _settled(containerd_client)
        with pytest.raises(errors.AlreadyExists, match="earlier checkpoint"):
            await task.checkpoint(name="ck2", exit=True)
        assert await _settled(containerd_client) == before
        assert (await task.status()).state is pycontainerd.TaskState.RUNNING
    await _discard(task)


# Each RPC a container checkpoint makes, in order; the cancellation lands right
# after the daemon answered it, so what it made exists and must be undone.
CHECKPOINT_RPCS = [
    "Tasks/Pause",
    "Snapshots/View",
    "Diff/Diff",
    "Snapshots/Remove",
    "Tasks/Checkpoint",
    "Tasks/Resume",
    "Images/Create",
]


@live
@pytest.mark.parametrize("native", [False, True], ids=["anyio", "native"])
@pytest.mark.parametrize("after", CHECKPOINT_RPCS)
async def test_cut_short_checkpoint_leaves_nothing(
    containerd_client: pycontainerd.Client,
    busybox_image: pycontainerd.Image,
    after: str,
    native: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cancelled by a scope, or natively (``Task.cancel()``, as Ctrl-C under asyncio)."""
    container, task = await _counter(containerd_client, busybox_image, "c")
    before = await _settled(containerd_client)
    original = _transport.Caller.unary_raw
    seen: list[str] = []

    async def unary_raw(self: _transport.Caller, rpc: Any, request: Any, **kw: Any) -> bytes:
        reply = await original(self, rpc, request, **kw)
        seen.append(rpc.path)
        if rpc.path.endswith(after) and len([p for p in seen if p.endswith(after)]) == 1:
            if job is not None:
                # The checkpoint's own task, as Ctrl-C would (a cleanup step of
                # `_shield.finish` runs this call in a task of its own).
                job.cancel()
            else:
                scope.cancel()
        return reply

    scope = anyio.CancelScope()
    job: asyncio.Future[Any] | None = None
    monkeypatch.setattr(_transport.Caller, "unary_raw", unary_raw)
    if native:
        job = asyncio.ensure_future(container.checkpoint("ck"))
        with pytest.raises(asyncio.CancelledError):
            await job
    else:
        with scope:
            await container.checkpoint("ck")
        assert scope.cancelled_caught, seen
    monkeypatch.undo()
    assert any(path.endswith(after) for path in seen)
    assert await containerd_client.leases.list() == []
    # What the checkpoint wrote has no lease left, so the collector takes it. On
    # 1.7 a blob was once still listed right after the rollback's synchronous
    # lease deletion and gone a moment later: collect again (each waited for).
    for _ in range(20):
        if await _settled(containerd_client) == before:
            break
    assert await _settled(containerd_client) == before
    assert (await task.status()).state is pycontainerd.TaskState.RUNNING
    await _discard(task)


# --- pyctr and ctr ---------------------------------------------------------------------------


def _ctr_binary(daemon: ContainerdDaemon) -> str:
    """The ctr of the daemon's release: beside its binary, else the host's."""
    beside = daemon.containerd.parent / "ctr" if daemon.containerd is not None else None
    return str(beside) if beside is not None and beside.exists() else "ctr"


async def _command(
    daemon: ContainerdDaemon, namespace: str, program: list[str], *args: str
) -> subprocess.CompletedProcess[str]:
    with anyio.fail_after(120):
        done = await anyio.run_process(
            [*program, "-a", daemon.address, "-n", namespace, *args], check=False
        )
    result = subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )
    assert result.returncode == 0, result.stderr
    return result


@live
async def test_pyctr_checkpoint_and_restore(
    containerd_daemon: ContainerdDaemon,
    containerd_client: pycontainerd.Client,
    busybox_image: pycontainerd.Image,
) -> None:
    namespace = containerd_client.namespace
    pyctr = [sys.executable, "-m", "pycontainerd"]
    _, task = await _counter(containerd_client, busybox_image, "c")
    done = await _command(containerd_daemon, namespace, pyctr, "tasks", "checkpoint", "c")
    name = done.stdout.strip()
    assert name.startswith("containerd.io/checkpoint/c:")
    assert (await containerd_client.images.get(name)).labels == {"containerd.io/checkpoint": "true"}
    # (Before 2.0 a second checkpoint needs the first one's spec blob gone.)
    await containerd_client.images.delete(name, sync=True)
    await _command(
        containerd_daemon,
        namespace,
        pyctr,
        "containers",
        "checkpoint",
        "--task",
        "--rw",
        "c",
        "ck",
    )
    index = await _index(containerd_client, await containerd_client.images.get("ck"))
    # Only what the flags name (and the CRIU options, with the task): not the image.
    assert busybox_image.target.media_type not in _by_type(index)
    assert {_oci.CHECKPOINT, _oci.OCI_LAYER_GZIP} <= set(_by_type(index))
    await _discard(task)
    await _command(
        containerd_daemon, namespace, pyctr, "containers", "restore", "--live", "--rw", "r", "ck"
    )
    restored = await containerd_client.containers.get("r")
    again = await restored.task()
    assert (await again.status()).state is pycontainerd.TaskState.RUNNING
    assert await _count(again) >= 5  # resumed, not started afresh
    await _discard(again)


@live
async def test_ctr_and_the_sdk_restore_each_others_checkpoints(
    containerd_daemon: ContainerdDaemon,
    containerd_client: pycontainerd.Client,
    busybox_image: pycontainerd.Image,
) -> None:
    namespace = containerd_client.namespace
    ctr = _ctr_binary(containerd_daemon)
    # ctr restores the SDK's checkpoint ...
    container, task = await _counter(containerd_client, busybox_image, "sdk")
    await container.checkpoint("by-sdk", exit=True)
    await task.wait()
    await task.delete()
    await _command(
        containerd_daemon,
        namespace,
        [ctr],
        "containers",
        "restore",
        "--live",
        "--rw",
        "r1",
        "by-sdk",
    )
    by_ctr = await (await containerd_client.containers.get("r1")).task()
    assert await _count(by_ctr) >= 5
    await _discard(by_ctr)
    await container.delete()
    # ... and the SDK ctr's (of another container: r1's spec is by-sdk's, and
    # before 2.0 the daemon fails a second checkpoint of a stored spec, which
    # ctr takes for success and leaves the task out).
    _, task = await _counter(containerd_client, busybox_image, "other")
    await _command(
        containerd_daemon,
        namespace,
        [ctr],
        *("containers", "checkpoint", "--task", "--rw", "--image", "other", "by-ctr"),
    )
    await _discard(task)
    checkpoint = await containerd_client.images.get("by-ctr")
    restored = await containerd_client.restore("r2", checkpoint, rw=True)
    async with await restored.new_task(checkpoint=checkpoint) as again:
        await again.start()
        assert await _count(again) >= 5
    await restored.delete()
