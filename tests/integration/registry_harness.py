"""A real OCI registry for the tests: Debian's ``docker-registry`` on loopback.

Session-scoped fixtures (enabled from ``conftest.py``):

* ``registry``: plain HTTP, no auth.
* ``auth_registry``: plain HTTP with basic auth (htpasswd, bcrypt).
* ``tls_registry``: HTTPS with a server certificate signed by a test CA made
  here with the ``openssl`` CLI; ``.ca`` is the CA's PEM path. Basic auth too.
* ``token_registry``: plain HTTP with docker's token auth: a small token
  server (in a thread) checks basic credentials or a refresh token and signs
  RS256 JWTs with ``openssl``; the registry verifies them against its cert.

Each runs in its own temp dir (config, storage, log) on a free port of
127.0.0.1 and is stopped at the end of the session.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import http.server
import json
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

USER = "pyctr-test"
PASSWORD = "s3cret-Pa55word-xyzzy"
REFRESH_TOKEN = "refresh-t0ken-for-pyctr-tests"
SERVICE = "pycontainerd-test-registry"
ISSUER = "pycontainerd-test-issuer"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def make_ca_and_cert(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server cert for 127.0.0.1/localhost: (ca.pem, server.pem, server.key)."""
    _run(
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=pycontainerd test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    _run(
        "openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
        cwd=directory,
    )  # fmt: skip
    (directory / "ext.cnf").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    _run(
        "openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf",
        cwd=directory,
    )  # fmt: skip
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


class RegistryServer:
    """One ``docker-registry`` process with its own storage, on a free loopback port."""

    def __init__(
        self,
        *,
        basic_auth: bool = False,
        tls: bool = False,
        token: TokenServer | None = None,
        external_url: str | None = None,
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pyctr-registry-"))
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.storage = self.dir / "storage"
        self.ca: Path | None = None
        self.username: str | None = None
        self.password: str | None = None
        lines = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.storage}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            "  secret: pycontainerd-tests",
        ]
        if external_url is not None:  # absolute URLs it hands out (upload Locations) point there
            lines += [f"  host: {external_url}"]
        if tls:
            self.ca, cert, key = make_ca_and_cert(self.dir)
            lines += ["  tls:", f"    certificate: {cert}", f"    key: {key}"]
        if basic_auth:
            self.username, self.password = USER, PASSWORD
            htpasswd = subprocess.run(
                ["htpasswd", "-Bbn", USER, PASSWORD], check=True, capture_output=True, text=True
            ).stdout
            (self.dir / "htpasswd").write_text(htpasswd)
            lines += [
                "auth:",
                "  htpasswd:",
                "    realm: pycontainerd-test",
                f"    path: {self.dir / 'htpasswd'}",
            ]
        if token is not None:
            self.username, self.password = USER, PASSWORD
            lines += [
                "auth:",
                "  token:",
                f"    realm: {token.url}/token",
                f"    service: {SERVICE}",
                f"    issuer: {ISSUER}",
                f"    rootcertbundle: {token.cert}",
            ]
        self.token = token
        self.scheme = "https" if tls else "http"
        self.config = self.dir / "config.yml"
        self.config.write_text("\n".join(lines) + "\n")
        self.log = self.dir / "registry.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def start(self, timeout: float = 20.0) -> None:
        binary = shutil.which("docker-registry")
        if binary is None:
            pytest.fail("docker-registry not found; apt-get install docker-registry", pytrace=False)
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                [binary, "serve", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if self._answers():
                return
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"docker-registry did not start:\n{self.log.read_text()}", pytrace=False)

    def _answers(self) -> bool:
        conn: http.client.HTTPConnection
        if self.scheme == "https":
            ctx = ssl.create_default_context(cafile=str(self.ca))
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=1, context=ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            conn.request("GET", "/v2/")
            return conn.getresponse().status in (200, 401)
        except OSError:
            return False
        finally:
            conn.close()

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def blob_path(self, digest: str) -> Path:
        """Where the registry keeps a blob's bytes on disk (to corrupt it in a test)."""
        algorithm, _, encoded = digest.partition(":")
        return (
            self.storage / "docker/registry/v2/blobs" / algorithm / encoded[:2] / encoded / "data"
        )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Docker's token auth, minimal: GET with basic auth, or POST with a refresh token."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pyctr-token-"))
        _run(
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "token.key",
            "-out", "token.pem", "-days", "2", "-subj", "/CN=pycontainerd token issuer",
            cwd=self.dir,
        )  # fmt: skip
        self.cert = self.dir / "token.pem"
        self.key = self.dir / "token.key"
        der = subprocess.run(
            ["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
            check=True,
            capture_output=True,
        ).stdout
        self._x5c = base64.b64encode(der).decode()
        self.issued = 0  # tokens handed out (to check they are reused)
        self.tokens: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    return self._answer(401, {"details": "bad credentials"})
                self._answer(200, {"token": server.sign(query.get("scope", [])), "expires_in": 300})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                if form.get("refresh_token") != [REFRESH_TOKEN]:
                    return self._answer(401, {"details": "bad refresh token"})
                scopes = " ".join(form.get("scope", [])).split()
                self._answer(200, {"access_token": server.sign(scopes), "expires_in": 300})

            def _answer(self, status: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def sign(self, scopes: list[str]) -> str:
        self.issued += 1
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {
            "iss": ISSUER,
            "sub": USER,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 30,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(),
            check=True,
            capture_output=True,
        ).stdout
        token = f"{signing_input}.{_b64url(signature)}"
        self.tokens.append(token)
        return token

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def running(**kwargs: Any) -> Iterator[RegistryServer]:
    server = RegistryServer(**kwargs)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def registry() -> Iterator[RegistryServer]:
    """A plain-HTTP registry without auth on 127.0.0.1."""
    with running() as server:
        yield server


@pytest.fixture(scope="session")
def auth_registry() -> Iterator[RegistryServer]:
    """A plain-HTTP registry on 127.0.0.1 that demands basic auth (htpasswd)."""
    with running(basic_auth=True) as server:
        yield server


@pytest.fixture(scope="session")
def tls_registry() -> Iterator[RegistryServer]:
    """An HTTPS registry with basic auth; its cert is signed by the test CA at ``.ca``."""
    with running(tls=True, basic_auth=True) as server:
        yield server


@pytest.fixture(scope="session")
def token_registry() -> Iterator[RegistryServer]:
    """A plain-HTTP registry on 127.0.0.1 using bearer tokens from a test token server."""
    token = TokenServer()
    token.start()
    server = RegistryServer(token=token)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        token.stop()
