"""Import and export options against the daemon: names, labels, missing blobs, compression, GC."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from test_cli import Pyctr, ok, one_line_error, pyctr  # noqa: F401  (the pyctr fixture)

import pycontainerd
from pycontainerd import Platform, errors
from pycontainerd.testing import ContainerdDaemon, busybox_archive, inventory

pytestmark = pytest.mark.anyio

GC = "containerd.io/gc.ref.content."
UNCOMPRESSED = "containerd.io/uncompressed"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"


def members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as t:
        return {
            m.name: f.read()
            for m in t.getmembers()
            if m.isfile() and (f := t.extractfile(m)) is not None
        }


def pack(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            t.addfile(info, io.BytesIO(files[name]))
    return out.getvalue()


def blob(digest: str) -> str:
    return "blobs/" + digest.replace(":", "/")


def sha256(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


class Busybox:
    """The parts of the busybox test archive."""

    def __init__(self) -> None:
        self.files = members(busybox_archive())
        index = json.loads(self.files["index.json"])
        self.manifest_entry = index["manifests"][0]
        self.manifest = json.loads(self.files[blob(self.manifest_entry["digest"])])
        self.layer = self.manifest["layers"][0]
        self.config = self.manifest["config"]

    def with_index(self, entries: list[dict[str, Any]], *, drop: tuple[str, ...] = ()) -> bytes:
        files = {k: v for k, v in self.files.items() if k not in drop}
        files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": entries}).encode()
        return pack(files)


@pytest.fixture(scope="module")
def busybox() -> Busybox:
    return Busybox()


async def ctr(client: pycontainerd.Client, *args: str) -> str:
    result = await anyio.run_process(
        ["ctr", "-a", client.address, "-n", client.namespace, *args], check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


async def collect(client: pycontainerd.Client) -> None:
    # A synchronous lease deletion runs the garbage collector.
    async with client.leases.lease(sync_delete=True):
        pass


async def clean(client: pycontainerd.Client) -> None:
    for image in await client.images.list():
        await client.images.delete(image.name)
    await collect(client)


async def test_names_follow_go_ref_prefix_rules(
    containerd_client: pycontainerd.Client, busybox: Busybox, tmp_path: Path
) -> None:
    client = containerd_client
    m = busybox.manifest_entry
    plain = {"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"]}
    archive = tmp_path / "names.tar"
    archive.write_bytes(
        busybox.with_index(
            [
                dict(plain, annotations={"org.opencontainers.image.ref.name": "v1"}),
                dict(
                    plain, annotations={"org.opencontainers.image.ref.name": "example.com/other:2"}
                ),
                dict(
                    plain,
                    annotations={"org.opencontainers.image.ref.name": "example.com/foo/sub:3"},
                ),
                dict(plain, annotations={"io.containerd.image.name": "example.com/named:4"}),
            ]
        )
    )

    async def names_by_ctr(*args: str) -> list[str]:
        await ctr(client, "images", "import", "--no-unpack", *args, str(archive))
        names = sorted(i.name for i in await client.images.list())
        await clean(client)
        return names

    # --base-name: only full references under it; io.containerd.image.name names stay.
    by_ctr = await names_by_ctr("--base-name", "example.com/foo")
    images = await client.images.import_archive(archive, base_name="example.com/foo")
    assert (
        sorted(i.name for i in images)
        == by_ctr
        == [
            "example.com/foo/sub:3",
            "example.com/foo:v1",
            "example.com/named:4",
        ]
    )
    await clean(client)

    # Without: bare tags get import-<date>, full references stay (AddRefPrefix).
    by_ctr = await names_by_ctr()
    images = await client.images.import_archive(archive)
    assert sorted(i.name for i in images) == by_ctr
    assert "example.com/other:2" in by_ctr
    await clean(client)

    # ref_prefix: AddRefPrefix with a prefix of one's own.
    images = await client.images.import_archive(archive, ref_prefix="example.com/foo")
    assert sorted(i.name for i in images) == [
        "example.com/foo/sub:3",
        "example.com/foo:v1",
        "example.com/named:4",
        "example.com/other:2",
    ]
    await clean(client)

    # --digests --skip-digest-for-named: digest images for unnamed manifests only.
    unnamed = busybox.with_index(
        [plain, dict(plain, annotations={"org.opencontainers.image.ref.name": "v1"})]
    )
    archive.write_bytes(unnamed)
    by_ctr = await names_by_ctr(
        "--base-name", "example.com/foo", "--digests", "--skip-digest-for-named"
    )
    images = await client.images.import_archive(
        archive, base_name="example.com/foo", digests=True, skip_digest_for_named=True
    )
    assert (
        sorted(i.name for i in images)
        == by_ctr
        == [
            "example.com/foo:v1",
            f"example.com/foo@{m['digest']}",
        ]
    )

    for bad in (
        {"base_name": "a.example/x", "ref_prefix": "b.example/y"},
        {"discard_unpacked_layers": True},
        {"skip_digest_for_named": True},
        {"labels": {"": "x"}},
    ):
        with pytest.raises(errors.InvalidArgument):
            await client.images.import_archive(archive, **bad)


async def test_labels_on_the_imported_images(
    containerd_client: pycontainerd.Client, busybox: Busybox, tmp_path: Path
) -> None:
    client = containerd_client
    archive = tmp_path / "bb.tar"
    archive.write_bytes(pack(busybox.files))
    images = await client.images.import_archive(
        archive, labels={"a": "1"}, index_name="example.com/idx:1"
    )
    # Every image Go's import writes gets them, the index's too.
    assert {i.name: dict(i.labels) for i in images} == {
        "example.com/idx:1": {"a": "1"},
        "docker.io/library/busybox:latest": {"a": "1"},
    }
    assert {i.name: dict(i.labels) for i in await client.images.list()} == {
        i.name: dict(i.labels) for i in images
    }
    # A re-import sets the whole set: the labels not given go, as Go's update of "labels".
    await client.images.update(images[1].name, labels={"extra": "x"})
    again = await client.images.import_archive(archive, labels={"b": "2"})
    assert [dict(i.labels) for i in again] == [{"b": "2"}]
    # Without labels, an existing image keeps its own.
    kept = await client.images.import_archive(archive)
    assert [dict(i.labels) for i in kept] == [{"b": "2"}]


async def test_skip_missing_imports_an_archive_without_some_blobs(
    containerd_client: pycontainerd.Client, busybox: Busybox
) -> None:
    client = containerd_client
    m = busybox.manifest_entry
    host = Platform.host()
    absent = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []})
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": m["digest"],
                    "size": m["size"],
                    "platform": {"architecture": host.architecture, "os": "linux"},
                },
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": sha256(absent.encode()),
                    "size": len(absent),
                    "platform": {"architecture": "s390x", "os": "linux"},
                },
            ],
        }
    ).encode()
    files = dict(busybox.files)
    files[blob(sha256(index))] = index
    entry = {
        "mediaType": OCI_INDEX,
        "digest": sha256(index),
        "size": len(index),
        "annotations": {"io.containerd.image.name": "example.com/multi:1"},
    }
    files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode()
    archive = pack(files)

    with pytest.raises(errors.InvalidArchive, match="incomplete"):
        await client.images.import_archive(archive, all_platforms=True)
    [image] = await client.images.import_archive(archive, all_platforms=True, skip_missing=True)
    assert image.target.digest == sha256(index)
    # The index names both manifests for the GC; the one present is whole.
    labels = (await client.content.info(sha256(index))).labels
    assert {labels[f"{GC}m.0"], labels[f"{GC}m.1"]} == {m["digest"], sha256(absent.encode())}
    await collect(client)
    manifest = await image.manifest()
    assert (await client.content.info(manifest.layers[0].digest)).size == manifest.layers[0].size
    await clean(client)

    # A missing layer: refused, unless skip_missing.
    no_layer = busybox.with_index([m], drop=(blob(busybox.layer["digest"]),))
    with pytest.raises(errors.InvalidArchive, match="neither in the archive"):
        await client.images.import_archive(no_layer)
    [image] = await client.images.import_archive(no_layer, skip_missing=True)
    with pytest.raises(errors.NotFound):
        await client.content.info(busybox.layer["digest"])
    assert (await image.config()).diff_ids


async def test_discard_unpacked_layers_leaves_them_collectable(
    containerd_client: pycontainerd.Client, busybox: Busybox
) -> None:
    client = containerd_client
    layer = busybox.layer["digest"]
    archive = pack(busybox.files)

    await client.images.import_archive(archive, unpack=True)
    await collect(client)
    assert (await client.content.info(layer)).labels[UNCOMPRESSED]
    await clean(client)
    with pytest.raises(errors.NotFound):
        await client.content.info(layer)

    [image] = await client.images.import_archive(archive, unpack=True, discard_unpacked_layers=True)
    labels = (await client.content.info(busybox.manifest_entry["digest"])).labels
    assert labels[f"{GC}config"] == busybox.config["digest"]
    assert f"{GC}l.0" not in labels
    await collect(client)
    with pytest.raises(errors.NotFound):
        await client.content.info(layer)
    # The unpacked snapshot stays (the config refers to it): the image still runs.
    assert await image.is_unpacked()
    result = await client.run(image, ["echo", "still here"], check=True)
    assert result.stdout == b"still here\n"


def docker_save(busybox: Busybox, *, plain: bool) -> tuple[bytes, bytes]:
    """The busybox image as a ``docker save`` tar with a plain (or gzip) layer; and the plain layer."""
    tar = gzip.decompress(busybox.files[blob(busybox.layer["digest"])])
    config = busybox.files[blob(busybox.config["digest"])]
    files = {
        "cfg.json": config,
        "layer/layer.tar": tar if plain else busybox.files[blob(busybox.layer["digest"])],
        "manifest.json": json.dumps(
            [
                {
                    "Config": "cfg.json",
                    "RepoTags": ["example.com/saved:1"],
                    "Layers": ["layer/layer.tar"],
                }
            ]
        ).encode(),
    }
    return pack(files), tar


async def test_compress_blobs_gzips_plain_docker_layers(
    containerd_client: pycontainerd.Client, busybox: Busybox
) -> None:
    client = containerd_client
    archive, tar = docker_save(busybox, plain=True)
    [image] = await client.images.import_archive(archive)
    [layer] = (await image.manifest()).layers
    assert (layer.media_type, layer.digest) == (DOCKER_LAYER, sha256(tar))
    await clean(client)

    [image] = await client.images.import_archive(archive, compress_blobs=True, unpack=True)
    [layer] = (await image.manifest()).layers
    assert layer.media_type == DOCKER_LAYER_GZIP
    stored = await client.content.read(layer.digest)
    assert len(stored) == layer.size < len(tar)
    assert gzip.decompress(stored) == tar
    info = await client.content.info(layer.digest)
    assert info.labels[UNCOMPRESSED] == sha256(tar) == (await image.config()).diff_ids[0]
    await collect(client)  # the plain blob was only the import's
    with pytest.raises(errors.NotFound):
        await client.content.info(sha256(tar))
    result = await client.run(image, ["echo", "gzipped"], check=True)
    assert result.stdout == b"gzipped\n"

    # As containerd's importer: a plain layer the store holds compressed is
    # replaced by the compressed blob, even without compress_blobs.
    [again] = await client.images.import_archive(archive)
    assert (await again.manifest()).layers == (layer,)


async def test_import_cancelled_while_compressing_leaves_nothing(
    containerd_client: pycontainerd.Client, busybox: Busybox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import types
    import zlib

    from pycontainerd import _archive

    client = containerd_client
    archive, _ = docker_save(busybox, plain=True)
    compressing = anyio.Event()

    class Slow:
        def __init__(self, *args: Any) -> None:
            self._real = zlib.compressobj(*args)

        def compress(self, data: bytes) -> bytes:  # runs in a worker thread
            anyio.from_thread.run_sync(compressing.set)
            threading.Event().wait(0.2)  # the cancellation arrives meanwhile
            return self._real.compress(data)

        def flush(self) -> bytes:
            return self._real.flush()

    monkeypatch.setattr(
        _archive, "zlib", types.SimpleNamespace(**{**vars(zlib), "compressobj": Slow})
    )
    async with anyio.create_task_group() as tg:

        async def run() -> None:
            await client.images.import_archive(archive, compress_blobs=True)

        tg.start_soon(run)
        await compressing.wait()
        tg.cancel_scope.cancel()
    await collect(client)
    assert (await inventory(client)).empty


async def test_export_skips_non_distributable_layers(
    containerd_client: pycontainerd.Client, busybox: Busybox, tmp_path: Path
) -> None:
    client = containerd_client
    [base] = await client.images.import_archive(pack(busybox.files))
    foreign = gzip.compress(b"\0" * 1024, mtime=0)
    manifest = dict(busybox.manifest)
    manifest["layers"] = [
        {
            "mediaType": FOREIGN,
            "digest": sha256(foreign),
            "size": len(foreign),
            "urls": ["https://example.com/base.tar.gz"],
        },
        *manifest["layers"],
    ]
    data = json.dumps(manifest).encode()
    async with client.leases.lease() as leased:
        await leased.content.write("foreign", foreign)
        digest = await leased.content.write("manifest", data)
        await leased.content.update(
            digest,
            labels={
                f"{GC}config": busybox.config["digest"],
                f"{GC}l.0": sha256(foreign),
                f"{GC}l.1": busybox.layer["digest"],
            },
        )
        await client.images.create(
            "example.com/win:1",
            pycontainerd.Descriptor(media_type=OCI_MANIFEST, digest=digest, size=len(data)),
        )

    full = tmp_path / "full.tar"
    await client.images.export_archive(full, ["example.com/win:1"])
    assert blob(sha256(foreign)) in members(full.read_bytes())

    skipped = tmp_path / "skipped.tar"
    await client.images.export_archive(skipped, ["example.com/win:1"], skip_non_distributable=True)
    files = members(skipped.read_bytes())
    assert blob(sha256(foreign)) not in files
    assert {blob(digest), blob(busybox.layer["digest"]), blob(busybox.config["digest"])} <= set(
        files
    )
    # manifest.json still lists it, as containerd's exporter does.
    [entry] = json.loads(files["manifest.json"])
    assert entry["Layers"][0] == blob(sha256(foreign))
    await ctr(
        client,
        "images",
        "export",
        "--skip-non-distributable",
        str(tmp_path / "ctr.tar"),
        "example.com/win:1",
    )
    assert sorted(members((tmp_path / "ctr.tar").read_bytes())) == sorted(files)
    assert base.name


async def test_pyctr_import_and_export_flags(
    containerd_client: pycontainerd.Client,
    containerd_daemon: ContainerdDaemon,
    busybox: Busybox,
    tmp_path: Path,
    pyctr: Pyctr,  # noqa: F811  (the fixture imported above)
) -> None:
    client = containerd_client
    archive = tmp_path / "saved.tar"
    saved, tar = docker_save(busybox, plain=True)
    archive.write_bytes(saved)
    for local in ([], ["--local"]):
        out = ok(
            await pyctr(
                "images",
                "import",
                *local,
                "--no-unpack",
                "--compress-blobs",
                "--label",
                "a=1",
                "--label",
                "b=2",
                str(archive),
            )
        )
        image = await client.images.get("example.com/saved:1")
        assert out.split() == [image.name, image.target.digest]
        assert dict(image.labels) == {"a": "1", "b": "2"}
        [layer] = (await image.manifest()).layers
        assert layer.media_type == DOCKER_LAYER_GZIP
        assert gzip.decompress(await client.content.read(layer.digest)) == tar
        await clean(client)

    ok(await pyctr("images", "import", "--local", "--discard-unpacked-layers", str(archive)))
    await collect(client)
    image = await client.images.get("example.com/saved:1")
    assert await image.is_unpacked()
    with pytest.raises(errors.NotFound):
        await client.content.info((await image.manifest()).layers[0].digest)

    bad = [
        ("--discard-unpacked-layers", "--no-unpack", "--local"),
        ("--skip-digest-for-named", "--local"),
    ]
    if containerd_daemon.version_info >= (2, 0, 0):
        bad.append(("--discard-unpacked-layers",))  # the transfer service cannot, as in ctr
    for flags in bad:
        result = await pyctr("images", "import", *flags, str(archive))
        assert result.returncode == 2, (flags, result.stderr)
        one_line_error(result)

    await clean(client)  # the layer blob is gone: import it again to export it
    ok(await pyctr("images", "import", "--local", "--no-unpack", str(archive)))
    out = tmp_path / "out.tar"
    ok(
        await pyctr(
            "images",
            "export",
            "--skip-manifest-json",
            "--skip-non-distributable",
            "--platform",
            "linux/s390x",
            "--platform",
            str(Platform.host()),
            str(out),
            "example.com/saved:1",
        )
    )
    files = members(out.read_bytes())
    assert "manifest.json" not in files
    assert blob((await client.images.get("example.com/saved:1")).target.digest) in files
