"""Image conversion (`Images.convert`) against the daemon, checked against ``ctr images convert``."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from test_cli import Pyctr, ok, one_line_error, pyctr  # noqa: F401  (the pyctr fixture)

import pycontainerd
from pycontainerd import Platform, errors
from pycontainerd.testing import busybox_archive, inventory

pytestmark = pytest.mark.anyio

DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
GC = "containerd.io/gc.ref.content."
SOURCE = "example.com/test/docker:list"
OTHER_ARCH = "riscv64" if Platform.host().architecture != "riscv64" else "s390x"


def _blobs(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as t:
        return {
            m.name: f.read()
            for m in t.getmembers()
            if m.isfile() and (f := t.extractfile(m)) is not None
        }


def docker_save_busybox() -> bytes:
    """The busybox test image as a ``docker save`` tar, for the host and for `OTHER_ARCH`.

    Imported, it gives Docker media types throughout (manifest, config, gzip layer).
    """
    files = _blobs(busybox_archive())
    index = json.loads(files["index.json"])
    manifest = json.loads(files["blobs/" + index["manifests"][0]["digest"].replace(":", "/")])
    config = json.loads(files["blobs/" + manifest["config"]["digest"].replace(":", "/")])
    layer = files["blobs/" + manifest["layers"][0]["digest"].replace(":", "/")]
    other = dict(config, architecture=OTHER_ARCH)
    out = io.BytesIO()
    entries = [
        ("host.json", json.dumps(config).encode()),
        ("other.json", json.dumps(other).encode()),
        ("layer/layer.tar", layer),
        (
            "manifest.json",
            json.dumps(
                [
                    {
                        "Config": "host.json",
                        "RepoTags": ["example.com/test/docker:host"],
                        "Layers": ["layer/layer.tar"],
                    },
                    {
                        "Config": "other.json",
                        "RepoTags": ["example.com/test/docker:other"],
                        "Layers": ["layer/layer.tar"],
                    },
                ]
            ).encode(),
        ),
    ]
    with tarfile.open(fileobj=out, mode="w") as t:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


async def docker_list_image(client: pycontainerd.Client) -> pycontainerd.Image:
    """`SOURCE`: a Docker manifest list of the host's and `OTHER_ARCH`'s Docker manifests."""
    images = await client.images.import_archive(docker_save_busybox(), all_platforms=True)
    by_name = {i.name: i for i in images}
    entries = []
    for tag, arch in (("host", Platform.host().architecture), ("other", OTHER_ARCH)):
        target = by_name[f"example.com/test/docker:{tag}"].target
        assert target.media_type == DOCKER_MANIFEST
        entries.append(
            {
                "mediaType": target.media_type,
                "digest": target.digest,
                "size": target.size,
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
    data = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": entries}).encode()
    async with client.leases.lease() as leased:
        digest = await leased.content.write("list", data)
        await leased.content.update(
            digest, labels={f"{GC}m.{i}": e["digest"] for i, e in enumerate(entries)}
        )
        return await client.images.create(
            SOURCE, pycontainerd.Descriptor(media_type=DOCKER_LIST, digest=digest, size=len(data))
        )


async def read_json(client: pycontainerd.Client, desc: pycontainerd.Descriptor) -> Any:
    return json.loads(await client.content.read(desc.digest))


async def collect(client: pycontainerd.Client) -> None:
    # A synchronous lease deletion runs the garbage collector.
    async with client.leases.lease(sync_delete=True):
        pass


async def ctr_convert(client: pycontainerd.Client, *args: str) -> str:
    result = await anyio.run_process(
        ["ctr", "-a", client.address, "-n", client.namespace, "images", "convert", *args],
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode().strip()


async def test_docker_list_converts_to_oci_as_ctr_does(
    containerd_client: pycontainerd.Client,
) -> None:
    client = containerd_client
    source = await docker_list_image(client)
    # A label the rewritten manifest keeps, as containerd's converter keeps them.
    source_label = {"containerd.io/distribution.source.example.com": "test/docker"}
    await client.content.update((await source.manifest()).descriptor.digest, labels=source_label)

    image = await client.images.convert(SOURCE, "example.com/test/oci:1", oci=True)
    assert image.name == "example.com/test/oci:1"
    assert image.target.media_type == OCI_INDEX
    index = await read_json(client, image.target)
    assert index["mediaType"] == OCI_INDEX
    # Only the host's manifest is kept, as ctr does without --platform.
    [entry] = index["manifests"]
    assert entry["mediaType"] == OCI_MANIFEST
    assert entry["platform"]["architecture"] == Platform.host().architecture
    manifest = await read_json(client, pycontainerd.Descriptor(**_desc(entry)))
    assert manifest["mediaType"] == OCI_MANIFEST
    assert manifest["config"]["mediaType"] == OCI_CONFIG
    assert [layer["mediaType"] for layer in manifest["layers"]] == [OCI_LAYER_GZIP]

    # The blobs that do not change are shared: same config and layer digests.
    old = await source.manifest()
    new = await image.manifest()
    assert new.config.digest == old.config.digest
    assert [layer.digest for layer in new.layers] == [layer.digest for layer in old.layers]
    # GC references: index -> manifest, manifest -> config and layer.
    index_labels = (await client.content.info(image.target.digest)).labels
    assert {k: v for k, v in index_labels.items() if k.startswith(GC)} == {
        f"{GC}m.0": entry["digest"]
    }
    manifest_labels = (await client.content.info(entry["digest"])).labels
    assert manifest_labels[f"{GC}config"] == new.config.digest
    assert manifest_labels[f"{GC}l.0"] == new.layers[0].digest
    assert manifest_labels.items() >= source_label.items()
    ours = {
        d: (await client.content.info(d)).labels for d in (image.target.digest, entry["digest"])
    }

    # Only the image holds the new blobs; ctr writes the same bytes, labelled alike.
    await client.images.delete(image.name, sync=True)
    await collect(client)
    for digest in ours:
        with pytest.raises(errors.NotFound):
            await client.content.info(digest)
    by_ctr = await ctr_convert(client, "--oci", SOURCE, "example.com/test/ctr:oci")
    assert by_ctr == image.target.digest
    assert {d: (await client.content.info(d)).labels for d in ours} == ours

    # The source is untouched, and the result runs once the source is gone.
    assert (await client.images.get(SOURCE)).target == source.target
    image = await client.images.convert(SOURCE, "example.com/test/oci:1", oci=True)
    for name in (
        SOURCE,
        "example.com/test/ctr:oci",
        "example.com/test/docker:host",
        "example.com/test/docker:other",
    ):
        await client.images.delete(name, sync=True)
    await collect(client)
    result = await client.run(image, ["echo", "converted"], check=True)
    assert result.stdout == b"converted\n"


async def registry_order_image(client: pycontainerd.Client) -> pycontainerd.Image:
    """`SOURCE` as registries serve JSON: Docker's key order, fields image-spec lacks, unsorted maps.

    The list holds the host's manifest; every descriptor field that Go's
    ``ocispec.Descriptor`` keeps (urls, data, platform extras, artifact
    type) is set somewhere.
    """
    images = await client.images.import_archive(docker_save_busybox(), all_platforms=True)
    host = next(i for i in images if i.name == "example.com/test/docker:host")
    old = await read_json(client, host.target)
    config_data = await client.content.read(old["config"]["digest"])
    config = {
        "mediaType": DOCKER_CONFIG,
        "size": old["config"]["size"],
        "digest": old["config"]["digest"],
        "data": base64.b64encode(config_data).decode(),
        "x-registry": "dropped",
    }
    [layer] = old["layers"]
    layers = [
        {
            "mediaType": DOCKER_LAYER_GZIP,
            "size": layer["size"],
            "digest": layer["digest"],
            "annotations": {"z.last": "1", "a.first": "<&>"},
            "urls": ["https://example.com/layer"],
            "artifactType": "application/example",
        }
    ]
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "x-unknown": {"b": 1, "a": 2},
        "layers": layers,
        "config": config,
        "annotations": {"y": "2", "x": "1"},
    }
    data = json.dumps(manifest, indent=3).encode()
    entry = {
        "mediaType": DOCKER_MANIFEST,
        "size": len(data),
        "digest": "",
        "platform": {
            "os": "linux",
            "architecture": Platform.host().architecture,
            "os.features": ["x"],
            "x-field": "dropped",
        },
        "annotations": {"org.b": "2", "org.a": "1"},
    }
    async with client.leases.lease() as leased:
        entry["digest"] = await leased.content.write("manifest", data)
        await leased.content.update(
            entry["digest"],
            labels={f"{GC}config": config["digest"], f"{GC}l.0": layer["digest"]},
        )
        listing = {"manifests": [entry], "mediaType": DOCKER_LIST, "schemaVersion": 2, "x": None}
        data = json.dumps(listing).encode()
        digest = await leased.content.write("list", data)
        await leased.content.update(digest, labels={f"{GC}m.0": entry["digest"]})
        return await client.images.create(
            SOURCE, pycontainerd.Descriptor(media_type=DOCKER_LIST, digest=digest, size=len(data))
        )


async def test_registry_json_converts_to_the_bytes_ctr_writes(
    containerd_client: pycontainerd.Client,
) -> None:
    """Go re-encodes each document from its structs: the same digests as ``ctr`` for any key order."""
    client = containerd_client
    await registry_order_image(client)
    for flags in (["--oci"], ["--oci", "--uncompress"]):
        image = await client.images.convert(
            SOURCE, "example.com/test/ours:1", oci=True, uncompress="--uncompress" in flags
        )
        by_ctr = await ctr_convert(client, *flags, SOURCE, "example.com/test/ctr:1")
        assert image.target.digest == by_ctr, flags
        index = await read_json(client, image.target)
        [entry] = index["manifests"]
        assert list(index) == ["schemaVersion", "mediaType", "manifests"]
        assert list(entry) == ["mediaType", "digest", "size", "annotations", "platform"]
        assert list(entry["platform"]) == ["architecture", "os", "os.features"]
        manifest = await read_json(client, pycontainerd.Descriptor(**_desc(entry)))
        assert list(manifest) == ["schemaVersion", "mediaType", "config", "layers", "annotations"]
        assert list(manifest["layers"][0]) == [
            "mediaType",
            "digest",
            "size",
            "urls",
            "annotations",
            "artifactType",
        ]
        assert list(manifest["layers"][0]["annotations"]) == ["a.first", "z.last"]
        assert list(manifest["config"]) == ["mediaType", "digest", "size", "data"]

    # Go writes the list it builds anew as null when it is empty.
    data = json.dumps({"mediaType": DOCKER_LIST, "manifests": [], "schemaVersion": 2}).encode()
    async with client.leases.lease() as leased:
        digest = await leased.content.write("empty", data)
        await client.images.create(
            "example.com/test/empty:1",
            pycontainerd.Descriptor(media_type=DOCKER_LIST, digest=digest, size=len(data)),
        )
    image = await client.images.convert("example.com/test/empty:1", "example.com/ours:2", oci=True)
    by_ctr = await ctr_convert(client, "--oci", "example.com/test/empty:1", "example.com/ctr:2")
    assert image.target.digest == by_ctr
    assert (await read_json(client, image.target))["manifests"] is None


def _desc(entry: dict[str, Any]) -> dict[str, Any]:
    return {"media_type": entry["mediaType"], "digest": entry["digest"], "size": entry["size"]}


async def test_uncompressed_layers_are_their_diff_ids(
    containerd_client: pycontainerd.Client,
) -> None:
    client = containerd_client
    source = await docker_list_image(client)
    by_ctr = await ctr_convert(
        client, "--oci", "--uncompress", SOURCE, "example.com/test/ctr:plain"
    )
    await client.images.delete("example.com/test/ctr:plain", sync=True)
    compressed = (await source.manifest()).layers[0]
    # ctr left the diff ID on the compressed layer: start from a bare one.
    await client.content.update(compressed.digest, labels={"containerd.io/uncompressed": None})
    await collect(client)
    assert [i.digest for i in await client.content.list()].count(by_ctr) == 0

    image = await client.images.convert(
        source, "example.com/test/plain:1", oci=True, uncompress=True
    )
    assert image.target.digest == by_ctr
    manifest = await image.manifest()
    config = await image.config()
    [layer] = manifest.layers
    assert layer.media_type == OCI_LAYER
    assert layer.digest == config.diff_ids[0] != compressed.digest
    info = await client.content.info(layer.digest)
    assert info.size == layer.size
    assert "containerd.io/uncompressed" not in info.labels
    # As containerd's GetDiffID leaves it: the compressed layer names its diff ID.
    labels = (await client.content.info(compressed.digest)).labels
    assert labels["containerd.io/uncompressed"] == layer.digest

    # Unpacking applies the plain tar to the same snapshot chain.
    assert await image.unpack() == await source.chain_id()
    result = await client.run(image, ["cat", "/etc/group"], check=True)
    assert result.stdout.startswith(b"root:x:0:")


async def test_platforms_kept_and_dropped(containerd_client: pycontainerd.Client) -> None:
    client = containerd_client
    await docker_list_image(client)
    every = await client.images.convert(SOURCE, "example.com/test/all:1", all_platforms=True)
    index = await read_json(client, every.target)
    assert [m["platform"]["architecture"] for m in index["manifests"]] == [
        Platform.host().architecture,
        OTHER_ARCH,
    ]
    # Without `oci` the list stays Docker's, and loses the annotations Docker lacks.
    assert index["mediaType"] == DOCKER_LIST
    assert every.target == (await client.images.get(SOURCE)).target

    other = await client.images.convert(
        SOURCE, "example.com/test/other:1", oci=True, platform=[f"linux/{OTHER_ARCH}"]
    )
    index = await read_json(client, other.target)
    assert [m["platform"]["architecture"] for m in index["manifests"]] == [OTHER_ARCH]
    assert [str(p) for p in await other.platforms()] == [f"linux/{OTHER_ARCH}"]

    with pytest.raises(errors.NotFound, match="no manifest"):
        await client.images.convert(SOURCE, "example.com/test/none:1", platform="linux/mips64")
    with pytest.raises(errors.InvalidArgument, match="platform"):
        await client.images.convert(SOURCE, "example.com/test/none:1", platform="a/b/c/d")
    names = {i.name for i in await client.images.list()}
    assert "example.com/test/none:1" not in names


async def test_existing_target_name_is_repointed_with_the_source_labels(
    containerd_client: pycontainerd.Client,
) -> None:
    client = containerd_client
    source = await docker_list_image(client)
    await client.images.update(SOURCE, labels={"from": "source"})
    await client.images.create(
        "example.com/test/dst:1",
        (await client.images.get("example.com/test/docker:host")).target,
        labels={"old": "label"},
    )
    image = await client.images.convert(SOURCE, "example.com/test/dst:1", oci=True)
    assert image.labels == {"from": "source"}
    assert (await client.images.get("example.com/test/dst:1")).target.media_type == OCI_INDEX

    # In place: the source itself is re-pointed.
    same = await client.images.convert(SOURCE, SOURCE, oci=True)
    assert same.target == image.target != source.target
    assert (await client.images.get(SOURCE)).target == image.target


async def test_failed_conversion_leaves_nothing(containerd_client: pycontainerd.Client) -> None:
    client = containerd_client
    await docker_list_image(client)
    other = await client.images.get("example.com/test/docker:other")
    # The other platform's manifest goes: converting every platform cannot finish.
    await client.images.delete("example.com/test/docker:other")
    await client.content.update(
        (await client.content.info((await client.images.get(SOURCE)).target.digest)).digest,
        labels={f"{GC}m.1": None},
    )
    await collect(client)
    with pytest.raises(errors.NotFound):
        await client.content.info(other.target.digest)
    before = await inventory(client)
    with pytest.raises(errors.NotFound):
        await client.images.convert(
            SOURCE, "example.com/test/broken:1", oci=True, uncompress=True, all_platforms=True
        )
    await collect(client)
    assert await inventory(client) == before


async def test_cancelled_conversion_leaves_nothing(
    containerd_client: pycontainerd.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pycontainerd import _image_convert

    client = containerd_client
    await docker_list_image(client)
    await client.images.create("example.com/test/dst:1", (await client.images.get(SOURCE)).target)
    await collect(client)
    before = await inventory(client)
    real = _image_convert._gunzip
    started = anyio.Event()

    async def stalling(*args: Any) -> AsyncIterator[bytes]:
        async for piece in real(*args):
            yield piece
            started.set()
            await anyio.sleep_forever()

    monkeypatch.setattr(_image_convert, "_gunzip", stalling)
    async with anyio.create_task_group() as tg:

        async def convert() -> None:
            await client.images.convert(SOURCE, "example.com/test/dst:1", uncompress=True)

        tg.start_soon(convert)
        await started.wait()
        tg.cancel_scope.cancel()
    assert await client.content.list_statuses() == []
    assert await client.leases.list() == []
    await collect(client)
    assert await inventory(client) == before
    assert (await client.images.get("example.com/test/dst:1")).target == (
        await client.images.get(SOURCE)
    ).target


async def test_cancelled_after_the_record_is_undone(
    containerd_client: pycontainerd.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A native cancellation landing as the record is written: the record goes again."""
    import asyncio

    client = containerd_client
    await docker_list_image(client)
    await collect(client)
    before = await inventory(client)
    real = pycontainerd.Images.create
    landed = anyio.Event()

    async def create(self: pycontainerd.Images, *args: Any, **kwargs: Any) -> pycontainerd.Image:
        image = await real(self, *args, **kwargs)
        landed.set()
        await anyio.sleep(0.2)  # the cancellation arrives while the create is shielded
        return image

    monkeypatch.setattr(pycontainerd.Images, "create", create)
    task = asyncio.ensure_future(client.images.convert(SOURCE, "example.com/test/late:1", oci=True))
    await landed.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    monkeypatch.undo()
    await collect(client)
    assert await inventory(client) == before


async def test_pyctr_images_convert(
    containerd_client: pycontainerd.Client,
    pyctr: Pyctr,  # noqa: F811  (the fixture imported above)
) -> None:
    client = containerd_client
    await docker_list_image(client)
    by_ctr = await ctr_convert(client, "--oci", "--uncompress", SOURCE, "example.com/test/ctr:1")
    out = ok(await pyctr("images", "convert", "--oci", "--uncompress", SOURCE, "example.com/cli:1"))
    assert out == by_ctr + "\n"
    assert (await client.images.get("example.com/cli:1")).target.digest == by_ctr

    out = ok(
        await pyctr(
            "images",
            "convert",
            "--platform",
            f"linux/{OTHER_ARCH}",
            "--platform",
            "linux/arm/v5",
            SOURCE,
            "example.com/cli:2",
        )
    )
    index = await read_json(client, (await client.images.get("example.com/cli:2")).target)
    assert out.strip() == (await client.images.get("example.com/cli:2")).target.digest
    assert [m["platform"]["architecture"] for m in index["manifests"]] == [OTHER_ARCH]
    ok(await pyctr("images", "convert", "--all-platforms", SOURCE, "example.com/cli:3"))
    index = await read_json(client, (await client.images.get("example.com/cli:3")).target)
    assert len(index["manifests"]) == 2
    err = one_line_error(
        await pyctr("images", "convert", "example.com/nope:1", "example.com/cli:4")
    )
    assert "not found" in err
