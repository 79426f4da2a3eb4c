"""Registry client parts that need no registry: media types, TLS policy, auth, docker config."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import os
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pycontainerd import Descriptor, errors
from pycontainerd._oci import DOCKER_SCHEMA1_MANIFESTS
from pycontainerd.registry import (
    AccessDeniedError,
    AuthenticationError,
    Credentials,
    NotFoundError,
    Reference,
    RegistryError,
    UnavailableError,
    UnsupportedMediaTypeError,
)
from pycontainerd.registry._auth import docker_config_credentials, parse_challenges
from pycontainerd.registry._http import Repository, _verify_context
from pycontainerd.registry._media import (
    append_source,
    distribution_source,
    sniff,
)

pytestmark = pytest.mark.anyio


def test_schema1_is_refused() -> None:
    with pytest.raises(UnsupportedMediaTypeError, match="schema 1") as info:
        sniff(DOCKER_SCHEMA1_MANIFESTS[0], b"{}", "m")
    assert isinstance(info.value, errors.Unimplemented)


def test_system_ca_context_is_made_once_and_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    first = _verify_context(None, insecure=False)
    assert isinstance(first, ssl.SSLContext)
    assert first.verify_mode == ssl.CERT_REQUIRED
    assert first.check_hostname
    assert _verify_context(None, insecure=False) is first  # shared by every Repository
    assert _verify_context(None, insecure=True) is False


def test_plain_http_policy() -> None:
    def plain(ref: str, insecure: bool = False, host: str | None = None) -> bool:
        repo = Repository(Reference.parse(ref), insecure=insecure)
        return repo._plain_ok(repo._host if host is None else host)

    assert plain("localhost:5000/a")
    assert plain("127.0.0.2/a")
    assert plain("[::1]:5000/a")
    assert not plain("registry.example.com/a")
    assert not plain("busybox")
    assert plain("registry.example.com/a", insecure=True)
    # Another host: only loopback, whatever the registry's own setting.
    assert plain("registry.example.com/a", host="127.0.0.1")
    assert plain("registry.example.com/a", host="::1")
    assert not plain("registry.example.com/a", insecure=True, host="storage.example.com")


async def test_unreachable_registry_names_it() -> None:
    ref = Reference.parse("127.0.0.1:1/nothing:here")
    async with Repository(ref) as repo:
        with pytest.raises(UnavailableError, match=r"cannot reach registry 127\.0\.0\.1:1") as info:
            await repo.resolve()
    assert isinstance(info.value, errors.Unavailable)


def test_parse_challenges() -> None:
    got = parse_challenges(
        [
            'Basic realm="r"',
            'Bearer realm="https://auth.example/token",service="reg.example",scope="repository:a/b:pull"',
        ]
    )
    assert [c.scheme for c in got] == ["bearer", "basic"]
    assert got[0].params == {
        "realm": "https://auth.example/token",
        "service": "reg.example",
        "scope": "repository:a/b:pull",
    }
    two = parse_challenges(['Basic realm="a\\"b", Bearer realm=x,  service="s"'])
    assert [(c.scheme, dict(c.params)) for c in two] == [
        ("bearer", {"realm": "x", "service": "s"}),
        ("basic", {"realm": 'a"b'}),
    ]
    assert parse_challenges(["", "   "]) == []


async def test_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    config = {
        "auths": {
            "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hubuser:hubpw").decode()},
            "http://127.0.0.1:5000": {"username": "u", "password": "p"},
            "reg.example/v1/": {"identitytoken": "tok"},
            "broken.example": {"auth": "!!!notbase64"},
        }
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert await docker_config_credentials("docker.io") == Credentials(
        username="hubuser", password="hubpw"
    )
    assert await docker_config_credentials("127.0.0.1:5000") == Credentials(
        username="u", password="p"
    )
    assert await docker_config_credentials("reg.example") == Credentials(identity_token="tok")
    assert await docker_config_credentials("other.example") is None
    with pytest.raises(AuthenticationError, match="not base64") as info:
        await docker_config_credentials("broken.example")
    assert "!!!notbase64" not in str(info.value)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "missing"))
    assert await docker_config_credentials("docker.io") is None


async def test_docker_config_credential_helper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    helper = tmp_path / "bin" / "docker-credential-pyctrtest"
    helper.parent.mkdir()
    helper.write_text(
        "#!/bin/sh\nread server\n"
        'if [ "$server" = "helped.example" ]; then echo \'{"Username":"hu","Secret":"hs"}\'; '
        "else echo 'credentials not found in native keychain'; exit 1; fi\n"
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:{os.environ['PATH']}")
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "pyctrtest"}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert await docker_config_credentials("helped.example") == Credentials(
        username="hu", password="hs"
    )
    assert await docker_config_credentials("other.example") is None


def test_distribution_source_labels() -> None:
    assert distribution_source("127.0.0.1:5000") == "containerd.io/distribution.source.127.0.0.1"
    assert distribution_source("docker.io") == "containerd.io/distribution.source.docker.io"
    assert distribution_source("[::1]:5000") == "containerd.io/distribution.source.::1"
    assert append_source(None, "library/busybox") == "library/busybox"
    assert append_source("b/x,a/y", "library/busybox") == "a/y,b/x,library/busybox"
    assert append_source("a/y", "a/y") == "a/y"


@contextlib.contextmanager
def _answering(status: int, codes: str) -> Iterator[str]:
    """A loopback HTTP server that answers every request with `status` and registry error `codes`."""
    body = json.dumps({"errors": [{"code": codes, "message": "told to", "detail": None}]})

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/v2/" else status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        do_HEAD = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(
    ("status", "code", "kind", "base"),
    [
        (403, "DENIED", AccessDeniedError, errors.PermissionDenied),
        (404, "MANIFEST_UNKNOWN", NotFoundError, errors.NotFound),
        (503, "UNAVAILABLE", UnavailableError, errors.Unavailable),
    ],
)
async def test_http_statuses_map_to_errors_classes(
    status: int, code: str, kind: type[RegistryError], base: type[errors.RPCError]
) -> None:
    # A 403 (authenticated, not allowed) and a 503 are hard to get from
    # docker-registry itself: a stand-in answers them.
    with _answering(status, code) as host:
        async with Repository(Reference.parse(f"{host}/some/repo:v1")) as repo:
            with pytest.raises(kind, match=f"answered {status}") as info:
                await repo.resolve()  # a HEAD: the answer has no body to read codes from
    assert isinstance(info.value, base)
    assert info.value.status_code == status
    if kind is AccessDeniedError:
        assert not isinstance(info.value, errors.Unauthenticated)
        assert isinstance(info.value, PermissionError)


@pytest.mark.parametrize("status", [307, 308])
async def test_upload_put_redirect_sends_the_body_again(status: int) -> None:
    # A streamed body can be sent only once: the redirected PUT must make it anew.
    # A real server, since httpx's mock transport reads (and so keeps) every body.
    blob = b"the blob's bytes" * 1000
    desc = Descriptor(
        media_type="application/octet-stream",
        digest="sha256:" + hashlib.sha256(blob).hexdigest(),
        size=len(blob),
    )
    stored: list[tuple[str, bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, code: int, **headers: str) -> None:
            self.send_response(code)
            for name, value in {"Content-Length": "0", **headers}.items():
                self.send_header(name, value)
            self.end_headers()

        def do_GET(self) -> None:
            self._answer(200)

        def do_POST(self) -> None:
            self._answer(202, Location="/upload/1")

        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            stored.append((self.path.split("?")[0], body))
            if self.path.startswith("/upload/"):
                self._answer(status, Location=self.path.replace("/upload/", "/moved/"))
            else:
                self._answer(201)

        def log_message(self, *args: object) -> None:
            pass

    async def source() -> AsyncIterator[bytes]:
        for i in range(0, len(blob), 4096):
            yield blob[i : i + 4096]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ref = Reference.parse(f"127.0.0.1:{server.server_address[1]}/team/app:v1")
        async with Repository(ref, push=True) as repo:
            await repo.push_blob(desc, source)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert stored == [("/upload/1", blob), ("/moved/1", blob)]


@contextlib.contextmanager
def _endless_manifest(declare: int | None) -> Iterator[tuple[str, list[int]]]:
    """A loopback registry whose manifests never end (64 MiB, or `declare` bytes declared)."""
    sent = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            if declare is not None:
                self.send_header("Content-Length", str(declare))
            self.end_headers()
            if self.path == "/v2/":
                return
            chunk = b" " * (1 << 20)
            with contextlib.suppress(OSError):  # the client hangs up
                for _ in range(64):
                    self.wfile.write(chunk)
                    sent[0] += len(chunk)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", sent
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("declare", [None, 64 << 20])
async def test_an_oversized_manifest_is_refused_not_read(declare: int | None) -> None:
    from pycontainerd import Descriptor
    from pycontainerd.registry._media import MAX_MANIFEST_SIZE

    assert MAX_MANIFEST_SIZE == 4 * 1048 * 1048  # containerd's remotes/docker MaxManifestSize
    desc = Descriptor(
        media_type="application/vnd.oci.image.manifest.v1+json",
        digest="sha256:" + "a" * 64,
        size=100,
    )
    with _endless_manifest(declare) as (host, sent):
        async with Repository(Reference.parse(f"{host}/some/repo:v1")) as repo:
            with pytest.raises(RegistryError, match=f"{MAX_MANIFEST_SIZE} byte limit"):
                await repo.fetch_manifest(desc)
    assert sent[0] < 32 << 20  # the client stopped reading long before the end
