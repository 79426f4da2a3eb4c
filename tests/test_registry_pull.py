"""Pull and push against a real docker-registry and the private containerd."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from pathlib import Path

import pytest
from registry_harness import RegistryServer

import pycontainerd
from pycontainerd import Descriptor, ImageConfig
from pycontainerd.registry import (
    BlobState,
    Progress,
    Reference,
)
from pycontainerd.registry._http import Repository
from pycontainerd.testing import inventory

pytestmark = pytest.mark.anyio

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"


def busybox_tree(root: Path) -> Path:
    """A minimal rootfs: Debian's static busybox and a few applet links."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(busybox, root / "bin" / "busybox")
    for applet in ("sh", "echo", "cat"):
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc").mkdir()
    (root / "etc" / "greeting").write_text("hello from the registry\n")
    return root


def _name(server: RegistryServer, repo: str = "app", tag: str = "v1") -> str:
    return f"{server.host}/test/{repo}-{uuid.uuid4().hex[:8]}:{tag}"


def _desc(media_type: str, data: bytes) -> Descriptor:
    return Descriptor(
        media_type=media_type, digest="sha256:" + hashlib.sha256(data).hexdigest(), size=len(data)
    )


async def _put_blob(repo: Repository, media_type: str, data: bytes) -> Descriptor:
    desc = _desc(media_type, data)

    async def body():  # type: ignore[no-untyped-def]
        yield data

    if not await repo.blob_exists(desc):
        await repo.push_blob(desc, body)
    return desc


async def _put_manifest(repo: Repository, arch: str, layer: bytes) -> Descriptor:
    config = json.dumps(
        {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    cdesc = await _put_blob(repo, OCI_CONFIG, config)
    ldesc = await _put_blob(repo, LAYER, layer)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": cdesc.digest, "size": cdesc.size},
            "layers": [{"mediaType": LAYER, "digest": ldesc.digest, "size": ldesc.size}],
        }
    ).encode()
    mdesc = _desc(OCI_MANIFEST, manifest)
    await repo.put_manifest(mdesc.digest, OCI_MANIFEST, manifest)
    return mdesc


async def test_push_delete_pull_round_trip(
    containerd_client: pycontainerd.Client, registry: RegistryServer, tmp_path: Path
) -> None:
    client = containerd_client
    name = _name(registry)
    image = await client.images.create_from_directory(
        name, busybox_tree(tmp_path / "rootfs"), config=ImageConfig(cmd=("cat", "/etc/greeting"))
    )
    updates: list[Progress] = []
    pushed = await client.push(name, progress=updates.append)
    assert pushed == image.target
    assert {u.state for u in updates} >= {BlobState.UPLOADING, BlobState.DONE}

    # A second push finds every blob in the registry.
    again: list[Progress] = []
    await client.push(name, image, progress=again.append)
    manifest = await image.manifest()
    blob_states = {u.digest: u.state for u in again if u.digest != image.target.digest}
    assert blob_states == {
        d.digest: BlobState.EXISTS for d in (manifest.config, *manifest.layers)
    }

    await client.images.delete(name, sync=True)
    assert (await inventory(client)).content == ()

    pulled_updates: list[Progress] = []

    async def on_progress(p: Progress) -> None:
        pulled_updates.append(p)

    pulled = await client.pull(name, unpack=False, progress=on_progress)
    assert pulled.name == str(Reference.parse(name))
    assert pulled.target == image.target
    assert (await client.images.get(name)).target == image.target
    assert (await pulled.config()).cmd == ("cat", "/etc/greeting")
    layer = manifest.layers[0]
    finals = [u for u in pulled_updates if u.digest == layer.digest]
    assert finals[-1].state is BlobState.DONE
    assert finals[-1].offset == layer.size
    assert any(u.state is BlobState.DOWNLOADING and 0 < u.offset for u in finals)

    # containerd's labels: GC references on the manifest, the source on every blob.
    source = "containerd.io/distribution.source.127.0.0.1"
    repo_path = Reference.parse(name).path
    minfo = await client.content.info(image.target.digest)
    assert minfo.labels["containerd.io/gc.ref.content.config"] == manifest.config.digest
    assert minfo.labels["containerd.io/gc.ref.content.l.0"] == layer.digest
    for digest in (image.target.digest, manifest.config.digest, layer.digest):
        assert (await client.content.info(digest)).labels[source] == repo_path

    stock = await inventory(client)
    assert stock.leases == ()
    assert stock.ingests == ()
    assert stock.images == (pulled.name,)
