"""Runtime and task options against the daemon: crun by BinaryName, the shim's cgroup and
binary, task options merged with the container's, rootfs mounts, namespace defaults."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from _taskutil import HostContainer, host_spec, make_busybox_rootfs

import pycontainerd
from pycontainerd import errors, oci, runtime, stdio
from pycontainerd.testing import ContainerdDaemon

pytestmark = pytest.mark.anyio

# crun 1.8 refuses to create any container when the cgroup v2 hierarchy of a
# hybrid layout has controllers, whatever its --cgroup-manager: this VM mounts
# v1 controllers under /sys/fs/cgroup with hugetlb left on the v2 one, which a
# test must not rearrange. The wrapper hides that one file, for crun only, in
# a mount namespace of its own: crun itself runs unchanged and still manages
# the container's v1 cgroups. On a host without that layout it changes nothing.
CRUN_WRAPPER = """#!/bin/sh
controllers=/sys/fs/cgroup/unified/cgroup.controllers
if [ -n "$(cat "$controllers" 2>/dev/null)" ]; then
    exec unshare --mount sh -c 'mount --bind /dev/null "$0" && exec /usr/bin/crun "$@"' \
        "$controllers" "$@"
fi
exec /usr/bin/crun "$@"
"""


def shim_pid(task: pycontainerd.Task[None]) -> int:
    """The shim of `task`: the parent of its process (the shim is its subreaper)."""
    status = Path(f"/proc/{task.pid}/status").read_text()
    [ppid] = [line.split()[1] for line in status.splitlines() if line.startswith("PPid:")]
    return int(ppid)


def shim_options(daemon: ContainerdDaemon, namespace: str, container_id: str) -> dict[str, object]:
    """The runc options the shim received for the task (the options.json of its bundle)."""
    bundle = daemon.state / "io.containerd.runtime.v2.task" / namespace / container_id
    data = json.loads((bundle / "options.json").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture
def crun_wrapper(tmp_path: Path) -> Path:
    assert Path("/usr/bin/crun").exists(), "crun is needed (apt-get install crun)"
    path = tmp_path / "crun"
    path.write_text(CRUN_WRAPPER)
    path.chmod(0o755)
    return path


async def test_crun_by_binary_name_runs_the_container(
    containerd_client: pycontainerd.Client,
    host_container: HostContainer,
    crun_wrapper: Path,
    tmp_path: Path,
) -> None:
    root = tmp_path / "crun-state"
    options = runtime.RuncOptions(binary_name=str(crun_wrapper), root=str(root))
    c = await host_container(["sleep", "60"], runtime_options=options)
    assert c.runtime.options == options
    async with await c.new_task() as task:
        await task.start()
        # crun's own state, in the Root the shim was given (plus the namespace):
        # crun reports the container running with the task's pid.
        state_dir = root / containerd_client.namespace
        state = await anyio.run_process(["crun", "--root", str(state_dir), "state", c.id])
        assert json.loads(state.stdout)["pid"] == task.pid
        assert json.loads(state.stdout)["status"] == "running"
        # runc cannot read it: the state is crun's format, not runc's.
        by_runc = await anyio.run_process(
            ["runc", "--root", str(state_dir), "state", c.id], check=False
        )
        assert by_runc.returncode != 0
        await task.kill(9)
        assert (await task.wait()).code == 137
    assert not (state_dir / c.id).exists()  # deleted through crun too
    await c.delete()


async def test_runtime_options_round_trip(
    containerd_client: pycontainerd.Client, host_container: HostContainer
) -> None:
    options = runtime.RuncOptions(
        binary_name="crun",
        root="/run/example",
        systemd_cgroup=True,
        no_pivot_root=True,
        io_uid=1000,
        io_gid=1000,
        shim_cgroup="/shims",
        criu_image_path="/ckpt",
        criu_work_path="/work",
    )
    c = await host_container(["true"], runtime_options=options)
    assert c.runtime == pycontainerd.Runtime(name="io.containerd.runc.v2", options=options)
    got = await containerd_client.containers.get(c.id)
    assert got.runtime.options == options
    [listed] = await containerd_client.containers.list(f"id=={c.id}")
    assert listed.runtime.options == options
    # Another shim's options stay opaque.
    opaque = pycontainerd.Extension(type_url="io.example.v1.Options", value=b"\x08\x01")
    other = await host_container(["true"], runtime="io.example.v1", runtime_options=opaque)
    assert (await containerd_client.containers.get(other.id)).runtime == pycontainerd.Runtime(
        name="io.example.v1", options=opaque
    )
    await c.delete()
    await other.delete()


async def test_task_options_change_a_copy_of_the_containers(
    containerd_client: pycontainerd.Client,
    containerd_daemon: ContainerdDaemon,
    host_container: HostContainer,
    tmp_path: Path,
) -> None:
    root = tmp_path / "runc-state"
    c = await host_container(["true"], runtime_options=runtime.RuncOptions(root=str(root)))
    async with await c.new_task(no_new_keyring=True, no_pivot_root=True) as task:
        # The shim got the container's root with the task's changes.
        got = shim_options(containerd_daemon, containerd_client.namespace, c.id)
        assert got.get("root") == str(root)
        assert got.get("no_new_keyring") is True
        assert got.get("no_pivot_root") is True
        assert (root / containerd_client.namespace / c.id).is_dir()  # runc used that root
        await task.start()
        assert (await task.wait()).code == 0
    # Without task options the container's go to the shim unchanged.
    async with await c.new_task() as task:
        got = shim_options(containerd_daemon, containerd_client.namespace, c.id)
        assert got.get("root") == str(root)
        assert "no_new_keyring" not in got
    await c.delete()


# The hierarchy a cgroup is made in: the v2 one on a unified host, else v1's pids.
UNIFIED = Path("/sys/fs/cgroup/cgroup.controllers").exists()
CGROUP_BASE = Path("/sys/fs/cgroup") if UNIFIED else Path("/sys/fs/cgroup/pids")


def cgroup_of(pid: int) -> str:
    """The cgroup of process `pid` in the hierarchy `shim_cgroup` makes its cgroup in."""
    controller = "" if UNIFIED else "pids"
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    return {line.split(":", 2)[1]: line.split(":", 2)[2] for line in lines}[controller]


@pytest.fixture
def shim_cgroup() -> Iterator[str]:
    """A new, empty cgroup, removed after the test."""
    path = CGROUP_BASE / f"pycontainerd-test-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    yield "/" + path.name
    # The shim leaves it when its task is deleted, a moment after the test's end.
    for _ in range(600):
        try:
            path.rmdir()
            break
        except OSError:  # EBUSY while the exiting shim is still in it
            time.sleep(0.05)
    else:
        path.rmdir()


async def test_shim_cgroup_holds_the_shim(
    containerd_client: pycontainerd.Client,
    host_container: HostContainer,
    shim_cgroup: str,
) -> None:
    c = await host_container(["sleep", "60"])
    async with await c.new_task(shim_cgroup=shim_cgroup) as task:
        pid = shim_pid(task)
        assert cgroup_of(pid) == shim_cgroup
        # The container's process is in its own cgroup, not the shim's.
        assert cgroup_of(task.pid) == f"/{containerd_client.namespace}/{c.id}"
        await task.kill(9)
        await task.wait()
    await c.delete()


async def test_runtime_path_starts_that_shim_binary(
    containerd_client: pycontainerd.Client,
    containerd_daemon: ContainerdDaemon,
    host_container: HostContainer,
    tmp_path: Path,
) -> None:
    binary = containerd_daemon.containerd or shutil.which("containerd")
    assert binary is not None
    shim = tmp_path / "my-shim"
    shutil.copy2(Path(binary).parent / "containerd-shim-runc-v2", shim)
    c = await host_container(["sleep", "60"])
    async with await c.new_task(runtime_path=str(shim)) as task:
        pid = shim_pid(task)
        assert os.readlink(f"/proc/{pid}/exe") == str(shim)
        await task.kill(9)
        await task.wait()
    await c.delete()


async def test_rootfs_mounts_go_over_the_snapshots(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image, tmp_path: Path
) -> None:
    own = make_busybox_rootfs(tmp_path / "own")
    (own / "only-here").write_text("mine\n")
    rootfs = [pycontainerd.Mount(type="bind", source=str(own), options=["rbind", "ro"])]
    spec = oci.Spec.from_image(
        await busybox_image.config(),
        args=["ls", "/"],
        namespace=containerd_client.namespace,
        id="c",
    )
    c = await containerd_client.containers.create("c", image=busybox_image, spec=spec)
    async with await c.new_task(stdio=stdio.capture(), rootfs=rootfs) as task:
        await task.start()
        await task.wait()
    async with await c.new_task(stdio=stdio.capture()) as plain:  # the snapshot again
        await plain.start()
        await plain.wait()
    await c.delete()
    assert "only-here" in task.captured_stdout.decode()
    assert "only-here" not in plain.captured_stdout.decode()


async def test_bad_task_options_are_refused_before_anything_is_made(
    containerd_client: pycontainerd.Client, host_container: HostContainer
) -> None:
    c = await host_container(["true"])
    with pytest.raises(errors.InvalidArgument, match="runtime_path"):
        await c.new_task(runtime_path="bin/shim")
    with pytest.raises(errors.InvalidArgument, match="io_uid"):
        await c.new_task(io_uid=1 << 32)
    with pytest.raises(errors.InvalidArgument, match="rootfs"):
        await c.new_task(rootfs=["/srv"])  # type: ignore[list-item]
    with pytest.raises(errors.InvalidArgument, match="runtime_options"):
        await containerd_client.containers.create("x", spec={}, runtime_options=b"")  # type: ignore[arg-type]
    assert await containerd_client.tasks.list() == []
    assert [x.id for x in await containerd_client.containers.list()] == [c.id]
    await c.delete()


async def test_namespace_default_snapshotter_is_used_everywhere(
    containerd_client: pycontainerd.Client, busybox_archive_bytes: bytes
) -> None:
    client = containerd_client
    await client.namespaces.update(
        client.namespace, labels={"containerd.io/defaults/snapshotter": "native"}
    )
    [image] = await client.images.import_archive(busybox_archive_bytes, unpack=True)
    assert await image.is_unpacked("native")
    c = await client.containers.create("web", image=image)
    assert c.snapshotter == "native"
    result = await client.run(image, ["echo", "hi"], id="once", remove=False)
    assert result.stdout == b"hi\n"
    assert (await client.containers.get("once")).snapshotter == "native"
    # No overlayfs snapshot was made: not for the layers, not for the containers.
    assert await client.snapshots("overlayfs").list() == []
    keys = {s.name for s in await client.snapshots("native").list()}
    assert {"web", "once"} <= keys
    # A snapshotter named by the caller wins.
    named = await client.containers.create("named", image=image, snapshotter="overlayfs")
    assert named.snapshotter == "overlayfs"
    for cid in ("web", "once", "named"):
        await client.containers.delete(cid)


async def test_namespace_default_runtime(
    containerd_client: pycontainerd.Client, busybox_rootfs: Path
) -> None:
    client = containerd_client
    await client.namespaces.update(
        client.namespace, labels={"containerd.io/defaults/runtime": "io.example.v1"}
    )
    view = client.with_namespace(client.namespace)  # reads the label afresh
    spec = host_spec(busybox_rootfs, ["true"], namespace=client.namespace, container_id="a")
    a = await view.containers.create("a", spec=spec)
    b = await view.containers.create("b", spec=spec, runtime="io.containerd.runc.v2")
    assert a.runtime.name == "io.example.v1"
    assert b.runtime.name == "io.containerd.runc.v2"
    await a.delete()
    await b.delete()


async def test_linux_runtime_v1_takes_create_options(
    containerd_client: pycontainerd.Client,
    containerd_daemon: ContainerdDaemon,
    host_container: HostContainer,
    shim_cgroup: str,
) -> None:
    c = await host_container(["sleep", "60"], runtime=runtime.LINUX_RUNTIME_V1)
    if containerd_daemon.version_info >= (2, 0, 0):
        # containerd 2.0 removed that runtime and with it the options' type.
        with pytest.raises(errors.Unknown, match=r"containerd\.linux\.runc\.CreateOptions"):
            await c.new_task(shim_cgroup=shim_cgroup)
        assert await containerd_client.tasks.list() == []
    else:
        # The keyword became CreateOptions, which put containerd-shim in the cgroup.
        async with await c.new_task(shim_cgroup=shim_cgroup) as task:
            assert os.path.basename(os.readlink(f"/proc/{shim_pid(task)}/exe")) == "containerd-shim"
            assert cgroup_of(shim_pid(task)) == shim_cgroup
            await task.kill(9)
            await task.wait()
    await c.delete()
