from __future__ import annotations

import attrs
import pytest
from _taskutil import HostContainer, runtime_stock

import pycontainerd
from pycontainerd import errors, oci, testing

pytestmark = pytest.mark.anyio


async def test_create_get_list_delete(
    containerd_client: pycontainerd.Client, host_container: HostContainer
) -> None:
    c = await host_container(["true"], labels={"app": "web", "tier": "front"})
    got = await containerd_client.containers.get(c.id)
    assert got == c
    assert got.labels == {"app": "web", "tier": "front"}
    assert got.runtime.name == "io.containerd.runc.v2"
    assert got.created_at is not None
    assert got.snapshot_key == ""
    assert isinstance(got.spec, oci.Spec)
    assert got.spec.process is not None
    assert list(got.spec.process.args) == ["true"]
    assert [x.id for x in await containerd_client.containers.list()] == [c.id]
    await got.delete()
    with pytest.raises(errors.NotFound):
        await containerd_client.containers.get(c.id)
    with pytest.raises(errors.NotFound):
        await containerd_client.containers.delete(c.id)


async def test_bad_id_and_missing_spec(containerd_client: pycontainerd.Client) -> None:
    with pytest.raises(errors.InvalidArgument, match="no good"):
        await containerd_client.containers.create("no good", spec={})
    with pytest.raises(errors.InvalidArgument, match="spec or an image"):
        await containerd_client.containers.create("nothing")
    await containerd_client.containers.create("dup", spec={})
    with pytest.raises(errors.AlreadyExists):
        await containerd_client.containers.create("dup", spec={})
    await containerd_client.containers.delete("dup")
    assert (await testing.inventory(containerd_client)).empty


async def test_list_filters_by_label(
    containerd_client: pycontainerd.Client, host_container: HostContainer
) -> None:
    a = await host_container(["true"], labels={"app": "a"})
    b = await host_container(["true"], labels={"app": "b", "extra": "1"})
    await host_container(["true"])
    cs = containerd_client.containers
    assert [x.id for x in await cs.list("labels.app==a")] == [a.id]
    assert sorted(x.id for x in await cs.list("labels.app==a", "labels.extra")) == sorted(
        [a.id, b.id]
    )
    assert [x.id for x in await cs.list("labels.app==b,labels.extra==1")] == [b.id]
    assert await cs.list("labels.app==zzz") == []


async def test_update_labels_key_by_key_and_other_fields(
    containerd_client: pycontainerd.Client, host_container: HostContainer
) -> None:
    c = await host_container(["true"], labels={"keep": "1", "change": "old", "drop": "x"})
    cs = containerd_client.containers
    updated = await cs.update(c.id, labels={"change": "new", "drop": None, "add": "2"})
    assert updated.labels == {"keep": "1", "change": "new", "add": "2"}
    assert (await cs.get(c.id)).labels == updated.labels
    assert updated.updated_at is not None
    assert c.updated_at is not None
    assert updated.updated_at > c.updated_at
    # The spec was not touched by a label update.
    assert (await cs.get(c.id)).spec_json == c.spec_json

    replaced = await c.update(labels={"only": "this"}, replace_labels=True)
    assert (await cs.get(c.id)).labels == {"only": "this"} == replaced.labels

    new_spec = c.spec.with_args(["echo", "changed"])
    ext = pycontainerd.Extension(type_url="example.com/x", value=b"\x01\x02")
    await cs.update(c.id, spec=new_spec, image="example.com/img:1", extensions={"mine": ext})
    got = await cs.get(c.id)
    assert list(got.spec.process.args) == ["echo", "changed"]
    assert got.image_name == "example.com/img:1"
    assert got.extensions == {"mine": ext}
    assert got.labels == {"only": "this"}
    ext2 = pycontainerd.Extension(type_url="example.com/y", value=b"2")
    await cs.update(c.id, extensions={"other": ext2})
    assert (await cs.get(c.id)).extensions == {"mine": ext, "other": ext2}


async def test_container_from_image_snapshot_lifecycle(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    before = await testing.inventory(containerd_client)
    c = await containerd_client.containers.create("img", image=busybox_image)
    assert c.image_name == busybox_image.name
    assert c.snapshotter == "overlayfs"
    assert c.snapshot_key == "img"
    assert c.spec.linux.cgroups_path == f"/{containerd_client.namespace}/img"
    stock = await testing.inventory(containerd_client)
    assert "overlayfs/img" in stock.snapshots
    assert stock.leases == before.leases  # the temporary lease is gone
    assert (await c.image()).name == busybox_image.name
    async with await c.new_task(stdio=pycontainerd.stdio.capture()) as task:
        await task.start()
        status = await task.wait()
    assert status.code == 0
    await c.delete()
    assert runtime_stock(await testing.inventory(containerd_client)) == runtime_stock(before)


async def test_readonly_view_and_existing_snapshot(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    before = await testing.inventory(containerd_client)
    spec = oci.Spec.default(namespace=containerd_client.namespace, id="ro")
    # The image has no /run to mount a tmpfs on, and a view cannot create it.
    spec = attrs.evolve(spec, mounts=[m for m in spec.mounts if m.destination != "/run"])
    ro = await containerd_client.containers.create(
        "ro", image=busybox_image, spec=spec.with_args(["/bin/touch", "/x"]), readonly=True
    )
    async with await ro.new_task(stdio=pycontainerd.stdio.capture()) as task:
        await task.start()
        assert (await task.wait()).code != 0
        assert b"Read-only" in task.captured_stderr
    # Another container can use the existing view by key.
    again = await containerd_client.containers.create(
        "again", spec=spec.with_args(["/bin/true"]), snapshot="ro"
    )
    await ro.delete(cleanup_snapshot=False)
    assert again.snapshot_key == "ro"
    assert again.snapshotter == "overlayfs"
    async with await again.new_task() as task:
        await task.start()
        assert (await task.wait()).code == 0
    await again.delete()
    assert runtime_stock(await testing.inventory(containerd_client)) == runtime_stock(before)


async def test_image_user_by_name_resolved_from_layers(
    containerd_client: pycontainerd.Client, busybox_rootfs, tmp_path
) -> None:
    import shutil

    root = tmp_path / "rootfs"
    shutil.copytree(busybox_rootfs, root, symlinks=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\napp:x:1234:5678::/:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\napps:x:5678:\nextra:x:4321:app\n")
    image = await containerd_client.images.create_from_directory(
        "example.com/named-user:1",
        root,
        config=pycontainerd.ImageConfig(user="app", env=("PATH=/bin",), cmd=("sh",)),
    )
    c = await containerd_client.containers.create("named", image=image)
    assert c.spec.process.user.uid == 1234
    assert c.spec.process.user.gid == 5678
    await c.delete()
    result = await containerd_client.run(image, ["sh", "-c", "echo $(id -u):$(id -g)"])
    assert result.stdout == b"1234:5678\n"
    result = await containerd_client.run(image, ["id", "-u"], user="root")
    assert result.stdout == b"0\n"


async def test_list_streams_more_than_one_message_holds(
    containerd_client: pycontainerd.Client,
) -> None:
    # Five containers of ~4 MiB of labels each: more than the daemon's 16 MiB
    # message limit together, which a single List reply could not carry.
    labels = {f"k{i:04}": "v" * 4000 for i in range(1000)}
    ids = [f"big-{n}" for n in range(5)]
    for cid in ids:
        await containerd_client.containers.create(cid, spec={}, labels=labels)
    listed = await containerd_client.containers.list()
    assert sorted(c.id for c in listed) == ids
    assert all(c.labels == labels for c in listed)
    assert [c.id for c in await containerd_client.containers.list("id==big-3")] == ["big-3"]
    for cid in ids:
        await containerd_client.containers.delete(cid)


async def test_a_given_spec_with_overrides_is_serialised_once(
    containerd_client: pycontainerd.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[int] = []
    to_json = oci.Spec.to_json

    def counted(self: oci.Spec) -> str | bytes:
        written.append(1)
        return to_json(self)

    monkeypatch.setattr(oci.Spec, "to_json", counted)
    spec = oci.Spec(process=oci.Process(args=("true",), cwd="/"))
    container = await containerd_client.containers.create(
        "once", spec=spec, args=["echo", "hi"], cwd="/tmp"
    )
    assert len(written) == 1
    assert container.spec.process is not None
    assert (container.spec.process.args, container.spec.process.cwd) == (("echo", "hi"), "/tmp")
    # Without overrides, once too; and JSON text goes as it is.
    await containerd_client.containers.create("as-given", spec=spec)
    assert len(written) == 2
    text = b'{"process": {"args": ["true"], "cwd": "/"}}'
    container = await containerd_client.containers.create("text", spec=text, args=["false"])
    assert container.spec.process is not None
    assert container.spec.process.args == ("false",)
    assert len(written) == 3
    with pytest.raises(errors.InvalidArgument, match="not an object"):
        await containerd_client.containers.create("bad", spec=b"[]", args=["true"])
    for id in ("once", "as-given", "text"):
        await containerd_client.containers.delete(id)
