"""The HTTP side of distribution: one repository on one registry, over httpx.

`Repository` owns an ``httpx.AsyncClient`` for its lifetime (an async
context manager). It picks the scheme (HTTPS; plain HTTP only for hosts
marked insecure or on loopback), answers ``WWW-Authenticate`` challenges
(basic, and bearer tokens from the challenge's realm) and maps HTTP failures
to `pycontainerd.registry` errors. Credentials and tokens only ever travel in
``Authorization`` headers, and only to the registry's own origin (the token
request: to the realm the registry named): no message, repr or log line
carries them. Redirects, upload locations and token realms on plain HTTP are
refused unless their host is loopback or the registry marked insecure.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import os
import ssl
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx

from .. import _oci
from .._abc import AsyncResource
from .._descriptors import Descriptor
from .._shield import finish
from ._auth import Challenge, Credentials, parse_challenges
from ._errors import (
    AccessDeniedError,
    AuthenticationError,
    DigestError,
    InsecureURLError,
    NotFoundError,
    RegistryError,
    UnavailableError,
)
from ._hosts import HostConfig
from ._media import ACCEPT, MAX_MANIFEST_SIZE, sniff
from ._reference import Reference, is_loopback

__all__ = ["CHUNK_SIZE", "Repository", "TLSConfig"]

CHUNK_SIZE: Final = 1 << 20
# The most a plain-TCP read may return. httpcore asks for 64 KiB at a time;
# a blob's bytes arrive faster than that is worth (each read goes through
# h11 and five async iterators), so reads take what the socket holds.
_READ_SIZE: Final = 1 << 20
_USER_AGENT: Final = "pycontainerd/0.1"
_CLEANUP_TIMEOUT: Final = 10.0
# Headers that carry a secret: a caller's (or hosts.toml's) go to the
# registry's own origin only, as its credentials do.
_ORIGIN_ONLY: Final = frozenset({"authorization", "proxy-authorization", "cookie"})

TLSConfig = str | os.PathLike[str] | ssl.SSLContext | None

# HTTP status -> error, as containerd's errdefs/errhttp maps them; others are RegistryError.
_BY_HTTP_STATUS: Final[dict[int, type[RegistryError]]] = {
    401: AuthenticationError,
    403: AccessDeniedError,
    404: NotFoundError,
    502: UnavailableError,
    503: UnavailableError,
    504: UnavailableError,
}


def _digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def _verify_context(ca: TLSConfig, insecure: bool) -> ssl.SSLContext | bool:
    if isinstance(ca, ssl.SSLContext):
        return ca
    if insecure:
        return False
    if ca is not None:
        return ssl.create_default_context(cafile=os.fspath(ca))
    return _system_verify(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=4)
def _system_verify(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext | bool:
    """The verifying context httpx makes for the system's CAs, made once per CA location.

    Loading the CA bundle takes ~20 ms of CPU; every `Repository` (every
    pull and push) would load it again. The arguments are the environment
    variables httpx reads, so a changed location makes a new context.
    """
    create = getattr(httpx, "create_ssl_context", None)
    return create() if create is not None else True


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host and port (``None``: the scheme's default), as credentials are scoped."""
    return url.scheme, url.host, url.port


def _shown(url: httpx.URL) -> str:
    """`url` fit for a message: no userinfo, query or fragment (signed URLs keep secrets there)."""
    return str(url.copy_with(userinfo=b"", query=None, fragment=None))


def _basic(creds: Credentials) -> str:
    """The ``Authorization`` value for basic auth with `creds`."""
    pair = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(pair).decode()


async def _close(response: httpx.Response) -> None:
    """Close `response` however the caller is cancelled, bounded in time."""
    with contextlib.suppress(TimeoutError):
        await finish(response.aclose, timeout=_CLEANUP_TIMEOUT)


async def _end_body(body: object) -> None:
    """End an async generator body here, however the caller is cancelled, not in the GC."""
    close = getattr(body, "aclose", None)
    if close is not None:
        with contextlib.suppress(TimeoutError):
            await finish(close, timeout=_CLEANUP_TIMEOUT)


def _registry_errors(response: httpx.Response) -> tuple[list[str], str]:
    """The registry's error codes and a short detail text from an error body."""
    try:
        body = json.loads(response.content[:65536])
        errors = body.get("errors") if isinstance(body, dict) else None
    except ValueError:
        errors = None
    if not isinstance(errors, list):
        return [], ""
    codes = [str(e.get("code", "")) for e in errors if isinstance(e, dict)]
    messages = [str(e.get("message", "")) for e in errors if isinstance(e, dict)]
    return codes, "; ".join(m for m in messages if m)


def _is_tls_mismatch(exc: BaseException) -> bool:
    """Whether a connect error looks like a plain-HTTP server answering a TLS hello."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return False
        seen = seen.__cause__ or seen.__context__
    return True


class _WholeReads(httpcore.AsyncNetworkStream):
    """A plain TCP stream whose reads take whatever has arrived, up to `_READ_SIZE`.

    Each read returns at once with what the socket holds (it never waits to
    fill the size), so only the number of reads changes: a 50 MiB blob takes
    a few hundred instead of a few thousand. TLS streams are left as they
    are: a TLS read returns one record (16 KiB) whatever the size asked.
    """

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max(max_bytes, _READ_SIZE), timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._stream.start_tls(ssl_context, server_hostname, timeout)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _WholeReadsBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, with `_WholeReads` TCP streams."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _WholeReads(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        return await self._backend.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def _transport(verify: ssl.SSLContext | bool, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """The httpx transport, its connection pool using `_WholeReadsBackend`.

    httpx has no option for the network backend; its transport keeps the
    httpcore pool in ``_pool``. Should that change, the transport is used
    as it is (the same requests, only more reads).
    """
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits)
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(pool, httpcore.AsyncConnectionPool) and isinstance(
        backend, httpcore.AsyncNetworkBackend
    ):
        pool._network_backend = _WholeReadsBackend(backend)
    return transport


class Repository(AsyncResource):
    """One repository on one registry: resolve, fetch and push over HTTP.

    Args:
        ref: any reference in the repository (its domain and path are used).
        credentials: explicit credentials, or ``None`` for anonymous access.
        push: ask for push rights (bearer scope ``pull,push``).
        insecure: allow plain HTTP and skip certificate checks for this host.
            Loopback hosts may fall back to plain HTTP without it (certificates
            are still checked when they speak HTTPS).
        ca: a CA bundle path, or a ready ``ssl.SSLContext`` (client certificates...).
        max_connections: the connection pool's bound.
        endpoint: the host to contact (a mirror from a hosts configuration);
            default: the registry's own. Its CAs, client certificates and
            ``skip_verify`` replace `ca`; an ``http://`` endpoint may use plain HTTP.
        headers: extra headers for every request, before the endpoint's own
            (a ``User-Agent`` among them replaces the default one).
            ``Authorization``, ``Proxy-Authorization`` and ``Cookie`` go only
            to the registry's own origin, never to an upload location, a
            redirect or a token server elsewhere.

    An async context manager: entering does no I/O; leaving closes the
    connection pool (`aclose`), which can block for up to 10 seconds.
    """

    def __init__(
        self,
        ref: Reference,
        *,
        credentials: Credentials | None = None,
        push: bool = False,
        insecure: bool = False,
        ca: TLSConfig = None,
        max_connections: int = 8,
        endpoint: HostConfig | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.ref = ref
        self.endpoint = endpoint or HostConfig(scheme=None, host=ref.host)
        self._credentials = credentials
        self._scopes = (f"repository:{ref.path}:{'pull,push' if push else 'pull'}",)
        self._insecure = insecure
        self._host = httpx.URL(f"https://{self.endpoint.host}").host
        self._path = self.endpoint.path
        mirror = self.endpoint.host != ref.host
        self._who = f"{ref.domain} (host {self.endpoint.host})" if mirror else ref.domain
        if self.endpoint.has_tls_config:
            verify: ssl.SSLContext | bool = self.endpoint.ssl_context()
        else:
            verify = _verify_context(ca, insecure)
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        given = [*headers, *self.endpoint.headers]
        self._origin_headers = [(n, v) for n, v in given if n.lower() in _ORIGIN_ONLY]
        sent = httpx.Headers([(n, v) for n, v in given if n.lower() not in _ORIGIN_ONLY])
        for name, value in (("User-Agent", _USER_AGENT), ("Accept-Encoding", "identity")):
            sent.setdefault(name, value)
        self._client = httpx.AsyncClient(
            transport=_transport(verify, limits),
            verify=verify,  # for proxies from the environment, as before
            limits=limits,
            timeout=httpx.Timeout(60.0, connect=self.endpoint.dial_timeout or 60.0, pool=None),
            # No redirects here: `_exchange` follows them, checking each hop.
            headers=sent,
        )
        scheme = self.endpoint.scheme
        if scheme == "http" and self.endpoint.has_tls_config and not self._on_port_80():
            # TLS configured for an http:// host: HTTPS first, plain HTTP if
            # the server does not speak TLS (containerd's HTTP fallback).
            scheme = None
        self._base: str | None = None if scheme is None else f"{scheme}://{self.endpoint.host}"
        self._base_lock = anyio.Lock()
        self._auth_lock = anyio.Lock()
        self._authorization: str | None = None
        self._token_expires = 0.0

    def _on_port_80(self) -> bool:
        return urlsplit(f"//{self.endpoint.host}").port == 80

    async def aclose(self) -> None:
        """Close the connection pool however the caller is cancelled, bounded in time."""
        with contextlib.suppress(TimeoutError):
            await finish(self._client.aclose, timeout=_CLEANUP_TIMEOUT)

    # -- plumbing ---------------------------------------------------------

    async def base(self) -> str:
        """``https://host`` or, for insecure and loopback hosts answering plain HTTP, ``http://host``."""
        if self._base is not None:
            return self._base
        async with self._base_lock:
            if self._base is None:
                https = f"https://{self.endpoint.host}"
                if not self._plain_ok(self._host):
                    self._base = https
                else:
                    try:
                        response = await self._client.get(f"{https}{self._path}/")
                        await response.aclose()
                        self._base = https
                    except (httpx.TransportError, ssl.SSLError) as exc:
                        # Any failure (a timeout, a TLS error in the first read)
                        # is this host's, so `Remote` can pass to the next host.
                        if not (isinstance(exc, httpx.ConnectError) and _is_tls_mismatch(exc)):
                            raise self._connect_error(exc, https) from None
                        self._base = f"http://{self.endpoint.host}"
            return self._base

    def _plain_ok(self, host: str) -> bool:
        """Whether plain HTTP may go to `host`: loopback, or the registry's marked insecure or ``http://``."""
        ours = host == self._host and (self._insecure or self.endpoint.scheme == "http")
        return is_loopback(host) or ours

    def _is_registry(self, url: httpx.URL) -> bool:
        """Whether `url` is on the registry's origin, the only one its credentials go to."""
        return self._base is not None and _origin(url) == _origin(httpx.URL(self._base))

    def _connect_error(self, exc: Exception, url: str) -> RegistryError:
        reason = str(exc) or type(exc).__name__
        shown = _shown(httpx.URL(url))
        return UnavailableError(
            f"cannot reach registry {self._who} at {shown}: {reason}", url=shown
        )

    async def _exchange(
        self,
        request: httpx.Request,
        content: Callable[[], AsyncIterator[bytes]] | None = None,
    ) -> httpx.Response:
        """Send `request` and follow its redirects; the caller closes the streamed response.

        A 307 or 308 keeps the method and the body: a streamed body (made by
        the `content` factory) is made anew for the next hop, since a stream
        can be sent only once.

        Every request but `base`'s probe goes through here, so every hop is
        checked: plain HTTP goes only where `_plain_ok` allows it, and the
        `_ORIGIN_ONLY` headers stay on the first request's origin (scheme,
        host and port). httpx alone would keep it on a same-host redirect from
        ``http://`` (port 80) to ``https://`` (port 443); here no other origin
        gets it.

        Raises:
            InsecureURLError: a hop is plain HTTP to a host not allowed it.
            RegistryError: more than the client's ``max_redirects`` redirects.
        """
        origin = _origin(request.url)
        bodies: list[AsyncIterator[bytes]] = []
        try:
            for _ in range(self._client.max_redirects + 1):
                url = request.url
                if url.scheme == "http" and not self._plain_ok(url.host):
                    raise InsecureURLError(
                        f"refusing plain HTTP to {_shown(url)} (for registry {self._who}): "
                        "only loopback hosts and the registry itself, when marked insecure, "
                        "may use it",
                        url=_shown(url),
                    )
                if _origin(url) != origin:
                    for name in _ORIGIN_ONLY:
                        request.headers.pop(name, None)
                response = await self._client.send(request, stream=True)
                following = response.next_request
                if following is None:
                    return response
                if content is not None and response.status_code in (307, 308):
                    bodies.append(body := content())
                    following = self._client.build_request(
                        following.method, following.url, headers=following.headers, content=body
                    )
                request = following
                try:
                    await response.aread()  # a redirect's short body: the connection can be reused
                finally:
                    await _close(response)
        finally:
            for body in bodies:
                await _end_body(body)
        raise RegistryError(
            f"registry {self._who}: too many redirects, the last to {_shown(request.url)}",
            url=_shown(request.url),
        )

    async def url(self, suffix: str) -> str:
        """The URL of ``/v2/<repository>/<suffix>`` (under the endpoint's API root)."""
        return f"{await self.base()}{self._path}/{self.ref.path}/{suffix}"

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        content: Callable[[], AsyncIterator[bytes]] | bytes | None = None,
        stream: bool = False,
        ok: Sequence[int] = (200,),
        what: str = "",
        scopes: Sequence[str] = (),
    ) -> httpx.Response:
        """Send a request, answering one auth challenge; raise on a status not in `ok`.

        `content` may be a factory of async byte iterators, so the body can
        be sent again after an auth challenge. With ``stream=True`` the caller
        must close the response. The registry's credentials go with `url` only
        when it is on the registry's origin (an upload location may be on
        another host); a 401 from another origin is an error, not a challenge.
        `scopes` are token scopes this request needs besides the repository's.
        """
        ours = self._is_registry(httpx.URL(url))
        for attempt in range(2):
            used = self._authorization
            request_headers = httpx.Headers(
                [*(self._origin_headers if ours else ()), *(headers or {}).items()]
            )
            if ours and used is not None and time.monotonic() < self._token_expires:
                request_headers["Authorization"] = used
            body = content() if callable(content) else content
            try:
                request = self._client.build_request(
                    method, url, headers=request_headers, content=body
                )
                response = await self._exchange(request, content if callable(content) else None)
            except (httpx.TransportError, ssl.SSLError) as exc:
                # A server refusing the client's certificate says so after the
                # TLS 1.3 handshake, in the first read: httpx lets that SSLError through.
                raise self._connect_error(exc, url) from None
            finally:
                await _end_body(body)
            try:
                # After a redirect, response.url is where the 401 came from.
                if response.status_code == 401 and self._is_registry(response.url):
                    if attempt == 0:
                        challenges = parse_challenges(response.headers.get_list("www-authenticate"))
                        await response.aclose()
                        await self._authenticate(challenges, used, url, scopes)
                        continue
                    if self._authorization is not None:
                        raise AuthenticationError(
                            f"{what or method}: registry {self._who} refused the credentials "
                            "given for it (401)",
                            status_code=401,
                            url=url,
                        )
                if response.status_code not in ok:
                    await response.aread()
                    raise self._status_error(response, what or f"{method} {url}")
                if not stream:
                    await response.aread()
                    await response.aclose()
                return response
            except BaseException:
                await _close(response)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _status_error(self, response: httpx.Response, what: str) -> RegistryError:
        codes, detail = _registry_errors(response)
        status = response.status_code
        url = _shown(response.request.url)
        text = f"{what}: registry {self._who} answered {status}"
        if codes:
            text += f" {', '.join(codes)}"
        if detail:
            text += f" ({detail})"
        kind = _BY_HTTP_STATUS.get(status, RegistryError)
        return kind(text, status_code=status, url=url, codes=codes)

    async def _authenticate(
        self, challenges: list[Challenge], used: str | None, url: str, scopes: Sequence[str]
    ) -> None:
        async with self._auth_lock:
            if self._authorization != used and self._authorization is not None:
                return  # another request refreshed it meanwhile
            for challenge in challenges:
                if challenge.scheme == "bearer" and challenge.params.get("realm"):
                    await self._fetch_token(challenge, scopes)
                    return
                if challenge.scheme == "basic":
                    creds = self._credentials
                    if creds is None or not (creds.username or creds.password):
                        raise AuthenticationError(
                            f"registry {self._who} requires authentication and no credentials "
                            "were given (pass auth= or add them to docker's config.json)",
                            status_code=401,
                            url=url,
                        )
                    if used is not None and used.startswith("Basic "):
                        raise AuthenticationError(
                            f"registry {self._who} refused the credentials given for it",
                            status_code=401,
                            url=url,
                        )
                    self._authorization = _basic(creds)
                    self._token_expires = float("inf")
                    return
            raise AuthenticationError(
                f"registry {self._who} refused the request (401) without a usable challenge",
                status_code=401,
                url=url,
            )

    async def _fetch_token(self, challenge: Challenge, extra: Sequence[str]) -> None:
        realm = challenge.params["realm"]
        scopes = list(self._scopes)
        for scope in [*extra, *challenge.params.get("scope", "").split()]:
            if scope not in scopes:
                scopes.append(scope)
        creds = self._credentials
        service = challenge.params.get("service", "")
        try:
            if creds is not None and creds.identity_token:
                form = {
                    "grant_type": "refresh_token",
                    "refresh_token": creds.identity_token,
                    "client_id": "pycontainerd",
                    "scope": " ".join(scopes),
                }
                if service:
                    form["service"] = service
                request = self._client.build_request("POST", realm, data=form)
            else:
                params = httpx.QueryParams([("scope", s) for s in scopes])
                if service:
                    params = params.add("service", service)
                headers = (
                    {"Authorization": _basic(creds)}
                    if creds is not None and (creds.username or creds.password)
                    else {}
                )
                request = self._client.build_request("GET", realm, params=params, headers=headers)
            response = await self._exchange(request)
            try:
                await response.aread()
            finally:
                await _close(response)
        except httpx.TransportError as exc:
            raise self._connect_error(exc, realm) from None
        if response.status_code in (401, 403):
            detail = "refused the credentials given" if creds else "requires credentials"
            raise AuthenticationError(
                f"token server of registry {self._who} {detail} (HTTP {response.status_code})",
                status_code=response.status_code,
                url=realm,
            )
        if response.status_code != 200:
            raise self._status_error(response, f"token request to {realm}")
        try:
            answer: Any = response.json()
            token = answer.get("token") or answer.get("access_token")
            expires_in = int(answer.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            token = None
            expires_in = 0
        if not isinstance(token, str) or not token:
            raise AuthenticationError(
                f"token server of registry {self._who} answered without a token", url=realm
            )
        self._authorization = f"Bearer {token}"
        # Renew a little early; a token without expiry is good for 60 s by the spec.
        self._token_expires = time.monotonic() + max(expires_in - 10, 10)

    # -- pull -------------------------------------------------------------

    async def resolve(self) -> Descriptor:
        """The descriptor of the manifest or index the reference names.

        Raises:
            NotFoundError: the registry has no such tag or digest.
            DigestError: the registry's digest differs from the reference's.
            UnsupportedMediaTypeError: a schema 1 or unknown manifest.
        """
        ref = self.ref
        url = await self.url(f"manifests/{ref.object}")
        what = f"resolving {ref}"
        response = await self.send(
            "HEAD", url, headers={"Accept": ACCEPT}, ok=(200, 400, 405, 501), what=what
        )
        if response.status_code == 200:
            media_type = response.headers.get("content-type", "").split(";")[0].strip()
            digest = response.headers.get("docker-content-digest")
            length = response.headers.get("content-length")
        else:  # a registry without HEAD on manifests: GET below
            media_type, digest, length = "", None, None
        if ref.digest is not None:
            if digest is not None and digest != ref.digest:
                raise DigestError(
                    f"{what}: registry {ref.domain} returned digest {digest}", url=url
                )
            digest = ref.digest
        if digest is None or length is None or not length.isdigit():
            data, media_type = await self._get_manifest(url, ACCEPT, what)
            actual = _digest_of(data, (digest or "sha256:").split(":")[0])
            if digest is not None and actual != digest:
                raise DigestError(
                    f"{what}: manifest from {ref.domain} has digest {actual}, expected {digest}",
                    url=url,
                )
            return Descriptor(media_type=media_type, digest=actual, size=len(data))
        if media_type in _oci.DOCKER_SCHEMA1_MANIFESTS:
            sniff(media_type, b"", what)  # raises: schema 1 is not supported
        if not (_oci.is_index(media_type) or _oci.is_manifest(media_type)):
            _, media_type = await self._get_manifest(url, ACCEPT, what)  # sniff the document
        return Descriptor(media_type=media_type, digest=digest, size=int(length))

    async def _get_manifest(self, url: str, accept: str, what: str) -> tuple[bytes, str]:
        response = await self.send("GET", url, headers={"Accept": accept}, stream=True, what=what)
        try:
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > MAX_MANIFEST_SIZE:
                raise RegistryError(
                    f"{what}: manifest of {declared} bytes exceeds the {MAX_MANIFEST_SIZE} byte limit",
                    url=url,
                )
            data = bytearray()
            async for chunk in response.aiter_raw():
                data += chunk
                if len(data) > MAX_MANIFEST_SIZE:
                    raise RegistryError(
                        f"{what}: manifest exceeds the {MAX_MANIFEST_SIZE} byte limit", url=url
                    )
        finally:
            await response.aclose()
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return bytes(data), sniff(media_type, bytes(data), what)

    async def fetch_manifest(self, desc: Descriptor) -> bytes:
        """A manifest or index's bytes, checked against the descriptor's digest and size.

        Raises:
            DigestError: the bytes do not match the descriptor.
        """
        what = f"fetching manifest {desc.digest} of {self.ref.name}"
        if desc.size > MAX_MANIFEST_SIZE:
            raise RegistryError(
                f"{what}: {desc.size} bytes exceeds the {MAX_MANIFEST_SIZE} byte limit"
            )
        url = await self.url(f"manifests/{desc.digest}")
        accept = desc.media_type + ", " + ACCEPT if desc.media_type else ACCEPT
        data, _ = await self._get_manifest(url, accept, what)
        actual = _digest_of(data, desc.digest.split(":")[0])
        if len(data) != desc.size or actual != desc.digest:
            raise DigestError(
                f"{what}: got {len(data)} bytes with digest {actual}, expected {desc.size} bytes",
                url=url,
            )
        return data

    @asynccontextmanager
    async def blob(
        self, desc: Descriptor, offset: int = 0
    ) -> AsyncIterator[AsyncIterator[bytearray]]:
        """Stream a blob's bytes from `offset` (a ``Range`` request when resuming).

        The yielded iterator gives chunks; the response closes on exit. Sizes
        are checked (a short or long body raises `DigestError`); digests are
        left to the content store's commit. A manifest or index (by its
        media type) comes from ``manifests/<digest>``, asked for with its
        media type, as containerd fetches one.
        """
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        if _oci.is_index(desc.media_type) or _oci.is_manifest(desc.media_type):
            url = await self.url(f"manifests/{desc.digest}")
            headers["Accept"] = f"{desc.media_type}, {ACCEPT}"
        else:
            url = await self.url(f"blobs/{desc.digest}")
        response = await self.send(
            "GET",
            url,
            headers=headers,
            stream=True,
            ok=(200, 206),
            what=f"fetching blob {desc.digest} of {self.ref.name}",
        )
        try:
            skip = 0
            if offset and response.status_code == 200:
                skip = offset  # the registry ignored the range: drop what we have
            elif response.status_code == 206:
                start = response.headers.get("content-range", "").removeprefix("bytes ")
                if not start.startswith(f"{offset}-"):
                    raise RegistryError(
                        f"blob {desc.digest}: registry answered range {start!r} for offset {offset}",
                        url=url,
                    )
            yield self._chunks(response, desc, offset, skip, url)
        finally:
            await _close(response)

    @staticmethod
    async def _chunks(
        response: httpx.Response, desc: Descriptor, offset: int, skip: int, url: str
    ) -> AsyncIterator[bytearray]:
        position = offset - skip
        # The body is gathered into whole 1 MiB pieces (one content WRITE
        # message each), copied once: each piece is a new buffer, given away.
        piece = bytearray(CHUNK_SIZE)
        filled = 0
        async for chunk in response.aiter_raw():
            if skip:
                drop = min(skip, len(chunk))
                chunk = chunk[drop:]
                skip -= drop
                position += drop
                if not chunk:
                    continue
            position += len(chunk)
            if position > desc.size:
                raise DigestError(
                    f"blob {desc.digest}: registry sent more than the expected {desc.size} bytes",
                    url=url,
                )
            with memoryview(chunk) as data:
                start = 0
                while start < len(data):
                    take = min(CHUNK_SIZE - filled, len(data) - start)
                    piece[filled : filled + take] = data[start : start + take]
                    filled += take
                    start += take
                    if filled == CHUNK_SIZE:
                        yield piece
                        piece = bytearray(CHUNK_SIZE)
                        filled = 0
        if filled:
            del piece[filled:]
            yield piece
        if position != desc.size:
            raise DigestError(
                f"blob {desc.digest}: registry sent {position} of {desc.size} bytes", url=url
            )

    # -- push -------------------------------------------------------------

    async def blob_exists(self, desc: Descriptor) -> bool:
        """Whether the registry has the blob (``HEAD``) with the expected size."""
        url = await self.url(f"blobs/{desc.digest}")
        response = await self.send("HEAD", url, ok=(200, 404), what=f"checking blob {desc.digest}")
        if response.status_code == 404:
            return False
        length = response.headers.get("content-length")
        return length is None or not length.isdigit() or int(length) == desc.size

    async def push_blob(
        self,
        desc: Descriptor,
        content: Callable[[], AsyncIterator[bytes]],
        *,
        mount_from: str | None = None,
    ) -> bool:
        """Upload a blob in one ``PUT`` (after ``POST`` opens the upload session).

        With `mount_from` (another repository on this registry that has the
        blob), the ``POST`` first asks the registry to mount it from there;
        the registry then copies nothing over the network.

        Returns:
            ``True`` when the registry mounted the blob, ``False`` when it was uploaded.
        """
        what = f"uploading blob {desc.digest} to {self.ref.name}"
        start = await self.url("blobs/uploads/")
        response: httpx.Response | None = None
        if mount_from is not None:
            params = {"mount": desc.digest, "from": mount_from}
            mount = str(httpx.URL(start).copy_merge_params(params))
            try:
                # A registry that cannot mount opens an upload instead (202).
                # Only this request asks to read the source, as in containerd.
                response = await self.send(
                    "POST",
                    mount,
                    ok=(201, 202),
                    what=what,
                    scopes=[f"repository:{mount_from}:pull"],
                )
            except (AuthenticationError, AccessDeniedError):
                response = None  # not allowed to read the source: upload, as containerd does
            if response is not None and response.status_code == 201:
                return True
        if response is None:
            response = await self.send("POST", start, ok=(202,), what=what)
        location = response.headers.get("location")
        if not location:
            raise RegistryError(f"{what}: registry gave no upload location", url=start)
        upload = httpx.URL(start).join(location)
        upload = upload.copy_merge_params({"digest": desc.digest})
        await self.send(
            "PUT",
            str(upload),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(desc.size)},
            content=content,
            ok=(201,),
            what=what,
        )
        return False

    async def put_manifest(self, tag_or_digest: str, media_type: str, data: bytes) -> str:
        """Store a manifest or index under a tag or its digest; returns the registry's digest."""
        url = await self.url(f"manifests/{tag_or_digest}")
        response = await self.send(
            "PUT",
            url,
            headers={"Content-Type": media_type},
            content=data,
            ok=(200, 201),
            what=f"pushing manifest {self.ref.name}:{tag_or_digest}",
        )
        return response.headers.get("docker-content-digest") or _digest_of(data)
