"""A busybox image built locally from Debian's ``busybox-static`` (no network needed)."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from .. import _oci
from .._descriptors import Descriptor
from .._image_config import ImageConfig
from .._layer_builder import pack_directory
from .._platforms import Platform
from .._tar import TAR_END, tar_header, tar_padding

if TYPE_CHECKING:
    from .._client import Client
    from .._images import Image

__all__ = [
    "BUSYBOX_APPLETS",
    "BUSYBOX_CONFIG",
    "BUSYBOX_IMAGE",
    "build_busybox_image",
    "busybox_archive",
    "make_busybox_rootfs",
]

BUSYBOX_IMAGE = "docker.io/library/busybox:latest"
"""The name the test image gets by default."""

BUSYBOX_APPLETS = (
    "sh",
    "cat",
    "echo",
    "true",
    "false",
    "sleep",
    "stty",
    "id",
    "ls",
    "env",
    "head",
    "wc",
    "kill",
    "yes",
    "dd",
    "printf",
    "mount",
    "ps",
    "grep",
    "tr",
    "touch",
    "rm",
    "mkdir",
    "test",
    "[",
    "hostname",
    "pwd",
    "date",
    "tail",
    "seq",
)
"""Applets linked in ``/bin`` (``trap`` and the like are shell builtins)."""

BUSYBOX_CONFIG = ImageConfig(
    env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",),
    cmd=("sh",),
    working_dir="/",
)
"""The image config of the test image (``cmd`` is ``sh``, as Docker Hub's busybox)."""

_PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    "app:x:1000:1000:app:/home/app:/bin/sh\n"
)
_GROUP = "root:x:0:\nnobody:x:65534:\napp:x:1000:\n"


def _chown(path: Path, uid: int, gid: int) -> None:
    if os.geteuid() == 0:
        os.lchown(path, uid, gid)


def make_busybox_rootfs(dest: str | os.PathLike[str], *, busybox: str = "/bin/busybox") -> Path:
    """Lay out a minimal busybox root filesystem in the (empty or missing) directory `dest`.

    ``/bin/busybox`` with a symlink per applet in `BUSYBOX_APPLETS`,
    ``/etc/passwd`` and ``/etc/group`` with ``root``, ``nobody`` and ``app``
    (uid and gid 1000, home ``/home/app``), ``/tmp`` (mode 1777) and empty
    ``/proc``, ``/sys``, ``/dev``. Modes are set explicitly and, as root,
    ownership too, so the tree (and the image packed from it) is the same
    on every machine with the same busybox binary.

    Raises:
        FileNotFoundError: `busybox` does not exist (``apt-get install busybox-static``).

    Example:
        ```python
        root = make_busybox_rootfs("/tmp/rootfs")
        ```
    """
    if not os.path.isfile(busybox):
        raise FileNotFoundError(
            f"{busybox} not found: install it with 'apt-get install busybox-static'"
        )
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    dirs = {"bin": 0o755, "etc": 0o755, "tmp": 0o1777, "root": 0o700, "home": 0o755}
    dirs |= {"home/app": 0o755, "proc": 0o555, "sys": 0o555, "dev": 0o755, "usr": 0o755}
    dirs |= {"usr/bin": 0o755, "sbin": 0o755}
    for name, mode in dirs.items():
        path = root / name
        path.mkdir(exist_ok=True)
        path.chmod(mode)
        _chown(path, 0, 0)
    _chown(root / "home" / "app", 1000, 1000)
    target = root / "bin" / "busybox"
    shutil.copyfile(busybox, target)
    target.chmod(0o755)
    _chown(target, 0, 0)
    for applet in BUSYBOX_APPLETS:
        link = root / "bin" / applet
        if not link.is_symlink():
            link.symlink_to("busybox")
        _chown(link, 0, 0)
    for name, text in (("etc/passwd", _PASSWD), ("etc/group", _GROUP)):
        path = root / name
        path.write_text(text)
        path.chmod(0o644)
        _chown(path, 0, 0)
    return root


def busybox_archive(
    *,
    name: str = BUSYBOX_IMAGE,
    busybox: str = "/bin/busybox",
    platform: Platform | None = None,
) -> bytes:
    """The busybox test image as an OCI image-layout tar, built without a daemon.

    The same image `build_busybox_image` creates (same digests), packed in
    memory (about 1 MiB): build it once, then import it into as many
    namespaces as needed with `pycontainerd.Images.import_archive`.

    Example:
        ```python
        archive = busybox_archive()
        [image] = await client.images.import_archive(archive, unpack=True)
        ```
    """
    platform = platform or Platform.host()
    with tempfile.TemporaryDirectory(prefix="pycontainerd-busybox-") as tmp:
        root = make_busybox_rootfs(Path(tmp) / "rootfs", busybox=busybox)
        layer_bytes = io.BytesIO()
        packed = pack_directory(root, layer_bytes)
    config = _busybox_config(platform, packed.diff_id).to_json()
    config_desc = Descriptor(
        media_type=_oci.OCI_CONFIG, digest=_oci.sha256(config), size=len(config)
    )
    layer = Descriptor(media_type=_oci.OCI_LAYER_GZIP, digest=packed.digest, size=packed.size)
    manifest = _oci.manifest_json(config_desc, [layer])
    manifest_desc = Descriptor(
        media_type=_oci.OCI_MANIFEST,
        digest=_oci.sha256(manifest),
        size=len(manifest),
        annotations={
            _oci.ANNOTATION_IMAGE_NAME: name,
            _oci.ANNOTATION_REF_NAME: _oci.oci_ref_name(name),
        },
    )
    index = _oci.go_json({"schemaVersion": 2, "manifests": [_oci.descriptor_json(manifest_desc)]})
    files = {
        "blobs/": None,
        "blobs/sha256/": None,
        "oci-layout": _oci.go_json({"imageLayoutVersion": "1.0.0"}),
        "index.json": index,
        "blobs/" + config_desc.digest.replace(":", "/"): config,
        "blobs/" + layer.digest.replace(":", "/"): layer_bytes.getvalue(),
        "blobs/" + manifest_desc.digest.replace(":", "/"): manifest,
    }
    out = bytearray()
    for path in sorted(files):
        data = files[path]
        if data is None:
            out += tar_header(path, 0, mode=0o755, directory=True)
        else:
            out += tar_header(path, len(data)) + data + tar_padding(len(data))
    out += TAR_END
    return bytes(out)


def _busybox_config(platform: Platform, diff_id: str) -> ImageConfig:
    return attrs.evolve(
        BUSYBOX_CONFIG,
        os=platform.os,
        architecture=platform.architecture,
        variant=platform.variant,
        diff_ids=(diff_id,),
    )


async def build_busybox_image(
    client: Client,
    name: str = BUSYBOX_IMAGE,
    *,
    unpack: bool = True,
    snapshotter: str | None = None,
    busybox: str = "/bin/busybox",
) -> Image:
    """Create (and by default unpack) the busybox test image in the client's namespace.

    Built with the SDK's own `pycontainerd.Images.create_from_directory`
    from a tree laid out by `make_busybox_rootfs`: no network needed. The
    same busybox binary always gives the same image digest.

    Example:
        ```python
        from pycontainerd.testing import build_busybox_image

        image = await build_busybox_image(client)
        print(image.name, image.target.digest)
        ```
    """
    with tempfile.TemporaryDirectory(prefix="pycontainerd-busybox-") as tmp:
        root = make_busybox_rootfs(Path(tmp) / "rootfs", busybox=busybox)
        image = await client.images.create_from_directory(name, root, config=BUSYBOX_CONFIG)
    if unpack:
        await image.unpack(snapshotter)
    return image
