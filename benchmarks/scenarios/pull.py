"""PULL: a 200 MiB image pulled (and unpacked) from a local docker-registry, SDK vs ctr.

Setup starts Debian's ``docker-registry`` on a free loopback port and pushes
an image of four uncompressed 50 MiB layers of random bytes. Each round the
namespace is emptied (content, snapshots, images: a cold pull), then ``ctr
images pull --plain-http`` and ``client.pull`` each pull and unpack it.
Figures: seconds, MB/s over the image's bytes, and the SDK's peak RSS (the
pull streams blobs, so it should stay far below the image size).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import resource
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio

import pycontainerd
from pycontainerd import Descriptor
from pycontainerd._oci import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST
from pycontainerd.registry import Reference
from pycontainerd.registry._http import Repository
from pycontainerd.testing import ContainerdDaemon, empty_namespace

from . import Scenario

LAYERS = 4
LAYER_MIB = 50
NAMESPACE = "bench-pull"
_state: dict[str, Any] = {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_registry() -> str:
    work = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    port = _free_port()
    config = work / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {work / 'storage'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def stop() -> None:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)

    atexit.register(stop)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    _state["work"] = work
    return f"127.0.0.1:{port}"


def _layer_tar(path: Path, index: int) -> None:
    data = path.with_suffix(".data")
    with data.open("wb") as f:
        for _ in range(LAYER_MIB):
            f.write(os.urandom(1 << 20))
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(data, arcname=f"data/blob-{index}", recursive=False)
    data.unlink()


def _digest_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as f:
        while chunk := await f.read(1 << 20):
            yield chunk


async def setup(client: pycontainerd.Client) -> None:
    host = _start_registry()
    work: Path = _state["work"]
    ref = Reference.parse(f"{host}/bench/big:v1")
    layers: list[Descriptor] = []
    async with Repository(ref, push=True) as repo:
        for i in range(LAYERS):
            path = work / f"layer{i}.tar"
            await anyio.to_thread.run_sync(_layer_tar, path, i)
            digest = await anyio.to_thread.run_sync(_digest_file, path)
            desc = Descriptor(
                media_type=OCI_LAYER,
                digest=digest,
                size=path.stat().st_size,
            )
            await repo.push_blob(desc, lambda p=path: _file_chunks(p))  # type: ignore[misc]
            path.unlink()
            layers.append(desc)
        config = json.dumps(
            {
                "architecture": pycontainerd.Platform.host().architecture,
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [d.digest for d in layers]},
                "config": {"Cmd": ["/bin/sh"]},
            }
        ).encode()
        cdesc = Descriptor(
            media_type=OCI_CONFIG,
            digest="sha256:" + hashlib.sha256(config).hexdigest(),
            size=len(config),
        )

        async def config_body() -> AsyncIterator[bytes]:
            yield config

        await repo.push_blob(cdesc, config_body)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": cdesc.media_type,
                    "digest": cdesc.digest,
                    "size": cdesc.size,
                },
                "layers": [
                    {"mediaType": d.media_type, "digest": d.digest, "size": d.size} for d in layers
                ],
            }
        ).encode()
        await repo.put_manifest("v1", OCI_MANIFEST, manifest)
    _state["ref"] = str(ref)
    _state["bytes"] = sum(d.size for d in layers) + len(config) + len(manifest)
    await empty_namespace(client, delete=False)


async def cold(client: pycontainerd.Client) -> None:
    """Empty the namespace and run the GC now, so blobs are gone from disk too."""
    await empty_namespace(client, delete=False)
    lease = await client.leases.create()
    await client.leases.delete(lease.id, sync=True)


async def _clean(address: str) -> None:
    async with pycontainerd.Client(address, namespace=NAMESPACE) as client:
        await cold(client)


def _figures(elapsed: float) -> dict[str, Any]:
    return {"elapsed": elapsed, "mb_s": _state["bytes"] / elapsed / 1e6}


async def run(client: pycontainerd.Client, n: int) -> dict[str, Any]:
    times = []
    for _ in range(n):
        await cold(client)
        t0 = time.perf_counter()
        await client.pull(_state["ref"], insecure=True)  # as ctr's --plain-http
        times.append(time.perf_counter() - t0)
    figures = _figures(sum(times) / len(times))
    figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def ctr(daemon: ContainerdDaemon, n: int) -> dict[str, Any]:
    times = []
    for _ in range(n):
        anyio.run(_clean, daemon.address)
        t0 = time.perf_counter()
        subprocess.run(
            [
                "ctr",
                "-a",
                daemon.address,
                "-n",
                NAMESPACE,
                "images",
                "pull",
                "--plain-http",
                _state["ref"],
            ],
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - t0)
    return _figures(sum(times) / len(times))


SCENARIO = Scenario(
    name="PULL",
    description=f"pull + unpack a {LAYERS * LAYER_MIB} MiB image from a local registry: SDK vs ctr --plain-http",
    namespace=NAMESPACE,
    default_n=1,
    sdk=run,
    figures=["elapsed", "mb_s", "peak_rss_mib"],
    others={"ctr": ctr},
    setup=setup,
)
