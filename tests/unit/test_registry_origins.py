"""Where credentials go: upload locations, redirects and token realms on other hosts.

Fake hosts answer through ``httpx.MockTransport`` (swapped in for the
repository's transport), and every request they get is recorded, so each
test asserts on the headers the other host actually saw.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from pycontainerd import Descriptor, errors
from pycontainerd.registry import (
    AuthenticationError,
    Credentials,
    InsecureURLError,
    Reference,
    RegistryError,
    _http,
)
from pycontainerd.registry._http import Repository

pytestmark = pytest.mark.anyio

SECRET = "s3cret-Pa55word-never-shown"
TOKEN = "bearer-t0ken-never-shown"
CREDS = Credentials(username="ci", password=SECRET)
BASIC = "Basic " + base64.b64encode(f"ci:{SECRET}".encode()).decode()
BLOB = b"the blob's bytes"
DESC = Descriptor(
    media_type="application/octet-stream",
    digest="sha256:" + hashlib.sha256(BLOB).hexdigest(),
    size=len(BLOB),
)
UPLOADS = "/v2/team/app/blobs/uploads/"

Route = Callable[[httpx.Request], httpx.Response]


class Hosts:
    """A registry and other hosts behind one mock transport, recording every request.

    The registry (at `registry`) demands basic auth, a bearer token from the
    token server at `realm`, or nothing (`auth`); it answers an upload
    ``POST`` with `location` and a blob ``GET`` with `blob` (the blob, or a
    redirect). Other origins answer from `routes`.
    """

    def __init__(
        self,
        *,
        auth: str | None = "basic",
        registry: str = "https://reg.test",
        realm: str = "https://auth.test/token",
        location: str = UPLOADS + "1?_state=st",
    ) -> None:
        self.auth = auth
        self.registry = registry
        self.realm = realm
        self.location = location
        self.blob: Route = _blob
        self.seen: list[httpx.Request] = []
        self.routes: dict[str, Route] = {"https://auth.test": self._token}

    def at(self, origin: str) -> list[httpx.Request]:
        """The requests `origin` (``scheme://host[:port]``) received."""
        return [r for r in self.seen if _origin(r.url) == origin]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        origin = _origin(request.url)
        if origin != self.registry:
            return self.routes[origin](request)
        if request.url.path == "/v2/":
            return httpx.Response(200)
        expected = {"basic": BASIC, "bearer": f"Bearer {TOKEN}", None: None}[self.auth]
        if expected is not None and request.headers.get("authorization") != expected:
            challenge = (
                'Basic realm="reg"'
                if self.auth == "basic"
                else f'Bearer realm="{self.realm}",service="reg"'
            )
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        if request.method == "POST" and request.url.path == UPLOADS:
            return httpx.Response(202, headers={"Location": self.location})
        if request.method == "PUT":
            return httpx.Response(201)
        if request.method == "GET" and request.url.path.endswith(DESC.digest):
            return self.blob(request)
        return httpx.Response(404)

    @staticmethod
    def _token(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != BASIC:
            return httpx.Response(401)
        return httpx.Response(200, json={"token": TOKEN, "expires_in": 300})


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode()}"


def _blob(request: httpx.Request) -> httpx.Response:
    # Streamed, as a real blob is (a bytes body would arrive already read).
    return httpx.Response(200, content=_blob_source())


def _answer(status: int, **headers: str) -> Route:
    return lambda request: httpx.Response(status, headers=headers, content=b"")


@pytest.fixture
def hosts(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Hosts]:
    """Make a `Hosts`; repositories created afterwards talk to it."""

    def make(**kwargs: Any) -> Hosts:
        made = Hosts(**kwargs)
        mock = httpx.MockTransport(made.handle)
        monkeypatch.setattr(_http, "_transport", lambda verify, limits: mock)
        return made

    return make


def _repo(hosts: Hosts, **kwargs: bool) -> Repository:
    host = httpx.URL(hosts.registry).netloc.decode()
    return Repository(Reference.parse(f"{host}/team/app:v1"), credentials=CREDS, **kwargs)


async def _blob_source() -> AsyncIterator[bytes]:
    yield BLOB


async def _read_blob(repo: Repository) -> bytes:
    async with repo.blob(DESC) as chunks:
        return b"".join([bytes(c) async for c in chunks])


def _assert_secret_free(exc: BaseException) -> None:
    texts = [str(exc), repr(exc), *(str(a) for a in exc.args), str(vars(exc))]
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        texts += [str(cause), repr(cause)]
        cause = cause.__cause__ or cause.__context__
    for text in texts:
        for secret in (SECRET, TOKEN, BASIC.split()[1], "_state", "sig="):
            assert secret not in text


@pytest.mark.parametrize("auth", ["basic", "bearer"])
@pytest.mark.parametrize(
    "location",
    [
        "https://storage.test/upload/1?_state=st",  # another host
        "https://reg.test:8443/upload/1",  # another port
        "http://127.0.0.1:5000/upload/1",  # another scheme and host (loopback: plain is fine)
    ],
)
async def test_upload_location_elsewhere_gets_no_credentials(
    hosts: Callable[..., Hosts], auth: str, location: str
) -> None:
    net = hosts(auth=auth, location=location)
    other = _origin(httpx.URL(location))
    net.routes[other] = _answer(201)
    async with _repo(net, push=True) as repo:
        await repo.push_blob(DESC, _blob_source)
    [put] = net.at(other)
    assert put.method == "PUT"
    assert put.url.params["digest"] == DESC.digest
    assert put.content == BLOB
    assert "authorization" not in put.headers
    posts = [r for r in net.at(net.registry) if r.method == "POST"]
    assert posts[-1].headers["authorization"].startswith("Basic" if auth == "basic" else "Bearer")


@pytest.mark.parametrize("location", [UPLOADS + "1?_state=st", "https://reg.test/v2/up/1"])
async def test_upload_location_on_the_registry_keeps_credentials(
    hosts: Callable[..., Hosts], location: str
) -> None:
    net = hosts(location=location)
    async with _repo(net, push=True) as repo:
        await repo.push_blob(DESC, _blob_source)
    [put] = [r for r in net.seen if r.method == "PUT"]
    assert put.headers["authorization"] == BASIC
    assert put.content == BLOB


async def test_a_401_from_another_host_is_not_answered(hosts: Callable[..., Hosts]) -> None:
    # The other host asks for basic credentials, or names its own token realm:
    # either would get the registry's credentials if its challenge were answered.
    net = hosts(location="https://storage.test/upload/1")
    net.routes["https://storage.test"] = _answer(401, **{"WWW-Authenticate": 'Basic realm="x"'})
    net.routes["https://evil.test"] = _answer(200)
    net.blob = _answer(307, location="https://storage.test/blob")
    async with _repo(net, push=True) as repo:
        with pytest.raises(AuthenticationError, match="answered 401") as info:
            await repo.push_blob(DESC, _blob_source)
        _assert_secret_free(info.value)
        net.routes["https://storage.test"] = _answer(
            401, **{"WWW-Authenticate": 'Bearer realm="https://evil.test/token"'}
        )
        with pytest.raises(AuthenticationError, match="answered 401") as info:
            await _read_blob(repo)
        _assert_secret_free(info.value)
    assert net.at("https://storage.test")
    assert all("authorization" not in r.headers for r in net.at("https://storage.test"))
    assert net.at("https://evil.test") == []


async def test_plain_http_location_is_refused(hosts: Callable[..., Hosts]) -> None:
    net = hosts(location="http://storage.test/upload/1?_state=st")
    net.routes["http://storage.test"] = _answer(201)
    async with _repo(net, push=True) as repo:
        with pytest.raises(InsecureURLError, match="plain HTTP") as info:
            await repo.push_blob(DESC, _blob_source)
    assert isinstance(info.value, errors.FailedPrecondition)
    assert info.value.url == "http://storage.test/upload/1"
    _assert_secret_free(info.value)
    assert net.at("http://storage.test") == []


async def test_plain_http_only_to_the_registry_marked_insecure(
    hosts: Callable[..., Hosts],
) -> None:
    def no_tls(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("wrong version number", request=request)

    net = hosts(auth=None, registry="http://reg.test", location="http://reg.test:5000/up/1")
    net.routes["https://reg.test"] = no_tls
    net.routes["http://reg.test:5000"] = _answer(201)
    net.routes["http://storage.test"] = _answer(201)
    async with _repo(net, push=True, insecure=True) as repo:
        await repo.push_blob(DESC, _blob_source)  # the insecure host, on another port
        net.location = "http://storage.test/up/1"
        with pytest.raises(InsecureURLError, match=r"http://storage\.test/up/1"):
            await repo.push_blob(DESC, _blob_source)
    assert len(net.at("http://reg.test:5000")) == 1
    assert net.at("http://storage.test") == []


async def test_plain_http_realm_is_refused(hosts: Callable[..., Hosts]) -> None:
    net = hosts(auth="bearer", realm="http://auth.test/token")
    net.routes["http://auth.test"] = Hosts._token
    async with _repo(net) as repo:
        with pytest.raises(InsecureURLError, match=r"http://auth\.test/token") as info:
            await repo.resolve()
    _assert_secret_free(info.value)
    assert net.at("http://auth.test") == []


@pytest.mark.parametrize(
    ("registry", "target"),
    [
        ("https://reg.test", "https://storage.test/blob?sig=1"),  # another host
        ("https://reg.test", "https://reg.test:8443/blob"),  # another port
        ("http://reg.test", "https://reg.test/blob"),  # an upgrade to HTTPS is another origin too
    ],
)
async def test_redirect_elsewhere_drops_authorization(
    hosts: Callable[..., Hosts], registry: str, target: str
) -> None:
    def storage(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":  # the TLS probe of a plain-HTTP registry
            raise httpx.ConnectError("wrong version number", request=request)
        return _blob(request)

    net = hosts(registry=registry)
    net.routes[_origin(httpx.URL(target))] = storage
    net.blob = _answer(307, location=target)
    async with _repo(net, insecure=registry.startswith("http:")) as repo:
        assert await _read_blob(repo) == BLOB
    [fetched] = [r for r in net.at(_origin(httpx.URL(target))) if r.url.path == "/blob"]
    assert "authorization" not in fetched.headers
    gets = [r for r in net.at(registry) if r.url.path.endswith(DESC.digest)]
    assert gets[-1].headers["authorization"] == BASIC


async def test_plain_http_redirect_is_refused(hosts: Callable[..., Hosts]) -> None:
    net = hosts()
    net.blob = _answer(307, location="http://storage.test/blob?sig=1")
    net.routes["http://storage.test"] = _blob
    async with _repo(net) as repo:
        with pytest.raises(InsecureURLError) as info:
            await _read_blob(repo)
    assert info.value.url == "http://storage.test/blob"
    _assert_secret_free(info.value)
    assert net.at("http://storage.test") == []


async def test_endless_redirects_are_an_error(hosts: Callable[..., Hosts]) -> None:
    net = hosts()
    net.blob = _answer(302, location=f"/v2/team/app/blobs/{DESC.digest}")
    async with _repo(net) as repo:
        with pytest.raises(RegistryError, match="too many redirects"):
            await _read_blob(repo)
