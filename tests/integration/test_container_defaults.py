"""What containerd's client fills in for a container: no command from the image, cgroups per namespace, Task.spec."""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio
import attrs
import pytest

import pycontainerd
import pycontainerd.testing
from pycontainerd import errors, oci

pytestmark = pytest.mark.anyio


async def test_image_without_a_command_creates_and_its_task_says_why_not(
    containerd_client: pycontainerd.Client,
) -> None:
    client = containerd_client
    with tempfile.TemporaryDirectory() as tmp:
        root = pycontainerd.testing.make_busybox_rootfs(Path(tmp) / "rootfs")
        config = attrs.evolve(pycontainerd.testing.BUSYBOX_CONFIG, cmd=(), entrypoint=())
        image = await client.images.create_from_directory(
            "example.com/no-command:1", root, config=config
        )
    await image.unpack()

    # As containerd's client: created, with no process args.
    c = await client.containers.create("no-command", image=image)
    assert c.spec.process is not None
    assert c.spec.process.args == ()
    assert "args" not in c.spec.to_dict()["process"]

    # The runtime refuses it when the task is created; the error says what to do.
    with pytest.raises(errors.InvalidArgument, match="'no-command' has no command to run") as info:
        await c.new_task(stdio=pycontainerd.stdio.pipes())
    cause = info.value.__cause__
    assert isinstance(cause, errors.Unknown)  # runc's words, as every release sends them
    assert "args must not be empty" in str(cause)
    assert await client.tasks.list() == []

    # The usual way to run such an image: give the container a command, then
    # exec into its task. The task's spec is the container's as stored now.
    spec = c.spec.with_args(["sleep", "1000"])
    await c.update(spec=spec)
    async with await c.new_task() as task:
        await task.start()
        result = await task.exec_run(["sh", "-c", "echo in $PWD"], check=True)
        assert result.stdout == b"in /\n"
        assert task.container.spec.process is not None
        assert task.container.spec.process.args == ()  # the handle's copy, made before the update
        assert await task.spec() == spec
        annotated = spec.with_annotations({"example.com/note": "later"})
        await c.update(spec=annotated)
        assert await task.spec() == annotated
    await c.delete()
    with pytest.raises(errors.NotFound):
        await task.spec()


async def test_same_container_id_in_two_namespaces_gets_two_cgroups(
    containerd_client: pycontainerd.Client,
    busybox_archive_bytes: bytes,
) -> None:
    first = containerd_client
    second = first.with_namespace(first.namespace + "-b")
    await second.namespaces.create(second.namespace)
    try:
        pids = {}
        tasks = []
        for client in (first, second):
            [image] = await client.images.import_archive(busybox_archive_bytes, unpack=True)
            # A spec built without namespace and id: create gives it /<namespace>/<id>.
            spec = oci.Spec.from_image(await image.config(), args=["sleep", "1000"])
            assert spec.linux is not None
            assert spec.linux.cgroups_path == ""
            c = await client.containers.create("web", image=image, spec=spec)
            assert c.spec.linux is not None
            assert c.spec.linux.cgroups_path == f"/{client.namespace}/web"
            task = await c.new_task()
            tasks.append(task)
            pids[client.namespace] = await task.start()
        # Both run at once, each in its own cgroup.
        for namespace, pid in pids.items():
            lines = (await anyio.Path(f"/proc/{pid}/cgroup").read_text()).splitlines()
            assert any(line.endswith(f":/{namespace}/web") for line in lines), lines
        for task in tasks:
            await task.aclose()
            await task.container.delete()
        # client.run, given such a spec, too (it sends the spec as a dict).
        image = await first.images.get(pycontainerd.testing.BUSYBOX_IMAGE)
        spec = oci.Spec.from_image(await image.config(), args=["cat", "/proc/self/cgroup"])
        result = await first.run(image, spec=spec, id="probe", check=True)
        assert f":/{first.namespace}/probe\n" in result.stdout.decode()
    finally:
        await pycontainerd.testing.empty_namespace(second)
