"""The daemon's transfer service through pycontainerd.transfer (containerd 2.0 and newer).

containerd 1.6 has no transfer service: there the same calls raise
`errors.Unimplemented` naming the release that has it (a version check, not
a skip). 1.7's service is experimental, and `Client.pull` keeps to the
in-process path before 2.0.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from registry_harness import PASSWORD, USER, RegistryServer

import pycontainerd
from pycontainerd import errors, transfer
from pycontainerd.registry import AuthenticationError, BlobState, Credentials, Progress
from pycontainerd.testing import ContainerdDaemon, inventory

pytestmark = pytest.mark.anyio

BUSYBOX = "docker.io/library/busybox:latest"
IMPORT_NAMES = transfer.ImageName("import", prefix=True, allow_overwrite=True)


@pytest.fixture
def needs_transfer(containerd_daemon: ContainerdDaemon) -> bool:
    """Whether this daemon is one whose transfer service the SDK uses (2.0 and newer)."""
    return containerd_daemon.version_info >= (2, 0, 0)


async def test_transfer_needs_containerd_1_7(
    containerd_client: pycontainerd.Client,
    containerd_daemon: ContainerdDaemon,
    busybox_archive_bytes: bytes,
) -> None:
    if containerd_daemon.version_info >= (1, 7, 0):
        await containerd_client.transfer(
            transfer.ImportStream(busybox_archive_bytes),
            transfer.ImageStore(extra_references=[IMPORT_NAMES]),
        )
        assert [i.name for i in await containerd_client.images.list()] == [BUSYBOX]
        return
    with pytest.raises(errors.Unimplemented, match=r"needs containerd 1\.7 or newer"):
        await containerd_client.transfer(
            transfer.ImportStream(busybox_archive_bytes),
            transfer.ImageStore(extra_references=[IMPORT_NAMES]),
        )
    assert (await inventory(containerd_client)).empty


def docker_save_archive(oci_archive: bytes) -> bytes:
    """The same image as ``docker save`` writes it: manifest.json and blobs, no OCI index."""
    with tarfile.open(fileobj=io.BytesIO(oci_archive)) as src:
        blobs = {m.name: src.extractfile(m).read() for m in src if m.isfile()}  # type: ignore[union-attr]
    [entry] = json.loads(blobs["index.json"])["manifests"]
    manifest = json.loads(blobs["blobs/" + entry["digest"].replace(":", "/")])

    def path(desc: dict[str, str]) -> str:
        return "blobs/" + desc["digest"].replace(":", "/")

    listing = [
        {
            "Config": path(manifest["config"]),
            "RepoTags": ["busybox:latest"],
            "Layers": [path(layer) for layer in manifest["layers"]],
        }
    ]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as dst:
        members = {"manifest.json": json.dumps(listing).encode()}
        members |= {name: data for name, data in blobs.items() if name.startswith("blobs/")}
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    return out.getvalue()


async def test_import_export_and_tag(
    containerd_client: pycontainerd.Client,
    needs_transfer: bool,
    busybox_archive_bytes: bytes,
    tmp_path: Path,
) -> None:
    if not needs_transfer:
        return  # 1.6 refuses (test above); 1.7's experimental service is not the SDK's path
    client = containerd_client
    events: list[transfer.Progress] = []
    for archive in (busybox_archive_bytes, docker_save_archive(busybox_archive_bytes)):
        await client.transfer(
            transfer.ImportStream(archive),
            transfer.ImageStore(extra_references=[IMPORT_NAMES], unpack=[transfer.Unpack()]),
            progress=events.append,
        )
        [image] = await client.images.list()
        assert image.name == BUSYBOX
        assert await image.is_unpacked()
        await client.images.delete(BUSYBOX, sync=True)
    assert [e.event for e in events].count("saved") == 2

    # Import from a file and from an async iterator of chunks.
    path = tmp_path / "busybox.tar"
    path.write_bytes(busybox_archive_bytes)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(busybox_archive_bytes), 100_000):
            yield busybox_archive_bytes[start : start + 100_000]

    for source in (path, chunks()):
        await client.transfer(
            transfer.ImportStream(source), transfer.ImageStore(extra_references=[IMPORT_NAMES])
        )
    image = await client.images.get(BUSYBOX)

    # Tag: image store to image store.
    await client.transfer(transfer.ImageStore(BUSYBOX), transfer.ImageStore("example.com/b:1"))
    assert (await client.images.get("example.com/b:1")).target == image.target

    # Export to a callable and to a file; the archive imports back as it was.
    parts: list[bytes] = []
    await client.transfer(transfer.ImageStore(BUSYBOX), transfer.ExportStream(parts.append))
    exported = b"".join(parts)
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        assert {"index.json", "oci-layout"} <= set(tar.getnames())
    await client.transfer(transfer.ImageStore(BUSYBOX), transfer.ExportStream(tmp_path / "out.tar"))
    assert (tmp_path / "out.tar").read_bytes() == exported
    other = client.with_namespace(f"{client.namespace}-back")
    await other.namespaces.create(other.namespace)
    try:
        [back] = await other.images.import_archive(exported)
        assert back.target.digest == image.target.digest
    finally:
        await pycontainerd.testing.empty_namespace(other)


async def test_pull_and_push_through_the_daemon(
    containerd_client: pycontainerd.Client,
    needs_transfer: bool,
    registry: RegistryServer,
    auth_registry: RegistryServer,
    token_registry: RegistryServer,
    busybox_image: pycontainerd.Image,
) -> None:
    if not needs_transfer:
        return  # client.pull and push stay in-process before 2.0 (test_registry_pull.py)
    client = containerd_client
    for server, auth in (
        (registry, None),
        (auth_registry, (USER, PASSWORD)),
        (token_registry, (USER, PASSWORD)),
    ):
        name = f"{server.host}/transfer/busybox:1"
        await client.images.create(name, busybox_image.target)
        updates: list[Progress] = []
        pushed = await client.push(name, auth=auth, progress=updates.append)
        assert pushed.digest == busybox_image.target.digest
        assert updates
        assert all(u.digest.startswith("sha256:") for u in updates)
        await client.images.delete(name, sync=True)

        daemon_events: list[transfer.Progress] = []
        await client.transfer(
            transfer.Registry(
                name, auth=None if auth is None else Credentials(username=USER, password=PASSWORD)
            ),
            transfer.ImageStore(name, unpack=[transfer.Unpack()]),
            progress=daemon_events.append,
        )
        assert any(e.event.startswith("Pulling from") for e in daemon_events)
        pulled = await client.images.get(name)
        assert pulled.target.digest == busybox_image.target.digest
        assert await pulled.is_unpacked()
        await client.images.delete(name, sync=True)

        # client.pull takes the same path, with the in-process progress type.
        blobs: list[Progress] = []
        image = await client.pull(name, auth=auth, progress=blobs.append)
        assert image.target.digest == busybox_image.target.digest
        assert {b.state for b in blobs} <= set(BlobState)
        await client.images.delete(name, sync=True)

    # Credentials never reach a label of what was pulled.
    for info in await client.content.list():
        assert PASSWORD not in repr(info.labels)

    with pytest.raises(AuthenticationError):
        await client.pull(f"{auth_registry.host}/transfer/busybox:1", auth=(USER, "wrong"))
    with pytest.raises(AuthenticationError):
        await client.pull(f"{auth_registry.host}/transfer/busybox:1", auth=None)


async def test_cancelled_transfer_leaves_nothing(
    containerd_client: pycontainerd.Client, needs_transfer: bool, busybox_archive_bytes: bytes
) -> None:
    if not needs_transfer:
        return
    client = containerd_client
    sent = anyio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield busybox_archive_bytes[:200_000]
        sent.set()
        await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:

        async def run() -> None:
            await client.transfer(
                transfer.ImportStream(stalls()),
                transfer.ImageStore(extra_references=[IMPORT_NAMES]),
            )

        tg.start_soon(run)
        with anyio.fail_after(30):
            await sent.wait()
        await anyio.sleep(0.2)  # let the daemon take the first chunk in
        tg.cancel_scope.cancel()
    # The daemon abandons the import when its stream resets: no image, lease or
    # snapshot. The blob it was writing (an ingest named after the archive
    # member, which containerd's importer never aborts) is under the SDK's
    # lease: aborted before the cancellation is raised, not left for the
    # collector to take some time after the lease goes.
    stock = await inventory(client)
    assert (stock.images, stock.leases, stock.snapshots, stock.ingests) == ((), (), (), ())
    # The same client works on, and a full import succeeds after.
    await client.transfer(
        transfer.ImportStream(busybox_archive_bytes),
        transfer.ImageStore(extra_references=[IMPORT_NAMES]),
    )
    assert [i.name for i in await client.images.list()] == [BUSYBOX]
