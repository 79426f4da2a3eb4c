from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest

import pycontainerd
from pycontainerd import ImageConfig, errors
from pycontainerd.testing import inventory

pytestmark = pytest.mark.anyio


def make_tree(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "tool").write_bytes(b"#!/bin/sh\necho hi\n")
    (root / "bin" / "tool").chmod(0o755)
    (root / "bin" / "alias").symlink_to("tool")
    os.link(root / "bin" / "tool", root / "bin" / "hard")
    (root / "etc").mkdir()
    (root / "etc" / "secret").write_text("s")
    (root / "etc" / "secret").chmod(0o600)
    os.chown(root / "etc" / "secret", 1000, 1000)
    return root


async def test_create_export_import_roundtrip(
    containerd_client: pycontainerd.Client, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "tree")
    image = await containerd_client.images.create_from_directory(
        "example.com/test/tool:1", tree, config=ImageConfig(cmd=("/bin/tool",))
    )
    config = await image.config()
    assert config.cmd == ("/bin/tool",)
    out = tmp_path / "out.tar"
    await containerd_client.images.export_archive(out, [image])
    await containerd_client.images.delete(image.name, sync=True)
    inv = await inventory(containerd_client)
    assert inv.images == ()
    assert inv.content == ()
    images = await containerd_client.images.import_archive(out)
    assert [i.name for i in images] == ["example.com/test/tool:1"]
    assert images[0].target.digest == image.target.digest
    assert (await images[0].config()) == config


async def valid_archive(client: pycontainerd.Client, tmp_path: Path) -> bytes:
    """An OCI archive of a small image; the namespace is left empty."""
    tree = make_tree(tmp_path / "valid-tree")
    image = await client.images.create_from_directory("example.com/test/valid:1", tree)
    out = tmp_path / "valid.tar"
    await client.images.export_archive(out, [image])
    await client.images.delete(image.name, sync=True)
    assert (await inventory(client)).empty
    return out.read_bytes()


def rewrite(archive: bytes, extra: list[tuple[tarfile.TarInfo, bytes]], *, drop: str = "") -> bytes:
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(archive)) as src,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst,
    ):
        for member in src.getmembers():
            if member.name == drop:
                continue
            data = src.extractfile(member) if member.isfile() else None
            dst.addfile(member, data)
        for info, data in extra:
            info.size = len(data) if info.isfile() else 0
            dst.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return out.getvalue()


def member(name: str, *, type: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = type
    info.linkname = linkname
    return info


def _hostile_cases(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as t:
        blob = next(m for m in t.getmembers() if m.name.startswith("blobs/sha256/") and m.isfile())
        f = t.extractfile("index.json")
        assert f is not None
        index = json.loads(f.read())
    manifest_digest = index["manifests"][0]["digest"]
    with tarfile.open(fileobj=io.BytesIO(archive)) as t:
        f = t.extractfile("blobs/sha256/" + manifest_digest.split(":")[1])
        assert f is not None
        manifest = json.loads(f.read())
    layer_blob = "blobs/sha256/" + manifest["layers"][0]["digest"].split(":")[1]
    index["manifests"][0]["size"] -= 1  # the manifest blob is bigger than declared
    return {
        # an image without its layer, or without its manifest, is not imported
        "missing-layer": rewrite(archive, [], drop=layer_blob),
        "missing-manifest": rewrite(
            archive, [], drop="blobs/sha256/" + manifest_digest.split(":")[1]
        ),
        "absolute": rewrite(archive, [(member("/etc/evil"), b"x")]),
        "dotdot": rewrite(archive, [(member("blobs/../../evil"), b"x")]),
        "symlink-escape": rewrite(
            archive,
            [(member("blobs/evil", type=tarfile.SYMTYPE, linkname="../../etc/passwd"), b"")],
        ),
        "symlink-absolute": rewrite(
            archive, [(member("evil", type=tarfile.SYMTYPE, linkname="/etc/passwd"), b"")]
        ),
        "hardlink-escape": rewrite(
            archive, [(member("evil", type=tarfile.LNKTYPE, linkname="../outside"), b"")]
        ),
        "json-too-large": rewrite(
            archive, [(member("index.json"), b" " * (20 * 1024 * 1024 + 1))], drop="index.json"
        ),
        "digest-mismatch": rewrite(
            archive, [(member("blobs/sha256/" + "ab" * 32), b"not what the name says")]
        ),
        "blob-replaced": rewrite(archive, [(member(blob.name), b"tampered")], drop=blob.name),
        "size-lies": rewrite(
            archive, [(member("index.json"), json.dumps(index).encode())], drop="index.json"
        ),
    }


HOSTILE = [
    "missing-layer",
    "missing-manifest",
    "absolute",
    "dotdot",
    "symlink-escape",
    "symlink-absolute",
    "hardlink-escape",
    "json-too-large",
    "digest-mismatch",
    "blob-replaced",
    "size-lies",
]


@pytest.mark.parametrize("case", HOSTILE)
async def test_hostile_archive_raises_and_leaves_nothing(
    containerd_client: pycontainerd.Client, tmp_path: Path, case: str
) -> None:
    hostile = _hostile_cases(await valid_archive(containerd_client, tmp_path))[case]
    with pytest.raises(errors.InvalidArchive):
        await containerd_client.images.import_archive(hostile)
    inv = await inventory(containerd_client)
    assert inv.empty, inv


async def ctr(client: pycontainerd.Client, *args: str) -> str:
    result = await anyio.run_process(
        ["ctr", "-a", client.address, "-n", client.namespace, *args], check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


async def test_ctr_export_imports_through_sdk(
    containerd_client: pycontainerd.Client, tmp_path: Path
) -> None:
    image = await containerd_client.images.create_from_directory(
        "example.com/test/ctr-export:1", make_tree(tmp_path / "tree")
    )
    out = tmp_path / "ctr.tar"
    await ctr(containerd_client, "images", "export", str(out), image.name)
    await containerd_client.images.delete(image.name, sync=True)
    assert (await inventory(containerd_client)).content == ()

    images = await containerd_client.images.import_archive(out)
    assert [(i.name, i.target.digest) for i in images] == [(image.name, image.target.digest)]
    manifest = await images[0].manifest()
    for blob in (manifest.config, *manifest.layers):
        info = await containerd_client.content.info(blob.digest)
        assert info.size == blob.size


async def test_sdk_export_imports_through_ctr(
    containerd_client: pycontainerd.Client, tmp_path: Path
) -> None:
    image = await containerd_client.images.create_from_directory(
        "example.com/test/sdk-export:1", make_tree(tmp_path / "tree")
    )
    out = tmp_path / "sdk.tar"
    await containerd_client.images.export_archive(out, [image.name])
    await containerd_client.images.delete(image.name, sync=True)

    await ctr(containerd_client, "images", "import", "--no-unpack", str(out))
    listed = await ctr(containerd_client, "images", "ls", "-q")
    assert listed.split() == [image.name]
    got = await containerd_client.images.get(image.name)
    assert got.target.digest == image.target.digest
    assert (await got.config()).diff_ids == (await image.config()).diff_ids


def docker_save_archive() -> bytes:
    """A ``docker save``-style tar: two images, one plain and one gzip layer, a symlinked layer."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        info = tarfile.TarInfo("hello.txt")
        info.size = 5
        t.addfile(info, io.BytesIO(b"hello"))
    plain = layer.getvalue()
    zipped = gzip.compress(plain, mtime=0)
    diff_id = "sha256:" + hashlib.sha256(plain).hexdigest()
    configs = []
    for arch in ("amd64", "arm64"):
        cfg = json.dumps(
            {
                "architecture": arch,
                "os": "linux",
                "config": {"Cmd": ["/hello"]},
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            }
        ).encode()
        configs.append(cfg)
    files = [
        ("aaa/layer.tar", plain),
        ("bbb/layer.tar", zipped),
        ("cfg1.json", configs[0]),
        ("cfg2.json", configs[1]),
        (
            "manifest.json",
            json.dumps(
                [
                    {
                        "Config": "cfg1.json",
                        "RepoTags": ["hello:latest", "example.com/hello:v1"],
                        "Layers": ["ccc/layer.tar"],
                    },
                    {
                        "Config": "cfg2.json",
                        "RepoTags": ["hello-gz:1"],
                        "Layers": ["bbb/layer.tar"],
                    },
                ]
            ).encode(),
        ),
        ("repositories", b"{}"),
    ]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("ccc/layer.tar")
        link.type = tarfile.SYMTYPE
        link.linkname = "../aaa/layer.tar"
        t.addfile(link)
    return out.getvalue()


async def test_docker_save_archive_imports_like_ctr(
    containerd_client: pycontainerd.Client, tmp_path: Path
) -> None:
    archive = tmp_path / "docker.tar"
    archive.write_bytes(docker_save_archive())
    await ctr(containerd_client, "images", "import", "--no-unpack", "--all-platforms", str(archive))
    by_ctr = {i.name: i.target for i in await containerd_client.images.list()}
    assert set(by_ctr) == {
        "docker.io/library/hello:latest",
        "example.com/hello:v1",
        "docker.io/library/hello-gz:1",
    }
    for name in by_ctr:
        await containerd_client.images.delete(name, sync=True)
    assert (await inventory(containerd_client)).empty

    images = await containerd_client.images.import_archive(archive, all_platforms=True)
    assert {i.name: i.target for i in images} == by_ctr
    gz = next(i for i in images if i.name.endswith("hello-gz:1"))
    manifest = await gz.manifest("linux/arm64")
    assert manifest.layers[0].media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    plain = next(i for i in images if i.name.endswith("hello:latest"))
    manifest = await plain.manifest()
    assert manifest.layers[0].media_type == "application/vnd.docker.image.rootfs.diff.tar"
    assert [str(p) for p in await gz.platforms()] == ["linux/arm64"]


async def test_cancelled_import_leaves_nothing(
    containerd_client: pycontainerd.Client, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "tree")
    (tree / "big").write_bytes(os.urandom(3 * 1024 * 1024))
    image = await containerd_client.images.create_from_directory("example.com/test/big:1", tree)
    out = tmp_path / "big.tar"
    await containerd_client.images.export_archive(out, [image])
    await containerd_client.images.delete(image.name, sync=True)
    data = out.read_bytes()
    reached = anyio.Event()

    async def stalling() -> AsyncIterator[bytes]:
        sent = 0
        for start in range(0, len(data), 64 * 1024):
            yield data[start : start + 64 * 1024]
            sent += 64 * 1024
            if sent >= len(data) // 2:
                reached.set()
                await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        tg.start_soon(containerd_client.images.import_archive, stalling())
        await reached.wait()
        # The import is blocked inside the big layer's content write.
        assert (await inventory(containerd_client)).ingests
        tg.cancel_scope.cancel()
    inv = await inventory(containerd_client)
    assert inv.empty, inv


async def test_a_member_that_cannot_belong_is_not_streamed_into_the_store(
    containerd_client: pycontainerd.Client, tmp_path: Path
) -> None:
    junk = bytes(8 << 20)
    junk_digest = "sha256:" + hashlib.sha256(junk).hexdigest()
    archive = rewrite(
        await valid_archive(containerd_client, tmp_path),
        [(member("junk.bin"), junk)],  # neither an OCI blob nor a docker file
    )
    with tarfile.open(fileobj=io.BytesIO(archive)) as t:
        middle = t.getmember("junk.bin").offset_data + (4 << 20)
    seen: list[tuple[str, ...]] = []

    async def watched() -> AsyncIterator[bytes]:
        yield archive[:middle]
        # Half of the member has been read: an ingest of it would exist by now.
        seen.append((await inventory(containerd_client)).ingests)
        yield archive[middle:]

    [image] = await containerd_client.images.import_archive(watched())
    assert seen == [()]
    assert image.name == "example.com/test/valid:1"
    assert junk_digest not in (await inventory(containerd_client)).content
    await containerd_client.images.delete(image.name, sync=True)
    # gzip-compressed, the same: imported, the member passed over
    [image] = await containerd_client.images.import_archive(gzip.compress(archive))
    inv = await inventory(containerd_client)
    assert junk_digest not in inv.content
    assert inv.ingests == ()


async def test_a_docker_archive_naming_a_passed_over_member_says_so(
    containerd_client: pycontainerd.Client,
) -> None:
    archive = rewrite(docker_save_archive(), [(member("layer.bin"), b"x")])
    with tarfile.open(fileobj=io.BytesIO(archive)) as t:
        f = t.extractfile("manifest.json")
        assert f is not None
        manifest = json.loads(f.read())
    manifest[1]["Layers"] = ["layer.bin"]
    archive = rewrite(
        archive, [(member("manifest.json"), json.dumps(manifest).encode())], drop="manifest.json"
    )
    with pytest.raises(errors.InvalidArchive, match=r"'layer\.bin' is not named as a layer"):
        await containerd_client.images.import_archive(archive, all_platforms=True)
    assert (await inventory(containerd_client)).empty


def retag(archive: bytes, annotations: dict[str, str]) -> bytes:
    """The archive with its (single) index entry's annotations replaced."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as t:
        f = t.extractfile("index.json")
        assert f is not None
        index = json.loads(f.read())
    index["manifests"][0]["annotations"] = annotations
    return rewrite(archive, [(member("index.json"), json.dumps(index).encode())], drop="index.json")


async def test_names_for_bare_tags_follow_ctr(
    containerd_client: pycontainerd.Client, tmp_path: Path
) -> None:
    archive = tmp_path / "tagged.tar"
    archive.write_bytes(
        retag(
            await valid_archive(containerd_client, tmp_path),
            {"org.opencontainers.image.ref.name": "v1"},
        )
    )
    await ctr(
        containerd_client,
        "images",
        "import",
        "--no-unpack",
        "--base-name",
        "example.com/foo",
        "--digests",
        str(archive),
    )
    by_ctr = sorted(i.name for i in await containerd_client.images.list())
    for name in by_ctr:
        await containerd_client.images.delete(name, sync=True)

    images = await containerd_client.images.import_archive(
        archive, base_name="example.com/foo", digests=True
    )
    assert sorted(i.name for i in images) == by_ctr
    assert "example.com/foo:v1" in by_ctr
    assert any(n.startswith("example.com/foo@sha256:") for n in by_ctr)
    for image in images:
        await containerd_client.images.delete(image.name, sync=True)

    # Without a base name, bare tags get an import-<date> prefix, as ctr does.
    images = await containerd_client.images.import_archive(archive, index_name="example.com/idx:1")
    assert images[0].name == "example.com/idx:1"
    assert images[0].target.media_type == "application/vnd.oci.image.index.v1+json"
    assert len(images) == 2
    assert images[1].name.startswith("import-")
    assert images[1].name.endswith(":v1")
    assert (await images[0].manifest()).descriptor.digest == images[1].target.digest


async def _make_index(
    client: pycontainerd.Client, tmp_path: Path, repo: str, archs: tuple[str, ...]
) -> None:
    """Images ``example.com/<repo>:<arch>`` from one tree, and an OCI index of them as ``:latest``."""
    tree = make_tree(tmp_path / "tree")
    entries = []
    for arch in archs:
        img = await client.images.create_from_directory(
            f"example.com/{repo}:{arch}", tree, platform=f"linux/{arch}"
        )
        entries.append(
            {
                "mediaType": img.target.media_type,
                "digest": img.target.digest,
                "size": img.target.size,
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
    index = json.dumps({"schemaVersion": 2, "manifests": entries}).encode()
    async with client.leases.lease() as leased:
        digest = await leased.content.write("idx", index)
        await leased.images.create(
            f"example.com/{repo}:latest",
            pycontainerd.Descriptor(
                media_type="application/vnd.oci.image.index.v1+json", digest=digest, size=len(index)
            ),
        )


async def test_import_gzipped_archive_from_a_stream(
    containerd_client: pycontainerd.Client, tmp_path: Path
) -> None:
    data = gzip.compress(await valid_archive(containerd_client, tmp_path))

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 1000):
            yield data[start : start + 1000]

    [image] = await containerd_client.images.import_archive(stream(), unpack=True)
    assert image.name == "example.com/test/valid:1"
    assert await image.is_unpacked()
    assert (await inventory(containerd_client)).leases == ()


async def test_export_of_an_index_keeps_only_the_platform_asked_for(
    containerd_client: pycontainerd.Client, tmp_path: Path
) -> None:
    await _make_index(containerd_client, tmp_path, "multi", ("amd64", "arm64"))
    one = tmp_path / "one.tar"
    await containerd_client.images.export_archive(
        one, ["example.com/multi:latest"], platform="linux/arm64"
    )
    every = tmp_path / "all.tar"
    await containerd_client.images.export_archive(
        every, ["example.com/multi:latest"], all_platforms=True
    )
    with pytest.raises(errors.NotFound):
        await containerd_client.images.export_archive(
            tmp_path / "none.tar", ["example.com/multi:latest"], platform="linux/s390x"
        )
    assert not (tmp_path / "none.tar").exists()
    for name in [i.name for i in await containerd_client.images.list()]:
        await containerd_client.images.delete(name, sync=True)
    assert (await inventory(containerd_client)).empty

    [image] = await containerd_client.images.import_archive(one, platform="linux/arm64")
    assert (await image.config("linux/arm64")).architecture == "arm64"
    with pytest.raises(errors.NotFound):
        await image.manifest("linux/amd64")  # its blobs were not exported
    await containerd_client.images.delete(image.name, sync=True)

    [image] = await containerd_client.images.import_archive(every, all_platforms=True)
    assert sorted(map(str, await image.platforms())) == ["linux/amd64", "linux/arm64"]
    for plat in ("linux/amd64", "linux/arm64"):
        m = await image.manifest(plat)
        for blob in (m.config, *m.layers):
            assert (await containerd_client.content.info(blob.digest)).size == blob.size


async def test_import_cancelled_in_unpack_leaves_nothing(
    containerd_client: pycontainerd.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pycontainerd import _images

    archive = await valid_archive(containerd_client, tmp_path)
    applying = anyio.Event()
    real_apply = _images.apply_layer

    async def stall(*args: Any) -> pycontainerd.Descriptor:
        applying.set()
        await anyio.sleep_forever()
        return await real_apply(*args)

    monkeypatch.setattr(_images, "apply_layer", stall)
    async with anyio.create_task_group() as tg:
        tg.start_soon(partial(containerd_client.images.import_archive, archive, unpack=True))
        await applying.wait()
        assert (await inventory(containerd_client)).images == ("example.com/test/valid:1",)
        tg.cancel_scope.cancel()
    inv = await inventory(containerd_client)
    assert inv.empty, inv


async def test_export_to_a_stream_is_deterministic(
    containerd_client: pycontainerd.Client, tmp_path: Path
) -> None:
    image = await containerd_client.images.create_from_directory(
        "example.com/test/stream:1", make_tree(tmp_path / "tree")
    )

    class Sink:
        def __init__(self) -> None:
            self.data = bytearray()

        async def send(self, chunk: bytes) -> None:
            self.data += chunk

    sink = Sink()
    await containerd_client.images.export_archive(sink, [image])
    path = tmp_path / "out.tar"
    await containerd_client.images.export_archive(path, [image.name])
    assert bytes(sink.data) == path.read_bytes()
    with tarfile.open(fileobj=io.BytesIO(bytes(sink.data))) as t:
        names = t.getnames()
        f = t.extractfile("manifest.json")
        assert f is not None
        docker = json.loads(f.read())
    assert names == sorted(names)
    assert names[:2] == ["blobs", "blobs/sha256"]
    assert {"index.json", "oci-layout", "manifest.json"} <= set(names)
    assert docker[0]["RepoTags"] == ["example.com/test/stream:1"]


async def test_index_import_labels_match_ctr(
    containerd_client: pycontainerd.Client, tmp_path: Path
) -> None:
    await _make_index(containerd_client, tmp_path, "lbl", ("amd64", "arm64", "386"))
    archive = tmp_path / "all.tar"
    await containerd_client.images.export_archive(
        archive, ["example.com/lbl:latest"], all_platforms=True
    )

    async def clean() -> None:
        for name in [i.name for i in await containerd_client.images.list()]:
            await containerd_client.images.delete(name, sync=True)
        assert (await inventory(containerd_client)).empty

    async def labels() -> dict[str, dict[str, str]]:
        # A synchronous lease deletion runs the GC: unreferenced blobs go first.
        async with containerd_client.leases.lease(sync_delete=True):
            pass
        return {info.digest: dict(info.labels) for info in await containerd_client.content.list()}

    await clean()
    await ctr(containerd_client, "images", "import", "--no-unpack", str(archive))
    by_ctr = await labels()
    await clean()
    await containerd_client.images.import_archive(archive)
    assert await labels() == by_ctr
    # The index keeps the host's manifest (and, on amd64, the 386 one it can run).
    assert any("containerd.io/gc.ref.content.m.0" in v for v in by_ctr.values())
