"""The daemon and runc accept the specs pycontainerd.oci builds (raw RPCs, real daemon)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import anyio
import pytest
from betterproto.lib.google.protobuf import Any as ProtoAny

import pycontainerd
from pycontainerd import oci
from pycontainerd._api import _rpc
from pycontainerd._api.containerd.services.containers.v1 import (
    Container,
    ContainerRuntime,
    CreateContainerRequest,
    DeleteContainerRequest,
    GetContainerRequest,
)
from pycontainerd._api.containerd.services.tasks.v1 import (
    CreateTaskRequest,
    DeleteTaskRequest,
    StartRequest,
    WaitRequest,
)
from pycontainerd.testing import inventory

pytestmark = pytest.mark.anyio

_CONTAINERS = "/containerd.services.containers.v1.Containers/"
_TASKS = "/containerd.services.tasks.v1.Tasks/"
_APPLETS = ("sh", "id", "env", "cat", "hostname", "pwd", "grep")


def _rootfs(path: Path) -> Path:
    """A tiny root filesystem: busybox-static, and the passwd/group files of the unit tests."""
    (path / "bin").mkdir(parents=True)
    shutil.copy2("/bin/busybox", path / "bin" / "busybox")
    for applet in _APPLETS:
        os.symlink("busybox", path / "bin" / applet)
    shutil.copytree(Path(__file__).parents[1] / "data" / "oci_rootfs" / "etc", path / "etc")
    (path / "out").mkdir()
    return path


async def _create(client: pycontainerd.Client, container_id: str, spec: oci.Spec) -> None:
    await client._caller.unary(
        _rpc.Containers.Create,
        CreateContainerRequest(
            container=Container(
                id=container_id,
                runtime=ContainerRuntime(name="io.containerd.runc.v2"),
                spec=ProtoAny(type_url=oci.SPEC_TYPE_URL, value=spec.to_json()),
            )
        ),
    )


async def _run(client: pycontainerd.Client, container_id: str) -> int:
    """Create, start, wait for and delete the container's task; the exit code."""
    await client._caller.unary(_rpc.Tasks.Create, CreateTaskRequest(container_id=container_id))
    try:
        await client._caller.unary(_rpc.Tasks.Start, StartRequest(container_id=container_id))
        reply = await client._caller.unary(
            _rpc.Tasks.Wait, WaitRequest(container_id=container_id), timeout=60
        )
        return reply.exit_status
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(30):
            await client._caller.unary(
                _rpc.Tasks.Delete, DeleteTaskRequest(container_id=container_id)
            )


async def _delete(client: pycontainerd.Client, container_id: str) -> None:
    await client._caller.unary(_rpc.Containers.Delete, DeleteContainerRequest(id=container_id))


async def test_daemon_stores_the_spec_unchanged(containerd_client: pycontainerd.Client) -> None:
    namespace = containerd_client._caller.namespace
    spec = (
        oci.Spec.default(namespace=namespace, id="stored")
        .with_args(["sh"])
        .with_annotations({"x": "y"})
    )
    data = json.loads(spec.to_json())
    data["linux"]["personality"] = {"domain": "LINUX"}  # unknown to the model, kept
    spec = oci.Spec.from_dict(data)
    await _create(containerd_client, "stored", spec)
    reply = await containerd_client._caller.unary(
        _rpc.Containers.Get, GetContainerRequest(id="stored")
    )
    assert reply.container.spec.type_url == oci.SPEC_TYPE_URL
    assert oci.Spec.from_json(reply.container.spec.value) == spec
    await _delete(containerd_client, "stored")


async def test_runc_runs_a_spec_from_an_image_config(
    containerd_client: pycontainerd.Client, tmp_path: Path
) -> None:
    rootfs = _rootfs(tmp_path / "rootfs")
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)  # the container runs as uid 1000
    namespace = containerd_client._caller.namespace
    config = pycontainerd.ImageConfig(
        env=("PATH=/bin", "FROM_IMAGE=1", "OVERRIDE=image"),
        entrypoint=("sh", "-c"),
        cmd=("exit 9",),
        working_dir="/etc",
        user="alice",
    )
    script = (
        "id > /out/id; env > /out/env; hostname > /out/hostname; pwd > /out/pwd;"
        " grep CapEff /proc/self/status > /out/caps;"
        " (echo x > /readonly-probe) 2>/dev/null; echo $? > /out/readonly;"
        " cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us"
        " /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/pids/pids.max > /out/cgroup;"
        " exit 7"
    )
    spec = (
        oci.Spec.from_image(
            config,
            args=[script],
            env={"OVERRIDE": "mine"},
            rootfs=rootfs,
            namespace=namespace,
            id="runner",
        )
        .with_rootfs_path(rootfs)
        .with_readonly_rootfs()
        .with_hostname("oci-test")
        .with_mounts(
            [
                oci.Mount.parse(f"type=bind,src={out},dst=/out,options=rbind:rw"),
                oci.Mount.parse("type=cgroup,src=cgroup,dst=/sys/fs/cgroup,options=ro:nosuid"),
            ]
        )
        .with_dropped_capabilities(["CAP_NET_RAW"])
        .with_memory_limit(64 * 2**20)
        .with_cpu_limit(0.5)
        .with_pids_limit(32)
    )
    await _create(containerd_client, "runner", spec)
    try:
        assert await _run(containerd_client, "runner") == 7
    finally:
        await _delete(containerd_client, "runner")

    ids = (out / "id").read_text().split()
    assert ids[0] == "uid=1000(alice)"
    assert ids[1] == "gid=1000(alice)"
    # Supplementary groups resolved from the rootfs's /etc/group (the kernel sorts them).
    assert ids[2] == "groups=44(video),50(staff),100(users),1000(alice)"
    env = (out / "env").read_text().splitlines()
    assert "FROM_IMAGE=1" in env
    assert "OVERRIDE=mine" in env
    assert "PATH=/bin" in env
    assert (out / "hostname").read_text() == "oci-test\n"
    assert (out / "pwd").read_text() == "/etc\n"
    assert (out / "readonly").read_text().strip() != "0"
    # The resource limits reached the container's cgroups (cgroup v1 host).
    assert (out / "cgroup").read_text().split() == [str(64 * 2**20), "50000", "100000", "32"]
    # A non-root user keeps no effective capabilities (no ambient set).
    assert (out / "caps").read_text().split() == ["CapEff:", "0000000000000000"]
    assert (await inventory(containerd_client)).containers == ()


async def test_runc_applies_default_capabilities_and_tty_spec(
    containerd_client: pycontainerd.Client, tmp_path: Path
) -> None:
    rootfs = _rootfs(tmp_path / "rootfs")
    out = tmp_path / "out"
    out.mkdir()
    namespace = containerd_client._caller.namespace
    spec = (
        oci.Spec.default(namespace=namespace, id="caps")
        .with_default_path_env()
        .with_args(["sh", "-c", "grep CapBnd /proc/self/status > /out/caps; id -u > /out/uid"])
        .with_rootfs_path(rootfs)
        .with_user("0:0")
        .with_added_capabilities(["CAP_NET_ADMIN"])
        .with_dropped_capabilities(["CAP_MKNOD"])
        .with_mounts(
            [oci.Mount(destination="/out", type="bind", source=str(out), options=("rbind",))]
        )
    )
    await _create(containerd_client, "caps", spec)
    try:
        assert await _run(containerd_client, "caps") == 0
    finally:
        await _delete(containerd_client, "caps")
    mask = int((out / "caps").read_text().split()[1], 16)
    expected = 0
    bits = {name: bit for bit, name in enumerate(oci.KNOWN_CAPABILITIES)}
    for name in (*oci.DEFAULT_CAPABILITIES, "CAP_NET_ADMIN"):
        if name != "CAP_MKNOD":
            expected |= 1 << bits[name]
    assert mask == expected
    assert (out / "uid").read_text() == "0\n"
