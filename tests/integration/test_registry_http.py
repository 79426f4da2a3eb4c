"""The registry HTTP layer against a real docker-registry (no containerd needed)."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import os
import ssl
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from registry_harness import PASSWORD, REFRESH_TOKEN, USER, RegistryServer, running

from pycontainerd import Descriptor
from pycontainerd._oci import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST
from pycontainerd.registry import (
    AuthenticationError,
    Credentials,
    DigestError,
    NotFoundError,
    Reference,
    RegistryError,
)
from pycontainerd.registry._http import CHUNK_SIZE, Repository, _WholeReads

pytestmark = pytest.mark.anyio


def _desc(media_type: str, data: bytes) -> Descriptor:
    return Descriptor(
        media_type=media_type, digest="sha256:" + hashlib.sha256(data).hexdigest(), size=len(data)
    )


def _source(data: bytes, chunk: int = 1000) -> Callable[[], AsyncIterator[bytes]]:
    async def gen() -> AsyncIterator[bytes]:
        for i in range(0, len(data), chunk):
            yield data[i : i + chunk]

    return gen


async def _push_image(repo: Repository, tag: str, layer: bytes) -> tuple[Descriptor, bytes]:
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
    cdesc = _desc(OCI_CONFIG, config)
    ldesc = _desc(OCI_LAYER, layer)
    for desc, data in ((cdesc, config), (ldesc, layer)):
        if not await repo.blob_exists(desc):
            await repo.push_blob(desc, _source(data))
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": cdesc.media_type, "digest": cdesc.digest, "size": cdesc.size},
            "layers": [{"mediaType": ldesc.media_type, "digest": ldesc.digest, "size": ldesc.size}],
        }
    ).encode()
    await repo.put_manifest(tag, OCI_MANIFEST, manifest)
    return _desc(OCI_MANIFEST, manifest), manifest


def _ref(server: RegistryServer, tag: str = "v1") -> Reference:
    return Reference.parse(f"{server.host}/http-test/{uuid.uuid4().hex[:8]}:{tag}")


async def _collect(repo: Repository, desc: Descriptor, offset: int = 0) -> bytes:
    out = bytearray()
    async with repo.blob(desc, offset) as chunks:
        async for chunk in chunks:
            out += chunk
    return bytes(out)


async def test_push_resolve_fetch_round_trip(registry: RegistryServer) -> None:
    ref = _ref(registry)
    layer = os.urandom(3 << 20)
    async with Repository(ref, push=True) as repo:
        assert await repo.base() == f"http://{registry.host}"  # loopback: plain HTTP fallback
        mdesc, manifest = await _push_image(repo, "v1", layer)
        resolved = await repo.resolve()
        assert resolved == mdesc
        assert await repo.fetch_manifest(resolved) == manifest
        ldesc = _desc(OCI_LAYER, layer)
        assert await repo.blob_exists(ldesc)
        assert await _collect(repo, ldesc) == layer
        assert await _collect(repo, ldesc, offset=1234567) == layer[1234567:]  # Range resume
    async with Repository(ref.with_digest(mdesc.digest)) as repo:
        assert await repo.resolve() == mdesc


async def test_blob_comes_in_whole_pieces_over_whole_reads(
    registry: RegistryServer, tls_registry: RegistryServer
) -> None:
    ref = _ref(registry)
    layer = os.urandom(2 * CHUNK_SIZE + 12345)
    ldesc = _desc(OCI_LAYER, layer)
    async with Repository(ref, push=True) as repo:
        await _push_image(repo, "v1", layer)
        for offset in (0, 100, CHUNK_SIZE + 1):
            async with repo.blob(ldesc, offset) as chunks:
                pieces = [bytes(chunk) async for chunk in chunks]
            # One content WRITE message per MiB: only the last piece is short.
            assert [len(p) for p in pieces[:-1]] == [CHUNK_SIZE] * (len(pieces) - 1)
            assert 0 < len(pieces[-1]) <= CHUNK_SIZE
            assert b"".join(pieces) == layer[offset:]
        # Plain TCP reads take what the socket holds (not httpcore's 64 KiB).
        response = await repo._client.get(await repo.url(f"blobs/{ldesc.digest}"))
        assert isinstance(response.extensions["network_stream"], _WholeReads)
        assert response.content == layer
    # TLS streams are httpcore's own (a TLS read returns one record anyway).
    creds = Credentials(username=USER, password=PASSWORD)
    async with Repository(_ref(tls_registry), credentials=creds, ca=tls_registry.ca) as repo:
        response = await repo._client.get(await repo.url("tags/list"))
        assert not isinstance(response.extensions["network_stream"], _WholeReads)


async def test_missing_tag_and_blob(registry: RegistryServer) -> None:
    async with Repository(_ref(registry, "nope")) as repo:
        with pytest.raises(NotFoundError, match="404") as info:
            await repo.resolve()
        assert info.value.status_code == 404
        ghost = _desc("application/octet-stream", b"ghost")
        assert not await repo.blob_exists(ghost)
        with pytest.raises(NotFoundError, match=r"BLOB_UNKNOWN|NAME_UNKNOWN"):
            await _collect(repo, ghost)


async def test_manifest_digest_and_size_checked(registry: RegistryServer) -> None:
    ref = _ref(registry)
    async with Repository(ref, push=True) as repo:
        mdesc, _ = await _push_image(repo, "v1", b"layer")
        wrong = Descriptor(media_type=OCI_MANIFEST, digest="sha256:" + "0" * 64, size=mdesc.size)
        with pytest.raises(NotFoundError):  # the registry looks manifests up by digest
            await repo.fetch_manifest(wrong)
        short = Descriptor(media_type=OCI_MANIFEST, digest=mdesc.digest, size=mdesc.size - 1)
        with pytest.raises(DigestError, match="expected"):
            await repo.fetch_manifest(short)
        ldesc = _desc(OCI_LAYER, b"layer")
        longer = Descriptor(media_type=ldesc.media_type, digest=ldesc.digest, size=ldesc.size + 5)
        with pytest.raises(DigestError, match="sent 5 of 10 bytes"):
            await _collect(repo, longer)


async def test_basic_auth(auth_registry: RegistryServer) -> None:
    ref = _ref(auth_registry)
    async with Repository(
        ref, push=True, credentials=Credentials(username=USER, password=PASSWORD)
    ) as repo:
        mdesc, _ = await _push_image(repo, "v1", b"basic")
        assert await repo.resolve() == mdesc
    async with Repository(ref) as repo:
        with pytest.raises(AuthenticationError, match="no credentials were given") as info:
            await repo.resolve()
        assert info.value.status_code == 401
    bad = Credentials(username=USER, password="wrong-" + PASSWORD)
    async with Repository(ref, credentials=bad) as repo:
        with pytest.raises(AuthenticationError, match="refused the credentials") as info:
            await repo.resolve()
    _assert_secret_free(info.value, bad.password)
    assert PASSWORD not in repr(bad)
    assert "wrong-" not in repr(bad)


def _assert_secret_free(exc: BaseException, secret: str) -> None:
    texts = [str(exc), repr(exc), *(str(a) for a in exc.args), str(vars(exc))]
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        texts += [str(cause), repr(cause)]
        cause = cause.__cause__ or cause.__context__
    for text in texts:
        assert secret not in text


async def test_bearer_token_flow(token_registry: RegistryServer) -> None:
    assert token_registry.token is not None
    ref = _ref(token_registry)
    creds = Credentials(username=USER, password=PASSWORD)
    async with Repository(ref, push=True, credentials=creds) as repo:
        before = token_registry.token.issued
        mdesc, _ = await _push_image(repo, "v1", os.urandom(1000))
        assert await repo.resolve() == mdesc
        assert token_registry.token.issued == before + 1  # one token, reused for every request
    async with Repository(ref, credentials=Credentials(identity_token=REFRESH_TOKEN)) as repo:
        assert await repo.resolve() == mdesc  # OAuth refresh-token grant
    async with Repository(ref) as repo:
        with pytest.raises(AuthenticationError, match="requires credentials"):
            await repo.resolve()
    bad = Credentials(username=USER, password="not-the-" + PASSWORD)
    async with Repository(ref, credentials=bad) as repo:
        with pytest.raises(AuthenticationError, match="refused the credentials") as info:
            await repo.resolve()
    _assert_secret_free(info.value, bad.password)


async def test_tls_with_custom_ca(tls_registry: RegistryServer) -> None:
    ref = _ref(tls_registry)
    creds = Credentials(username=USER, password=PASSWORD)
    assert tls_registry.ca is not None
    async with Repository(ref, push=True, credentials=creds, ca=tls_registry.ca) as repo:
        assert await repo.base() == f"https://{tls_registry.host}"
        mdesc, _ = await _push_image(repo, "v1", b"tls")
        assert await repo.resolve() == mdesc
    ctx = ssl.create_default_context(cafile=str(tls_registry.ca))
    async with Repository(ref, credentials=creds, ca=ctx) as repo:
        assert await repo.resolve() == mdesc
    # Without the CA the certificate is refused: no silent fallback to plain HTTP.
    async with Repository(ref, credentials=creds) as repo:
        with pytest.raises(RegistryError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"):
            await repo.resolve()
    # insecure=True skips verification, as docker does for insecure registries.
    async with Repository(ref, credentials=creds, insecure=True) as repo:
        assert await repo.resolve() == mdesc


@contextlib.contextmanager
def _other_host() -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """A loopback HTTP server on 127.0.0.2 that takes any upload: its URL and what it got."""
    seen: list[tuple[str, dict[str, str]]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            seen.append((self.command, {k.lower(): v for k, v in self.headers.items()}))
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.2:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("auth", ["basic", "token"])
async def test_upload_location_on_another_host_gets_no_credentials(
    auth: str, token_registry: RegistryServer
) -> None:
    # docker-registry's http.host makes its upload Locations absolute URLs on
    # another origin (127.0.0.2, another port): the upload goes there without
    # the registry's credentials or token.
    options = {"basic_auth": True} if auth == "basic" else {"token": token_registry.token}
    data = os.urandom(1000)
    with _other_host() as (url, seen), running(external_url=url, **options) as server:
        creds = Credentials(username=USER, password=PASSWORD)
        async with Repository(_ref(server), push=True, credentials=creds) as repo:
            assert not await repo.blob_exists(_desc(OCI_LAYER, data))  # authenticates
            await repo.push_blob(_desc(OCI_LAYER, data), _source(data))
    [(method, headers)] = seen
    assert method == "PUT"
    assert int(headers["content-length"]) == len(data)
    assert "authorization" not in headers
