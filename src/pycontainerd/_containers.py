"""Containers: metadata objects (spec, rootfs snapshot, labels), no processes."""

from __future__ import annotations

import contextlib
import functools
import json
import posixpath
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast, overload

import anyio
import attrs
from betterproto.lib.google.protobuf import Any as AnyProto
from betterproto.lib.google.protobuf import FieldMask

from . import _wire, errors
from ._abc import JSONable
from ._api import _rpc
from ._api.containerd.services.containers.v1 import Container as ContainerProto
from ._api.containerd.services.containers.v1 import (
    CreateContainerRequest,
    DeleteContainerRequest,
    GetContainerRequest,
    ListContainersRequest,
    UpdateContainerRequest,
)
from ._api.containerd.services.snapshots.v1 import (
    MountsRequest,
    PrepareSnapshotRequest,
    PrepareSnapshotResponse,
    RemoveSnapshotRequest,
    ViewSnapshotRequest,
    ViewSnapshotResponse,
)
from ._api.containerd.services.tasks.v1 import (
    CreateTaskRequest,
    DeleteTaskRequest,
    GetRequest,
    KillRequest,
)
from ._api.containerd.types import Mount as MountProto
from ._descriptors import Mount
from ._extension import Extension
from ._facade import Facade
from ._identifiers import label_changes, label_paths, shown, validate
from ._identifiers import labels as checked_labels
from ._namespaces import DEFAULT_RUNTIME_LABEL, DEFAULT_SNAPSHOTTER_LABEL, namespace_labels
from ._oci import chain_id
from ._shield import Creation, Removal, finish
from ._snapshots import SnapshotKind
from ._tasks import (
    CLEANUP_TIMEOUT,
    STOP_SIGNAL_LABEL,
    Task,
    TaskState,
    load_task,
    process_as_asked,
)
from ._transport import DEFAULT
from ._wire import encode_scalars
from .runtime import (
    LINUX_RUNTIME_V1,
    CreateOptions,
    RuncOptions,
    _as_extension,
    _checked_options,
    _stored_options,
)
from .stdio import Pipes, Stdio, null

if TYPE_CHECKING:
    from . import oci
    from ._client import Client
    from ._image_config import ImageConfig
    from ._images import Image
    from ._sandboxes import Sandbox
    from .runtime import CriuOptions

__all__ = ["CLEANUP_TIMEOUT", "Container", "Containers", "Extension", "Runtime"]

_P = TypeVar("_P", bound=Pipes | None)  # what `stdio` says the task's `pipes` is

SPEC_TYPE: Final = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
DEFAULT_RUNTIME: Final = "io.containerd.runc.v2"
DEFAULT_SNAPSHOTTER: Final = "overlayfs"
_CONFIG_CACHE_SIZE: Final = 32
_REMAP_LEASE: Final = 3600.0  # seconds: outlives any remap, and expires if the client dies


@attrs.frozen(kw_only=True)
class Runtime:
    """Which runtime runs a container's tasks, with its options.

    Attributes:
        name: e.g. ``io.containerd.runc.v2``.
        options: the options the runtime's shim gets for each task: typed
            `pycontainerd.runtime.RuncOptions` for runc's (stored runc
            options read back as such), an opaque `Extension` for any other
            shim's; ``None`` for none.

    Example:
        ```python
        from pycontainerd import runtime

        container = await client.containers.get("web")
        if isinstance(container.runtime.options, runtime.RuncOptions):
            print(container.runtime.options.binary_name or "runc")
        ```
    """

    name: str = DEFAULT_RUNTIME
    options: RuncOptions | Extension | None = None


def _spec_bytes(spec: oci.Spec | JSONable | Mapping[str, Any] | str | bytes | None) -> bytes:
    """The spec's JSON.

    Given as text, it must be a JSON object (a runtime spec): containerd
    would store anything, and only the task's start would fail on it.
    """
    if spec is None:
        return b""
    if isinstance(spec, bytes | str):
        data: bytes = spec.encode() if isinstance(spec, str) else spec
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise errors.InvalidArgument(f"the spec is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise errors.InvalidArgument(
                f"the spec is a JSON {type(doc).__name__}, not an object: {shown(data)}"
            )
        return data
    if isinstance(spec, Mapping):
        try:
            return json.dumps(dict(spec), separators=(",", ":")).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            raise errors.InvalidArgument(f"the spec cannot be written as JSON: {exc}") from None
    written = spec.to_json()
    return written.encode() if isinstance(written, str) else bytes(written)


@attrs.frozen(kw_only=True)
class Container:
    """A container: metadata only (spec, rootfs snapshot, labels), no process.

    Returned by `client.containers` (`Containers.create`, `get`, `list`);
    it is a snapshot of the metadata at that moment. `spec` is decoded only
    when read. Running it is a `Task`: `new_task`.

    Attributes:
        id: the container id.
        labels: its labels.
        image_name: the name of the image it was made from ("" if none); `image`
            loads the `Image` itself.
        runtime: the runtime that runs its tasks.
        snapshotter: the snapshotter holding its rootfs ("" if none).
        snapshot_key: the rootfs snapshot key ("" if the spec's root path is used).
        created_at: when it was created.
        updated_at: when it was last updated.
        extensions: opaque client data.
        sandbox: the id of the sandbox it belongs to ("" if none; always ""
            on containerd 1.6, which does not record it).

    Example:
        ```python
        container = await client.containers.get("web")
        print(container.labels, container.spec.hostname)
        ```
    """

    id: str
    labels: Mapping[str, str] = attrs.field(factory=dict)
    image_name: str = ""
    runtime: Runtime = attrs.field(factory=Runtime)
    snapshotter: str = ""
    snapshot_key: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extensions: Mapping[str, Extension] = attrs.field(factory=dict)
    sandbox: str = ""
    spec_type: str = attrs.field(default=SPEC_TYPE, repr=False)
    spec_json: bytes = attrs.field(default=b"", repr=False)
    _client: Client | None = attrs.field(default=None, eq=False, repr=False, alias="client")
    # The rootfs mounts Prepare answered with, when `Containers.create` made the
    # snapshot: the first `new_task` takes them instead of asking Mounts again
    # (later ones ask, as containerd's client always does).
    _prepared_mounts: list[MountProto] = attrs.field(factory=list, init=False, eq=False, repr=False)
    # A listed container's serialised message (see `_listed`).
    _wire: bytes | None = attrs.field(default=None, init=False, eq=False, repr=False)

    if not TYPE_CHECKING:  # (keeps type checkers strict about attribute names)

        def __getattr__(self, name: str) -> Any:
            # Only called for an attribute that is not set: a listed container's
            # fields never are, they are read from its message, decoded once.
            try:
                wire = object.__getattribute__(self, "_wire")
            except AttributeError:
                wire = None
            if wire is None or name not in _WIRE_FIELDS:
                raise AttributeError(
                    f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self
                )
            return self._decoded[name]

    @functools.cached_property
    def _decoded(self) -> dict[str, Any]:
        return decode_fields(self._wire or b"")

    @functools.cached_property
    def spec(self) -> oci.Spec:
        """The OCI runtime spec, as an `oci.Spec` (decoded on first access)."""
        from .oci import Spec

        return Spec.from_json(self.spec_json or b"{}")

    def _spec_dict(self) -> dict[str, Any]:
        data = json.loads(self.spec_json or b"{}")
        if not isinstance(data, dict):
            raise errors.InvalidArgument(f"container {self.id!r} has a spec that is not an object")
        return data

    def _has_args(self) -> bool:
        """Whether the spec gives the init process args (runtimes refuse none)."""
        try:
            process = self._spec_dict().get("process")
        except (ValueError, errors.InvalidArgument):
            return True  # not readable here: leave the runtime's error as it is
        return isinstance(process, dict) and bool(process.get("args"))

    def _require_client(self) -> Client:
        if self._client is None:
            raise RuntimeError(f"container {self.id!r} is not bound to a client")
        return self._client

    @overload
    async def new_task(
        self,
        *,
        stdio: Stdio[_P],
        checkpoint: Image | None = None,
        options: RuncOptions | CreateOptions | Extension | None = None,
        runtime_path: str | None = None,
        rootfs: Sequence[Mount] | None = None,
        no_pivot_root: bool | None = None,
        no_new_keyring: bool | None = None,
        shim_cgroup: str | None = None,
        io_uid: int | None = None,
        io_gid: int | None = None,
    ) -> Task[_P]: ...

    @overload
    async def new_task(
        self,
        *,
        stdio: None = None,
        checkpoint: Image | None = None,
        options: RuncOptions | CreateOptions | Extension | None = None,
        runtime_path: str | None = None,
        rootfs: Sequence[Mount] | None = None,
        no_pivot_root: bool | None = None,
        no_new_keyring: bool | None = None,
        shim_cgroup: str | None = None,
        io_uid: int | None = None,
        io_gid: int | None = None,
    ) -> Task[None]: ...

    async def new_task(
        self,
        *,
        stdio: Stdio[_P] | None = None,
        checkpoint: Image | None = None,
        options: RuncOptions | CreateOptions | Extension | None = None,
        runtime_path: str | None = None,
        rootfs: Sequence[Mount] | None = None,
        no_pivot_root: bool | None = None,
        no_new_keyring: bool | None = None,
        shim_cgroup: str | None = None,
        io_uid: int | None = None,
        io_gid: int | None = None,
    ) -> Task[_P] | Task[None]:
        """Create the container's task (its init process), not yet started.

        The FIFOs for `stdio` are created and opened before the task is, and
        removed again if creating it fails or is cancelled. A missing binary
        fails here, at once.

        Task options, when sent, replace the container's runtime options for
        this task (the shim reads one or the other). So, as containerd's Go
        client does, `no_pivot_root`, `no_new_keyring`, `shim_cgroup`,
        `io_uid` and `io_gid` change a copy of `options`, or of the
        container's `RuncOptions` when `options` is not given: its
        ``binary_name``, ``root`` and the rest still apply. For a container of
        `pycontainerd.runtime.LINUX_RUNTIME_V1` they change a
        `pycontainerd.runtime.CreateOptions` instead. Nothing is sent when
        none of these is given, and the shim uses the container's options.

        Args:
            stdio: where stdin, stdout and stderr go (default `stdio.null`).
            checkpoint: a checkpoint image (`Task.checkpoint`,
                `Container.checkpoint`) to restore the task from: `Task.start`
                then resumes the dumped processes instead of starting anew
                (Go's ``WithTaskCheckpoint``).
            options: the task's options, whole (see above).
            runtime_path: an absolute path to the shim binary to start instead
                of the one the runtime's name resolves to (Go's ``WithRuntimePath``).
            rootfs: mounts made on the task's root filesystem after the
                container's snapshot, in order (Go's ``WithRootFS``); for a
                container without a snapshot, they make it, instead of the
                spec's root path.
            no_pivot_root: do not ``pivot_root`` into the rootfs.
            no_new_keyring: no session keyring of the container's own.
            shim_cgroup: an existing cgroup the shim moves itself into.
            io_uid: the owner of the shim's stdio pipes (for user namespaces).
            io_gid: their group.

        Returns:
            The task; with ``stdio.pipes()`` a ``Task[Pipes]``, whose
            `Task.pipes` are never ``None``, else a ``Task[None]``.

        Raises:
            pycontainerd.errors.AlreadyExists: the container already has a task.
            pycontainerd.errors.InvalidArgument: a bad option (a relative
                `runtime_path`, an `io_uid` beyond 32 bits, runc option
                keywords for a shim whose options are an opaque `Extension`),
                raised before anything is made; or the spec has no process
                args (a container made from an image with no entrypoint or
                cmd, as containerd's client makes it): the runtime refused to
                create the task; its error is the ``__cause__``; or `checkpoint`
                holds no task dump.

        Example:
            ```python
            async with await container.new_task(stdio=stdio.inherit()) as task:
                await task.start()
                await task.wait()
            shim_in = await container.new_task(shim_cgroup="/shims", no_new_keyring=True)
            ```
        """
        client = self._require_client()
        task_options = _task_options(
            self.runtime,
            options,
            no_pivot_root=no_pivot_root,
            no_new_keyring=no_new_keyring,
            shim_cgroup=shim_cgroup,
            io_uid=io_uid,
            io_gid=io_gid,
        )
        if runtime_path is not None and not (
            isinstance(runtime_path, str)
            and runtime_path.startswith("/")
            and "\0" not in runtime_path
        ):
            raise errors.InvalidArgument(
                f"runtime_path must be an absolute path, not {runtime_path!r:.80}"
            )
        config = stdio or null()
        config._check_local(client)
        dump = None
        if checkpoint is not None:
            from ._checkpoint import task_checkpoint

            dump = (await task_checkpoint(checkpoint))._to_proto()
        extra_mounts = [] if rootfs is None else [_rootfs_mount(m) for m in rootfs]
        rootfs_mounts = []
        if self.snapshot_key:
            rootfs_mounts = self._prepared_mounts[:]
            if rootfs_mounts:
                self._prepared_mounts.clear()
            else:
                reply = await client._caller.unary(
                    _rpc.Snapshots.Mounts,
                    encode_scalars(
                        MountsRequest, snapshotter=self.snapshotter, key=self.snapshot_key
                    ),
                )
                rootfs_mounts = reply.mounts
        rootfs_mounts += extra_mounts
        io = config._open(self.id, client._fifos.root)
        request = CreateTaskRequest(
            container_id=self.id,
            rootfs=rootfs_mounts,
            stdin=io.stdin_uri,
            stdout=io.stdout_uri,
            stderr=io.stderr_uri,
            terminal=config.terminal,
            runtime_path=runtime_path or "",
        )
        if task_options is not None:
            request.options = task_options._to_proto()
        if dump is not None:
            request.checkpoint = dump
        creation = Creation(
            lambda: client._caller.unary(_rpc.Tasks.Create, request),
            ours=lambda: process_as_asked(client, self.id, "", request),
        )
        try:
            # The Create finishes even if cancelled: the task is known, then removed.
            created_reply = await finish(creation, timeout=CLEANUP_TIMEOUT)
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException as exc:
            try:
                if creation.made or creation.unsure:

                    async def undo() -> None:
                        if await creation.owned():
                            await _remove_task(client, self.id)

                    with contextlib.suppress(TimeoutError):
                        await finish(Removal(undo), timeout=CLEANUP_TIMEOUT)
            finally:
                io.close()
            if isinstance(exc, errors.RPCError) and not creation.made and not self._has_args():
                # The runtime's own words ("runc create failed: args must not be
                # empty", UNKNOWN) stay the cause; this says what to do.
                raise errors.InvalidArgument(
                    f"container {self.id!r} has no command to run: its spec has no process"
                    " args (its image has no entrypoint or cmd); update the spec with args"
                    " (oci.Spec.with_args) before creating its task"
                ) from exc
            raise
        task: Task[_P] = Task(client, self, pid=created_reply.pid, io=io)
        return task

    @overload
    async def task(self, *, stdio: Stdio[_P]) -> Task[_P]: ...

    @overload
    async def task(self, *, stdio: None = None) -> Task[None]: ...

    async def task(self, *, stdio: Stdio[_P] | None = None) -> Task[_P] | Task[None]:
        """Load the container's existing task; with `stdio`, re-attach to its FIFOs.

        Raises:
            pycontainerd.errors.NotFound: the container has no task.

        Example:
            ```python
            task = await container.task(stdio=stdio.pipes())
            ```
        """
        return await load_task(self._require_client(), self, stdio)

    async def update(self, **changes: Any) -> Container:
        """Change this container's metadata; see `Containers.update`.

        Example:
            ```python
            container = await client.containers.get("web")
            container = await container.update(labels={"tier": "web"})
            ```
        """
        return await self._require_client().containers.update(self.id, **changes)

    async def delete(self, *, cleanup_snapshot: bool = True) -> None:
        """Delete this container; see `Containers.delete`.

        Example:
            ```python
            await container.delete()
            ```
        """
        await self._require_client().containers._delete(
            self.id, cleanup_snapshot=cleanup_snapshot, known=self
        )

    async def checkpoint(
        self,
        name: str,
        *,
        task: bool = True,
        image: bool = True,
        rw: bool = True,
        exit: bool = False,
        criu: CriuOptions | None = None,
    ) -> Image:
        """Checkpoint the container into the image `name` (as Go's ``Container.Checkpoint``).

        The image's index always records the container's image name,
        runtime (with its options) and snapshotter; what else it holds is
        chosen by the flags (each a Go ``WithCheckpoint...`` option and a
        ``ctr containers checkpoint`` flag, where they are off by default).
        With `rw`, a running task is paused throughout, as ``ctr`` pauses
        it, so that the rootfs changes and the memory dump are of one
        moment, and resumed after (unless `exit`); CRIU freezes it for the
        dump in any case. Everything is written under a lease: if the
        checkpoint fails or is cancelled, nothing it wrote is left and the
        task is resumed. `Client.restore` makes a new container from it.

        Args:
            name: the checkpoint image's name.
            task: dump the task with CRIU, with the container's spec and the
                CRIU options (``WithCheckpointTask``; the container must
                have a task).
            image: include the container's image (``WithCheckpointImage``).
            rw: include the rootfs changes as a layer (``WithCheckpointRW``).
            exit: let the task exit after the dump (``WithCheckpointTaskExit``).
            criu: CRIU's options; by default Go's for a container
                checkpoint, ``CriuOptions(file_locks=True)``.

        Raises:
            pycontainerd.errors.InvalidArgument: a bad `name`, a container
                without an image, or `rw` for one without a snapshot.
            pycontainerd.errors.NotFound: `task` and the container has none.
            pycontainerd.errors.Unknown: the runtime failed to checkpoint; the
                message quotes runc's error and names CRIU's log.

        Example:
            ```python
            checkpoint = await container.checkpoint("example.com/checkpoints/web:1")
            restored = await client.restore("web-2", checkpoint, rw=True)
            async with await restored.new_task(checkpoint=checkpoint) as task:
                await task.start()
            ```
        """
        from ._checkpoint import checkpoint_container

        return await checkpoint_container(
            self, name, task=task, image=image, rw=rw, exit=exit, criu=criu
        )

    async def image(self) -> Image:
        """The `Image` this container was made from.

        Raises:
            pycontainerd.errors.NotFound: the container has no image, or it is gone.
        """
        if not self.image_name:
            raise errors.NotFound(f"container {self.id!r} has no image")
        return await self._require_client().images.get(self.image_name)


def _rootfs_mount(mount: Mount) -> MountProto:
    if not isinstance(mount, Mount):
        raise errors.InvalidArgument(f"rootfs takes pycontainerd.Mount values, not {mount!r:.80}")
    return mount._to_proto()


def _task_options(
    runtime: Runtime,
    options: RuncOptions | CreateOptions | Extension | None,
    **changes: bool | str | int | None,
) -> Extension | None:
    """The task options `Container.new_task` sends (``None``: the container's apply)."""
    options = _checked_options(options, "options", task=True)
    given: dict[str, Any] = {name: value for name, value in changes.items() if value is not None}
    if not given:
        return _as_extension(options)
    base = options
    if base is None:
        # The shim reads the task's options instead of the container's, so
        # they start from the container's (Go's TaskInfo.getRuncOptions).
        base = (
            CreateOptions()
            if runtime.name == LINUX_RUNTIME_V1
            else runtime.options or RuncOptions()
        )
    if isinstance(base, Extension):
        raise errors.InvalidArgument(
            f"{', '.join(given)} change runc's options, and this task's are "
            f"{base.type_url!r:.80}: give them in options"
        )
    return attrs.evolve(base, **given).to_extension()


def _check_new_snapshot(
    id: str,
    image: object,
    snapshot: str | None,
    user_namespace: oci.UserNamespace | None,
    snapshot_labels: Mapping[str, str] | None,
) -> None:
    """Refuse new-snapshot options that `create` would have no new snapshot for."""
    from .oci import UserNamespace

    if user_namespace is not None and not isinstance(user_namespace, UserNamespace):
        raise errors.InvalidArgument(
            f"user_namespace must be an oci.UserNamespace, got {type(user_namespace).__name__}"
        )
    for name, given in (("user_namespace", user_namespace), ("snapshot_labels", snapshot_labels)):
        if given is not None and (image is None or snapshot is not None):
            raise errors.InvalidArgument(
                f"container {id!r}: {name} applies to the new snapshot made from an image;"
                f" give an image and no snapshot"
            )
    checked_labels(snapshot_labels, "snapshot labels")


def _as_spec(spec: oci.Spec | Mapping[str, Any] | str | bytes, id: str) -> oci.Spec:
    """`spec` as an `oci.Spec`, parsed from its JSON if given otherwise."""
    from .oci import Spec

    if isinstance(spec, Spec):
        return spec
    try:
        return Spec.from_json(_spec_bytes(spec) or b"{}")
    except ValueError as exc:  # errors.InvalidArgument too: its words are kept
        raise errors.InvalidArgument(
            f"container {id!r}: the spec is not an OCI spec: {exc}"[:300]
        ) from exc


def _completed_spec(
    spec: oci.Spec | Mapping[str, Any] | str | bytes | None,
    namespace: str,
    id: str,
    user_namespace: oci.UserNamespace | None,
) -> oci.Spec | Mapping[str, Any] | str | bytes | None:
    """`spec` with containerd's per-namespace cgroups path if it has none, and `user_namespace`."""
    from .oci import Spec

    cgroups_path = posixpath.normpath(posixpath.join("/", namespace, id))
    if user_namespace is not None and spec is not None:
        spec = _as_spec(spec, id)
    if isinstance(spec, Mapping):
        linux = spec.get("linux")
        if isinstance(linux, Mapping) and not linux.get("cgroupsPath"):
            return {**spec, "linux": {**linux, "cgroupsPath": cgroups_path}}
        return spec
    if not isinstance(spec, Spec):
        return spec  # JSON text is the caller's to the letter
    if spec.linux is not None and not spec.linux.cgroups_path:
        spec = spec.with_cgroups_path(cgroups_path)
    if user_namespace is not None:
        linux = spec._linux()
        mappings = (tuple(linux.uid_mappings), tuple(linux.gid_mappings))
        wanted = (user_namespace.uid_mappings, user_namespace.gid_mappings)
        if mappings == ((), ()):
            spec = spec.with_user_namespace(*wanted)
        elif mappings != wanted or not any(n.type == "user" for n in linux.namespaces):
            raise errors.InvalidArgument(
                f"container {id!r}: the spec's id mappings differ from user_namespace's"
            )
    return spec


async def _remaps_ids(client: Client, snapshotter: str) -> bool:
    """Whether `snapshotter` shifts a snapshot's ids itself, given the remapper labels."""
    from ._remap import REMAP_CAPABILITY

    plugins = await client.plugins(f"type==io.containerd.snapshotter.v1,id=={snapshotter}")
    return any(REMAP_CAPABILITY in p.capabilities for p in plugins)


async def _container_as_asked(client: Client, request: bytes) -> bool:
    """Whether the container the daemon has is the one `request` asked for (`Creation.owned`).

    Every field the request sets must match: a container of that id made
    by someone else before (which the daemon refused ours for) differs in
    something, unless it is the very same request's twin.
    """
    asked = CreateContainerRequest().parse(request).container
    try:
        reply = await client._caller.unary(
            _rpc.Containers.Get, encode_scalars(GetContainerRequest, id=asked.id)
        )
    except errors.NotFound:
        return False
    stored = reply.container
    stored.created_at, stored.updated_at = asked.created_at, asked.updated_at
    return bool(stored == asked)


async def _remove_task(client: Client, container_id: str) -> None:
    """Kill and delete a task we just created (cleanup path)."""
    try:
        await client._caller.unary(
            _rpc.Tasks.Kill,
            encode_scalars(KillRequest, container_id=container_id, signal=9, all=True),
        )
    except errors.RPCError:
        pass
    try:
        await client._caller.unary(
            _rpc.Tasks.Delete,
            encode_scalars(DeleteTaskRequest, container_id=container_id),
        )
    except errors.NotFound:
        pass


# --- the wire codec of containers (see pycontainerd._wire) --------------------------

_CONTAINER: Final = "containerd.services.containers.v1.Container"
_LIST: Final = "containerd.services.containers.v1.ListContainersResponse"
_CREATE: Final = "containerd.services.containers.v1.CreateContainerRequest"
_ANY: Final = "google.protobuf.Any"


def _runtime(name: str, options: Extension | None) -> Runtime:
    stored = options if options is not None and options.type_url else None
    return Runtime(name=name, options=_stored_options(stored))


# Decoded runtimes and timestamps shared between containers (created_at is
# often updated_at): equal bytes, equal immutable value.
# Bounded: cleared when full.
_RUNTIMES: dict[bytes, Runtime] = {}
_SHARED_MAX: Final = 4096
_decode_runtime = _wire.record(
    f"{_CONTAINER}.Runtime", _runtime, {_ANY: _wire.record(_ANY, Extension)}
)


def _shared_runtime(data: bytes, pos: int, end: int) -> Runtime:
    raw = data[pos:end]
    runtime = _RUNTIMES.get(raw)
    if runtime is None:
        runtime = _decode_runtime(data, pos, end)
        if len(_RUNTIMES) >= _SHARED_MAX:
            _RUNTIMES.clear()
        _RUNTIMES[raw] = runtime
    return runtime


_STAMPS: dict[bytes, datetime | None] = {}


def _shared_stamp(data: bytes, pos: int, end: int) -> datetime | None:
    raw = data[pos:end]
    try:
        return _STAMPS[raw]
    except KeyError:
        stamp = _STAMPS[raw] = _wire.timestamp(data, pos, end)
        if len(_STAMPS) >= _SHARED_MAX:
            _STAMPS.clear()
        return stamp


_CONTAINER_PLAN: Final = _wire.decoder(
    _CONTAINER,
    {
        _ANY: _wire.record(_ANY, Extension),
        f"{_CONTAINER}.Runtime": _shared_runtime,
        "google.protobuf.Timestamp": _shared_stamp,
    },
)
_NO_EXTENSION: Final = Extension(type_url="")


def split_containers(data: bytes) -> list[bytes]:
    """The serialised ``Container`` messages of a ``ListContainersResponse``.

    Raises:
        pycontainerd.errors.DataLoss: `data` is not such a reply.
    """
    try:
        return _wire.split(data, _LIST, "containers")
    except _wire.WireError as exc:
        raise _wire.data_loss("container list", exc) from None


def decode_fields(data: bytes) -> dict[str, Any]:
    """The fields of one serialised ``Container`` message, by `Container` attribute name.

    Raises:
        pycontainerd.errors.DataLoss: `data` is not a container.
    """
    try:
        got = _wire.decode(_CONTAINER_PLAN, data)
    except _wire.WireError as exc:
        raise _wire.data_loss("container", exc) from None
    spec: Extension | None = got.get("spec")
    extensions = got.get("extensions", {})
    return {
        "id": got.get("id", ""),
        "labels": got.get("labels", {}),
        "image_name": got.get("image", ""),
        "runtime": got.get("runtime") or Runtime(name=""),
        "snapshotter": got.get("snapshotter", ""),
        "snapshot_key": got.get("snapshot_key", ""),
        "created_at": got.get("created_at"),
        "updated_at": got.get("updated_at"),
        "extensions": {k: v or _NO_EXTENSION for k, v in extensions.items()},
        "sandbox": got.get("sandbox", ""),
        "spec_type": spec.type_url if spec is not None else "",
        "spec_json": spec.value if spec is not None else b"",
    }


def decode_containers(data: bytes, client: Client | None) -> list[Container]:
    """The containers of a serialised ``ListContainersResponse``, decoded at once."""
    return [Container(client=client, **decode_fields(raw)) for raw in split_containers(data)]


def encode_create(
    *,
    id: str,
    labels: Mapping[str, str],
    image: str,
    runtime: str,
    runtime_options: Extension | None,
    spec_type: str,
    spec: bytes,
    snapshotter: str,
    snapshot_key: str,
    extensions: Mapping[str, Extension],
    sandbox: str = "",
) -> bytes:
    """A serialised ``CreateContainerRequest`` for a container with these fields."""
    container = {
        "id": id,
        "labels": labels,
        "image": image,
        "runtime": {"name": runtime, "options": runtime_options},
        "spec": {"type_url": spec_type, "value": spec},
        "snapshotter": snapshotter,
        "snapshot_key": snapshot_key,
        "extensions": extensions,
        "sandbox": sandbox,
    }
    return _wire.encode(_CREATE, {"container": container})


# Create, Get and Update answer with the container in the same field as List's
# first: one decoder serves them all (betterproto would decode the spec's bytes
# into a message object first).
def _one_container(reply: bytes, client: Client) -> Container:
    [container] = decode_containers(reply, client)
    return container


_WIRE_FIELDS: Final = frozenset(
    a.name for a in attrs.fields(Container) if a.init and a.name != "_client"
)


def _listed(data: bytes, client: Client) -> list[Container]:
    """The containers of a serialised ``ListContainersResponse``, each decoded when first read.

    Listing 1000 containers to count or filter a few of them should not pay
    for decoding every field of every one: each `Container` holds its own
    message bytes and decodes them on first attribute access (see
    `Container.__getattr__`). Nothing else differs from an eagerly built one.

    A malformed container message therefore raises `errors.DataLoss` at its
    first attribute read, not here (the reply's own framing is checked here):
    checking each message's framing up front cost 1.1-1.5 ms of client CPU per
    1000 containers, a third of the benchmark S3unary's whole client cost.

    Each is built as pickle builds one, from its state (``__setstate__``):
    the private fields only, so that the public ones, never set, are read
    from the message. No field changes once the container exists.
    """
    new = Container.__new__
    restore = cast(Any, Container).__setstate__  # attrs makes it; type checkers do not know
    out = []
    for raw in split_containers(data):
        c = new(Container)
        restore(c, {"_wire": raw, "_client": client, "_prepared_mounts": []})
        out.append(c)
    return out


class Containers(Facade):
    """The namespace's containers (``client.containers``): metadata, no processes.

    Example:
        ```python
        container = await client.containers.create("web", image=image)
        ```
    """

    def __init__(self, client: Client) -> None:
        super().__init__(client)
        # Image configs by the image's target digest: content-addressed, so
        # never stale; saves reading index, manifest and config on every create.
        self._configs: dict[str, ImageConfig] = {}
        # The namespace's default runtime, once read: as containerd's Go client,
        # which reads the label once per client.
        self._default_runtime: str | None = None
        # The same for `Image.user_files`: an exec as a named user would
        # otherwise read the image's layers again each time.
        self._user_files: dict[str, dict[str, bytes]] = {}

    async def _image_config(self, image: Image) -> ImageConfig:
        key = image.target.digest
        config = self._configs.get(key)
        if config is None:
            config = await image.config()
            if len(self._configs) >= _CONFIG_CACHE_SIZE:
                self._configs.pop(next(iter(self._configs)))
            self._configs[key] = config
        return config

    async def _image_user_files(self, image: Image) -> dict[str, bytes]:
        key = image.target.digest
        files = self._user_files.get(key)
        if files is None:
            files = await image.user_files()
            if len(self._user_files) >= _CONFIG_CACHE_SIZE:
                self._user_files.pop(next(iter(self._user_files)))
            self._user_files[key] = files
        return files

    async def create(
        self,
        id: str,
        *,
        image: Image | str | None = None,
        spec: oci.Spec | Mapping[str, Any] | str | bytes | None = None,
        args: Sequence[str] | None = None,
        env: oci.EnvLike | None = None,
        cwd: str | None = None,
        user: str | int | None = None,
        runtime: str | None = None,
        runtime_options: RuncOptions | Extension | None = None,
        snapshotter: str | None = None,
        snapshot: str | None = None,
        readonly: bool = False,
        user_namespace: oci.UserNamespace | None = None,
        snapshot_labels: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        extensions: Mapping[str, Extension] | None = None,
        sandbox: Sandbox | str | None = None,
    ) -> Container:
        """Create a container.

        Given an image and no spec, the spec is ``oci.Spec.from_image`` of the
        image's config. With an image, a new writable snapshot named after the
        container is prepared from the image's unpacked layers (a read-only
        view with ``readonly=True``), unless `snapshot` names an existing one.
        The container is recorded first and its new snapshot prepared next:
        the container's reference keeps the snapshot from the garbage
        collector from the start. Everything made is removed again if
        creation fails or is cancelled.

        A create that names neither its runtime nor (when it needs one) its
        snapshotter reads the namespace's labels first: one more round trip,
        none once the runtime's label is known and the snapshotter named.

        A spec (an `oci.Spec` or a dict) with a ``linux`` section and no
        cgroups path gets containerd's default, ``/<namespace>/<id>``, so
        that containers with the same id in two namespaces do not share a
        cgroup (a spec given as JSON text is sent as it is).

        With `user_namespace` the container runs in its own user namespace:
        the spec gets the namespace and its mappings (containerd's
        ``oci.WithUserNamespace``; a spec that already has other mappings is
        refused), and the rootfs snapshot is one whose files belong to the
        mapped host ids. A snapshotter that shifts ids itself (it advertises
        the ``remap-ids`` capability: overlayfs of containerd 2.x on Linux
        5.19 or newer) gets the remapper labels on the container's snapshot
        (``WithUserNSRemapperLabels``). Any other gets the Go client's chown
        path (``WithUserNSRemappedSnapshot``): the image's snapshot is
        prepared, mounted on this host, every file's owner shifted (setuid
        and setgid bits kept) and committed as
        `oci.UserNamespace.remapped_snapshot_name`, which later containers
        with the same image and mappings start from at once (it is kept as
        long as the image, as the image's unpacked snapshot is). That path must
        run as root on the daemon's host, and costs a copy of the image on
        overlayfs (each file is copied up to be changed).

        `args`, `env`, `cwd` and `user` change the spec's process (the one
        given, or the image's) as containerd's ``WithProcessArgs``,
        ``WithEnv``, ``WithProcessCwd`` and ``WithUser`` do after
        ``WithImageConfig``: `args` replaces the whole command line
        (entrypoint included), `env` replaces or adds variables by name (a
        bare ``NAME`` removes one), and `user` is resolved against the
        image's ``/etc/passwd`` and ``/etc/group`` (`Image.user_files`), or
        the spec's root directory without an image, as
        `oci.Spec.with_user` does.

        Args:
            id: the container id (an identifier).
            image: an `Image` (or an image name) for the rootfs and defaults.
            spec: an `oci.Spec` (or its JSON as a dict, str or bytes).
            args: the command line to run instead of the spec's.
            env: environment variables to set, as a mapping or ``NAME=value``
                strings.
            cwd: the working directory (absolute).
            user: ``uid``, ``uid:gid``, ``name``, ``name:group`` (or mixed);
                an int is a uid.
            runtime: the runtime name (default: the namespace's
                ``containerd.io/defaults/runtime`` label, else
                ``io.containerd.runc.v2``; the label is read once per client
                view, as containerd's Go client does).
            runtime_options: the shim's options for every task of the
                container: `pycontainerd.runtime.RuncOptions` for runc's shim,
                an `Extension` for another.
            snapshotter: the snapshotter (default: the namespace's
                ``containerd.io/defaults/snapshotter`` label, else ``overlayfs``;
                read on each create that needs one).
            snapshot: an existing snapshot key to use as rootfs.
            readonly: prepare a read-only view instead of a writable snapshot.
            user_namespace: run the container in a user namespace with these
                id mappings (needs `image`; not with `snapshot`).
            snapshot_labels: labels for the new rootfs snapshot (containerd's
                ``WithNewSnapshot(..., snapshots.WithLabels(...))``; needs
                `image`, not with `snapshot`).
            labels: labels to set.
            extensions: opaque client data.
            sandbox: the sandbox (a `Sandbox` or its id) the container belongs
                to. containerd records the id without checking that such a
                sandbox exists; 1.6 does not record it at all.

        Raises:
            pycontainerd.errors.InvalidArgument: bad id, neither spec nor image,
                `runtime_options` of the wrong kind, `user_namespace` or
                `snapshot_labels` without an image of their own snapshot, a
                spec with other id mappings, (the chown path) a file owned by
                ids the namespace does not map, a NUL in `args`, `env` or
                `cwd`, a malformed `env` entry, or a user or group name that
                cannot be resolved.
            ValueError: empty `args` or a relative `cwd`.
            pycontainerd.errors.AlreadyExists: the id is taken.
            pycontainerd.errors.PermissionDenied: the chown path, not as root
                on the daemon's host.

        Example:
            ```python
            image = await client.images.get("docker.io/library/busybox:latest")
            container = await client.containers.create(
                "demo", image=image, labels={"app": "demo"}
            )
            # container root is host uid 100000, its files shifted to match
            isolated = await client.containers.create(
                "demo-userns", image=image, user_namespace=oci.UserNamespace.remapped(100000, 100000)
            )
            shell = await client.containers.create(
                "shell", image=image, args=["sh", "-c", "id"], env={"DEBUG": "1"}, user="1000"
            )
            ```
        """
        validate(id, "container")
        sandbox_id = sandbox if isinstance(sandbox, str) or sandbox is None else sandbox.id
        if sandbox_id is not None:
            validate(sandbox_id, "sandbox")
        _checked_options(runtime_options, "runtime_options")
        _check_new_snapshot(id, image, snapshot, user_namespace, snapshot_labels)
        client = self._client
        if spec is not None:  # a spec that cannot take the user namespace is refused first
            spec = _completed_spec(spec, client.namespace, id, user_namespace)
        labels = checked_labels(labels)
        overrides = args is not None or env is not None or cwd is not None or user is not None
        given_spec = None
        if spec is not None:  # checked before any RPC, and serialised once
            if overrides:
                spec = _as_spec(spec, id)  # changed below, then serialised
            else:
                given_spec = _spec_bytes(spec)
        image_obj = await client.images.get(image) if isinstance(image, str) else image
        if image_obj is None and spec is None:
            raise errors.InvalidArgument(f"container {shown(id)} needs a spec or an image")
        config = None
        if image_obj is not None:
            config = await self._image_config(image_obj)
            if spec is None:
                from . import oci

                spec = oci.Spec.from_image(
                    config,
                    namespace=client.namespace,
                    id=id,
                    rootfs=await image_user_files(image_obj, config.user),
                )
                spec = _completed_spec(spec, client.namespace, id, user_namespace)
            stop_signal = getattr(config, "stop_signal", "")
            if stop_signal:
                labels.setdefault(STOP_SIGNAL_LABEL, stop_signal)
        if overrides:
            assert spec is not None  # made from the image above when not given
            spec = await _with_process_overrides(
                _as_spec(spec, id),  # parsed above already: as it is
                image_obj,
                args=args,
                env=env,
                cwd=cwd,
                user=user,
            )
        wants_snapshotter = not snapshotter and (image_obj is not None or bool(snapshot))
        if wants_snapshotter or (not runtime and self._default_runtime is None):
            defaults = await namespace_labels(client)
            if self._default_runtime is None:
                self._default_runtime = defaults.get(DEFAULT_RUNTIME_LABEL) or DEFAULT_RUNTIME
            if wants_snapshotter:
                snapshotter = defaults.get(DEFAULT_SNAPSHOTTER_LABEL) or DEFAULT_SNAPSHOTTER
        sn = snapshotter or ""
        request = encode_create(
            id=id,
            labels=labels,
            image=image_obj.name if image_obj is not None else "",
            runtime=runtime or self._default_runtime or DEFAULT_RUNTIME,
            runtime_options=_as_extension(runtime_options),
            spec_type=SPEC_TYPE,
            spec=given_spec if given_spec is not None else _spec_bytes(spec),
            snapshotter=sn if (snapshot or image_obj is not None) else "",
            # Given an image and no snapshot, a new one named after the container (see below).
            snapshot_key=snapshot if snapshot is not None else id if config is not None else "",
            extensions=extensions or {},
            sandbox=sandbox_id or "",
        )
        if snapshot is not None or image_obj is None or config is None:
            return await self._create_message(id, request)

        # The container is recorded first, naming the snapshot it is about to
        # get: containerd's garbage collector keeps every container's snapshot,
        # so the snapshot is protected from the moment it exists, with no
        # temporary lease (two round trips fewer than Go's lease create/delete).
        parent = chain_id(config.diff_ids)
        remap = user_namespace is not None and not await _remaps_ids(client, sn)
        new_snapshot = dict(snapshot_labels or {})
        if user_namespace is not None and not remap:
            new_snapshot.update(user_namespace.snapshot_labels)
        container = await self._create_message(id, request)
        prepares: list[Creation[Any]] = []
        prepared = False

        async def rootfs(via: Client) -> list[MountProto]:
            base = parent
            if remap:
                from ._remap import remapped_parent

                assert user_namespace is not None
                assert image_obj is not None
                base = await remapped_parent(via, sn, parent, user_namespace, image_obj)
            return await self._prepare(via, sn, id, base, readonly, prepares, new_snapshot)

        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
            # The remapped snapshot is referenced by nothing until the
            # container's is prepared on top of it: a lease keeps it till then.
            async with (
                client.leases.lease(expires_in=_REMAP_LEASE)
                if remap
                else contextlib.nullcontext(client)
            ) as leased:
                try:
                    mounts = await rootfs(leased)
                except errors.NotFound:
                    # The image is not unpacked in this snapshotter yet (or partly).
                    await image_obj.unpack(sn)
                    mounts = await rootfs(leased)
            prepared = True
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            # A Prepare whose answer was lost may have made the snapshot; one
            # refused (the key is taken) made nothing of ours.

            async def undo() -> None:
                if prepared or any([await p.owned() for p in prepares]):
                    await _ignore_not_found(
                        lambda: client._caller.unary(
                            _rpc.Snapshots.Remove,
                            encode_scalars(RemoveSnapshotRequest, snapshotter=sn, key=id),
                        )
                    )
                await _ignore_not_found(
                    lambda: client._caller.unary(
                        _rpc.Containers.Delete, encode_scalars(DeleteContainerRequest, id=id)
                    )
                )

            with contextlib.suppress(TimeoutError, errors.ConnectionError):
                await finish(Removal(undo), timeout=CLEANUP_TIMEOUT)
            raise
        container._prepared_mounts.extend(mounts)
        return container

    @staticmethod
    async def _prepare(
        client: Client,
        sn: str,
        key: str,
        parent: str,
        readonly: bool,
        attempts: list[Creation[Any]],
        labels: Mapping[str, str],
    ) -> list[MountProto]:
        """Prepare (or view) the rootfs snapshot, giving its mounts.

        Run to its end, however it is cancelled: once asked, the snapshot is
        known to exist (the caller removes it on the way out).
        """

        async def prepare() -> ViewSnapshotResponse | PrepareSnapshotResponse:
            if readonly:
                return await client._caller.unary(
                    _rpc.Snapshots.View,
                    ViewSnapshotRequest(
                        snapshotter=sn, key=key, parent=parent, labels=dict(labels)
                    ),
                )
            return await client._caller.unary(
                _rpc.Snapshots.Prepare,
                PrepareSnapshotRequest(snapshotter=sn, key=key, parent=parent, labels=dict(labels)),
            )

        async def as_asked() -> bool:
            try:
                info = await client.snapshots(sn).stat(key)
            except errors.NotFound:
                return False
            kind = SnapshotKind.VIEW if readonly else SnapshotKind.ACTIVE
            return (info.parent, info.kind, dict(info.labels)) == (parent, kind, dict(labels))

        creation = Creation(prepare, ours=as_asked)
        attempts.append(creation)  # the caller's rollback asks whether it was cut short
        reply = await finish(creation, timeout=CLEANUP_TIMEOUT)
        return reply.mounts

    async def _create_message(self, id: str, request: bytes) -> Container:
        """Send a serialised ``CreateContainerRequest`` for `id`; the container created."""
        client = self._client
        creation = Creation(
            lambda: client._caller.unary_raw(_rpc.Containers.Create, request),
            ours=lambda: _container_as_asked(client, request),
        )
        try:
            # The Create finishes even if cancelled: the container is known, then removed.
            reply = await finish(creation, timeout=CLEANUP_TIMEOUT)
            container = _one_container(reply, client)
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            if creation.made or creation.unsure:  # a refused create made nothing of ours

                async def undo() -> None:
                    if await creation.owned():
                        await _ignore_not_found(
                            lambda: client._caller.unary(
                                _rpc.Containers.Delete,
                                encode_scalars(DeleteContainerRequest, id=id),
                            )
                        )

                with contextlib.suppress(TimeoutError, errors.ConnectionError):
                    await finish(Removal(undo), timeout=CLEANUP_TIMEOUT)
            raise
        return container

    async def get(self, id: str) -> Container:
        """The container `id`.

        Raises:
            pycontainerd.errors.NotFound: no such container.

        Example:
            ```python
            container = await client.containers.get("web")
            ```
        """
        validate(id, "container")
        reply = await self._client._caller.unary_raw(
            _rpc.Containers.Get, encode_scalars(GetContainerRequest, id=id)
        )
        return _one_container(reply, self._client)

    async def list(self, *filters: str) -> list[Container]:
        """The namespace's containers, optionally narrowed by `filters`.

        `filters` mean what they mean for every ``list()``: several are ORed,
        the comma-separated selectors of one are ANDed (containerd's syntax, see
        `pycontainerd.events.filters`).
        Fields include ``id``, ``image``, ``runtime.name``, ``labels.<key>``:
        ``labels.app==web``, ``image~=busybox``, ``id==a,labels.x==y``. Each
        container's fields are decoded on first access (all at once), its
        spec only when read: listing many containers to count them or pick
        a few costs little. A listing larger than the daemon's message limit
        is streamed one container at a time instead, so there is no limit on
        how many (or how large) they are.

        Example:
            ```python
            web = await client.containers.list("labels.app==web")
            ```
        """
        caller = self._client._caller
        request = ListContainersRequest(filters=list(filters))
        try:
            # One reply message: a third of ListStream's cost for 1000 containers
            # (benchmarks/ S3unary), which sends one message per container.
            reply = await caller.unary_raw(_rpc.Containers.List, request)
        except errors.MessageTooLarge:
            # More than the daemon's message limit (16 MiB): stream them. Each
            # message is field 1 holding a Container, as each entry of List's
            # reply is, so joined they decode as that reply.
            replies = []
            async with caller.stream(_rpc.Containers.ListStream, timeout=DEFAULT) as call:
                await call.send(request, end=True)
                while (part := await call.recv_raw()) is not None:
                    replies.append(part)
            reply = b"".join(replies)
        return _listed(reply, self._client)

    async def update(
        self,
        id: str,
        *,
        labels: Mapping[str, str | None] | None = None,
        replace_labels: bool = False,
        spec: oci.Spec | Mapping[str, Any] | str | bytes | None = None,
        image: Image | str | None = None,
        snapshot_key: str | None = None,
        extensions: Mapping[str, Extension] | None = None,
    ) -> Container:
        """Change a container's metadata; only what is given changes (field masks).

        Args:
            id: the container.
            labels: labels to set, key by key; a ``None`` value removes that
                label. Other labels stay, unless `replace_labels`.
            replace_labels: make `labels` the complete set.
            spec: a new spec (`oci.Spec` or its JSON).
            image: a new image (an `Image` or a name).
            snapshot_key: a new rootfs snapshot key.
            extensions: extensions to set, key by key (containerd 1.6 keeps
                extensions once written: they can be replaced, not removed).

        Returns:
            The container as stored after the update.

        Example:
            ```python
            await client.containers.update("web", labels={"tier": "front", "old": None})
            ```
        """
        validate(id, "container")
        message = ContainerProto(id=id)
        paths: list[str] = []
        if labels is not None:
            labels = label_changes(labels)
            message.labels = {k: v for k, v in labels.items() if v is not None}
            paths.extend(label_paths(labels, replace=replace_labels))
        if spec is not None:
            message.spec = AnyProto(type_url=SPEC_TYPE, value=_spec_bytes(spec))
            paths.append("spec")
        if image is not None:
            message.image = image if isinstance(image, str) else image.name
            paths.append("image")
        if snapshot_key is not None:
            message.snapshot_key = snapshot_key
            paths.append("snapshotkey")
        if extensions is not None:
            message.extensions = {k: v._to_proto() for k, v in extensions.items()}
            paths.extend(f"extensions.{k}" for k in extensions)
        if not paths:
            return await self.get(id)
        reply = await self._client._caller.unary_raw(
            _rpc.Containers.Update,
            UpdateContainerRequest(container=message, update_mask=FieldMask(paths=paths)),
        )
        return _one_container(reply, self._client)

    async def delete(self, id: str, *, cleanup_snapshot: bool = True) -> None:
        """Delete a container (and, by default, its rootfs snapshot).

        Refuses while the container has a task (running or not yet deleted).
        Once started, the deletion runs shielded from cancellation. With
        ``cleanup_snapshot=False`` the snapshot stays, but nothing references
        it any more: containerd's garbage collector removes it unless another
        container or a lease holds it.

        Raises:
            pycontainerd.errors.FailedPrecondition: the container has a task.
            pycontainerd.errors.NotFound: no such container.

        Example:
            ```python
            await client.containers.delete("web")
            ```
        """
        validate(id, "container")
        await self._delete(id, cleanup_snapshot=cleanup_snapshot, known=None)

    async def _delete(self, id: str, *, cleanup_snapshot: bool, known: Container | None) -> None:
        caller = self._client._caller
        try:
            reply = await caller.unary(_rpc.Tasks.Get, encode_scalars(GetRequest, container_id=id))
        except errors.NotFound:
            pass
        else:
            state = TaskState._from_proto(reply.process.status).value
            raise errors.FailedPrecondition(
                f"container {id!r} has a task ({state}): delete the task first"
            )
        container = (known or await self.get(id)) if cleanup_snapshot else None

        async def delete() -> None:
            # Snapshot first, as the Go client does: once the container is gone the
            # garbage collector may take the snapshot, and 1.6's collector leaves the
            # parent's child index behind (the parent then cannot be removed).
            if container is not None and container.snapshot_key and container.snapshotter:
                await _ignore_not_found(
                    lambda: caller.unary(
                        _rpc.Snapshots.Remove,
                        encode_scalars(
                            RemoveSnapshotRequest,
                            snapshotter=container.snapshotter,
                            key=container.snapshot_key,
                        ),
                    )
                )
            await caller.unary(
                _rpc.Containers.Delete, encode_scalars(DeleteContainerRequest, id=id)
            )

        # Once started, the deletion finishes however the caller is cancelled.
        await finish(Removal(delete), timeout=CLEANUP_TIMEOUT)


async def image_user_files(image: Image, user: str) -> dict[str, bytes] | None:
    """The image's `Image.user_files` when there is a `user` to resolve, else ``None``.

    Even a numeric ``uid:gid`` reads them: its supplementary groups come
    from ``/etc/group``, as with Go's ``WithAdditionalGIDs``. The root user
    of an image without one is left at gid 0 alone, saving the read.
    """
    return await image._client.containers._image_user_files(image) if user else None


async def user_rootfs(image: Image | None, spec: Mapping[str, Any], user: str) -> oci.Rootfs | None:
    """Where a container's `user` is resolved: its image's files, else the spec's absolute root.

    `spec` is the container's spec as JSON data. containerd's Go client reads
    the container's snapshot, or the spec's root path when the container has
    none; an image-less container with a snapshot has nothing to read here (a
    name is then refused).
    """
    if image is not None:
        return await image_user_files(image, user)
    root = spec.get("root")
    path = root.get("path") if isinstance(root, Mapping) else None
    return path if isinstance(path, str) and path.startswith("/") else None


async def _with_process_overrides(
    spec: oci.Spec,
    image: Image | None,
    *,
    args: Sequence[str] | None,
    env: oci.EnvLike | None,
    cwd: str | None,
    user: str | int | None,
) -> oci.Spec:
    """`spec` with Go's ``WithProcessArgs``, ``WithEnv``, ``WithProcessCwd`` and ``WithUser`` applied."""
    result = spec
    if args is not None:
        result = result.with_args(args)
    if env is not None:
        result = result.with_env(env)
    if cwd is not None:
        result = result.with_cwd(cwd)
    if user is not None:
        root = {"root": {"path": result.root.path}} if result.root is not None else {}
        result = result.with_user(user, rootfs=await user_rootfs(image, root, str(user)))
    return result


async def _ignore_not_found(call: Callable[[], Awaitable[object]]) -> None:
    try:
        await call()
    except errors.NotFound:
        pass
