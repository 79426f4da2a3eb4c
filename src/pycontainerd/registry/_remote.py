"""One repository as the hosts configuration serves it: mirrors in order, then the upstream.

As containerd's resolver does, each operation uses the hosts with the
capability it needs (a tag: ``pull`` and ``resolve``; a digest, a manifest
or a blob: ``pull``; a push: the first host with ``push``) and moves on to
the next host when one fails (cannot be reached, answers an error, or
serves bad content).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypeVar

from .. import errors
from .._abc import AsyncResource
from .._descriptors import Descriptor
from .._identifiers import shown
from ._auth import AuthLike, Credentials, host_credentials
from ._errors import DigestError, NotFoundError, RegistryError
from ._hosts import Capability, Headers, HostConfig, Hosts, header_pairs
from ._http import Repository, TLSConfig, _end_body
from ._reference import Reference, validate_digest

__all__ = ["Remote", "checked_descriptor", "hosts_for", "open_blob"]

_T = TypeVar("_T")


def checked_descriptor(descriptor: object) -> Descriptor:
    """`descriptor`, checked before it names a URL: a `Descriptor` with a verifiable digest and a size.

    Raises:
        pycontainerd.errors.InvalidArgument: it is not a `Descriptor`, its
            digest is not ``sha256:``/``sha384:``/``sha512:`` and lowercase hex
            (a path such as ``sha256:../x`` would reach another endpoint), or
            its size is not a non-negative integer.
    """
    if not isinstance(descriptor, Descriptor):
        raise errors.InvalidArgument(f"expected a Descriptor, not {shown(descriptor)}")
    try:
        validate_digest(descriptor.digest)
    except (ValueError, AttributeError, TypeError) as exc:
        raise errors.InvalidArgument(f"descriptor: {exc}") from None
    size = descriptor.size
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise errors.InvalidArgument(f"descriptor {descriptor.digest}: invalid size {shown(size)}")
    return descriptor


def _weight(exc: RegistryError) -> int:
    """How much a host's failure says, as containerd's resolver ranks them.

    Unreachable (no answer) says least, then "not here" (404), then any
    other answer (a refusal, a 5xx): the heaviest one seen is raised.
    """
    if exc.status_code is None:
        return 1
    return 2 if exc.status_code == 404 else 3


async def hosts_for(
    reference: Reference, hosts: Hosts | None, auth: AuthLike
) -> list[tuple[HostConfig, Credentials | None]]:
    """The hosts to contact for `reference`, each with its credentials.

    The hosts come from the configuration, else the registry alone. Each
    gets what `host_credentials` allows it: explicit `auth` goes to the
    registry's own host only, a mirror gets docker's ``config.json`` entry
    for its own name.
    """
    found = (
        (HostConfig(scheme=None, host=reference.host),)
        if hosts is None
        else hosts.lookup(reference.domain)
    )
    return [(host, await host_credentials(auth, reference, host.host)) for host in found]


class Remote(AsyncResource):
    """`Repository` operations over several hosts, each used for what it may do.

    An async context manager: entering does no I/O; leaving closes every
    host's connection pool (each bounded to 10 seconds).
    """

    def __init__(
        self,
        ref: Reference,
        hosts: Sequence[tuple[HostConfig, Credentials | None]],
        *,
        push: bool = False,
        insecure: bool = False,
        ca: TLSConfig = None,
        headers: Sequence[tuple[str, str]] = (),
        max_connections: int = 8,
    ) -> None:
        self.ref = ref
        # A host whose certificates cannot be loaded raises here, before any I/O;
        # the pools made for the hosts before it hold no connection yet.
        self._repos = [
            Repository(
                ref,
                credentials=credentials,
                push=push,
                insecure=insecure,
                ca=ca,
                max_connections=max_connections,
                endpoint=host,
                headers=headers,
            )
            for host, credentials in hosts
        ]

    async def aclose(self) -> None:
        """Close every host's connection pool, however the caller is cancelled."""
        for repo in self._repos:
            await repo.aclose()  # bounded and shielded itself

    def _able(self, *capabilities: Capability) -> list[Repository]:
        able = [r for r in self._repos if r.endpoint.can(*capabilities)]
        if not able:
            wanted = " and ".join(c.value for c in capabilities)
            raise NotFoundError(
                f"{self.ref}: no host for registry {self.ref.domain} has the {wanted} capability"
            )
        return able

    async def _first(
        self, repos: Sequence[Repository], call: Callable[[Repository], Awaitable[_T]]
    ) -> _T:
        """`call` on each host in turn until one succeeds; else the most telling failure.

        As containerd does, any registry failure of a host (unreachable, an
        error status, bad content) passes the turn to the next one.
        """
        failure: RegistryError | None = None
        for repo in repos:
            try:
                return await call(repo)
            except RegistryError as exc:
                if failure is None or _weight(exc) > _weight(failure):
                    failure = exc
        assert failure is not None  # `repos` is never empty
        raise failure

    async def resolve(self) -> Descriptor:
        """The descriptor `ref` names, from the first host that can resolve it."""
        needs = (Capability.PULL,) if self.ref.digest else (Capability.PULL, Capability.RESOLVE)
        return await self._first(self._able(*needs), Repository.resolve)

    async def fetch_manifest(self, desc: Descriptor) -> bytes:
        """A manifest or index's bytes (see `Repository.fetch_manifest`), from the first host with them."""
        return await self._first(self._able(Capability.PULL), lambda r: r.fetch_manifest(desc))

    @asynccontextmanager
    async def blob(
        self, desc: Descriptor, offset: int = 0
    ) -> AsyncIterator[AsyncIterator[bytearray]]:
        """Stream a blob (see `Repository.blob`) from the first host that answers for it."""
        async with AsyncExitStack() as stack:

            async def open_on(repo: Repository) -> AsyncIterator[bytearray]:
                return await stack.enter_async_context(repo.blob(desc, offset))

            chunks = await self._first(self._able(Capability.PULL), open_on)
            yield chunks

    def pusher(self) -> Repository:
        """The host pushes go to: the first with the ``push`` capability."""
        return self._able(Capability.PUSH)[0]


@asynccontextmanager
async def open_blob(
    ref: str,
    descriptor: Descriptor,
    *,
    auth: AuthLike = None,
    insecure: bool = False,
    ca: TLSConfig = None,
    hosts: Hosts | None = None,
    headers: Headers | None = None,
) -> AsyncIterator[AsyncIterator[bytes]]:
    """Stream one blob of repository `ref` from the registry, without storing it.

    The chunks come as the registry sends them, in constant memory; the
    size is checked as they arrive and the digest after the last one, so
    a consumer that reads to the end has bytes that match `descriptor`.
    No daemon is involved.

    Args:
        ref: the repository (any tag or digest of it).
        descriptor: the blob's digest and size.
        auth: credentials, as for `pycontainerd.Client.pull`.
        insecure: allow plain HTTP / skip TLS verification.
        ca: a CA bundle path or an ``ssl.SSLContext``.
        hosts: containerd's hosts configuration (mirrors are tried in order).
        headers: extra HTTP headers for every request.

    An async context manager: entering resolves the hosts and opens the
    download (it can block on the network); leaving closes the connections.

    Raises:
        pycontainerd.errors.InvalidArgument: `descriptor` is not a
            `Descriptor` with a valid digest and size (checked first).
        NotFoundError: no host has the blob.
        DigestError: the bytes do not match the descriptor (raised by the
            iterator, at the end or as soon as there are too many).

    Example:
        ```python
        from pycontainerd.registry import open_blob

        manifest = await image.manifest()
        async with open_blob("localhost:5000/app:v1", manifest.layers[0]) as chunks:
            with open("layer.tar.gz", "wb") as out:
                async for chunk in chunks:
                    out.write(chunk)
        ```
    """
    reference = Reference.parse(ref)
    descriptor = checked_descriptor(descriptor)
    sent = header_pairs(headers)
    found = await hosts_for(reference, hosts, auth)
    async with (
        Remote(reference, found, insecure=insecure, ca=ca, headers=sent) as remote,
        remote.blob(descriptor) as chunks,
    ):
        verified = _verified(chunks, descriptor)
        try:
            yield verified
        finally:
            await _end_body(verified)  # a consumer that stopped early left it open


async def _verified(
    chunks: AsyncIterator[bytearray], descriptor: Descriptor
) -> AsyncIterator[bytes]:
    algorithm, _, expected = descriptor.digest.partition(":")
    digest = hashlib.new(algorithm)  # one `checked_descriptor` allowed
    async for chunk in chunks:
        digest.update(chunk)
        yield bytes(chunk)
    if digest.hexdigest() != expected:
        raise DigestError(
            f"blob {descriptor.digest}: the registry's bytes have digest "
            f"{algorithm}:{digest.hexdigest()}"
        )
