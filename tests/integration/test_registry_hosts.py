"""containerd's hosts configuration, headers, fetch, single blobs, mounts, upload bounds, labels.

Against Debian's ``docker-registry`` on loopback, with access logs on (each
request is a line naming its method, path, status, referer and user agent),
so that what reached which registry can be read back.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import attrs
import pytest
from registry_harness import RegistryServer, _free_port
from test_cli import Pyctr, ok, one_line_error, pyctr  # noqa: F401  (the pyctr fixture)
from test_registry_pull import _push_multiplatform, busybox_tree

import pycontainerd
from pycontainerd import Descriptor, ImageConfig, Manifest, errors
from pycontainerd.registry import (
    BlobState,
    DigestError,
    Hosts,
    NotFoundError,
    Progress,
    RegistryError,
    UnavailableError,
    open_blob,
)
from pycontainerd.testing import inventory

pytestmark = pytest.mark.anyio

# A name that never resolves (RFC 2606): pulls of it work only through a mirror.
UNRESOLVABLE = "upstream.invalid"


def _logging(server: RegistryServer) -> RegistryServer:
    """Turn the registry's access log on (one line per request, with referer and agent)."""
    text = server.config.read_text()
    server.config.write_text(text.replace("disabled: true", "disabled: false"))
    return server


@contextlib.contextmanager
def _running(server: RegistryServer) -> Iterator[RegistryServer]:
    try:
        _logging(server).start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def mirror() -> Iterator[RegistryServer]:
    """A plain-HTTP registry that serves as the mirror (and, for pushes, the target)."""
    with _running(RegistryServer()) as server:
        yield server


@pytest.fixture(scope="module")
def decoy() -> Iterator[RegistryServer]:
    """A second registry: holds other images under the same names, to prove it is skipped."""
    with _running(RegistryServer()) as server:
        yield server


@pytest.fixture(scope="module")
def mtls_registry() -> Iterator[RegistryServer]:
    """HTTPS, its certificate from a test CA, demanding a client certificate from that CA.

    `server.dir` holds ``client.pem`` and ``client.key`` (signed by the CA).
    """
    server = RegistryServer(tls=True)
    assert server.ca is not None
    text = server.config.read_text()
    server.config.write_text(
        text.replace("    key: ", f"    clientcas:\n      - {server.ca}\n    key: ", 1)
    )
    run = {"cwd": server.dir, "check": True, "capture_output": True}
    subprocess.run(
        ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=pycontainerd client"],
        **run,
    )  # fmt: skip
    (server.dir / "client.cnf").write_text("extendedKeyUsage=clientAuth\n")
    subprocess.run(
        ["openssl", "x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "client.pem", "-days", "2", "-extfile", "client.cnf"],
        **run,
    )  # fmt: skip
    # The harness probes the registry without a client certificate: a refused
    # handshake is an answer too, so wait for the port instead.
    with _running_mtls(server):
        yield server


@contextlib.contextmanager
def _running_mtls(server: RegistryServer) -> Iterator[None]:
    import shutil
    import socket

    log = server.log.open("ab")
    proc = subprocess.Popen(
        [shutil.which("docker-registry") or "docker-registry", "serve", str(server.config)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", server.port), 1),
            ):
                break
            time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        server.stop()


def _requests(server: RegistryServer, repo: str) -> list[str]:
    """The access-log lines of requests for repository `repo`."""
    return [line for line in server.log.read_text().splitlines() if f"/v2/{repo}/" in line]


def _hosts(tmp_path: Path, directory: str, toml: str) -> Hosts:
    (tmp_path / "certs.d" / directory).mkdir(parents=True, exist_ok=True)
    (tmp_path / "certs.d" / directory / "hosts.toml").write_text(toml)
    return Hosts.from_directory(tmp_path / "certs.d")


@attrs.frozen
class _Pushed:
    target: Descriptor
    manifest: Manifest


async def _image_in(
    client: pycontainerd.Client, server: RegistryServer, repo: str, tmp_path: Path, text: str
) -> _Pushed:
    """A busybox image with /etc/greeting = `text`, pushed to `server` as ``repo:v1``, then deleted here."""
    root = busybox_tree(tmp_path / f"rootfs-{uuid.uuid4().hex[:6]}")
    (root / "etc" / "greeting").write_text(text)
    name = f"{server.host}/{repo}:v1"
    image = await client.images.create_from_directory(
        name, root, config=ImageConfig(cmd=("cat", "/etc/greeting"))
    )
    await client.push(name, image, local=True)
    pushed = _Pushed(target=image.target, manifest=await image.manifest())
    await client.images.delete(name, sync=True)
    return pushed


async def _read_all(ref: str, blob: Descriptor) -> bytes:
    data = bytearray()
    async with open_blob(ref, blob) as chunks:
        async for chunk in chunks:
            data += chunk
    return bytes(data)


def _repo() -> str:
    return f"test/hosts-{uuid.uuid4().hex[:8]}"


async def test_mirror_serves_the_image_while_the_upstream_does_not_resolve(
    containerd_client: pycontainerd.Client, mirror: RegistryServer, tmp_path: Path
) -> None:
    client = containerd_client
    repo = _repo()
    pushed = await _image_in(client, mirror, repo, tmp_path, "from the mirror\n")
    name = f"{UNRESOLVABLE}/{repo}:v1"
    # Without the configuration the name leads nowhere.
    with pytest.raises(UnavailableError, match=UNRESOLVABLE):
        await client.pull(name, local=True)

    # A mirror that is down comes first: the next one serves.
    down = f"127.0.0.1:{_free_port()}"
    hosts = _hosts(
        tmp_path,
        UNRESOLVABLE,
        f'[host."http://{down}"]\n'
        f'[host."http://{mirror.host}"]\n  capabilities = ["pull", "resolve"]\n',
    )
    assert [h.url for h in hosts.lookup(UNRESOLVABLE)] == [
        f"http://{down}/v2",
        f"http://{mirror.host}/v2",
        f"https://{UNRESOLVABLE}/v2",
    ]
    image = await client.pull(name, hosts=hosts)
    assert image.name == name
    assert image.target == pushed.target
    # The blobs' source is the image's registry, not the mirror (as containerd labels it).
    info = await client.content.info(image.target.digest)
    assert info.labels[f"containerd.io/distribution.source.{UNRESOLVABLE}"] == repo
    result = await client.run(image)
    assert result.stdout == b"from the mirror\n"

    # When every host fails, the most telling failure wins: the mirror's 404.
    with pytest.raises(NotFoundError, match=f"host {mirror.host}"):
        await client.pull(f"{UNRESOLVABLE}/{repo}:missing", hosts=hosts)
    assert any(" 200 " in line for line in _requests(mirror, repo) if "manifests/v1" in line)


async def test_host_without_the_pull_capability_is_skipped(
    containerd_client: pycontainerd.Client,
    mirror: RegistryServer,
    decoy: RegistryServer,
    tmp_path: Path,
) -> None:
    client = containerd_client
    repo = _repo()
    wanted = await _image_in(client, mirror, repo, tmp_path, "the right one\n")
    other = await _image_in(client, decoy, repo, tmp_path, "the decoy\n")
    assert wanted.target != other.target
    before = len(_requests(decoy, repo))
    hosts = _hosts(
        tmp_path,
        UNRESOLVABLE,
        f'[host."http://{decoy.host}"]\n  capabilities = ["resolve", "push"]\n'
        f'[host."http://{mirror.host}"]\n  capabilities = ["pull", "resolve"]\n',
    )
    image = await client.pull(f"{UNRESOLVABLE}/{repo}:v1", hosts=hosts, unpack=False)
    assert image.target == wanted.target
    assert len(_requests(decoy, repo)) == before  # never asked

    # The same decoy with pull: it is first, so it answers.
    hosts = _hosts(
        tmp_path,
        UNRESOLVABLE,
        f'[host."http://{decoy.host}"]\n[host."http://{mirror.host}"]\n',
    )
    image = await client.pull(f"{UNRESOLVABLE}/{repo}:v1", hosts=hosts, unpack=False)
    assert image.target == other.target

    # Pushes go to the first host that may push: here the decoy.
    hosts = _hosts(
        tmp_path,
        UNRESOLVABLE,
        f'[host."http://{mirror.host}"]\n  capabilities = ["pull", "resolve"]\n'
        f'[host."http://{decoy.host}"]\n  capabilities = ["push"]\n',
    )
    local = await client.images.create(f"{UNRESOLVABLE}/{repo}:v2", image.target)
    await client.push(f"{UNRESOLVABLE}/{repo}:v2", local, hosts=hosts)
    assert any("PUT /v2/" + repo + "/manifests/v2" in line for line in _requests(decoy, repo))
    assert not any("manifests/v2" in line for line in _requests(mirror, repo))


async def test_per_host_ca_and_client_certificate(
    containerd_client: pycontainerd.Client, mtls_registry: RegistryServer, tmp_path: Path
) -> None:
    client = containerd_client
    server = mtls_registry
    assert server.ca is not None
    directory = f"127.0.0.1_{server.port}_"
    repo = _repo()
    name = f"{server.host}/{repo}:v1"
    root = busybox_tree(tmp_path / "rootfs")
    image = await client.images.create_from_directory(name, root)

    # Neither the system's CAs nor a client without a certificate get through.
    with pytest.raises(RegistryError):
        await client.push(name, image, local=True)
    ca_only = _hosts(tmp_path, directory, f'server = "https://{server.host}"\nca = "{server.ca}"\n')
    with pytest.raises(RegistryError):
        await client.push(name, image, hosts=ca_only)

    # The CA and the client pair, named relative to the host's directory.
    host_dir = tmp_path / "certs.d" / directory
    host_dir.mkdir(parents=True, exist_ok=True)
    for file in ("ca.pem", "client.pem", "client.key"):
        (host_dir / file).write_bytes((server.dir / file).read_bytes())
    hosts = _hosts(
        tmp_path,
        directory,
        f'server = "https://{server.host}"\nca = "ca.pem"\nclient = [["client.pem", "client.key"]]\n',
    )
    [host] = hosts.lookup(server.host)
    assert host.ca == (host_dir / "ca.pem",)
    assert host.client == ((host_dir / "client.pem", host_dir / "client.key"),)
    await client.push(name, image, hosts=hosts)
    await client.images.delete(name, sync=True)
    pulled = await client.pull(name, hosts=hosts, unpack=False)
    assert pulled.target == image.target


async def test_headers_reach_the_registry(
    containerd_client: pycontainerd.Client, mirror: RegistryServer, tmp_path: Path
) -> None:
    client = containerd_client
    repo = _repo()
    await _image_in(client, mirror, repo, tmp_path, "headers\n")
    # The access log shows the referer and the user agent of each request.
    # (TLS settings on an http:// host: HTTPS is tried first, then plain HTTP.)
    hosts = _hosts(
        tmp_path,
        UNRESOLVABLE,
        f'[host."http://{mirror.host}"]\n  skip_verify = false\n'
        f'  [host."http://{mirror.host}".header]\n'
        '    User-Agent = "pycontainerd-hosts-test/1"\n',
    )
    referer = f"https://ci.example/{uuid.uuid4().hex}"
    await client.pull(
        f"{UNRESOLVABLE}/{repo}:v1", hosts=hosts, headers={"Referer": referer}, unpack=False
    )
    lines = [line for line in _requests(mirror, repo) if referer in line]
    assert lines
    assert all('"pycontainerd-hosts-test/1"' in line for line in lines)
    assert any("GET /v2/" + repo + "/blobs/" in line for line in lines)

    # headers= alone, on the registry's own host.
    agent = f"pycontainerd-alone/{uuid.uuid4().hex[:6]}"
    await client.pull(f"{mirror.host}/{repo}:v1", headers={"User-Agent": agent}, unpack=False)
    assert any(f'"{agent}"' in line for line in _requests(mirror, repo))

    with pytest.raises(errors.InvalidArgument, match="header"):
        await client.pull(f"{mirror.host}/{repo}:v1", headers={"X-Bad": "a\r\nb"})


async def test_fetch_all_platforms_without_unpacking(
    containerd_client: pycontainerd.Client, mirror: RegistryServer
) -> None:
    client = containerd_client
    name = f"{mirror.host}/{_repo()}:multi"
    descs = await _push_multiplatform(mirror, name)
    image = await client.fetch(name, labels={"fetched": "all"})
    assert image.target == descs["index"]
    assert image.labels == {"fetched": "all"}
    stock = await inventory(client)
    assert stock.snapshots == ()
    assert stock.leases == ()
    for arch in ("amd64", "arm64"):
        manifest = await image.manifest(f"linux/{arch}")
        for blob in (manifest.descriptor, manifest.config, *manifest.layers):
            assert blob.digest in stock.content
    await client.images.delete(name, sync=True)

    # One platform: the other's manifest is not fetched; with all_metadata it is, without layers.
    image = await client.fetch(name, platforms=["linux/arm64"])
    content = (await inventory(client)).content
    arm = await image.manifest("linux/arm64")
    assert arm.layers[0].digest in content
    assert descs["amd64"].digest not in content
    await client.images.delete(name, sync=True)
    image = await client.fetch(name, platforms=["linux/arm64"], all_metadata=True)
    content = (await inventory(client)).content
    amd = await image.manifest("linux/amd64")
    assert {amd.descriptor.digest, amd.config.digest} <= set(content)
    assert amd.layers[0].digest not in content
    assert arm.layers[0].digest in content


async def test_fetch_one_blob_into_the_store_and_as_a_stream(
    containerd_client: pycontainerd.Client, mirror: RegistryServer, tmp_path: Path
) -> None:
    client = containerd_client
    repo = _repo()
    pushed = await _image_in(client, mirror, repo, tmp_path, "one blob\n")
    layer = pushed.manifest.layers[0]
    assert layer.digest not in (await inventory(client)).content

    name = f"{mirror.host}/{repo}:v1"
    data = await _read_all(name, layer)
    assert len(data) == layer.size
    assert "sha256:" + hashlib.sha256(data).hexdigest() == layer.digest

    async with client.leases.lease() as leased:
        await leased.fetch_blob(name, layer, labels={"picked": "yes"})
        info = await leased.content.info(layer.digest)
        assert info.size == layer.size
        assert info.labels["picked"] == "yes"
        assert info.labels["containerd.io/distribution.source.127.0.0.1"] == repo
        assert await leased.content.read(layer.digest) == data
    assert (await inventory(client)).ingests == ()

    # A descriptor whose digest is not what the registry holds under it.
    wrong = Descriptor(media_type=layer.media_type, digest="sha256:" + "0" * 64, size=layer.size)
    with pytest.raises(NotFoundError):
        await _read_all(name, wrong)
    with pytest.raises(NotFoundError):
        await client.fetch_blob(name, wrong)
    short = Descriptor(media_type=layer.media_type, digest=layer.digest, size=layer.size - 1)
    with pytest.raises(DigestError):
        await _read_all(name, short)
    # A blob not in the store yet (the config) whose registry bytes are one too many.
    config = pushed.manifest.config
    bad = Descriptor(media_type=config.media_type, digest=config.digest, size=config.size - 1)
    with pytest.raises(DigestError):
        await client.fetch_blob(name, bad)
    assert config.digest not in (await inventory(client)).content
    assert (await inventory(client)).ingests == ()


async def test_push_mounts_blobs_from_another_repository(
    containerd_client: pycontainerd.Client, mirror: RegistryServer, tmp_path: Path
) -> None:
    client = containerd_client
    source = _repo()
    await _image_in(client, mirror, source, tmp_path, "mounted\n")
    image = await client.pull(f"{mirror.host}/{source}:v1", unpack=False, local=True)
    manifest = await image.manifest()
    blobs = {d.digest for d in (manifest.config, *manifest.layers)}

    target = _repo()
    updates: list[Progress] = []
    await client.push(f"{mirror.host}/{target}:v1", image, progress=updates.append, local=True)
    lines = _requests(mirror, target)
    mounts = [line for line in lines if "POST /v2/" + target + "/blobs/uploads/?" in line]
    assert len(mounts) == len(blobs)
    assert all(f"from={source.replace('/', '%2F')}" in line and '" 201 ' in line for line in mounts)
    assert not any(re.search(r'"PUT /v2/[^ ]*/blobs/uploads/', line) for line in lines)
    assert {u.digest for u in updates if u.state is BlobState.EXISTS} >= blobs
    # The target now serves the image.
    await client.images.delete(image.name, sync=True)
    again = await client.pull(f"{mirror.host}/{target}:v1", unpack=False, local=True)
    assert again.target == image.target


class _UploadWatch:
    """A progress callback that holds each upload until `limit` of them run side by side.

    Holding them proves the bound is reached (else the push never ends: a
    timeout fails it); `most` says whether it was ever passed.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running: set[str] = set()
        self.most = 0
        self.full = anyio.Event()

    async def __call__(self, p: Progress) -> None:
        if p.state is BlobState.UPLOADING and p.offset == 0 and p.digest not in self.running:
            if p.media_type.endswith(("config.v1+json", "layer.v1.tar")):  # blobs, not manifests
                self.running.add(p.digest)
                self.most = max(self.most, len(self.running))
                if len(self.running) == self.limit:
                    self.full.set()
                with anyio.fail_after(10):
                    await self.full.wait()
        elif p.state in (BlobState.DONE, BlobState.EXISTS):
            self.running.discard(p.digest)


async def test_push_keeps_to_max_concurrent_uploads(
    containerd_client: pycontainerd.Client, mirror: RegistryServer, decoy: RegistryServer
) -> None:
    client = containerd_client
    name = f"{mirror.host}/{_repo()}:multi"
    await _push_multiplatform(mirror, name)
    image = await client.fetch(name)  # two configs and two layers
    for limit in (1, 2):
        watch = _UploadWatch(limit)
        target = f"{decoy.host}/{_repo()}:multi"
        await client.push(target, image, progress=watch, max_concurrent_uploads=limit)
        assert watch.most == limit
    with pytest.raises(ValueError, match="max_concurrent_uploads"):
        await client.push(f"{decoy.host}/x:1", image, max_concurrent_uploads=0)


async def test_pull_labels_and_snapshot_labels(
    containerd_client: pycontainerd.Client,
    mirror: RegistryServer,
    tmp_path: Path,
) -> None:
    client = containerd_client
    repo = _repo()
    await _image_in(client, mirror, repo, tmp_path, "labels\n")
    name = f"{mirror.host}/{repo}:v1"
    # Image labels: through the daemon's transfer service on 2.x, in this process before.
    image = await client.pull(name, labels={"team": "ci", "pulled-by": "test"})
    assert image.labels == {"team": "ci", "pulled-by": "test"}
    assert (await client.images.get(name)).labels == image.labels
    # Pulled again: the new set replaces the old one on either path, as in Go.
    image = await client.pull(name, labels={"team": "cd"})
    assert image.labels == {"team": "cd"}
    assert (await client.images.get(name)).labels == {"team": "cd"}
    await client.images.delete(name, sync=True)

    wanted = {
        "containerd.io/snapshot/remote.ref": name,  # what stargz-like snapshotters read
        "example.com/source": "registry",
        "containerd.io/snapshot.ref": "overridden",  # the unpacker's own wins
    }
    image = await client.pull(name, snapshot_labels=wanted)
    manifest = await image.manifest()
    config = await image.config()
    snapshots = client.snapshots()
    infos = await snapshots.list()
    assert len(infos) == len(manifest.layers) == len(config.diff_ids)
    for info in infos:
        assert info.labels["containerd.io/snapshot/remote.ref"] == name
        assert info.labels["example.com/source"] == "registry"
        assert info.labels["containerd.io/snapshot.ref"] == info.name


async def test_pull_into_the_native_snapshotter(
    containerd_client: pycontainerd.Client, mirror: RegistryServer, tmp_path: Path
) -> None:
    client = containerd_client
    repo = _repo()
    await _image_in(client, mirror, repo, tmp_path, "native\n")
    image = await client.pull(f"{mirror.host}/{repo}:v1", snapshotter="native")
    assert await image.is_unpacked("native")
    assert not await image.is_unpacked("overlayfs")
    assert await client.snapshots("overlayfs").list() == []
    config = await image.config()
    [info] = await client.snapshots("native").list()
    assert info.name == config.diff_ids[0]  # one layer: its chain ID is its diff ID
    result = await client.run(image, snapshotter="native")
    assert (result.code, result.stdout) == (0, b"native\n")
    assert await client.snapshots("overlayfs").list() == []


async def test_pyctr_hosts_dir_header_and_content_fetch(
    pyctr: Pyctr,  # noqa: F811  (the fixture imported above)
    containerd_client: pycontainerd.Client,
    mirror: RegistryServer,
    tmp_path: Path,
) -> None:
    client = containerd_client
    repo = _repo()
    pushed = await _image_in(client, mirror, repo, tmp_path, "pyctr\n")
    _hosts(tmp_path, UNRESOLVABLE, f'[host."http://{mirror.host}"]\n')
    hosts_dir = str(tmp_path / "certs.d")
    name = f"{UNRESOLVABLE}/{repo}:v1"
    referer = f"https://cli.example/{uuid.uuid4().hex}"
    out = ok(
        await pyctr(
            "images", "pull", "--hosts-dir", hosts_dir, "--header", f"Referer: {referer}", name
        )
    )
    assert out.split() == [name, pushed.target.digest]
    assert any(referer in line for line in _requests(mirror, repo))
    assert (await client.images.get(name)).target == pushed.target

    # content fetch: the image record, no snapshots; --metadata-only leaves the layers out.
    multi = f"{mirror.host}/{_repo()}:multi"
    descs = await _push_multiplatform(mirror, multi)
    ok(await pyctr("content", "fetch", "--metadata-only", multi))
    content = (await inventory(client)).content
    assert {descs["amd64"].digest, descs["arm64"].digest} <= set(content)
    image = await client.images.get(multi)
    assert (await image.manifest("linux/arm64")).layers[0].digest not in content
    ok(await pyctr("content", "fetch", "--all-platforms", multi))
    content = (await inventory(client)).content
    assert (await image.manifest("linux/arm64")).layers[0].digest in content
    assert (await image.manifest("linux/amd64")).layers[0].digest in content

    bad = tmp_path / "bad.d" / UNRESOLVABLE
    bad.mkdir(parents=True)
    (bad / "hosts.toml").write_text('capabilities = ["fly"]\n')
    err = one_line_error(await pyctr("images", "pull", "--hosts-dir", str(bad.parent), name))
    assert "hosts.toml: capabilities: unknown capability 'fly'" in err
    err = one_line_error(await pyctr("images", "pull", "--header", "no-colon", name))
    assert "--header" in err


async def test_cancelled_fetch_through_a_mirror_leaves_no_image_or_lease(
    containerd_client: pycontainerd.Client, mirror: RegistryServer, tmp_path: Path
) -> None:
    client = containerd_client
    repo = _repo()
    await _push_multiplatform(mirror, f"{mirror.host}/{repo}:multi")
    hosts = _hosts(tmp_path, UNRESOLVABLE, f'[host."http://{mirror.host}"]\n')
    name = f"{UNRESOLVABLE}/{repo}:multi"
    with anyio.CancelScope() as scope:

        def cancel_on_a_layer(p: Progress) -> None:
            if p.state is BlobState.DOWNLOADING and p.media_type.endswith("layer.v1.tar"):
                scope.cancel()

        await client.fetch(name, hosts=hosts, progress=cancel_on_a_layer)
    assert scope.cancelled_caught
    stock = await inventory(client)
    assert (stock.images, stock.leases) == ((), ())
