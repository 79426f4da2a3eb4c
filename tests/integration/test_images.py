from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from _blobs import sha256

import pycontainerd
from pycontainerd import Descriptor, ImageConfig, Platform, errors
from pycontainerd import _images as images_module
from pycontainerd._oci import DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST
from pycontainerd.testing import (
    BUSYBOX_IMAGE,
    build_busybox_image,
    inventory,
)

pytestmark = pytest.mark.anyio


def chain_of(diff_ids: list[str]) -> list[str]:
    chain = [diff_ids[0]]
    for d in diff_ids[1:]:
        chain.append(sha256(f"{chain[-1]} {d}".encode()))
    return chain


async def ctr(client: pycontainerd.Client, *args: str) -> str:
    result = await anyio.run_process(
        ["ctr", "-a", client.address, "-n", client.namespace, *args], check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


async def snapshot_info(client: pycontainerd.Client, key: str) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(await ctr(client, "snapshots", "info", key))
    return info


def make_tree(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "tool").write_bytes(b"#!/bin/sh\necho hi\n")
    (root / "bin" / "tool").chmod(0o4755)
    (root / "bin" / "alias").symlink_to("tool")
    os.link(root / "bin" / "tool", root / "bin" / "hard")
    (root / "etc").mkdir()
    (root / "etc" / "secret").write_text("s")
    (root / "etc" / "secret").chmod(0o600)
    os.chown(root / "etc" / "secret", 1000, 1001)
    return root


def layered_archive(layers: list[dict[str, bytes]], arch: str = "") -> bytes:
    """A docker-save tar of one image with the given layers (plain tars)."""
    blobs: list[tuple[str, bytes]] = []
    diff_ids = []
    for i, files in enumerate(layers):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            for name, data in sorted(files.items()):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
        raw = buf.getvalue()
        diff_ids.append(sha256(raw))
        blobs.append((f"l{i}/layer.tar", gzip.compress(raw, mtime=0) if i % 2 else raw))
    config = json.dumps(
        {
            "architecture": arch or Platform.host().architecture,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    manifest = [
        {
            "Config": "config.json",
            "RepoTags": ["example.com/layered:1"],
            "Layers": [n for n, _ in blobs],
        }
    ]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for name, data in [
            *blobs,
            ("config.json", config),
            ("manifest.json", json.dumps(manifest).encode()),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


async def test_busybox_fixture_is_unpacked(busybox_image: pycontainerd.Image) -> None:
    assert busybox_image.name == BUSYBOX_IMAGE
    assert await busybox_image.is_unpacked()
    config = await busybox_image.config()
    assert config.cmd == ("sh",)
    assert config.architecture == Platform.host().architecture
    assert await busybox_image.chain_id() == config.diff_ids[0]


async def test_build_busybox_image_matches_archive(
    containerd_client: pycontainerd.Client, busybox_archive_bytes: bytes
) -> None:
    image = await build_busybox_image(containerd_client, unpack=False)
    assert not await image.is_unpacked()
    await containerd_client.images.delete(image.name, sync=True)
    [imported] = await containerd_client.images.import_archive(busybox_archive_bytes)
    assert imported.target.digest == image.target.digest
    assert imported.name == image.name


async def test_create_from_directory_is_deterministic_and_keeps_metadata(
    containerd_client: pycontainerd.Client, tmp_path: Path
) -> None:
    config = ImageConfig(
        entrypoint=("/bin/tool",),
        cmd=("--help",),
        env=("A=1",),
        user="1000:1000",
        working_dir="/etc",
        labels={"org.example": "yes"},
        stop_signal="SIGINT",
    )
    first = await containerd_client.images.create_from_directory(
        "example.com/det:1", make_tree(tmp_path / "a"), config=config, labels={"k": "v"}
    )
    second = await containerd_client.images.create_from_directory(
        "example.com/det:2", make_tree(tmp_path / "b"), config=config
    )
    assert first.target.digest == second.target.digest
    assert first.target.media_type == OCI_MANIFEST
    assert first.labels == {"k": "v"}

    got = await first.config()
    assert attrs.evolve(got, diff_ids=(), architecture="", os="linux") == config
    assert got.architecture == Platform.host().architecture

    manifest = await first.manifest()
    [layer] = manifest.layers
    assert layer.media_type == "application/vnd.oci.image.layer.v1.tar+gzip"
    data = await containerd_client.content.read(layer.digest)
    assert sha256(gzip.decompress(data)) == got.diff_ids[0]
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        members = {m.name: m for m in t.getmembers()}
    assert list(members) == sorted(members)
    assert {m.mtime for m in members.values()} == {0}
    assert members["bin/hard"].mode == 0o4755  # first name of the file in sorted order
    assert members["bin/hard"].isreg()
    assert members["bin/tool"].islnk()
    assert members["bin/tool"].linkname == "bin/hard"
    assert members["bin/alias"].issym()
    assert members["bin/alias"].linkname == "tool"
    assert (members["etc/secret"].uid, members["etc/secret"].gid) == (1000, 1001)
    assert members["etc/secret"].mode == 0o600

    # Another platform, from the argument.
    arm = await containerd_client.images.create_from_directory(
        "example.com/det:arm", tmp_path / "a", platform="linux/arm64"
    )
    assert (await arm.config()).architecture == "arm64"
    assert [str(p) for p in await arm.platforms()] == ["linux/arm64"]
    with pytest.raises(NotADirectoryError):
        await containerd_client.images.create_from_directory(
            "example.com/det:3", tmp_path / "missing"
        )


async def test_unpack_builds_chain_with_containerd_gc_labels(
    containerd_client: pycontainerd.Client,
) -> None:
    archive = layered_archive([{"a": b"1"}, {"b": b"2"}, {"c": b"3"}])
    [image] = await containerd_client.images.import_archive(archive)
    config = await image.config()
    chain = chain_of(list(config.diff_ids))
    assert await image.chain_id() == chain[-1]
    assert not await image.is_unpacked()

    assert await image.unpack() == chain[-1]
    assert await image.is_unpacked()
    inv = await inventory(containerd_client)
    assert inv.snapshots == tuple(sorted(f"overlayfs/{c}" for c in chain))
    assert inv.leases == ()
    parent = ""
    for c in chain:
        info = await snapshot_info(containerd_client, c)
        assert info["Kind"] == "Committed"
        assert info.get("Parent", "") == parent
        assert info["Labels"]["containerd.io/snapshot.ref"] == c
        parent = c

    manifest = await image.manifest()
    labels = (await containerd_client.content.info(manifest.descriptor.digest)).labels
    assert labels == {
        "containerd.io/gc.ref.content.config": manifest.config.digest,
        **{f"containerd.io/gc.ref.content.l.{i}": d.digest for i, d in enumerate(manifest.layers)},
    }
    config_labels = (await containerd_client.content.info(manifest.config.digest)).labels
    assert config_labels == {"containerd.io/gc.ref.snapshot.overlayfs": chain[-1]}
    for layer, diff_id in zip(manifest.layers, config.diff_ids, strict=True):
        info = await containerd_client.content.info(layer.digest)
        assert info.labels == {"containerd.io/uncompressed": diff_id}

    # Unpacking again skips every layer; the GC keeps the chain while the image exists.
    assert await image.unpack() == chain[-1]
    assert (await inventory(containerd_client)).snapshots == inv.snapshots
    await containerd_client.images.delete(image.name, sync=True)
    assert (await inventory(containerd_client)).empty


async def test_export_delete_import_keeps_chain(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image, tmp_path: Path
) -> None:
    chain = await busybox_image.chain_id()
    out = tmp_path / "busybox.tar"
    await containerd_client.images.export_archive(out, [busybox_image])
    await containerd_client.images.delete(busybox_image.name, sync=True)
    assert (await inventory(containerd_client)).empty

    [image] = await containerd_client.images.import_archive(out)
    assert not await image.is_unpacked()
    assert await image.unpack() == chain
    assert await image.is_unpacked()
    assert image.target.digest == busybox_image.target.digest


async def test_unpack_labels_match_ctr(
    containerd_client: pycontainerd.Client, tmp_path: Path
) -> None:
    archive = tmp_path / "layered.tar"
    archive.write_bytes(layered_archive([{"a": b"1"}, {"b": b"2"}]))

    async def labels_of(image: pycontainerd.Image) -> dict[str, Any]:
        manifest = await image.manifest()
        blobs = [manifest.descriptor, manifest.config, *manifest.layers]
        found: dict[str, Any] = {
            b.digest: (await containerd_client.content.info(b.digest)).labels for b in blobs
        }
        for c in chain_of(list((await image.config()).diff_ids)):
            labels = (await snapshot_info(containerd_client, c)).get("Labels", {})
            # The pull unpacker (ctr pull, and this SDK) also names the chain
            # ID in a snapshot label; ctr import's Image.Unpack does not.
            labels.pop("containerd.io/snapshot.ref", None)
            found[c] = labels
        return found

    await ctr(containerd_client, "images", "import", str(archive))
    by_ctr = await labels_of(await containerd_client.images.get("example.com/layered:1"))
    await containerd_client.images.delete("example.com/layered:1", sync=True)
    assert (await inventory(containerd_client)).empty

    [image] = await containerd_client.images.import_archive(archive, unpack=True)
    assert await labels_of(image) == by_ctr


async def test_ctr_sees_sdk_unpack_and_sdk_sees_ctr_unpack(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image, tmp_path: Path
) -> None:
    chain = await busybox_image.chain_id()
    out = await ctr(containerd_client, "snapshots", "ls")
    assert chain in out
    archive = tmp_path / "bb.tar"
    await containerd_client.images.export_archive(archive, [busybox_image])
    await containerd_client.images.delete(busybox_image.name, sync=True)
    await ctr(containerd_client, "images", "import", str(archive))
    image = await containerd_client.images.get(BUSYBOX_IMAGE)
    assert await image.is_unpacked()
    assert await image.chain_id() == chain


async def _index_image(
    client: pycontainerd.Client, tmp_path: Path, media_type: str
) -> tuple[pycontainerd.Image, dict[str, pycontainerd.Image]]:
    """An index image over linux/amd64, linux/arm64 and linux/arm/v7 manifests."""
    per: dict[str, pycontainerd.Image] = {}
    tree = make_tree(tmp_path / "tree")
    for plat in ("linux/amd64", "linux/arm64", "linux/arm/v7"):
        per[plat] = await client.images.create_from_directory(
            f"example.com/multi:{plat.replace('/', '-')}", tree, platform=plat
        )
    entries = []
    for plat, img in per.items():
        p = Platform.parse(plat)
        platform = {"architecture": p.architecture, "os": p.os}
        if p.variant:
            platform["variant"] = p.variant
        entries.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": img.target.digest,
                "size": img.target.size,
                "platform": platform,
            }
        )
    data = json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": entries}).encode()
    async with client.leases.lease() as leased:  # keep the blob from the GC until referenced
        digest = await leased.content.write(
            "index-test",
            data,
            labels={
                f"containerd.io/gc.ref.content.m.{i}": e["digest"] for i, e in enumerate(entries)
            },
        )
        target = Descriptor(media_type=media_type, digest=digest, size=len(data))
        await leased.images.create("example.com/multi:latest", target)
    return await client.images.get("example.com/multi:latest"), per


@pytest.mark.parametrize("media_type", [OCI_INDEX, DOCKER_MANIFEST_LIST])
async def test_platform_matching_in_indexes(
    containerd_client: pycontainerd.Client, tmp_path: Path, media_type: str
) -> None:
    image, per = await _index_image(containerd_client, tmp_path, media_type)
    host = str(Platform.host())
    if host in per:
        assert (await image.manifest()).descriptor.digest == per[host].target.digest
    arm = await image.manifest("linux/arm64")
    assert arm.descriptor.digest == per["linux/arm64"].target.digest
    assert arm.platform == Platform(os="linux", architecture="arm64")
    assert (await image.config(Platform.parse("linux/arm/v7"))).architecture == "arm"
    # arm64 hosts run arm/v7: with no arm64 manifest the arm one is chosen.
    assert (await image.manifest("linux/arm/v8")).descriptor.digest == per[
        "linux/arm/v7"
    ].target.digest
    assert sorted(map(str, await image.platforms())) == sorted(per)
    with pytest.raises(errors.NotFound):
        await image.manifest("linux/s390x")
    size = await image.size("linux/arm64")
    m = await per["linux/arm64"].manifest()
    assert size == image.target.size + m.descriptor.size + m.config.size + m.layers[0].size
    chain = await image.unpack(platform="linux/arm64")
    assert chain == await per["linux/arm64"].chain_id()
    assert await image.is_unpacked(platform="linux/arm64")


async def test_image_records_crud(containerd_client: pycontainerd.Client, tmp_path: Path) -> None:
    images = containerd_client.images
    base = await images.create_from_directory("example.com/crud:1", make_tree(tmp_path / "t"))
    assert base.created_at is not None
    assert base.updated_at is not None
    copy = await images.create(attrs.evolve(base, name="example.com/crud:copy", labels={"a": "1"}))
    assert copy.target == base.target
    assert copy.labels == {"a": "1"}
    with pytest.raises(errors.AlreadyExists):
        await images.create(copy)
    other = await images.create("example.com/other:1", base.target, labels={"a": "2"})
    assert (await images.get("example.com/other:1")).labels == {"a": "2"}

    assert sorted(i.name for i in await images.list()) == [
        "example.com/crud:1",
        "example.com/crud:copy",
        "example.com/other:1",
    ]
    assert [i.name for i in await images.list("labels.a==2")] == [other.name]
    assert {i.name for i in await images.list("labels.a==2", "name==example.com/crud:1")} == {
        other.name,
        base.name,
    }

    updated = await images.update(copy.name, labels={"b": "x", "a": None})
    assert updated.labels == {"b": "x"}
    assert updated.target == base.target
    # The whole set at once: labels not named go.
    await images.update(copy.name, labels={"c": "1"})
    replaced = await images.update(copy.name, labels={"d": "2", "e": None}, replace_labels=True)
    assert replaced.labels == {"d": "2"}
    assert (await images.get(copy.name)).labels == {"d": "2"}
    assert replaced.target == base.target
    assert (await images.update(copy.name, labels={}, replace_labels=True)).labels == {}

    # A delete with a target deletes only an image that still points there.
    elsewhere = attrs.evolve(base.target, digest="sha256:" + "0" * 64)
    with pytest.raises(errors.NotFound, match="sha256:0000"):
        await images.delete(copy.name, target=elsewhere)
    assert (await images.get(copy.name)).target == base.target
    await images.delete(copy.name, target=base.target)
    with pytest.raises(errors.NotFound):
        await images.get(copy.name)
    with pytest.raises(errors.NotFound):
        await images.delete(copy.name)
    with pytest.raises(errors.NotFound):
        await images.update(copy.name, labels={"a": "1"})
    with pytest.raises(errors.InvalidArgument):
        await images.get("")


async def test_cancelled_unpack_leaves_no_lease_or_extraction_snapshot(
    containerd_client: pycontainerd.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = layered_archive([{"a": b"1"}, {"b": os.urandom(1024)}, {"c": b"3"}])
    [image] = await containerd_client.images.import_archive(archive)
    applying = anyio.Event()
    real_apply = images_module.apply_layer
    calls = 0

    async def apply_then_stall(*args: Any) -> Descriptor:
        nonlocal calls
        calls += 1
        result = await real_apply(*args)
        if calls == 2:
            applying.set()  # the second layer is applied, not yet committed
            await anyio.sleep_forever()
        return result

    monkeypatch.setattr(images_module, "apply_layer", apply_then_stall)
    async with anyio.create_task_group() as tg:
        tg.start_soon(image.unpack)
        await applying.wait()
        assert any("extract-" in s for s in (await inventory(containerd_client)).snapshots)
        tg.cancel_scope.cancel()
    inv = await inventory(containerd_client)
    assert inv.leases == ()
    assert inv.ingests == ()
    assert not any("extract-" in s for s in inv.snapshots)
    assert inv.images == (image.name,)

    monkeypatch.setattr(images_module, "apply_layer", real_apply)
    assert not await image.is_unpacked()
    await image.unpack()
    assert await image.is_unpacked()


async def test_unpack_into_another_snapshotter(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    assert not await busybox_image.is_unpacked("native")
    chain = await busybox_image.unpack("native")
    assert await busybox_image.is_unpacked("native")
    assert chain == await busybox_image.chain_id()
    config = (await busybox_image.manifest()).config
    labels = (await containerd_client.content.info(config.digest)).labels
    assert labels["containerd.io/gc.ref.snapshot.native"] == chain
    assert labels["containerd.io/gc.ref.snapshot.overlayfs"] == chain
    assert f"native/{chain}" in (await inventory(containerd_client)).snapshots


async def test_cancelled_create_from_directory_leaves_nothing(
    containerd_client: pycontainerd.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = make_tree(tmp_path / "tree")
    (tree / "big").write_bytes(os.urandom(4 << 20))
    writing = anyio.Event()
    real_chunks = images_module._file_chunks

    async def stalling(f: Any) -> Any:
        async for chunk in real_chunks(f):
            yield chunk
            writing.set()
            await anyio.sleep_forever()

    monkeypatch.setattr(images_module, "_file_chunks", stalling)
    async with anyio.create_task_group() as tg:
        tg.start_soon(containerd_client.images.create_from_directory, "example.com/c:1", tree)
        await writing.wait()
        inv = await inventory(containerd_client)
        assert inv.ingests
        assert inv.leases
        tg.cancel_scope.cancel()
    inv = await inventory(containerd_client)
    assert inv.empty, inv
