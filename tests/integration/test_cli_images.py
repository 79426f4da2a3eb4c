"""pyctr images usage, check, mount, unmount and label, driven as a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from _image_helpers import layered_image
from test_cli import Pyctr, ok, one_line_error, pyctr  # noqa: F401  (the fixture)

import pycontainerd
from pycontainerd import Descriptor
from pycontainerd._mount import is_mount_point, unmount_all
from pycontainerd._oci import OCI_MANIFEST, sha256

pytestmark = pytest.mark.anyio


async def test_usage_lists_the_unpacked_snapshots(
    pyctr: Pyctr,  # noqa: F811
    containerd_client: pycontainerd.Client,
    busybox_image: pycontainerd.Image,
) -> None:
    chain = await busybox_image.chain_id()
    used = await containerd_client.snapshots().usage(chain)
    header, row = ok(await pyctr("images", "usage", busybox_image.name)).splitlines()
    assert header.split() == ["KEY", "SIZE", "INODES"]
    assert row.split()[0] == chain
    assert row.split()[-1] == str(used.inodes)
    record = json.loads(ok(await pyctr("images", "usage", "--format", "json", busybox_image.name)))
    assert record["snapshotter"] == "overlayfs"
    assert record["snapshots"] == [{"key": chain, "size": used.size, "inodes": used.inodes}]
    assert record["content"] == (await busybox_image.usage()).content
    assert record["total"] == record["content"] + used.size

    other = await layered_image(containerd_client, "example.com/packed:1", [{"a": b"a"}])
    line = one_line_error(await pyctr("images", "usage", other.name))
    assert "example.com/packed:1 isn't unpacked in snapshotter overlayfs" in line


async def test_check_shows_complete_incomplete_and_unavailable(
    pyctr: Pyctr,  # noqa: F811
    containerd_client: pycontainerd.Client,
    busybox_image: pycontainerd.Image,
) -> None:
    partial = await layered_image(
        containerd_client, "example.com/partial:1", [{"a": b"a"}, {"b": b"b"}]
    )
    await containerd_client.content.delete((await partial.manifest()).layers[1].digest)
    absent = Descriptor(media_type=OCI_MANIFEST, digest=sha256(b"absent"), size=10)
    await containerd_client.images.create("example.com/gone:1", absent)

    result = await pyctr("images", "check")
    # as ctr: the unavailable image cannot say whether it is unpacked, which fails the command
    line = one_line_error(result)
    assert line.startswith("pyctr: unable to check unpack for example.com/gone:1: ")
    assert absent.digest in line
    assert result.returncode == 1
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert result.stdout.split()[:6] == ["REF", "TYPE", "DIGEST", "STATUS", "SIZE", "UNPACKED"]
    assert rows[busybox_image.name][3:5] == ["complete", "(2/2)"]
    assert rows[busybox_image.name][-1] == "true"
    assert rows["example.com/partial:1"][3:5] == ["incomplete", "(2/3)"]
    assert rows["example.com/partial:1"][-1] == "false"
    assert rows["example.com/gone:1"][3:5] == ["unavailable", "(0/?)"]

    quiet = await pyctr("images", "check", "-q")
    assert quiet.stdout.splitlines() == [busybox_image.name]
    records = json.loads((await pyctr("images", "check", "--format", "json")).stdout)
    by_name = {record["name"]: record for record in records}
    assert by_name[busybox_image.name]["status"] == "complete"
    assert by_name["example.com/partial:1"]["status"] == "incomplete"
    assert [blob["digest"] for blob in by_name["example.com/partial:1"]["missing"]] == [
        (await partial.manifest()).layers[1].digest
    ]
    assert by_name["example.com/gone:1"]["status"] == "unavailable"
    assert by_name["example.com/gone:1"]["required"] == by_name["example.com/gone:1"]["missing"]

    # the complete one alone passes
    alone = await pyctr("images", "check", f"name=={busybox_image.name}")
    assert ok(alone).splitlines()[1].split()[0] == busybox_image.name


async def test_mount_and_unmount(
    pyctr: Pyctr,  # noqa: F811
    containerd_client: pycontainerd.Client,
    busybox_image: pycontainerd.Image,
    tmp_path: Path,
) -> None:
    target = tmp_path / "mnt"
    target.mkdir()
    before = (await containerd_client.leases.list(), await containerd_client.snapshots().list())
    try:
        lines = ok(await pyctr("images", "mount", busybox_image.name, str(target))).splitlines()
        assert lines == [await busybox_image.chain_id(), str(target)]
        assert is_mount_point(str(target))
        busybox = anyio.Path(target) / "bin" / "busybox"
        assert await busybox.read_bytes() == await anyio.Path("/bin/busybox").read_bytes()
        # without --rm the snapshot and its lease stay, as ctr's
        assert ok(await pyctr("images", "unmount", str(target))).split() == [str(target)]
        assert not is_mount_point(str(target))
        assert [info.name for info in await containerd_client.snapshots().list()].count(
            str(target)
        ) == 1
        ok(await pyctr("images", "unmount", "--rm", str(target)))
        after = (await containerd_client.leases.list(), await containerd_client.snapshots().list())
        assert after == before
        # a missing target is one line
        line = one_line_error(
            await pyctr("images", "mount", busybox_image.name, str(tmp_path / "x"))
        )
        assert "is not a directory" in line
    finally:
        unmount_all(str(target))


async def test_label_sets_removes_and_replaces(
    pyctr: Pyctr,  # noqa: F811
    busybox_image: pycontainerd.Image,
) -> None:
    name = busybox_image.name
    assert ok(await pyctr("images", "label", name, "a=1", "b=2")).strip() == "a=1,b=2"
    assert ok(await pyctr("images", "label", name, "a=")).strip() == "b=2"
    assert ok(await pyctr("images", "label", name)).strip() == "b=2"
    assert ok(await pyctr("images", "label", "-r", name, "c=3")).strip() == "c=3"
    assert ok(await pyctr("images", "label", "--replace-all", name)).strip() == "-"
