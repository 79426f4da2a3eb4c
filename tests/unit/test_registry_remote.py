"""Several hosts for one registry: which secrets and scopes each gets, and when a host is passed over.

Fake hosts answer through ``httpx.MockTransport`` (swapped in for the
repositories' transport); every request is recorded, so each test asserts
on what a host actually received.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pycontainerd import Client, Descriptor, errors
from pycontainerd.registry import Credentials, Hosts, Reference, _http, open_blob
from pycontainerd.registry._http import Repository
from pycontainerd.registry._remote import Remote, hosts_for

pytestmark = pytest.mark.anyio

SECRET = "s3cret-Pa55word-never-shown"
CREDS = Credentials(username="ci", password=SECRET)
BASIC = "Basic " + base64.b64encode(f"ci:{SECRET}".encode()).decode()
BLOB = b"the blob's bytes"
DESC = Descriptor(
    media_type="application/octet-stream",
    digest="sha256:" + hashlib.sha256(BLOB).hexdigest(),
    size=len(BLOB),
)
MANIFEST = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
MANIFEST_DESC = Descriptor(
    media_type="application/vnd.oci.image.manifest.v1+json",
    digest="sha256:" + hashlib.sha256(MANIFEST).hexdigest(),
    size=len(MANIFEST),
)

Handler = Callable[[httpx.Request], httpx.Response]


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode()}"


async def _stream(data: bytes) -> AsyncIterator[bytes]:
    yield data


class Net:
    """Hosts behind one mock transport: `routes` maps an origin to its handler."""

    def __init__(self, routes: dict[str, Handler]) -> None:
        self.routes = routes
        self.seen: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return self.routes[_origin(request.url)](request)

    def at(self, origin: str) -> list[httpx.Request]:
        return [r for r in self.seen if _origin(r.url) == origin]


@pytest.fixture
def net(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[dict[str, Handler]], Net]:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))

    def make(routes: dict[str, Handler]) -> Net:
        made = Net(routes)
        mock = httpx.MockTransport(made.handle)
        monkeypatch.setattr(_http, "_transport", lambda verify, limits: mock)
        return made

    return make


def _registry(request: httpx.Request) -> httpx.Response:
    """``reg.test``: Basic auth with `CREDS`; serves `DESC` and `MANIFEST_DESC`."""
    if request.url.path == "/v2/":
        return httpx.Response(200)
    if request.headers.get("authorization") != BASIC:
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="reg"'})
    if request.url.path.endswith(f"/manifests/{MANIFEST_DESC.digest}"):
        return httpx.Response(
            200,
            headers={
                "Content-Type": MANIFEST_DESC.media_type,
                "Docker-Content-Digest": MANIFEST_DESC.digest,
            },
            content=_stream(MANIFEST),
        )
    if request.url.path.endswith("/manifests/v1"):
        return httpx.Response(
            200,
            headers={
                "Content-Type": MANIFEST_DESC.media_type,
                "Docker-Content-Digest": MANIFEST_DESC.digest,
                "Content-Length": str(MANIFEST_DESC.size),
            },
        )
    if request.url.path.endswith(f"/blobs/{DESC.digest}"):
        return httpx.Response(200, content=_stream(BLOB))
    return httpx.Response(404)


def _hosts(tmp_path: Path, toml: str) -> Hosts:
    (tmp_path / "certs.d" / "reg.test").mkdir(parents=True)
    (tmp_path / "certs.d" / "reg.test" / "hosts.toml").write_text(toml)
    return Hosts.from_directory(tmp_path / "certs.d")


async def _resolve(hosts: Hosts, auth: Credentials | None = CREDS) -> Descriptor:
    reference = Reference.parse("reg.test/team/app:v1")
    async with Remote(reference, await hosts_for(reference, hosts, auth)) as remote:
        return await remote.resolve()


async def test_explicit_credentials_go_to_the_registry_not_to_a_mirror(
    net: Callable[[dict[str, Handler]], Net], tmp_path: Path
) -> None:
    def mirror(request: httpx.Request) -> httpx.Response:
        # A mirror asking for Basic auth, or naming a token realm of its own.
        if request.url.host == "basic.test":
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="m"'})
        return httpx.Response(
            401, headers={"WWW-Authenticate": 'Bearer realm="https://realm.test/t",service="m"'}
        )

    seen = net(
        {
            "https://reg.test": _registry,
            "https://basic.test": mirror,
            "https://bearer.test": mirror,
            "https://realm.test": lambda request: httpx.Response(401),
        }
    )
    hosts = _hosts(tmp_path, '[host."https://basic.test"]\n[host."https://bearer.test"]\n')
    assert await _resolve(hosts) == MANIFEST_DESC
    assert seen.at("https://basic.test")
    assert seen.at("https://realm.test")
    for request in seen.seen:
        if _origin(request.url) != "https://reg.test":
            assert "authorization" not in request.headers, request.url
    assert seen.at("https://reg.test")[-1].headers["authorization"] == BASIC


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectTimeout("timed out"), httpx.ReadTimeout("timed out"), ssl.SSLError(1, "bad")],
    ids=["connect-timeout", "read-timeout", "ssl-error"],
)
async def test_a_mirror_failing_its_probe_passes_to_the_next_host(
    net: Callable[[dict[str, Handler]], Net], tmp_path: Path, failure: Exception
) -> None:
    # An http:// mirror with TLS settings is probed over HTTPS first.
    def hanging(request: httpx.Request) -> httpx.Response:
        raise failure

    seen = net({"https://127.0.0.1:9": hanging, "https://reg.test": _registry})
    hosts = _hosts(tmp_path, '[host."http://127.0.0.1:9"]\nskip_verify = true\n')
    assert await _resolve(hosts) == MANIFEST_DESC
    assert len(seen.at("https://127.0.0.1:9")) == 1


@contextlib.contextmanager
def _silent_listener() -> Iterator[int]:
    """A loopback port whose connections are queued but never accepted nor answered."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@contextlib.contextmanager
def _manifest_server() -> Iterator[int]:
    """A plain-HTTP loopback registry answering any manifest HEAD with `MANIFEST_DESC`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", MANIFEST_DESC.media_type)
            self.send_header("Docker-Content-Digest", MANIFEST_DESC.digest)
            self.send_header("Content-Length", str(MANIFEST_DESC.size))
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_a_mirror_that_never_answers_passes_to_the_next_host(tmp_path: Path) -> None:
    with _silent_listener() as silent, _manifest_server() as port:
        hosts = _hosts(
            tmp_path,
            f'server = "http://127.0.0.1:{port}"\n'
            f'[host."http://127.0.0.1:{silent}"]\nskip_verify = true\ndial_timeout = "1s"\n',
        )
        assert await _resolve(hosts, auth=None) == MANIFEST_DESC


async def test_a_cross_repository_mount_scope_is_asked_for_that_request_only(
    net: Callable[[dict[str, Handler]], Net],
) -> None:
    tokens: list[list[str]] = []

    def token(request: httpx.Request) -> httpx.Response:
        tokens.append(request.url.params.get_list("scope"))
        return httpx.Response(200, json={"token": f"tok{len(tokens)}", "expires_in": 300})

    def registry(request: httpx.Request) -> httpx.Response:
        challenge = {"WWW-Authenticate": 'Bearer realm="https://auth.test/t",service="reg"'}
        used = request.headers.get("authorization")
        if request.url.path == "/v2/":
            return httpx.Response(200)
        if "mount" in request.url.params:
            return httpx.Response(201) if used else httpx.Response(401, headers=challenge)
        if used != "Bearer tok2":  # the mount's token will not do: ask for a new one
            return httpx.Response(401, headers=challenge)
        if request.method == "POST":
            return httpx.Response(202, headers={"Location": "/v2/team/app/blobs/uploads/1"})
        return httpx.Response(201)

    net({"https://reg.test": registry, "https://auth.test": token})
    async with Repository(Reference.parse("reg.test/team/app:v1"), push=True) as repo:
        assert await repo.push_blob(DESC, lambda: _stream(BLOB), mount_from="other/base")
        assert not await repo.push_blob(DESC, lambda: _stream(BLOB))
    assert tokens == [
        ["repository:team/app:pull,push", "repository:other/base:pull"],
        ["repository:team/app:pull,push"],
    ]


@pytest.mark.parametrize("where", ["argument", "hosts.toml"])
async def test_secret_headers_stay_on_the_registry_origin(
    net: Callable[[dict[str, Handler]], Net], tmp_path: Path, where: str
) -> None:
    def registry(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, headers={"Location": "https://storage.test/up/1"})
        if request.url.path.endswith(f"/blobs/{DESC.digest}"):
            return httpx.Response(307, headers={"Location": "https://cdn.test/blob"})
        return httpx.Response(200)

    seen = net(
        {
            "https://reg.test": registry,
            "https://storage.test": lambda request: httpx.Response(201),
            "https://cdn.test": lambda request: httpx.Response(200, content=_stream(BLOB)),
        }
    )
    given = {
        "Authorization": "Bearer own",
        "Cookie": "c=1",
        "Proxy-Authorization": "p",
        "X-Team": "ci",
    }
    kwargs: dict[str, Any] = {}
    if where == "argument":
        kwargs["headers"] = list(given.items())
    else:
        lines = "".join(f'{name} = "{value}"\n' for name, value in given.items())
        hosts = _hosts(
            tmp_path, f'[host."https://reg.test"]\n[host."https://reg.test".header]\n{lines}'
        )
        kwargs["endpoint"] = hosts.lookup("reg.test")[0]
    async with Repository(Reference.parse("reg.test/team/app:v1"), push=True, **kwargs) as repo:
        await repo.push_blob(DESC, lambda: _stream(BLOB))
        async with repo.blob(DESC) as chunks:
            assert b"".join([bytes(c) async for c in chunks]) == BLOB
    [post, get] = seen.at("https://reg.test")
    for request in (post, get):
        assert {name: request.headers.get(name) for name in given} == given
    for origin in ("https://storage.test", "https://cdn.test"):
        [request] = seen.at(origin)
        assert request.headers["x-team"] == "ci"
        assert not {"authorization", "cookie", "proxy-authorization"} & set(request.headers)


@pytest.mark.parametrize(
    ("descriptor", "message"),
    [
        (
            Descriptor(media_type="x", digest="sha256:../../../other/manifests/x", size=1),
            "invalid digest",
        ),
        (Descriptor(media_type="x", digest="md5:" + "0" * 32, size=1), "invalid digest"),
        (Descriptor(media_type="x", digest=DESC.digest, size=-1), "invalid size"),
        ({"digest": DESC.digest, "size": 1}, "expected a Descriptor"),
    ],
    ids=["path", "md5", "size", "not-a-descriptor"],
)
async def test_a_bad_descriptor_is_refused_before_any_request(
    net: Callable[[dict[str, Handler]], Net], descriptor: Any, message: str
) -> None:
    seen = net({})
    with pytest.raises(errors.InvalidArgument, match=message):
        async with open_blob("reg.test/team/app:v1", descriptor, auth=CREDS):
            pass
    # The daemon path checks it before any RPC (no daemon listens here).
    async with Client("unix:///nonexistent/containerd.sock") as client:
        with pytest.raises(errors.InvalidArgument, match=message):
            await client.fetch_blob("reg.test/team/app:v1", descriptor, auth=CREDS)
    assert seen.seen == []


async def test_open_blob_fetches_a_manifest_from_the_manifests_endpoint(
    net: Callable[[dict[str, Handler]], Net],
) -> None:
    seen = net({"https://reg.test": _registry})
    async with open_blob("reg.test/team/app:v1", MANIFEST_DESC, auth=CREDS) as chunks:
        assert b"".join([c async for c in chunks]) == MANIFEST
    got = seen.at("https://reg.test")[-1]
    assert got.url.path == f"/v2/team/app/manifests/{MANIFEST_DESC.digest}"
    assert got.headers["accept"].startswith(MANIFEST_DESC.media_type)


async def test_open_blob_closes_a_stream_left_unread(
    net: Callable[[dict[str, Handler]], Net],
) -> None:
    net({"https://reg.test": _registry})
    async with open_blob("reg.test/team/app:v1", DESC, auth=CREDS) as chunks:
        async for _ in chunks:
            break
    assert chunks.ag_frame is None  # type: ignore[attr-defined]  # closed, not left to the GC


async def test_bad_hosts_configuration_and_labels_raise_before_any_rpc(tmp_path: Path) -> None:
    hosts = _hosts(tmp_path, 'server = "https://reg.test"\nca = "missing.pem"\n')
    # No daemon listens here: an RPC before the check would raise ConnectionError.
    async with Client("unix:///nonexistent/containerd.sock") as client:
        with pytest.raises(errors.ConnectionError):
            await client.version()
        with pytest.raises(errors.InvalidArgument, match=r"missing\.pem"):
            await client.pull("reg.test/team/app:v1", hosts=hosts)
        with pytest.raises(errors.InvalidArgument, match="image labels"):
            await client.pull("reg.test/team/app:v1", labels={"": "x"})
        with pytest.raises(errors.InvalidArgument, match="image labels"):
            await client.pull("reg.test/team/app:v1", labels={"a": 1})  # type: ignore[dict-item]
