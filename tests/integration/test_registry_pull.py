"""Pull and push against a real docker-registry and the private containerd.

Tests of what the in-process path does itself (its per-blob progress, the
ingests it resumes, its own checks of content and platforms, its logs) pass
``local=True``: on containerd 2.x the daemon pulls and pushes otherwise, and
test_transfer.py covers that path. The rest run on whichever path the daemon
gets, and must behave the same on both.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import shutil
import tarfile
import uuid
from pathlib import Path

import anyio
import pytest
from registry_harness import PASSWORD, USER, RegistryServer

import pycontainerd
import pycontainerd.testing
from pycontainerd import Descriptor, ImageConfig, Platform, errors
from pycontainerd._oci import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
)
from pycontainerd.registry import (
    AuthenticationError,
    BlobState,
    Credentials,
    DigestError,
    NotFoundError,
    PlatformNotFoundError,
    Progress,
    Reference,
    RegistryError,
)
from pycontainerd.registry._http import Repository
from pycontainerd.testing import inventory

pytestmark = pytest.mark.anyio

DOCKER = {
    OCI_INDEX: DOCKER_MANIFEST_LIST,
    OCI_MANIFEST: DOCKER_MANIFEST,
    OCI_CONFIG: DOCKER_CONFIG,
    OCI_LAYER: DOCKER_LAYER,
}


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


def _mt(media_type: str, docker: bool) -> str:
    return DOCKER[media_type] if docker else media_type


async def _put_manifest(
    repo: Repository, arch: str, layer: bytes, *, docker: bool = False
) -> Descriptor:
    config = json.dumps(
        {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    cdesc = await _put_blob(repo, _mt(OCI_CONFIG, docker), config)
    ldesc = await _put_blob(repo, _mt(OCI_LAYER, docker), layer)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": _mt(OCI_MANIFEST, docker),
            "config": {"mediaType": cdesc.media_type, "digest": cdesc.digest, "size": cdesc.size},
            "layers": [{"mediaType": ldesc.media_type, "digest": ldesc.digest, "size": ldesc.size}],
        }
    ).encode()
    mdesc = _desc(_mt(OCI_MANIFEST, docker), manifest)
    await repo.put_manifest(mdesc.digest, mdesc.media_type, manifest)
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
    pushed = await client.push(name, progress=updates.append, local=True)
    assert pushed == image.target
    assert {u.state for u in updates} >= {BlobState.UPLOADING, BlobState.DONE}

    # A second push finds every blob in the registry.
    again: list[Progress] = []
    await client.push(name, image, progress=again.append, local=True)
    manifest = await image.manifest()
    blob_states = {u.digest: u.state for u in again if u.digest != image.target.digest}
    assert blob_states == {d.digest: BlobState.EXISTS for d in (manifest.config, *manifest.layers)}

    await client.images.delete(name, sync=True)
    assert (await inventory(client)).content == ()

    pulled_updates: list[Progress] = []

    async def on_progress(p: Progress) -> None:
        pulled_updates.append(p)

    pulled = await client.pull(name, unpack=False, progress=on_progress, local=True)
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

    # Pull again, unpacking this time: the blobs are there, the snapshot is made.
    again_updates: list[Progress] = []
    unpacked = await client.pull(name, progress=again_updates.append, local=True)
    assert {u.state for u in again_updates} == {
        BlobState.WAITING,
        BlobState.DOWNLOADING,
        BlobState.EXISTS,
    }
    assert await unpacked.is_unpacked()
    stock = await inventory(client)
    assert stock.leases == ()
    assert len(stock.snapshots) == 1

    # And run it: the image's default command prints the file packed above.
    result = await client.run(unpacked)
    assert (result.code, result.stdout, result.stderr) == (0, b"hello from the registry\n", b"")


async def _push_multiplatform(
    server: RegistryServer, name: str, *, docker: bool = False
) -> dict[str, Descriptor]:
    """An index with a linux/amd64 and a (fake) linux/arm64 manifest, pushed raw.

    OCI media types, or Docker schema 2 ones (a manifest list) with `docker`.
    """
    ref = Reference.parse(name)
    mt = _mt(OCI_MANIFEST, docker)
    async with Repository(ref, push=True) as repo:
        amd = await _put_manifest(repo, "amd64", b"amd64 layer " + os.urandom(64), docker=docker)
        arm = await _put_manifest(repo, "arm64", b"arm64 layer " + os.urandom(64), docker=docker)
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": _mt(OCI_INDEX, docker),
                "manifests": [
                    {
                        "mediaType": mt,
                        "digest": arm.digest,
                        "size": arm.size,
                        "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
                    },
                    {
                        "mediaType": mt,
                        "digest": amd.digest,
                        "size": amd.size,
                        "platform": {"architecture": "amd64", "os": "linux"},
                    },
                ],
            }
        ).encode()
        await repo.put_manifest(ref.object, _mt(OCI_INDEX, docker), index)
    return {"index": _desc(_mt(OCI_INDEX, docker), index), "amd64": amd, "arm64": arm}


@pytest.mark.parametrize("docker", [False, True], ids=["oci", "docker"])
async def test_multiplatform_pull(
    containerd_client: pycontainerd.Client, registry: RegistryServer, docker: bool
) -> None:
    client = containerd_client
    name = _name(registry, "multi")
    descs = await _push_multiplatform(registry, name, docker=docker)

    image = await client.pull(name, unpack=False)  # the host (amd64 in CI, local=True)
    assert image.target == descs["index"]
    host = pycontainerd.Platform.host().architecture
    chosen = (await image.manifest()).descriptor
    assert chosen == descs[host]
    other = "arm64" if host == "amd64" else "amd64"
    content = set((await inventory(client)).content)
    assert descs[other].digest not in content  # only the wanted platform was fetched
    index_labels = (await client.content.info(descs["index"].digest)).labels
    # As containerd does, the index references every manifest (for the GC).
    assert {
        index_labels["containerd.io/gc.ref.content.m.0"],
        index_labels["containerd.io/gc.ref.content.m.1"],
    } == {
        descs["amd64"].digest,
        descs["arm64"].digest,
    }

    arm = await client.pull(name, platform="linux/arm64", unpack=False, local=True)
    assert (await arm.manifest("linux/arm64")).descriptor == descs["arm64"]
    assert descs["arm64"].digest in (await inventory(client)).content

    with pytest.raises(PlatformNotFoundError, match="linux/amd64, linux/arm64/v8"):
        await client.pull(name, platform="linux/s390x", unpack=False, local=True)
    assert (await inventory(client)).leases == ()


async def test_pull_by_digest(
    containerd_client: pycontainerd.Client, registry: RegistryServer
) -> None:
    name = _name(registry, "bydigest")
    descs = await _push_multiplatform(registry, name)
    ref = Reference.parse(name)
    pinned = f"{ref.name}@{descs['index'].digest}"
    image = await containerd_client.pull(pinned, platform="linux/amd64", unpack=False)
    assert image.name == pinned
    assert image.target == descs["index"]
    wrong = f"{ref.name}@sha256:{'0' * 64}"
    with pytest.raises(NotFoundError):
        await containerd_client.pull(wrong, unpack=False)


async def test_wrong_credentials_raise_auth_error_without_password(
    containerd_client: pycontainerd.Client,
    auth_registry: RegistryServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = containerd_client
    name = _name(auth_registry)
    image = await client.images.create_from_directory(name, busybox_tree(tmp_path / "rootfs"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    with pytest.raises(AuthenticationError, match="no credentials"):
        await client.push(name, local=True)
    await client.push(name, auth=(USER, PASSWORD), local=True)
    await client.images.delete(name, sync=True)

    bad = "Wr0ng-" + PASSWORD
    with pytest.raises(AuthenticationError) as info:
        await client.pull(
            name, auth=Credentials(username=USER, password=bad), unpack=False, local=True
        )
    texts = [str(info.value), repr(info.value), repr(info.value.args), str(info.value.url)]
    assert not any(bad in t or PASSWORD in t for t in texts)
    stock = await inventory(client)
    assert stock.images == ()
    assert stock.leases == ()

    # Credentials from docker's config.json ($DOCKER_CONFIG).
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (config_dir / "config.json").write_text(
        json.dumps({"auths": {auth_registry.host: {"auth": token}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    pulled = await client.pull(name, unpack=False, local=True)
    assert pulled.target == image.target


async def test_tls_and_token_registries(
    containerd_client: pycontainerd.Client,
    tls_registry: RegistryServer,
    token_registry: RegistryServer,
    tmp_path: Path,
) -> None:
    client = containerd_client
    tree = busybox_tree(tmp_path / "rootfs")
    for server, extra in ((tls_registry, {"ca": tls_registry.ca}), (token_registry, {})):
        name = _name(server)
        image = await client.images.create_from_directory(name, tree)
        await client.push(name, auth=(USER, PASSWORD), **extra)  # type: ignore[arg-type]
        await client.images.delete(name, sync=True)
        pulled = await client.pull(name, auth=(USER, PASSWORD), unpack=False, **extra)  # type: ignore[arg-type]
        assert pulled.target == image.target
        await client.images.delete(name, sync=True)


async def test_corrupted_blob_raises_digest_error_and_commits_nothing(
    containerd_client: pycontainerd.Client, registry: RegistryServer, tmp_path: Path
) -> None:
    client = containerd_client
    name = _name(registry, "corrupt")
    # A layer of its own: the registry stores blobs once for all repositories.
    tree = busybox_tree(tmp_path / "rootfs")
    (tree / "etc" / "unique").write_bytes(os.urandom(32))
    image = await client.images.create_from_directory(name, tree)
    await client.push(name, local=True)
    layer = (await image.manifest()).layers[0]
    await client.images.delete(name, sync=True)

    path = registry.blob_path(layer.digest)
    original = path.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte
    path.write_bytes(bytes(data))
    try:
        with pytest.raises(DigestError, match=layer.digest) as info:
            await client.pull(name, unpack=False, local=True)
        assert isinstance(info.value, errors.DataLoss)
    finally:
        path.write_bytes(original)
    stock = await inventory(client)
    assert stock.images == ()
    assert stock.leases == ()
    assert stock.ingests == ()
    assert stock.content == ()  # manifest and config were collected with the lease


def _one_file_tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = os.urandom(32)
        info = tarfile.TarInfo("unique")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize(
    ("diff_ids", "error", "match"),
    [
        (["sha256:" + "0" * 64], errors.DataLoss, "diff ID"),
        ([], errors.InvalidArgument, "1 layers but the config lists 0 diff IDs"),
    ],
)
async def test_pull_whose_layers_do_not_match_the_config_fails_and_leaves_nothing(
    containerd_client: pycontainerd.Client,
    registry: RegistryServer,
    diff_ids: list[str],
    error: type[Exception],
    match: str,
) -> None:
    # The unpacker runs while the pull downloads (its `fetched` hook): its
    # checks of the config must fail the pull as they fail `Image.unpack`.
    client = containerd_client
    name = _name(registry, "mismatch")
    ref = Reference.parse(name)
    config = json.dumps(
        {
            "architecture": Platform.host().architecture,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    async with Repository(ref, push=True) as repo:
        cdesc = await _put_blob(repo, OCI_CONFIG, config)
        ldesc = await _put_blob(repo, OCI_LAYER, _one_file_tar())
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": cdesc.digest, "size": cdesc.size},
                "layers": [{"mediaType": OCI_LAYER, "digest": ldesc.digest, "size": ldesc.size}],
            }
        ).encode()
        await repo.put_manifest(ref.tag or "v1", OCI_MANIFEST, manifest)
    with pytest.raises(error, match=match):
        await client.pull(name, local=True)
    stock = await inventory(client)
    assert stock.images == ()
    assert stock.leases == ()
    assert stock.snapshots == ()
    assert stock.content == ()


async def test_cancelled_pull_resumes_from_partial_ingest(
    containerd_client: pycontainerd.Client, registry: RegistryServer
) -> None:
    client = containerd_client
    name = _name(registry, "resume")
    ref = Reference.parse(name)
    size = 24 << 20
    async with Repository(ref, push=True) as repo:
        manifest = await _put_manifest(repo, "amd64", os.urandom(size))
        data = await repo.fetch_manifest(manifest)
        await repo.put_manifest(ref.tag or "v1", OCI_MANIFEST, data)
        layer_digest = json.loads(data)["layers"][0]["digest"]
    ingest = f"layer-{layer_digest}"

    with anyio.CancelScope() as scope:

        async def cancel_midway(p: Progress) -> None:
            if p.digest == layer_digest and p.offset >= size // 2:
                # Wait (bounded) until the daemon holds some of the bytes, then cancel.
                with anyio.move_on_after(10):
                    while True:
                        try:
                            if (await client.content.status(ingest)).offset > 0:
                                break
                        except errors.NotFound:
                            pass
                        await anyio.sleep(0.01)
                scope.cancel()

        await client.pull(name, unpack=False, progress=cancel_midway, local=True)
    assert scope.cancelled_caught

    stock = await inventory(client)
    assert stock.images == ()
    assert stock.leases == ()
    assert stock.ingests == (ingest,)
    partial = (await client.content.status(ingest)).offset
    assert 0 < partial < size

    starts: list[int] = []

    def first_offset(p: Progress) -> None:
        if p.digest == layer_digest and p.state is BlobState.DOWNLOADING and not starts:
            starts.append(p.offset)

    image = await client.pull(name, unpack=False, progress=first_offset, local=True)
    assert starts == [partial]  # resumed where the cancelled pull stopped
    assert image.target == manifest
    assert (await client.content.info(layer_digest)).size == size
    stock = await inventory(client)
    assert stock.leases == ()
    assert stock.ingests == ()


async def test_push_one_platform_and_progress_as_iterator(
    containerd_client: pycontainerd.Client, registry: RegistryServer
) -> None:
    client = containerd_client
    source = _name(registry, "src")
    descs = await _push_multiplatform(registry, source)
    image = await client.pull(source, platform="linux/arm64", unpack=False, local=True)

    # The index's amd64 manifest is not in the store: pushing everything fails...
    with pytest.raises(errors.NotFound):
        await client.push(_name(registry, "all"), image, local=True)
    # ...pushing the arm64 platform alone works, and tags its manifest.
    send, receive = anyio.create_memory_object_stream[Progress](100)
    seen: list[Progress] = []

    async def consume() -> None:
        async with receive:
            seen.extend([update async for update in receive])

    target = _name(registry, "arm-only")
    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        async with send:
            pushed = await client.push(
                target, image, platform="linux/arm64", progress=send.send, local=True
            )
    assert pushed == descs["arm64"]
    assert seen
    assert seen[-1].digest == descs["arm64"].digest
    assert seen[-1].state is BlobState.DONE
    async with Repository(Reference.parse(target)) as repo:
        assert await repo.resolve() == descs["arm64"]


async def test_labels_match_ctr_pull(
    containerd_client: pycontainerd.Client,
    containerd_daemon: pycontainerd.testing.ContainerdDaemon,
    registry: RegistryServer,
    tmp_path: Path,
) -> None:
    """The SDK's pull labels blobs as ``ctr images pull`` does (GC refs, source, unpack)."""
    client = containerd_client
    name = _name(registry, "labels")
    await client.images.create_from_directory(name, busybox_tree(tmp_path / "rootfs"))
    await client.push(name)
    await client.images.delete(name, sync=True)
    await client.pull(name)
    ours = {i.digest: dict(i.labels) for i in await client.content.list()}

    other = client.with_namespace(client.namespace + "-ctr")
    await client.namespaces.create(other.namespace)
    try:
        ctr = ["ctr", "-a", containerd_daemon.address, "-n", other.namespace]
        await anyio.run_process(
            [*ctr, "images", "pull", "--plain-http", str(Reference.parse(name))]
        )
        theirs = {i.digest: dict(i.labels) for i in await other.content.list()}
    finally:
        await pycontainerd.testing.empty_namespace(other)
    assert ours == theirs


async def test_credentials_stay_out_of_debug_logs(
    containerd_client: pycontainerd.Client,
    auth_registry: RegistryServer,
    token_registry: RegistryServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "Very-" + PASSWORD
    encoded = base64.b64encode(f"{USER}:{secret}".encode()).decode()
    caplog.set_level(logging.DEBUG)  # httpx, httpcore, grpclib, everything
    raised: list[str] = []
    for server in (auth_registry, token_registry):
        for creds in ((USER, secret), (USER, PASSWORD)):
            try:
                await containerd_client.pull(
                    _name(server, "nothing"), auth=creds, unpack=False, local=True
                )
            except (AuthenticationError, NotFoundError) as exc:
                raised.append(f"{exc!s} {exc!r}")
    assert len(raised) == 4  # refused, or (right credentials) no such repository
    assert token_registry.token is not None
    assert token_registry.token.tokens  # a bearer token was issued and used
    assert caplog.records  # the loggers did run
    for text in [caplog.text, *raised]:
        assert secret not in text
        assert PASSWORD not in text
        assert encoded not in text
        assert not any(token in text for token in token_registry.token.tokens)


async def test_plain_http_off_loopback_needs_insecure(
    containerd_client: pycontainerd.Client, registry: RegistryServer
) -> None:
    """``0.0.0.0`` reaches the loopback registry but is not a loopback name: HTTPS only."""
    name = _name(registry, "plain")
    descs = await _push_multiplatform(registry, name)
    elsewhere = name.replace("127.0.0.1:", "0.0.0.0:", 1)
    with pytest.raises(RegistryError, match=r"cannot reach registry 0\.0\.0\.0:\d+ at https://"):
        await containerd_client.pull(elsewhere, unpack=False, local=True)
    assert (await inventory(containerd_client)).leases == ()
    image = await containerd_client.pull(elsewhere, insecure=True, unpack=False, local=True)
    assert image.target == descs["index"]


async def test_concurrent_pulls_of_one_image(
    containerd_client: pycontainerd.Client, registry: RegistryServer
) -> None:
    """Two pulls at once share the blobs (locked ingests wait, then find them stored)."""
    client = containerd_client
    name = _name(registry, "twice")
    ref = Reference.parse(name)
    async with Repository(ref, push=True) as repo:
        manifest = await _put_manifest(repo, "amd64", os.urandom(6 << 20))
        await repo.put_manifest(ref.object, OCI_MANIFEST, await repo.fetch_manifest(manifest))
    results: list[pycontainerd.Image] = []

    async def pull() -> None:
        results.append(await client.pull(name, unpack=False))

    async with anyio.create_task_group() as tg:
        tg.start_soon(pull)
        tg.start_soon(pull)
    assert [r.target for r in results] == [manifest, manifest]
    stock = await inventory(client)
    assert stock.images == (str(ref),)
    assert stock.leases == ()
    assert stock.ingests == ()


async def test_registry_errors_are_the_matching_errors_classes(
    containerd_client: pycontainerd.Client,
    registry: RegistryServer,
    auth_registry: RegistryServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One `except errors.X` serves the daemon and the registry alike.
    client = containerd_client
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    with pytest.raises(errors.NotFound) as missing:  # no such repository or tag
        await client.pull(_name(registry, "never-pushed"), unpack=False)
    assert isinstance(missing.value, NotFoundError)
    assert isinstance(missing.value, RegistryError)
    assert missing.value.status == errors.Status.NOT_FOUND
    assert missing.value.status_code == 404

    name = _name(auth_registry)
    await client.images.create_from_directory(name, busybox_tree(tmp_path / "rootfs"))
    with pytest.raises(errors.Unauthenticated) as refused:  # no credentials for a push
        await client.push(name)
    assert isinstance(refused.value, AuthenticationError)
    assert isinstance(refused.value, PermissionError)
    with pytest.raises(errors.Unauthenticated):  # wrong credentials for a pull
        await client.pull(name, auth=Credentials(username=USER, password="nope"), unpack=False)

    with pytest.raises(errors.Unavailable) as unreachable:
        await client.pull("127.0.0.1:1/nothing/here:v1", unpack=False)
    assert isinstance(unreachable.value, RegistryError)
    assert not isinstance(unreachable.value, errors.ConnectionError)  # not the daemon's
    assert "127.0.0.1:1" in str(unreachable.value)
    await client.images.delete(name, sync=True)
    assert (await inventory(client)).leases == ()
