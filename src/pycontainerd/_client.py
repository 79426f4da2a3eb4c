"""The `Client`: one connection to containerd, scoped to a namespace."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import cached_property
from types import TracebackType
from typing import Any, Self

from betterproto.lib.google.protobuf import Empty

from . import _identifiers
from ._api.containerd.services.introspection.v1 import (
    PluginsRequest,
    PluginsResponse,
    ServerResponse,
)
from ._api.containerd.services.version.v1 import VersionResponse
from ._containers import Containers
from ._content import Content
from ._diff import Diff
from ._images import Image, Images
from ._introspection import PluginInfo, ServerInfo, Version
from ._leases import Leases
from ._namespaces import Namespaces
from ._services import Services
from ._snapshots import DEFAULT_SNAPSHOTTER, Snapshots
from ._tasks import RunResult, Tasks
from ._transport import DEFAULT, Caller, Timeout, Transport, default_address
from .events._stream import Events

__all__ = [
    "Client",
]

DEFAULT_TIMEOUT = 60.0


class Client:
    """An async client for one containerd daemon, scoped to one namespace.

    The connection opens on the first call and is shared by every view made
    with `with_namespace`. Use it as an async context manager, or call
    `aclose` yourself; after that every call raises
    `pycontainerd.errors.ClientClosedError`. Entering does no I/O; leaving
    closes the connection without waiting.

    Args:
        address: a socket path, ``unix://`` URL or ``host:port``. Defaults to
            ``$CONTAINERD_ADDRESS``, else ``/run/containerd/containerd.sock``.
        namespace: the namespace calls act in. Defaults to
            ``$CONTAINERD_NAMESPACE``, else ``default``.
        timeout: default deadline in seconds for unary calls (``None``: no
            deadline). Streams and calls that wait for a process (such as a
            task's wait) have no deadline unless given one.

    Raises:
        pycontainerd.errors.InvalidArgument: the namespace is not a valid
            identifier.
        ValueError: the address cannot be parsed.

    Example:
        ```python
        import anyio
        import pycontainerd

        async def main() -> None:
            async with pycontainerd.Client(namespace="example") as client:
                print(await client.version())

        anyio.run(main)
        ```
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        namespace: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        if namespace is None:
            namespace = os.environ.get("CONTAINERD_NAMESPACE") or "default"
        self._init(Transport(address or default_address(), timeout=timeout), namespace, None)

    def _init(self, transport: Transport, namespace: str, lease: str | None) -> None:
        self._transport = transport
        self._caller: Caller = transport.bind(_identifiers.validate(namespace, "namespace"), lease)

    def _view(self, namespace: str, lease: str | None) -> Self:
        view = object.__new__(type(self))
        view._init(self._transport, namespace, lease)
        return view

    @property
    def address(self) -> str:
        """The daemon address this client talks to."""
        return self._transport.address

    @property
    def namespace(self) -> str:
        """The namespace this client's calls act in."""
        return self._caller.namespace

    @property
    def lease(self) -> str | None:
        """The lease every call of this view carries, if any."""
        return self._caller.lease

    @property
    def timeout(self) -> float | None:
        """The default deadline (seconds) for unary calls."""
        return self._transport.timeout

    @property
    def closed(self) -> bool:
        """Whether `aclose` was called (on this client or any view of it)."""
        return self._transport.closed

    def with_namespace(self, namespace: str) -> Self:
        """A view of this client acting in `namespace`, sharing its connection.

        Example:
            ```python
            other = client.with_namespace("builds")
            await other.namespaces.list()
            ```
        """
        return self._view(namespace, self.lease)

    def with_lease(self, lease_id: str | None) -> Self:
        """A view whose every call carries the lease `lease_id` (``None``: no lease)."""
        if lease_id is not None:
            _identifiers.validate(lease_id, "lease")
        return self._view(self.namespace, lease_id)

    async def __aenter__(self) -> Self:
        self._transport.channel()  # refuses a closed client early
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection shared by this client and all its views. Idempotent."""
        self._transport.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Client {self.address!r} namespace={self.namespace!r} {state}>"

    async def version(self, *, timeout: Timeout = DEFAULT) -> Version:
        """The daemon's version.

        Example:
            ```python
            v = await client.version()
            print(v.version, v.revision)
            ```
        """
        reply = await self._caller.unary(
            "/containerd.services.version.v1.Version/Version",
            Empty(),
            VersionResponse,
            timeout=timeout,
        )
        return Version(version=reply.version, revision=reply.revision)

    async def server(self, *, timeout: Timeout = DEFAULT) -> ServerInfo:
        """Introspection's view of the daemon (its UUID)."""
        reply = await self._caller.unary(
            "/containerd.services.introspection.v1.Introspection/Server",
            Empty(),
            ServerResponse,
            timeout=timeout,
        )
        return ServerInfo(uuid=reply.uuid)

    async def plugins(self, *filters: str, timeout: Timeout = DEFAULT) -> list[PluginInfo]:
        """The daemon's plugins; filters (ORed) as in ``ctr plugins ls``.

        Example:
            ```python
            snapshotters = await client.plugins('type==io.containerd.snapshotter.v1')
            print([p.id for p in snapshotters if p.ok])
            ```
        """
        reply = await self._caller.unary(
            "/containerd.services.introspection.v1.Introspection/Plugins",
            PluginsRequest(filters=list(filters)),
            PluginsResponse,
            timeout=timeout,
        )
        return [PluginInfo._from_proto(p) for p in reply.plugins]

    @cached_property
    def namespaces(self) -> Namespaces:
        """The daemon's namespaces."""
        return Namespaces(self._transport)

    @cached_property
    def events(self) -> Events:
        """The event bus: subscribe to typed events of this namespace, publish your own.

        Example:
            ```python
            from pycontainerd.events import filters

            async with client.events.subscribe(filters.topic("/tasks/exit")) as stream:
                async for envelope in stream:
                    print(envelope.event)
            ```
        """
        return Events(self)

    @cached_property
    def images(self) -> Images:
        """The images of this client's namespace: records, unpack, archives, image from a directory.

        Example:
            ```python
            image = await client.images.get("docker.io/library/busybox:latest")
            await image.unpack()
            ```
        """
        return Images(self)

    @cached_property
    def services(self) -> Services:
        """Raw generated gRPC stubs on this client's connection: the escape hatch.

        The stubs carry this view's namespace (and lease) but are not wrapped:
        they raise grpclib's own errors and return generated messages.
        """
        return Services(self._caller)

    @cached_property
    def containers(self) -> Containers:
        """The namespace's containers: metadata objects (spec, rootfs, labels).

        Example:
            ```python
            container = await client.containers.create("demo", image=image)
            print([c.id for c in await client.containers.list("labels.app==demo")])
            ```
        """
        return Containers(self)

    @cached_property
    def tasks(self) -> Tasks:
        """The namespace's tasks (running containers).

        Example:
            ```python
            for status in await client.tasks.list():
                print(status.container_id, status.state)
            ```
        """
        return Tasks(self)

    async def run(
        self,
        image: Image | str | None = None,
        args: Sequence[str] | None = None,
        *,
        id: str | None = None,
        env: Mapping[str, str] | Sequence[str] | None = None,
        mounts: Sequence[Any] | None = None,
        stdin: bytes | None = None,
        check: bool = False,
        timeout: float | None = None,
        remove: bool = True,
        spec: Any = None,
        cwd: str | None = None,
        user: str | int | None = None,
        terminal: bool = False,
        labels: Mapping[str, str] | None = None,
        snapshotter: str | None = None,
        max_output: int | None = None,
    ) -> RunResult:
        r"""Run a command in a new container to completion, like `anyio.run_process`.

        Creates the container (rootfs snapshot from `image`) and its task,
        feeds `stdin`, collects stdout and stderr, waits, then deletes the
        task and (with `remove`) the container and its snapshot, on every
        path, cancellation included.

        Args:
            image: an `Image` or image name (rootfs, default command and env).
            args: the command line (default: the image's entrypoint and cmd).
            id: the container id (random by default).
            env: extra environment (a mapping or ``KEY=value`` strings).
            mounts: extra mounts: `oci.Mount` values, their JSON dicts, or
                ``ctr --mount`` strings (``type=bind,src=/a,dst=/b,options=rbind:ro``).
            stdin: bytes fed to the process's stdin.
            check: raise `errors.ExitCodeError` on a non-zero exit code.
            timeout: seconds before the process is killed and `TimeoutError` raised.
            remove: delete the container afterwards (``ctr run --rm``).
            spec: a full spec to start from instead of the image's.
            cwd: working directory.
            user: ``uid`` or ``"uid:gid"``.
            terminal: run with a pseudo-terminal (stderr merges into stdout).
            labels: container labels.
            snapshotter: snapshotter for the rootfs (default ``overlayfs``).
            max_output: keep at most this many bytes of each output stream.

        Returns:
            A `RunResult` with ``code``, ``stdout`` and ``stderr``.

        Example:
            ```python
            result = await client.run(image, ["sh", "-c", "echo hi; exit 3"])
            print(result.code, result.stdout)  # 3 b'hi\\n'
            ```
        """
        from ._run import run

        return await run(
            self,
            image,
            args,
            id=id,
            env=env,
            mounts=mounts,
            stdin=stdin,
            check=check,
            timeout=timeout,
            remove=remove,
            spec=spec,
            cwd=cwd,
            user=user,
            terminal=terminal,
            labels=labels,
            snapshotter=snapshotter,
            max_output=max_output,
        )

    @cached_property
    def content(self) -> Content:
        """The content store of this client's namespace: blobs by digest, and ingests.

        Calls carry this view's lease, so blobs written through
        ``client.with_lease(lease_id).content`` are held by that lease.

        Example:
            ```python
            digest = await client.content.write("note", b"hello")
            async with client.content.reader(digest) as r:
                async for chunk in r:
                    ...
            ```
        """
        return Content(self._caller)

    @cached_property
    def leases(self) -> Leases:
        """The leases of this client's namespace.

        Example:
            ```python
            async with client.leases.lease(expires_in=3600) as leased:
                await leased.content.write("blob", b"kept while the lease lives")
            ```
        """
        return Leases(self)

    def snapshots(self, name: str | None = None) -> Snapshots:
        """The snapshotter `name` (default ``overlayfs``) in this client's namespace.

        Example:
            ```python
            mounts = await client.snapshots().prepare("scratch")
            native = client.snapshots("native")
            ```
        """
        return Snapshots(self._caller, DEFAULT_SNAPSHOTTER if name is None else name)

    @cached_property
    def diff(self) -> Diff:
        """The daemon's diff service: apply layers onto mounts, compare mounts into layers.

        Example:
            ```python
            applied = await client.diff.apply(layer, await client.snapshots().prepare("x"))
            ```
        """
        return Diff(self._caller)
