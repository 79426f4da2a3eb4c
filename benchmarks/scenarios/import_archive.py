"""IMPORT: import an N MiB image archive through the SDK and through ``ctr images import``.

`-n` is the layer size in MiB (default 200). The archive (an OCI image layout with one uncompressed layer of random
bytes, so neither side can compress it away) is written once to /tmp. Each
round imports it without unpacking, then deletes the image synchronously so
that the next import writes every byte again. The SDK runs in a fresh
subprocess so its peak RSS is its own: ``rss_growth_mib`` is the peak minus
the RSS just before the import started.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

import pycontainerd
from pycontainerd._oci import ANNOTATION_IMAGE_NAME, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST
from pycontainerd.testing import ContainerdDaemon

from . import Scenario

NAMESPACE = "bench-import"
IMAGE = "example.com/bench/import:latest"
ARCHIVE_DIR = Path("/tmp/pycontainerd-bench")
_SRC = str(Path(pycontainerd.__file__).resolve().parent.parent)


def archive_path(mib: int) -> Path:
    return ARCHIVE_DIR / f"import-{mib}MiB.tar"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def make_archive(mib: int) -> Path:
    """An OCI layout tar with one `mib` MiB random layer (written once, reused)."""
    out = archive_path(mib)
    if out.exists():
        return out
    ARCHIVE_DIR.mkdir(parents=True, exist_ok=True)
    layer = ARCHIVE_DIR / f"layer-{mib}.tar"
    with tarfile.open(layer, "w") as t:
        info = tarfile.TarInfo("random.bin")
        info.size = mib << 20
        rnd = io.BufferedReader(io.FileIO("/dev/urandom"))
        t.addfile(info, rnd)
    layer_digest = _sha256_file(layer)
    config = json.dumps(
        {
            "architecture": pycontainerd.Platform.host().architecture,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }
    ).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": OCI_LAYER,
                    "digest": layer_digest,
                    "size": layer.stat().st_size,
                }
            ],
        }
    ).encode()
    manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": manifest_digest,
                    "size": len(manifest),
                    "annotations": {ANNOTATION_IMAGE_NAME: IMAGE},
                }
            ],
        }
    ).encode()
    tmp = out.with_suffix(".partial")
    with tarfile.open(tmp, "w") as t:
        for name, data in (
            ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
            ("index.json", index),
            ("blobs/" + config_digest.replace(":", "/"), config),
            ("blobs/" + manifest_digest.replace(":", "/"), manifest),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        t.add(str(layer), arcname="blobs/" + layer_digest.replace(":", "/"))
    layer.unlink()
    tmp.rename(out)
    return out


# Runs in a fresh interpreter: import once, report JSON figures.
_CHILD = r"""
import json, resource, sys, time, anyio, pycontainerd

async def main(address, namespace, path, unpack):
    async with pycontainerd.Client(address, namespace=namespace) as client:
        await client.version()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        c0 = time.process_time()
        t0 = time.perf_counter()
        await client.images.import_archive(path, unpack=unpack == "unpack")
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"elapsed": elapsed, "cpu": cpu, "before": before, "peak": peak}))

anyio.run(main, *sys.argv[1:5])
"""


def _ctr(daemon: ContainerdDaemon, *args: str) -> None:
    subprocess.run(
        ["ctr", "-a", daemon.address, "-n", NAMESPACE, *args], check=True, capture_output=True
    )


def _cleanup(daemon: ContainerdDaemon) -> None:
    subprocess.run(
        ["ctr", "-a", daemon.address, "-n", NAMESPACE, "images", "rm", "--sync", IMAGE],
        check=False,
        capture_output=True,
    )


def ctr_runner(unpack: bool) -> Callable[[ContainerdDaemon, int], dict[str, Any]]:
    def run_ctr(daemon: ContainerdDaemon, n: int) -> dict[str, Any]:
        path = make_archive(n)
        _cleanup(daemon)
        t0 = time.perf_counter()
        _ctr(daemon, "images", "import", *([] if unpack else ["--no-unpack"]), str(path))
        elapsed = time.perf_counter() - t0
        _cleanup(daemon)
        return {"elapsed": elapsed, "mb_s_import": path.stat().st_size / 1e6 / elapsed}

    return run_ctr


def sdk_runner(unpack: bool) -> Callable[[pycontainerd.Client, int], Awaitable[dict[str, Any]]]:
    async def run_sdk(client: pycontainerd.Client, n: int) -> dict[str, Any]:
        path = make_archive(n)
        env = {**os.environ, "PYTHONPATH": f"{_SRC}:{os.environ.get('PYTHONPATH', '')}"}
        try:
            await client.images.delete(IMAGE, sync=True)
        except pycontainerd.errors.NotFound:
            pass
        mode = "unpack" if unpack else "no-unpack"
        out = await anyio.run_process(
            [sys.executable, "-c", _CHILD, client.address, client.namespace, str(path), mode],
            env=env,
        )
        figures = json.loads(out.stdout.decode().strip().splitlines()[-1])
        await client.images.delete(IMAGE, sync=True)
        size = path.stat().st_size
        return {
            "elapsed": figures["elapsed"],
            "mb_s_import": size / 1e6 / figures["elapsed"],
            "client_cpu_s": figures["cpu"],
            "peak_rss_mib": figures["peak"],
            "rss_growth_mib": figures["peak"] - figures["before"],
        }

    return run_sdk


FIGURES = ["mb_s_import", "elapsed", "client_cpu_s", "peak_rss_mib", "rss_growth_mib"]

SCENARIO = Scenario(
    name="IMPORT",
    description="import an N MiB OCI archive (no unpack): SDK vs ctr images import",
    namespace=NAMESPACE,
    default_n=200,
    sdk=sdk_runner(unpack=False),
    others={"ctr": ctr_runner(unpack=False)},
    figures=FIGURES,
)
