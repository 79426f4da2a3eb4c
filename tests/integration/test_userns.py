"""Containers in user namespaces: remapped rootfs snapshots (labels or the chown path), the spec side."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import anyio
import attrs
import pytest
from _mount_helpers import mounted

import pycontainerd
import pycontainerd.testing
from pycontainerd import errors, oci
from pycontainerd._oci import chain_id

pytestmark = pytest.mark.anyio

HOST = 100000  # where container root lands on the host
USERNS = oci.UserNamespace.remapped(HOST, HOST)


def _kernel_at_least(major: int, minor: int) -> bool:
    release = os.uname().release.split("-")[0].split(".")
    return (int(release[0]), int(release[1])) >= (major, minor)


def label_path(daemon: pycontainerd.testing.ContainerdDaemon, snapshotter: str) -> bool:
    """Whether the snapshotter shifts ids itself (else the client's chown path runs).

    containerd 2.x's overlayfs advertises ``remap-ids`` on kernels with
    idmapped overlay mounts (5.19+); 1.6 and 1.7 have no snapshotter that
    does, and ``native`` never does.
    """
    return (
        snapshotter == "overlayfs" and daemon.version_info >= (2, 0, 0) and _kernel_at_least(5, 19)
    )


async def _image(
    client: pycontainerd.Client, snapshotter: str, *, stray_owner: int | None = None
) -> pycontainerd.Image:
    """The busybox test image plus files that a remap must get right, unpacked in `snapshotter`."""
    with tempfile.TemporaryDirectory() as tmp:
        root = pycontainerd.testing.make_busybox_rootfs(Path(tmp) / "rootfs")
        suid = root / "usr" / "bin" / "suid"
        suid.write_text("#!/bin/sh\n")
        suid.chmod(0o4755)
        sgid = root / "usr" / "bin" / "sgid"
        sgid.write_text("#!/bin/sh\n")
        os.chown(sgid, 0, 50)
        sgid.chmod(0o2755)
        os.link(root / "etc" / "passwd", root / "etc" / "passwd.link")
        if stray_owner is not None:
            os.chown(root / "etc" / "group", stray_owner, stray_owner)
        config = attrs.evolve(pycontainerd.testing.BUSYBOX_CONFIG, cmd=("sleep", "1000"))
        name = "example.com/userns:stray" if stray_owner is not None else "example.com/userns:1"
        image = await client.images.create_from_directory(name, root, config=config)
    await image.unpack(snapshotter)
    return image


def _owner_mode(path: Path) -> tuple[int, int, int]:
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


@pytest.mark.parametrize("snapshotter", ["overlayfs", "native"])
async def test_container_in_a_user_namespace_sees_remapped_ownership(
    containerd_client: pycontainerd.Client,
    containerd_daemon: pycontainerd.testing.ContainerdDaemon,
    snapshotter: str,
) -> None:
    client = containerd_client
    image = await _image(client, snapshotter)
    chain = chain_id((await image.config()).diff_ids)
    snapshots = client.snapshots(snapshotter)
    labels_used = label_path(containerd_daemon, snapshotter)

    c = await client.containers.create(
        "userns", image=image, snapshotter=snapshotter, user_namespace=USERNS
    )
    assert c.spec.linux is not None
    assert any(n.type == "user" for n in c.spec.linux.namespaces)
    assert c.spec.linux.uid_mappings == USERNS.uid_mappings
    assert c.spec.linux.gid_mappings == USERNS.gid_mappings
    info = await snapshots.stat("userns")
    remapped = USERNS.remapped_snapshot_name(chain)
    if labels_used:
        # The snapshotter shifts ids at mount time: the image's own snapshot is the parent.
        assert info.parent == chain
        assert info.labels[oci.UID_MAPPING_LABEL] == f"0:{HOST}:65536"
        assert info.labels[oci.GID_MAPPING_LABEL] == f"0:{HOST}:65536"
        with pytest.raises(errors.NotFound):
            await snapshots.stat(remapped)
    else:
        # The chown path: a committed, remapped copy of the chain, and nothing half-made.
        assert info.parent == remapped
        assert (await snapshots.stat(remapped)).parent == chain
        assert not [s.name for s in await snapshots.list() if "-remap-" in s.name]
        with mounted(await snapshots.mounts("userns")) as root:
            assert _owner_mode(root)[:2] == (HOST, HOST)
            assert _owner_mode(root / "bin" / "busybox") == (HOST, HOST, 0o755)
            assert _owner_mode(root / "bin" / "sh")[:2] == (HOST, HOST)  # the link, not busybox
            assert _owner_mode(root / "home" / "app") == (HOST + 1000, HOST + 1000, 0o755)
            assert _owner_mode(root / "usr" / "bin" / "suid") == (HOST, HOST, 0o4755)
            assert _owner_mode(root / "usr" / "bin" / "sgid") == (HOST, HOST + 50, 0o2755)
            assert _owner_mode(root / "tmp") == (HOST, HOST, 0o1777)
            # Both names of a hard link, shifted once.
            assert _owner_mode(root / "etc" / "passwd")[:2] == (HOST, HOST)
            assert _owner_mode(root / "etc" / "passwd.link")[:2] == (HOST, HOST)

    async with await c.new_task() as task:
        await task.start()
        # From the host: the process and its root filesystem belong to the mapped ids.
        status = await anyio.Path(f"/proc/{task.pid}/status").read_text()
        [uid_line] = [line for line in status.splitlines() if line.startswith("Uid:")]
        assert uid_line.split()[1:] == [str(HOST)] * 4
        proc_root = Path(f"/proc/{task.pid}/root")
        assert _owner_mode(proc_root / "bin" / "busybox")[:2] == (HOST, HOST)
        assert _owner_mode(proc_root / "usr" / "bin" / "suid") == (HOST, HOST, 0o4755)
        # From inside: root, the map, and the image's ids as the image had them.
        assert (await task.exec_run(["id", "-u"], check=True)).stdout == b"0\n"
        uid_map = (await task.exec_run(["cat", "/proc/self/uid_map"], check=True)).stdout.split()
        assert uid_map == [b"0", str(HOST).encode(), b"65536"]
        gid_map = (await task.exec_run(["cat", "/proc/self/gid_map"], check=True)).stdout.split()
        assert gid_map == [b"0", str(HOST).encode(), b"65536"]
        listing = await task.exec_run(["ls", "-lnd", "/home/app", "/usr/bin/sgid"], check=True)
        [app, sgid] = [line.split() for line in listing.stdout.decode().splitlines()]
        assert app[2:4] == ["1000", "1000"]
        assert sgid[0] == "-rwxr-sr-x"
        assert sgid[2:4] == ["0", "50"]
        # A file the container writes belongs to its root, mapped on the host.
        await task.exec_run(["touch", "/made-inside"], check=True)
        assert _owner_mode(proc_root / "made-inside")[:2] == (HOST, HOST)

    # The next container with the same image and mappings reuses the remapped
    # snapshot (the chown path runs once); a read-only one gets a view of it.
    before = None if labels_used else await snapshots.stat(remapped)
    view = await client.containers.create(
        "userns-view", image=image, snapshotter=snapshotter, user_namespace=USERNS, readonly=True
    )
    info = await snapshots.stat("userns-view")
    assert info.kind is pycontainerd.SnapshotKind.VIEW
    assert info.parent == (chain if labels_used else remapped)
    if before is not None:
        assert await snapshots.stat(remapped) == before
    await view.delete()
    await c.delete()
    if before is not None:
        # The remapped snapshot stays with the image (a garbage collection runs
        # when a lease is deleted with sync), ready for the next container.
        async with client.leases.lease(sync_delete=True):
            pass
        assert await snapshots.stat(remapped) == before


async def test_chown_path_refuses_a_file_the_namespace_does_not_map(
    containerd_client: pycontainerd.Client,
) -> None:
    # native never shifts ids itself: the chown path on every release.
    client = containerd_client
    image = await _image(client, "native", stray_owner=70000)
    with pytest.raises(errors.InvalidArgument, match="'/etc/group' belongs to 70000:70000"):
        await client.containers.create(
            "stray", image=image, snapshotter="native", user_namespace=USERNS
        )
    # Nothing left: no container, no half-remapped snapshot, no remapped one.
    assert await client.containers.list() == []
    assert await client.leases.list() == []
    chain = chain_id((await image.config()).diff_ids)
    assert [s.name for s in await client.snapshots("native").list()] == [chain]
    # A mapping wide enough for the file works.
    wide = oci.UserNamespace.remapped(HOST, HOST, size=80000)
    c = await client.containers.create(
        "stray", image=image, snapshotter="native", user_namespace=wide
    )
    with mounted(await client.snapshots("native").mounts("stray")) as root:
        assert _owner_mode(root / "etc" / "group")[:2] == (HOST + 70000, HOST + 70000)
    await c.delete()


async def test_snapshot_labels_and_a_given_spec(
    containerd_client: pycontainerd.Client,
    containerd_daemon: pycontainerd.testing.ContainerdDaemon,
    busybox_image: pycontainerd.Image,
) -> None:
    client = containerd_client
    c = await client.containers.create(
        "labelled", image=busybox_image, snapshot_labels={"example.com/tier": "web"}
    )
    assert (await client.snapshots().stat("labelled")).labels["example.com/tier"] == "web"

    # A spec of the caller's gets the namespace and mappings (and its cgroups path).
    config = await busybox_image.config()
    spec = oci.Spec.from_image(config, args=["sleep", "1000"])
    u = await client.containers.create(
        "given-spec",
        image=busybox_image,
        spec=spec,
        user_namespace=USERNS,
        snapshot_labels={"example.com/tier": "web"},
    )
    assert u.spec == spec.with_cgroups_path(f"/{client.namespace}/given-spec").with_user_namespace(
        USERNS.uid_mappings, USERNS.gid_mappings
    )
    info = await client.snapshots().stat("given-spec")
    assert info.labels["example.com/tier"] == "web"
    assert (oci.UID_MAPPING_LABEL in info.labels) is label_path(containerd_daemon, "overlayfs")
    await u.delete()
    await c.delete()


async def test_bad_user_namespace_options_are_refused_before_anything_is_made(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    client = containerd_client
    spec = oci.Spec.default().with_args(["true"])
    with pytest.raises(errors.InvalidArgument, match="user_namespace applies to the new snapshot"):
        await client.containers.create("bad", spec=spec, user_namespace=USERNS)
    with pytest.raises(errors.InvalidArgument, match="snapshot_labels applies"):
        await client.containers.create(
            "bad", image=busybox_image, snapshot="x", snapshot_labels={"a": "b"}
        )
    with pytest.raises(errors.InvalidArgument, match=r"must be an oci\.UserNamespace"):
        await client.containers.create("bad", image=busybox_image, user_namespace="0:1:2")  # type: ignore[arg-type]
    mapping = [oci.IDMapping(container_id=0, host_id=200000, size=65536)]
    other = spec.with_user_namespace(mapping, mapping)
    with pytest.raises(errors.InvalidArgument, match="id mappings differ"):
        await client.containers.create(
            "bad", image=busybox_image, spec=other, user_namespace=USERNS
        )
    with pytest.raises(errors.InvalidArgument, match="is not an OCI spec"):
        await client.containers.create(
            "bad", image=busybox_image, spec=b"{not json", user_namespace=USERNS
        )
    # JSON is read into an oci.Spec to take the mappings.
    made = await client.containers.create(
        "json", image=busybox_image, spec=spec.to_dict(), user_namespace=USERNS
    )
    assert made.spec == spec.with_cgroups_path(f"/{client.namespace}/json").with_user_namespace(
        USERNS.uid_mappings, USERNS.gid_mappings
    )
    await made.delete()
    assert await client.containers.list() == []


@pytest.mark.parametrize("native", [False, True], ids=["anyio-cancel", "task-cancel"])
async def test_create_cancelled_while_remapping_leaves_nothing(
    containerd_client: pycontainerd.Client,
    monkeypatch: pytest.MonkeyPatch,
    native: bool,
) -> None:
    # native: the chown path on every release. Cancelled half-way through the
    # files (the second batch), by anyio or by asyncio's own Task.cancel().
    import asyncio

    from pycontainerd import _remap

    client = containerd_client
    image = await _image(client, "native")
    monkeypatch.setattr(_remap, "_BATCH", 8)
    chown_some = _remap._chown_some
    calls = 0
    with anyio.CancelScope() as scope:
        task = asyncio.current_task()
        assert task is not None

        def cancel_on_second(*args: object) -> bool:
            nonlocal calls
            calls += 1
            if calls == 2:
                anyio.from_thread.run_sync(task.cancel if native else scope.cancel)
            return chown_some(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(_remap, "_chown_some", cancel_on_second)
        try:
            await client.containers.create(
                "cut", image=image, snapshotter="native", user_namespace=USERNS
            )
        except asyncio.CancelledError:
            if not native:
                raise  # to the scope, which catches its own
            task.uncancel()
        else:
            pytest.fail("the create was not cancelled")
    assert calls == 2
    assert await client.containers.list() == []
    assert await client.leases.list() == []
    chain = chain_id((await image.config()).diff_ids)
    assert [s.name for s in await client.snapshots("native").list()] == [chain]
    mountinfo = await anyio.Path("/proc/self/mountinfo").read_text()
    assert "pycontainerd-remap-" not in mountinfo
    assert not [p async for p in anyio.Path(tempfile.gettempdir()).glob("pycontainerd-remap-*")]
    # The half-remapped snapshot was removed, not left to the lease's garbage
    # collection (which leaves the image's snapshot a child it cannot lose).
    await client.snapshots("native").remove(chain)


async def test_containers_remapped_at_once_share_one_remapped_snapshot(
    containerd_client: pycontainerd.Client,
) -> None:
    # native: the chown path on every release. However the two interleave
    # (one reuses the other's, or both remap and the second commit loses),
    # both get the same remapped parent and no work snapshot is left.
    client = containerd_client
    image = await _image(client, "native")
    made: list[pycontainerd.Container] = []

    async def create(id: str) -> None:
        made.append(
            await client.containers.create(
                id, image=image, snapshotter="native", user_namespace=USERNS
            )
        )

    async with anyio.create_task_group() as tg:
        tg.start_soon(create, "one")
        tg.start_soon(create, "two")
    chain = chain_id((await image.config()).diff_ids)
    remapped = USERNS.remapped_snapshot_name(chain)
    snapshots = client.snapshots("native")
    assert sorted(s.name for s in await snapshots.list()) == sorted([chain, remapped, "one", "two"])
    assert [(await snapshots.stat(c.id)).parent for c in made] == [remapped, remapped]
    assert await client.leases.list() == []
    for c in made:
        await c.delete()
