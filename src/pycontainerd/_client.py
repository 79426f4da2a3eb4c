"""The `Client`: one connection to containerd, scoped to a namespace."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, Self

from . import _identifiers
from ._abc import AsyncResource
from ._api import _rpc
from ._transport import DEFAULT, Caller, Timeout, Transport, default_address

if TYPE_CHECKING:
    # Each facade's module is imported by its property, when first used.
    import os as _os
    import ssl

    from . import transfer
    from ._containers import Container, Containers
    from ._content import Content
    from ._descriptors import Descriptor
    from ._diff import Diff
    from ._images import Image, Images
    from ._introspection import PluginInfo, RuntimeInfo, ServerInfo, Version
    from ._leases import Leases
    from ._namespaces import Namespaces
    from ._platforms import Platform
    from ._sandboxes import SandboxController, Sandboxes
    from ._services import Services
    from ._snapshots import Snapshots
    from ._tasks import RunResult, Tasks
    from ._tls import TLS
    from .events._stream import Events
    from .registry import Credentials, Hosts, Progress
    from .stdio._io import FifoRegistry

__all__ = [
    "Client",
]

DEFAULT_TIMEOUT = 60.0
_DEFAULT_UPLOADS = 3  # as containerd's push; another count needs this process's pusher


class Client(AsyncResource):
    """An async client for one containerd daemon, scoped to one namespace.

    The connection opens on the first call and is shared by every view made
    with `with_namespace`. Use it as an async context manager, or call
    `aclose` yourself; after that every call raises
    `pycontainerd.errors.ClientClosedError`. Entering does no I/O; leaving
    closes the connection without waiting.

    A daemon on another machine is reached over TCP: ``tcp://host:port``
    (or ``host:port``) with `tls`, a `pycontainerd.TLS` naming the CA that
    signed the daemon's certificate and, for mutual TLS, the client's
    certificate and key. Plain, unencrypted TCP must be asked for with
    ``tls=False``. See the guide's "Remote daemons" for what serves
    containerd's API over TCP (containerd's own ``tcp_address`` does not).

    Args:
        address: a socket path (``/run/containerd/containerd.sock``), a
            ``unix://`` URL, or ``tcp://host:port`` (also ``host:port``; an
            IPv6 host in brackets, ``tcp://[fd00::5]:1234``). Defaults to
            ``$CONTAINERD_ADDRESS``, else ``/run/containerd/containerd.sock``.
        namespace: the namespace calls act in. Defaults to
            ``$CONTAINERD_NAMESPACE``, else ``default``.
        timeout: default deadline in seconds for unary calls (``None``: no
            deadline). Streams and calls that wait for a process (such as a
            task's wait) have no deadline unless given one.
        tls: for a TCP address (given, or from ``$CONTAINERD_ADDRESS``): a
            `pycontainerd.TLS`, or ``False`` for plain TCP. Leave it out for a
            socket. Its files are read here.
        fifo_dir: where the FIFOs of tasks and exec processes made with
            FIFO stdio (`pycontainerd.stdio.pipes` and the like) go, when the
            stdio names no ``fifo_dir`` of its own: an absolute path, checked
            as `pycontainerd.stdio.pipes` says. Default:
            `pycontainerd.stdio.FIFO_ROOT` (``/run/containerd/fifo``).

    Raises:
        pycontainerd.errors.InvalidArgument: the namespace is not a valid
            identifier, or `fifo_dir` is not absolute.
        pycontainerd.errors.InvalidAddress: the address cannot be parsed, is
            TCP without `tls`, or a socket with TLS (a `ValueError`).
        pycontainerd.errors.TLSConfigError: a file of `tls` is missing or
            unusable (a `ValueError`).

    Example:
        ```python
        import anyio
        import pycontainerd

        async def main() -> None:
            async with pycontainerd.Client(namespace="example") as client:
                print(await client.version())

        anyio.run(main)
        ```

        A daemon on another node, with mutual TLS:

        ```python
        tls = pycontainerd.TLS(ca="ca.pem", cert="client.pem", key="client-key.pem")
        async with pycontainerd.Client("tcp://10.0.0.5:1234", tls=tls) as client:
            print(await client.version())
        ```
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        namespace: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        tls: TLS | Literal[False] | None = None,
        fifo_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        from .stdio import _fifo_dir
        from .stdio._io import FifoRegistry

        if namespace is None:
            namespace = os.environ.get("CONTAINERD_NAMESPACE") or "default"
        origin = None
        if address is None:
            address = default_address()
            origin = "$CONTAINERD_ADDRESS" if os.environ.get("CONTAINERD_ADDRESS") else None
        # The FIFOs this client's task and process handles hold, shared by its views.
        fifos = FifoRegistry(_fifo_dir(fifo_dir))
        transport = Transport(address, timeout=timeout, tls=tls, origin=origin)
        self._init(transport, fifos, namespace, None)

    def _init(
        self, transport: Transport, fifos: FifoRegistry, namespace: str, lease: str | None
    ) -> None:
        self._transport = transport
        self._fifos = fifos
        self._caller: Caller = transport.bind(_identifiers.validate(namespace, "namespace"), lease)

    def _view(self, namespace: str, lease: str | None) -> Self:
        view = object.__new__(type(self))
        view._init(self._transport, self._fifos, namespace, lease)
        return view

    @property
    def address(self) -> str:
        """The daemon address this client talks to."""
        return self._transport.address

    @property
    def tls(self) -> TLS | None:
        """The TLS settings of a TCP connection; ``None`` for a socket or plain TCP."""
        return self._transport.tls

    @property
    def fifo_dir(self) -> str | None:
        """Where FIFO stdio goes when the stdio names no ``fifo_dir`` (``None``: the default)."""
        return self._fifos.root

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

    async def aclose(self) -> None:
        """Close the connection shared by this client and all its views. Idempotent."""
        self._transport.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        tls = " tls" if self.tls is not None else ""
        return f"<Client {self.address!r}{tls} namespace={self.namespace!r} {state}>"

    async def version(self, *, timeout: Timeout = DEFAULT) -> Version:
        """The daemon's version.

        Example:
            ```python
            v = await client.version()
            print(v.version, v.revision)
            ```
        """
        from ._introspection import version_of

        # An empty message serialises to no bytes: nothing to build or encode.
        return version_of(await self._caller.unary_raw(_rpc.Version.Version, b"", timeout=timeout))

    async def is_serving(self, *, timeout: Timeout = DEFAULT) -> bool:
        """Whether the daemon's gRPC health service (``grpc.health.v1``) reports it serving.

        As the Go client's ``IsServing``, the call waits for the daemon: while
        it cannot be reached (socket missing, connection refused: a daemon
        still starting), the check is retried with backoff until `timeout`
        runs out. A daemon that answers says ``SERVING`` (true) or anything
        else (false, e.g. while it shuts down).

        Args:
            timeout: seconds to wait in all (the client's default unless given;
                ``None``: until cancelled).

        Raises:
            pycontainerd.errors.DeadlineExceeded: no answer within `timeout`;
                its ``__cause__`` is the last connection error, if any.
            pycontainerd.errors.TLSError: the TLS handshake failed (not retried).

        Example:
            ```python
            if not await client.is_serving(timeout=5):
                raise SystemExit("containerd is up but not serving")
            ```
        """
        import anyio

        from . import errors
        from ._api.grpc.health.v1 import HealthCheckResponseServingStatus

        seconds = self._transport.deadline(timeout)
        deadline = None if seconds is None else anyio.current_time() + seconds
        delay = 0.05
        while True:
            left = None if deadline is None else max(deadline - anyio.current_time(), 0.0)
            try:
                reply = await self._caller.unary(_rpc.Health.Check, b"", timeout=left)
            except errors.TLSError:
                raise
            except errors.ConnectionError as exc:
                if deadline is not None and anyio.current_time() + delay >= deadline:
                    raise errors.DeadlineExceeded(
                        f"containerd at {self.address} did not answer its health check "
                        f"within {seconds} seconds",
                        method=_rpc.Health.Check.path,
                    ) from exc
                await anyio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            return reply.status == HealthCheckResponseServingStatus.SERVING

    async def server(self, *, timeout: Timeout = DEFAULT) -> ServerInfo:
        """The daemon: its version, UUID and, from containerd 1.7 on, pid and deprecations.

        Two calls (Version and Introspection.Server), each with `timeout`.

        Example:
            ```python
            server = await client.server()
            print(server.version, server.pid)
            for d in server.deprecations:
                print(f"deprecated: {d.id}: {d.message}")
            ```
        """
        from ._introspection import ServerInfo

        version = await self.version(timeout=timeout)
        reply = await self._caller.unary(_rpc.Introspection.Server, b"", timeout=timeout)
        return ServerInfo._from_proto(reply, version)

    async def plugins(self, *filters: str, timeout: Timeout = DEFAULT) -> list[PluginInfo]:
        """The daemon's plugins, optionally narrowed by `filters`, as in ``ctr plugins ls``.

        `filters` mean what they mean for every ``list()``: several are ORed,
        the comma-separated selectors of one are ANDed (containerd's syntax, see
        `pycontainerd.events.filters`).
        Fields include ``type``, ``id`` and ``capabilities``.

        Example:
            ```python
            snapshotters = await client.plugins('type==io.containerd.snapshotter.v1')
            print([p.id for p in snapshotters if p.ok])
            ```
        """
        from ._api.containerd.services.introspection.v1 import PluginsRequest
        from ._introspection import PluginInfo

        reply = await self._caller.unary(
            _rpc.Introspection.Plugins,
            PluginsRequest(filters=list(filters)),
            timeout=timeout,
        )
        return [PluginInfo._from_proto(p) for p in reply.plugins]

    async def runtime_info(
        self, runtime: str = "io.containerd.runc.v2", *, timeout: Timeout = DEFAULT
    ) -> RuntimeInfo:
        """What a runtime's shim reports: its version, and the OCI features of the runtime it drives.

        Needs containerd 2.0 or newer (the Introspection.PluginInfo call).

        Args:
            runtime: the runtime's name, or the path of its shim binary.
            timeout: seconds for the call (the client's default unless given).

        Raises:
            pycontainerd.errors.Unimplemented: the daemon is older than 2.0
                (the message says so).
            pycontainerd.errors.NotFound: no such runtime.

        Example:
            ```python
            info = await client.runtime_info()
            print(info.name, info.version)  # io.containerd.runc.v2 2.1.9
            print(info.features["annotations"]["org.opencontainers.runc.version"])
            print(info.features.get("mountOptions", []))
            ```
        """
        from ._introspection import runtime_info_of, runtime_info_request

        reply = await self._caller.unary(
            _rpc.Introspection.PluginInfo, runtime_info_request(runtime), timeout=timeout
        )
        return runtime_info_of(reply)

    @cached_property
    def namespaces(self) -> Namespaces:
        """The daemon's namespaces."""
        from ._namespaces import Namespaces

        return Namespaces(self)

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
        from .events._stream import Events

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
        from ._images import Images

        return Images(self)

    @cached_property
    def services(self) -> Services:
        """Raw generated gRPC stubs on this client's connection: the escape hatch.

        The stubs carry this view's namespace (and lease) but are not wrapped:
        they raise grpclib's own errors and return generated messages.
        """
        from ._services import Services

        return Services(self)

    @cached_property
    def containers(self) -> Containers:
        """The namespace's containers: metadata objects (spec, rootfs, labels).

        Example:
            ```python
            container = await client.containers.create("demo", image=image)
            print([c.id for c in await client.containers.list("labels.app==demo")])
            ```
        """
        from ._containers import Containers

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
        from ._tasks import Tasks

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
            timeout: deadline in seconds for the whole run (default: none, as for
                every wait); past it the process is killed and
                `errors.DeadlineExceeded` (a `TimeoutError`) raised.
            remove: delete the container afterwards (``ctr run --rm``).
            spec: a full spec to start from instead of the image's.
            cwd: working directory.
            user: ``uid`` or ``"uid:gid"``.
            terminal: run with a pseudo-terminal (stderr merges into stdout).
            labels: container labels.
            snapshotter: snapshotter for the rootfs (default: the namespace's
                ``containerd.io/defaults/snapshotter`` label, else ``overlayfs``).
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

    async def restore(
        self,
        id: str,
        checkpoint: Image | str,
        *,
        rw: bool = False,
        labels: Mapping[str, str] | None = None,
    ) -> Container:
        """Create the container `id` from a `Container.checkpoint` (as Go's ``Client.Restore``).

        The container gets the checkpoint's image (which must still be in
        the store), snapshotter, runtime with its options and spec (Go's
        ``WithRestoreImage``, ``WithRestoreSpec`` and ``WithRestoreRuntime``),
        and a new rootfs snapshot; with `rw`, the checkpoint's rootfs
        changes are applied to it (``WithRestoreRW``). It has no task: make
        one with ``new_task(checkpoint=...)`` to resume the dumped processes
        (``ctr containers restore --live``), or with a plain `new_task` to
        start afresh. Everything made is removed again if the restore fails
        or is cancelled.

        Args:
            id: the new container's id.
            checkpoint: the checkpoint image, or its name.
            rw: restore the rootfs changes too.
            labels: the new container's labels.

        Raises:
            pycontainerd.errors.InvalidArgument: a bad id, or an image that is
                not a container checkpoint (a `Task.checkpoint` names no
                image, runtime or snapshotter), or `rw` and it holds no
                rootfs changes.
            pycontainerd.errors.NotFound: the checkpoint or its image is gone.
            pycontainerd.errors.AlreadyExists: the id is taken.

        Example:
            ```python
            checkpoint = await container.checkpoint("checkpoints/web:1", exit=True)
            restored = await client.restore("web-2", checkpoint, rw=True)
            async with await restored.new_task(checkpoint=checkpoint) as task:
                await task.start()
            ```
        """
        from ._checkpoint import restore

        return await restore(self, id, checkpoint, rw=rw, labels=labels)

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
        from ._content import Content

        return Content(self)

    @cached_property
    def leases(self) -> Leases:
        """The leases of this client's namespace.

        Example:
            ```python
            async with client.leases.lease(expires_in=3600) as leased:
                await leased.content.write("blob", b"kept while the lease lives")
            ```
        """
        from ._leases import Leases

        return Leases(self)

    @cached_property
    def sandboxes(self) -> Sandboxes:
        """The sandbox records of this client's namespace (containerd 1.7 or newer).

        Example:
            ```python
            sandbox = await client.sandboxes.create("pod-1", labels={"app": "web"})
            container = await sandbox.new_container("pod-1-web", image=image)
            ```
        """
        from ._sandboxes import Sandboxes

        return Sandboxes(self)

    def sandbox_controller(self, sandboxer: str | None = None) -> SandboxController:
        """The daemon's sandbox controller `sandboxer` (default ``shim``), for this namespace.

        containerd 2.x names its controllers: ``shim`` (starts a sandbox's
        runtime shim) and CRI's ``podsandbox``; 1.7 has one and ignores the name.

        Example:
            ```python
            status = await client.sandbox_controller("shim").status("pod-1")
            ```
        """
        from ._sandboxes import DEFAULT_SANDBOXER, SandboxController

        return SandboxController(self, DEFAULT_SANDBOXER if sandboxer is None else sandboxer)

    def snapshots(self, name: str | None = None) -> Snapshots:
        """The snapshotter `name` (default ``overlayfs``) in this client's namespace.

        Example:
            ```python
            mounts = await client.snapshots().prepare("scratch")
            native = client.snapshots("native")
            ```
        """
        from ._snapshots import DEFAULT_SNAPSHOTTER, Snapshots

        return Snapshots(self, DEFAULT_SNAPSHOTTER if name is None else name)

    @cached_property
    def diff(self) -> Diff:
        """The daemon's diff service: apply layers onto mounts, compare mounts into layers.

        Example:
            ```python
            applied = await client.diff.apply(layer, await client.snapshots().prepare("x"))
            ```
        """
        from ._diff import Diff

        return Diff(self)

    async def pull(
        self,
        ref: str,
        *,
        platform: Platform | str | None = None,
        unpack: bool = True,
        snapshotter: str | None = None,
        auth: Credentials | tuple[str, str] | None = None,
        insecure: bool = False,
        ca: str | _os.PathLike[str] | ssl.SSLContext | None = None,
        progress: Callable[[Progress], Awaitable[None] | None] | None = None,
        max_concurrent_downloads: int = 3,
        local: bool = False,
        hosts: Hosts | None = None,
        headers: Mapping[str, str | Sequence[str]] | None = None,
        labels: Mapping[str, str] | None = None,
        snapshot_labels: Mapping[str, str] | None = None,
    ) -> Image:
        """Pull an image from a registry into this namespace, unpack it and name it `ref`.

        The reference is normalised as docker does (``busybox`` is
        ``docker.io/library/busybox:latest``). An index (or Docker manifest
        list) is resolved to one manifest for `platform` (default: the
        host's). Blobs stream into the content store in constant memory, up
        to `max_concurrent_downloads` at a time, and are verified (size and
        digest). Everything runs under a lease: a failed or cancelled pull
        leaves no image, while partly downloaded blobs stay as ingests so the
        next pull resumes them.

        Args:
            ref: the image reference (``[registry/]repository[:tag][@digest]``).
            platform: the platform to pull (``"linux/arm64"``, a `Platform`).
            unpack: unpack the layers into `snapshotter` (default: the
                namespace's, else ``overlayfs``) after fetching.
            snapshotter: where to unpack.
            auth: credentials (`pycontainerd.registry.Credentials` or a
                ``(username, password)`` tuple); by default docker's
                ``config.json`` (``$DOCKER_CONFIG`` or ``~/.docker``) is used.
            insecure: allow plain HTTP and skip TLS verification for this
                registry. Loopback registries (``localhost``, ``127.0.0.0/8``,
                ``[::1]``) may use plain HTTP without it.
            ca: a CA bundle path to verify the registry with, or an
                ``ssl.SSLContext`` (client certificates and the like).
            progress: a sync or async callable receiving
                `pycontainerd.registry.Progress` updates per blob.
            max_concurrent_downloads: how many blobs download at once, at most
                (when unpacking, layers start bottom-up, see the registry guide);
                for the in-process path only.
            local: pull in this process even where the daemon could (see below).
            hosts: containerd's hosts configuration (`pycontainerd.registry.Hosts`,
                read from a ``certs.d``-style directory): mirrors tried in order,
                each for what its capabilities allow, with its own CAs, client
                certificates and headers; the registry itself last unless the
                configuration names another ``server``.
            headers: extra HTTP headers for every registry request (a name
                with one value or a list of them), sent before the hosts
                configuration's own.
            labels: labels of the image record (containerd's ``WithPullLabels``);
                an existing record's labels are replaced by these, as in Go.
            snapshot_labels: labels on every snapshot the unpacking makes
                (``WithPullSnapshotter`` with ``snapshots.WithLabels``), as
                remote snapshotters such as stargz read them; the unpacker's
                own labels win over these.

        On containerd 2.0 and newer the daemon pulls, through its transfer
        service (as ``ctr`` 2.x does), unless `local` is set or the pull
        needs what only this process can do (`ca`, `hosts`, `headers`,
        `snapshot_labels`, unpacking into a snapshotter other than
        overlayfs, which the daemon's transfer service unpacks into only when
        its ``unpack_config`` says so, or `insecure` for a host that is not
        loopback).
        Credentials then reach the daemon over a
        stream when it asks, for the registry's host only. On 1.6 and 1.7 the
        pull runs here: blobs stream from the registry into the content store.

        Returns:
            The image, as `client.images.get` would return it.

        Raises:
            ValueError: the reference is malformed.
            pycontainerd.registry.AuthenticationError: the registry refused the
                credentials (never quoted in the message); an `errors.Unauthenticated`.
            pycontainerd.registry.AccessDeniedError: the registry denied access
                (403); an `errors.PermissionDenied`.
            pycontainerd.registry.NotFoundError: no such repository or tag; an
                `errors.NotFound`.
            pycontainerd.registry.PlatformNotFoundError: the index has no
                manifest for the platform.
            pycontainerd.registry.DigestError: the registry served content that
                does not match its digest; nothing of it was kept. An `errors.DataLoss`.
            pycontainerd.registry.UnavailableError: the registry cannot be
                reached (or answers 502/503/504); an `errors.Unavailable`.
            pycontainerd.registry.RegistryError: any other registry failure.

        Example:
            ```python
            from pycontainerd.registry import Credentials

            image = await client.pull(
                "registry.example.com/team/app:v1",
                auth=Credentials(username="ci", password=token),
                progress=lambda p: print(p.digest[:19], p.state.value, p.offset, p.total),
            )
            print(image.name, image.target.digest)
            ```
        """
        # Checked before the release and snapshotter RPCs below, on either path.
        labels = _identifiers.labels(labels, "image labels")
        here = local or hosts is not None or bool(headers) or bool(snapshot_labels)
        daemon = await self._daemon_transfers(local=here, insecure=insecure, ca=ca, ref=ref)
        unpack_into: str | None = None
        if daemon and unpack:
            from ._images import snapshotter_name

            # The transfer service unpacks only into the snapshotters its
            # ``unpack_config`` lists, by default overlayfs alone.
            unpack_into = await snapshotter_name(self, snapshotter)
            daemon = unpack_into == "overlayfs"
        if daemon:
            from .transfer._images import pull as daemon_pull

            return await daemon_pull(
                self,
                ref,
                platform=platform,
                unpack_into=unpack_into,
                auth=auth,
                insecure=insecure,
                progress=progress,
                labels=labels,
            )
        from .registry._pull import pull

        return await pull(
            self,
            ref,
            platform=platform,
            unpack=unpack,
            snapshotter=snapshotter,
            auth=auth,
            insecure=insecure,
            ca=ca,
            progress=progress,
            max_concurrent_downloads=max_concurrent_downloads,
            hosts=hosts,
            headers=headers,
            labels=labels,
            snapshot_labels=snapshot_labels,
        )

    async def fetch(
        self,
        ref: str,
        *,
        platforms: Sequence[Platform | str] | None = None,
        all_metadata: bool = False,
        auth: Credentials | tuple[str, str] | None = None,
        insecure: bool = False,
        ca: str | _os.PathLike[str] | ssl.SSLContext | None = None,
        hosts: Hosts | None = None,
        headers: Mapping[str, str | Sequence[str]] | None = None,
        labels: Mapping[str, str] | None = None,
        progress: Callable[[Progress], Awaitable[None] | None] | None = None,
        max_concurrent_downloads: int = 3,
    ) -> Image:
        """Fetch an image's content and create its record, without unpacking (Go's ``Client.Fetch``).

        Every platform of an index is fetched unless `platforms` names some
        (each matched exactly, after normalisation); with `all_metadata`
        the other platforms' manifests and configs come too, but not their
        layers (``platforms=[]`` with `all_metadata`: metadata only). As `pull`, everything runs under a lease until the image
        record holds the content, and runs in this process on every release.

        Args:
            ref: the image reference.
            platforms: the platforms whose layers to fetch; default: all.
            all_metadata: also fetch the manifests and configs of the other platforms.
            auth: credentials, as for `pull`.
            insecure: allow plain HTTP / skip TLS verification, as for `pull`.
            ca: CA bundle path or ``ssl.SSLContext``, as for `pull`.
            hosts: the hosts configuration, as for `pull`.
            headers: extra HTTP headers, as for `pull`.
            labels: labels of the image record.
            progress: per-blob `pycontainerd.registry.Progress` updates.
            max_concurrent_downloads: how many blobs download at once, at most.

        Returns:
            The image record (unpacked nowhere).

        Raises:
            pycontainerd.registry.PlatformNotFoundError: an index has none of `platforms`.
            pycontainerd.registry.RegistryError: as for `pull`.

        Example:
            ```python
            image = await client.fetch("localhost:5000/app:v1", platforms=["linux/amd64", "linux/arm64"])
            print(await image.platforms())
            ```
        """
        from .registry._pull import fetch

        return await fetch(
            self,
            ref,
            platforms=platforms,
            all_metadata=all_metadata,
            auth=auth,
            insecure=insecure,
            ca=ca,
            hosts=hosts,
            headers=headers,
            labels=labels,
            progress=progress,
            max_concurrent_downloads=max_concurrent_downloads,
        )

    async def fetch_blob(
        self,
        ref: str,
        descriptor: Descriptor,
        *,
        auth: Credentials | tuple[str, str] | None = None,
        insecure: bool = False,
        ca: str | _os.PathLike[str] | ssl.SSLContext | None = None,
        hosts: Hosts | None = None,
        headers: Mapping[str, str | Sequence[str]] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Fetch one blob of repository `ref` by its descriptor into the content store.

        The blob streams into the store, is checked against the descriptor's
        size and digest, and is committed with `labels` and containerd's
        ``containerd.io/distribution.source.<registry>`` label (a blob
        already in the store only gets the labels). Nothing refers to it: hold
        it with a lease (`with_lease`) or a ``containerd.io/gc.root``
        label, or the garbage collector takes it. To read a blob without
        storing it, see `pycontainerd.registry.open_blob`.

        Args:
            ref: the repository (any tag or digest of it).
            descriptor: the blob's digest and size; a manifest or index (by
                its media type) is fetched from the registry's manifests
                endpoint with that media type as ``Accept``, as containerd does.
            auth: credentials, as for `pull`.
            insecure: allow plain HTTP / skip TLS verification, as for `pull`.
            ca: CA bundle path or ``ssl.SSLContext``, as for `pull`.
            hosts: the hosts configuration, as for `pull`.
            headers: extra HTTP headers, as for `pull`.
            labels: labels of the stored blob.

        Raises:
            pycontainerd.errors.InvalidArgument: `descriptor` is not a
                `Descriptor` with a valid digest and size (before any I/O).
            pycontainerd.registry.NotFoundError: no host has the blob.
            pycontainerd.registry.DigestError: the bytes do not match; nothing was kept.

        Example:
            ```python
            manifest = await image.manifest()
            async with client.leases.lease() as leased:
                await leased.fetch_blob("localhost:5000/app:v1", manifest.config)
                config = await leased.content.read(manifest.config.digest)
            ```
        """
        from .registry._pull import fetch_blob

        await fetch_blob(
            self,
            ref,
            descriptor,
            auth=auth,
            insecure=insecure,
            ca=ca,
            hosts=hosts,
            headers=headers,
            labels=labels,
        )

    async def _daemon_transfers(self, *, local: bool, insecure: bool, ca: object, ref: str) -> bool:
        """Whether a pull or push of `ref` goes through the daemon's transfer service.

        Raises:
            ValueError: `ref` is malformed (checked first: before any RPC, either way).
        """
        from .registry._reference import Reference, is_loopback

        reference = Reference.parse(ref)
        if local or ca is not None:
            return False
        if insecure and not is_loopback(reference.host):
            return False  # the daemon would verify TLS: only this process can skip it
        return await self._release() >= (2, 0)

    async def _release(self) -> tuple[int, int]:
        """The daemon's (major, minor) release, asked once per connection's client."""
        transport = self._transport
        if transport.release is None:
            import re

            found = re.match(r"v?(\d+)\.(\d+)", (await self.version()).version)
            transport.release = (int(found[1]), int(found[2])) if found else (0, 0)
        return transport.release

    async def transfer(
        self,
        source: transfer.Source,
        destination: transfer.Destination,
        *,
        progress: Callable[[transfer.Progress], Awaitable[None] | None] | None = None,
    ) -> None:
        """Have the daemon move an image from `source` to `destination` (containerd 1.7+).

        The pairs containerd serves: `transfer.Registry` to
        `transfer.ImageStore` (pull), `ImageStore` to `Registry` (push),
        `ImportStream` to `ImageStore` (import), `ImageStore` to
        `ExportStream` (export) and `ImageStore` to `ImageStore` (tag). The
        daemon asks for registry credentials when it needs them, and gets
        them only for the registry's own host. A cancelled transfer resets
        its streams; the daemon then abandons the work (content it fetched
        stays in its ingest area, as after an interrupted ``ctr pull``).

        Args:
            source: what to read.
            destination: what to write.
            progress: a sync or async callable for the daemon's progress events.

        Raises:
            pycontainerd.errors.Unimplemented: the daemon has no transfer
                service (containerd 1.6), or cannot move `source` to
                `destination`.
            pycontainerd.errors.NotFound: the source image is not there.

        Example:
            ```python
            from pycontainerd import transfer

            await client.transfer(
                transfer.Registry("localhost:5000/app:1"),
                transfer.ImageStore("localhost:5000/app:1", unpack=[transfer.Unpack()]),
            )
            ```
        """
        from .transfer._session import run

        await run(self, source, destination, progress=progress)

    async def push(
        self,
        ref: str,
        image: Image | str | None = None,
        *,
        platform: Platform | str | None = None,
        auth: Credentials | tuple[str, str] | None = None,
        insecure: bool = False,
        ca: str | _os.PathLike[str] | ssl.SSLContext | None = None,
        progress: Callable[[Progress], Awaitable[None] | None] | None = None,
        local: bool = False,
        hosts: Hosts | None = None,
        headers: Mapping[str, str | Sequence[str]] | None = None,
        max_concurrent_uploads: int = _DEFAULT_UPLOADS,
    ) -> Descriptor:
        """Push an image to a registry as `ref`: missing blobs, then manifests, then the tag.

        Blobs the registry already has are skipped. A blob pulled from
        another repository of the same registry (its
        ``containerd.io/distribution.source.<registry>`` label says so) is
        mounted from there (``POST ?mount=<digest>&from=<repository>``)
        rather than uploaded, as containerd's pusher does; a registry that
        declines uploads it as usual. With `platform`, only that platform's
        manifest is pushed (and tagged) out of an index.

        Args:
            ref: where to push (``registry.example.com/team/app:v1``).
            image: the local image (an `Image` or its name); default: the
                image named `ref`.
            platform: push only this platform's manifest.
            auth: credentials, as for `pull`.
            insecure: allow plain HTTP / skip TLS verification, as for `pull`.
            ca: CA bundle path or ``ssl.SSLContext``, as for `pull`.
            progress: per-blob `pycontainerd.registry.Progress` updates.
            local: push from this process even where the daemon could.
            hosts: the hosts configuration, as for `pull`: the push goes to
                the first host with the ``push`` capability.
            headers: extra HTTP headers, as for `pull`.
            max_concurrent_uploads: how many blobs upload at once, at most.

        As `pull`, on containerd 2.0 and newer the daemon pushes (a whole
        image; with `platform`, `ca`, `hosts`, `headers`, a
        `max_concurrent_uploads` other than 3, or `insecure` off loopback,
        the push runs here).

        Returns:
            The descriptor of the manifest or index now tagged in the registry.

        Raises:
            pycontainerd.errors.NotFound: the local image or one of its blobs is missing.
            pycontainerd.registry.AuthenticationError: push access was refused
                (an `errors.Unauthenticated`; `AccessDeniedError`, an
                `errors.PermissionDenied`, for a 403).
            pycontainerd.registry.RegistryError: any other registry failure.

        Example:
            ```python
            image = await client.images.create_from_directory("localhost:5000/tools:1", "./rootfs")
            await client.push("localhost:5000/tools:1")
            ```
        """
        here = (
            local
            or hosts is not None
            or bool(headers)
            or max_concurrent_uploads != _DEFAULT_UPLOADS
            or platform is not None
        )
        if await self._daemon_transfers(local=here, insecure=insecure, ca=ca, ref=ref):
            from .transfer._images import push as daemon_push

            return await daemon_push(
                self, ref, image, auth=auth, insecure=insecure, progress=progress
            )
        from .registry._push import push

        return await push(
            self,
            ref,
            image,
            platform=platform,
            auth=auth,
            insecure=insecure,
            ca=ca,
            progress=progress,
            hosts=hosts,
            headers=headers,
            max_concurrent_uploads=max_concurrent_uploads,
        )
