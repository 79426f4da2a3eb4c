"""Image.mount and Images.unmount (``ctr images mount`` / ``unmount``) against the daemon, as root."""

from __future__ import annotations

import asyncio
import errno
import os
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from _image_helpers import layered_image

import pycontainerd
from pycontainerd import SnapshotKind, _transport, errors
from pycontainerd._mount import unmount_all
from pycontainerd.testing import ContainerdDaemon, inventory

pytestmark = pytest.mark.anyio

BUSYBOX = anyio.Path("/bin/busybox")  # what the test image's /bin/busybox is a copy of


def mounted_on(path: Path) -> bool:
    """Whether the host's mount table has a mount on `path` (a path without escapes)."""
    with open("/proc/self/mountinfo") as table:
        return any(line.split()[4] == str(path) for line in table)


@pytest.fixture
async def target(tmp_path: Path) -> AsyncIterator[Path]:
    """An empty directory to mount on, unmounted after the test whatever happened."""
    path = tmp_path / "mnt"
    path.mkdir()
    yield path
    unmount_all(str(path))


async def leftovers(client: pycontainerd.Client) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The namespace's leases and snapshots."""
    inv = await inventory(client)
    return inv.leases, inv.snapshots


async def test_mount_reads_the_image_and_unmount_leaves_nothing(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image, target: Path
) -> None:
    before = await leftovers(containerd_client)
    mounted = await busybox_image.mount(target)
    assert mounted.target == str(target)
    assert mounted.image == busybox_image.name
    assert mounted.chain_id == await busybox_image.chain_id()
    assert mounted.snapshotter == "overlayfs"
    assert not mounted.rw
    assert mounted_on(target)
    # the image's file, read through the host path
    root = anyio.Path(target)
    assert await (root / "bin" / "busybox").read_bytes() == await BUSYBOX.read_bytes()
    assert (await (root / "etc" / "passwd").read_text()).startswith("root:x:0:0:")
    with pytest.raises(OSError, match="Read-only file system") as refused:
        await (root / "new").write_text("x")
    assert refused.value.errno == errno.EROFS
    # held by a lease named after the target, as ctr's
    info = await containerd_client.snapshots().stat(str(target))
    assert info.kind is SnapshotKind.VIEW
    assert info.parent == mounted.chain_id
    [lease] = [lease for lease in await containerd_client.leases.list() if lease.id == str(target)]
    assert lease.labels == {"containerd.io/gc.ref.snapshot.overlayfs": str(target)}
    assert lease.expires_at is None

    await containerd_client.images.unmount(target)
    assert not mounted_on(target)
    assert await leftovers(containerd_client) == before
    assert [p async for p in root.iterdir()] == []


async def test_a_writable_mount_keeps_its_changes_until_removed(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image, target: Path
) -> None:
    before = await leftovers(containerd_client)
    mounted = await busybox_image.mount(target, rw=True)
    assert mounted.rw
    (target / "note").write_text("kept")
    await containerd_client.images.unmount(target, remove=False)
    assert not mounted_on(target)
    kept = await leftovers(containerd_client)
    assert f"overlayfs/{target}" in kept[1]
    assert str(target) in kept[0]
    # a read-only mount of that key is refused, and what is there stays
    with pytest.raises(errors.AlreadyExists, match="writable"):
        await busybox_image.mount(target)
    assert await leftovers(containerd_client) == kept
    await busybox_image.mount(target, rw=True)
    assert (target / "note").read_text() == "kept"
    await containerd_client.images.unmount(target)
    assert await leftovers(containerd_client) == before


async def test_mount_refuses_a_bad_target_before_any_call(
    containerd_client: pycontainerd.Client,
    busybox_image: pycontainerd.Image,
    target: Path,
    tmp_path: Path,
) -> None:
    before = await leftovers(containerd_client)
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(errors.InvalidArgument, match="is not a directory"):
        await busybox_image.mount(a_file)
    with pytest.raises(errors.InvalidArgument, match="is not a directory"):
        await busybox_image.mount(tmp_path / "missing")
    with pytest.raises(errors.InvalidArgument, match="control characters"):
        await busybox_image.mount(str(target) + "\n")
    await busybox_image.mount(target)
    with pytest.raises(errors.AlreadyExists, match="already a mount point"):
        await busybox_image.mount(target)
    await containerd_client.images.unmount(target)
    assert await leftovers(containerd_client) == before


async def test_unmount_of_a_busy_mount_removes_nothing(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image, target: Path
) -> None:
    await busybox_image.mount(target)
    kept = await leftovers(containerd_client)
    # A process whose working directory is inside the mount keeps it busy.
    async with await anyio.open_process(["sleep", "30"], cwd=target / "bin") as sleeper:
        try:
            with pytest.raises(errors.FailedPrecondition, match="busy"):
                await containerd_client.images.unmount(target)
            assert mounted_on(target)
            assert await leftovers(containerd_client) == kept
        finally:
            sleeper.kill()
    await containerd_client.images.unmount(target)
    assert not mounted_on(target)


async def test_unmount_waits_for_a_process_leaving_the_mount(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image, target: Path
) -> None:
    """Busy is tried again for 2.5 s, as containerd's unmount does: a process that exits frees it."""
    before = await leftovers(containerd_client)
    await busybox_image.mount(target)
    async with await anyio.open_process(["sleep", "0.5"], cwd=target / "bin") as sleeper:
        started = anyio.current_time()
        await containerd_client.images.unmount(target)
        took = anyio.current_time() - started
        assert sleeper.returncode == 0  # it had left
    assert not mounted_on(target)
    assert await leftovers(containerd_client) == before
    assert 0.3 < took < 2.5, took


async def test_a_target_behind_a_symbolic_link_is_known_as_mounted(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image, tmp_path: Path
) -> None:
    """The mount table has resolved paths; the snapshot and lease keep the path as given."""
    real = tmp_path / "real"
    (real / "mnt").mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    via = tmp_path / "link" / "mnt"
    before = await leftovers(containerd_client)
    try:
        mounted = await busybox_image.mount(via)
        assert mounted.target == str(via)
        assert mounted_on(real / "mnt")
        kept = await leftovers(containerd_client)
        assert str(via) in kept[0]
        assert f"overlayfs/{via}" in kept[1]
        for again in (via, real / "mnt"):
            with pytest.raises(errors.AlreadyExists, match="already a mount point"):
                await busybox_image.mount(again)
            assert await leftovers(containerd_client) == kept
        await containerd_client.images.unmount(via)
        assert not mounted_on(real / "mnt")
        assert await leftovers(containerd_client) == before
    finally:
        unmount_all(str(real / "mnt"))


@pytest.mark.parametrize("platform", ["linux/arm/v7/x", 5, ["linux/amd64"]])
async def test_mount_refuses_a_bad_platform_before_any_call(
    containerd_client: pycontainerd.Client,
    busybox_image: pycontainerd.Image,
    target: Path,
    platform: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    original = _transport.Caller.unary_raw

    async def unary_raw(self: _transport.Caller, rpc: Any, request: Any, **kw: Any) -> bytes:
        calls.append(rpc.path)
        return await original(self, rpc, request, **kw)

    monkeypatch.setattr(_transport.Caller, "unary_raw", unary_raw)
    with pytest.raises(errors.InvalidArgument, match=re.escape(f"invalid platform {platform!r}")):
        await busybox_image.mount(target, platform=platform)
    assert calls == []
    assert not mounted_on(target)


async def test_mount_of_many_layers_passes_the_page_limit(
    containerd_client: pycontainerd.Client, target: Path
) -> None:
    layers = [{f"layer-{i}": f"{i}\n".encode()} for i in range(64)]
    image = await layered_image(containerd_client, "example.com/layers:64", layers)
    before = await leftovers(containerd_client)
    mounted = await image.mount(target)
    [overlay] = mounted.mounts
    assert overlay.type == "overlay"
    # more than the kernel copies of a mount's options
    assert len(",".join(overlay.options)) > os.sysconf("SC_PAGE_SIZE")
    assert sorted(os.listdir(target)) == sorted(f"layer-{i}" for i in range(64))
    assert (target / "layer-0").read_text() == "0\n"
    assert (target / "layer-63").read_text() == "63\n"
    await containerd_client.images.unmount(target)
    assert not mounted_on(target)
    # the image's own snapshots stay; the unpack made them for the image
    inv_after = await leftovers(containerd_client)
    assert inv_after[0] == before[0] == ()
    assert not [s for s in inv_after[1] if s.endswith(str(target))]
    # and go with it: nothing of the mount holds them (the test's cleanup
    # removes a chain a few snapshots at a time, too few for 64)
    await containerd_client.images.delete(image.name, sync=True)
    assert (await leftovers(containerd_client))[1] == ()


@pytest.mark.parametrize("native", [False, True], ids=["anyio", "native"])
async def test_a_cut_short_mount_leaves_nothing(
    containerd_client: pycontainerd.Client,
    busybox_image: pycontainerd.Image,
    target: Path,
    native: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cancelled after each of its calls in turn, by a scope or natively (``Task.cancel()``)."""
    before = await leftovers(containerd_client)
    original = _transport.Caller.unary_raw
    cut_after = 0
    calls: list[str] = []
    scope = anyio.CancelScope()
    job: asyncio.Future[Any] | None = None

    async def unary_raw(self: _transport.Caller, rpc: Any, request: Any, **kw: Any) -> bytes:
        reply = await original(self, rpc, request, **kw)
        calls.append(rpc.path)
        if len(calls) == cut_after:
            if job is not None:
                job.cancel()  # as Ctrl-C would, landing wherever the mount is
            else:
                scope.cancel()
        return reply

    monkeypatch.setattr(_transport.Caller, "unary_raw", unary_raw)
    await busybox_image.mount(target)  # once to its end, to count its calls
    whole = list(calls)
    await containerd_client.images.unmount(target)
    for cut_after in range(1, len(whole) + 1):
        calls.clear()
        if native:
            job = asyncio.ensure_future(busybox_image.mount(target))
            with pytest.raises(asyncio.CancelledError):
                await job
        else:
            scope = anyio.CancelScope()
            with scope:
                await busybox_image.mount(target)
            assert scope.cancelled_caught, whole[cut_after - 1]
        assert not mounted_on(target), whole[cut_after - 1]
        monkeypatch.undo()
        assert await leftovers(containerd_client) == before, whole[cut_after - 1]
        monkeypatch.setattr(_transport.Caller, "unary_raw", unary_raw)
    monkeypatch.undo()
    # the lease, its hold, the unpack's lease, the view, the unpack's lease deleted, ...
    assert any(path.endswith("Snapshots/View") for path in whole), whole
    assert sum(path.endswith("Leases/Create") for path in whole) == 2, whole


@pytest.mark.parametrize("native", [False, True], ids=["anyio", "native"])
async def test_a_mount_cut_short_while_unpacking_leaves_no_lease_or_key(
    containerd_client: pycontainerd.Client,
    target: Path,
    native: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The image is unpacked by the mount: cut after its first layer is applied."""
    image = await layered_image(
        containerd_client, "example.com/layers:2", [{"a": b"a"}, {"b": b"b"}]
    )
    original = _transport.Caller.unary_raw
    calls: list[str] = []
    scope = anyio.CancelScope()
    job: asyncio.Future[Any] | None = None

    async def unary_raw(self: _transport.Caller, rpc: Any, request: Any, **kw: Any) -> bytes:
        reply = await original(self, rpc, request, **kw)
        calls.append(rpc.path)
        if rpc.path.endswith("Diff/Apply"):
            if job is not None:
                job.cancel()
            else:
                scope.cancel()
        return reply

    monkeypatch.setattr(_transport.Caller, "unary_raw", unary_raw)
    if native:
        job = asyncio.ensure_future(image.mount(target))
        with pytest.raises(asyncio.CancelledError):
            await job
    else:
        with scope:
            await image.mount(target)
        assert scope.cancelled_caught
    monkeypatch.undo()
    assert sum(path.endswith("Diff/Apply") for path in calls) == 1, calls
    assert not mounted_on(target)
    leases, snapshots = await leftovers(containerd_client)
    assert leases == ()  # the mount's and the unpack's
    # no snapshot of the mount, and no extraction snapshot (committed layers
    # are the collector's, now that no lease holds them)
    assert [key for key in snapshots if key.endswith(str(target)) or " " in key] == []


@pytest.mark.parametrize("native", [False, True], ids=["anyio", "native"])
async def test_a_cut_short_remount_keeps_the_snapshot_and_lease_it_reuses(
    containerd_client: pycontainerd.Client,
    busybox_image: pycontainerd.Image,
    target: Path,
    native: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unmount without removal left them: each call of the mount again, answered or refused
    (``AlreadyExists``), is cut short in turn, and what it would have reused stays, changes and all."""
    before = await leftovers(containerd_client)
    await busybox_image.mount(target, rw=True)
    (target / "note").write_text("kept")
    await containerd_client.images.unmount(target, remove=False)
    kept = await leftovers(containerd_client)
    original = _transport.Caller.unary_raw
    cut_after = 0
    calls: list[str] = []
    scope = anyio.CancelScope()
    job: asyncio.Future[Any] | None = None

    async def unary_raw(self: _transport.Caller, rpc: Any, request: Any, **kw: Any) -> bytes:
        try:
            return await original(self, rpc, request, **kw)
        finally:  # a refusal too: it has answered, and the cancellation comes after
            calls.append(rpc.path)
            if len(calls) == cut_after:
                if job is not None:
                    job.cancel()
                else:
                    scope.cancel()

    monkeypatch.setattr(_transport.Caller, "unary_raw", unary_raw)
    await busybox_image.mount(target, rw=True)  # once to its end, to count its calls
    whole = list(calls)
    monkeypatch.undo()
    await containerd_client.images.unmount(target, remove=False)
    assert await leftovers(containerd_client) == kept
    for cut_after in range(1, len(whole) + 1):
        calls.clear()
        monkeypatch.setattr(_transport.Caller, "unary_raw", unary_raw)
        if native:
            job = asyncio.ensure_future(busybox_image.mount(target, rw=True))
            with pytest.raises(asyncio.CancelledError):
                await job
        else:
            scope = anyio.CancelScope()
            with scope:
                await busybox_image.mount(target, rw=True)
            assert scope.cancelled_caught, whole[cut_after - 1]
        monkeypatch.undo()
        assert not mounted_on(target), whole[cut_after - 1]
        assert await leftovers(containerd_client) == kept, whole[cut_after - 1]
    # the lease and the snapshot were refused as there already, and reused
    assert any(path.endswith("Leases/Create") for path in whole), whole
    assert any(path.endswith("Snapshots/Prepare") for path in whole), whole
    await busybox_image.mount(target, rw=True)
    assert (target / "note").read_text() == "kept"
    await containerd_client.images.unmount(target)
    assert await leftovers(containerd_client) == before


@pytest.mark.parametrize("native", [False, True], ids=["anyio", "native"])
async def test_a_cut_short_unmount_leaves_all_or_nothing(
    containerd_client: pycontainerd.Client,
    busybox_image: pycontainerd.Image,
    target: Path,
    native: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cut after each of its calls: the mount is whole, or gone with its snapshot and lease."""
    before = await leftovers(containerd_client)
    original = _transport.Caller.unary_raw
    cut_after = 0
    calls: list[str] = []
    scope = anyio.CancelScope()
    job: asyncio.Future[Any] | None = None

    async def unary_raw(self: _transport.Caller, rpc: Any, request: Any, **kw: Any) -> bytes:
        reply = await original(self, rpc, request, **kw)
        calls.append(rpc.path)
        if len(calls) == cut_after:
            if job is not None:
                job.cancel()
            else:
                scope.cancel()
        return reply

    await busybox_image.mount(target)
    mounted = await leftovers(containerd_client)
    monkeypatch.setattr(_transport.Caller, "unary_raw", unary_raw)
    await containerd_client.images.unmount(target)  # once to its end, to count its calls
    whole = list(calls)
    outcomes = set()
    for cut_after in range(1, len(whole) + 1):
        monkeypatch.undo()
        await busybox_image.mount(target)
        monkeypatch.setattr(_transport.Caller, "unary_raw", unary_raw)
        calls.clear()
        if native:
            job = asyncio.ensure_future(containerd_client.images.unmount(target))
            with pytest.raises(asyncio.CancelledError):
                await job
        else:
            scope = anyio.CancelScope()
            with scope:
                await containerd_client.images.unmount(target)
        monkeypatch.undo()
        left = await leftovers(containerd_client)
        if mounted_on(target):
            assert left == mounted, whole[cut_after - 1]
            outcomes.add("kept")
            await containerd_client.images.unmount(target)
        else:
            assert left == before, whole[cut_after - 1]
            outcomes.add("gone")
        monkeypatch.setattr(_transport.Caller, "unary_raw", unary_raw)
    monkeypatch.undo()
    assert outcomes == {"kept", "gone"}, whole
    assert await leftovers(containerd_client) == before


def _ctr_binary(daemon: ContainerdDaemon) -> str:
    """The ctr of the daemon's release: beside its binary, else the host's."""
    beside = daemon.containerd.parent / "ctr" if daemon.containerd is not None else None
    return str(beside) if beside is not None and beside.exists() else "ctr"


async def _ctr(daemon: ContainerdDaemon, namespace: str, *args: str) -> str:
    with anyio.fail_after(120):
        done = await anyio.run_process(
            [_ctr_binary(daemon), "-a", daemon.address, "-n", namespace, *args], check=False
        )
    result = subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_ctr_and_the_sdk_unmount_each_other_s_mounts(
    containerd_daemon: ContainerdDaemon,
    containerd_client: pycontainerd.Client,
    busybox_image: pycontainerd.Image,
    target: Path,
) -> None:
    namespace = containerd_client.namespace
    before = await leftovers(containerd_client)
    await _ctr(containerd_daemon, namespace, "images", "mount", busybox_image.name, str(target))
    busybox = anyio.Path(target) / "bin" / "busybox"
    assert await busybox.read_bytes() == await BUSYBOX.read_bytes()
    await containerd_client.images.unmount(target)
    assert not mounted_on(target)
    assert await leftovers(containerd_client) == before

    await busybox_image.mount(target)
    await _ctr(containerd_daemon, namespace, "images", "unmount", "--rm", str(target))
    assert not mounted_on(target)
    assert await leftovers(containerd_client) == before
