"""Images of many layers, and indexes with a platform that is not in the store, built for tests."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import pycontainerd
from pycontainerd import Descriptor, ImageConfig, Platform
from pycontainerd import _images as images_module
from pycontainerd._oci import OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, sha256


def layer_tar(files: dict[str, bytes]) -> tuple[bytes, str]:
    """A gzip layer holding `files`, and its diff ID."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0), sha256(raw.getvalue())


async def layered_image(
    client: pycontainerd.Client, name: str, layers: list[dict[str, bytes]]
) -> pycontainerd.Image:
    """An image whose layers hold `layers`' files, bottom first (not unpacked)."""
    descs, diff_ids = [], []
    async with client.leases.lease() as leased:
        for i, files in enumerate(layers):
            blob, diff_id = layer_tar(files)
            digest = await leased.content.write(f"layer-{i}-{sha256(blob)}", blob)
            descs.append(Descriptor(media_type=OCI_LAYER_GZIP, digest=digest, size=len(blob)))
            diff_ids.append(diff_id)
        host = Platform.host()
        config = ImageConfig(
            os=host.os, architecture=host.architecture, variant=host.variant, diff_ids=diff_ids
        )
        image = await images_module._store_image(leased, name, config, descs, None)
    return await client.images.get(image.name)


async def index_with_absent_platform(
    client: pycontainerd.Client, image: pycontainerd.Image, name: str
) -> tuple[pycontainerd.Image, Descriptor]:
    """An index of `image`'s manifest and of an arm64 manifest that is not in the store."""
    absent = Descriptor(media_type=OCI_MANIFEST, digest=sha256(b"not in the store"), size=1234)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": image.target.media_type,
                    "digest": image.target.digest,
                    "size": image.target.size,
                    "platform": {"os": "linux", "architecture": Platform.host().architecture},
                },
                {
                    "mediaType": absent.media_type,
                    "digest": absent.digest,
                    "size": absent.size,
                    "platform": {"os": "linux", "architecture": "riscv64"},
                },
            ],
        }
    ).encode()
    async with client.leases.lease() as leased:
        digest = await leased.content.write(f"index-{sha256(index)}", index)
        await leased.content.update(
            digest, labels={"containerd.io/gc.ref.content.m.0": image.target.digest}
        )
        target = Descriptor(media_type=OCI_INDEX, digest=digest, size=len(index))
        made = await client.images.create(name, target)
    return made, absent
