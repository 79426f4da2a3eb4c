"""Containers: metadata objects (spec, rootfs snapshot, labels), no processes."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Awaitable, Callable, Mapping
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
from ._facade import Facade
from ._identifiers import validate
from ._oci import chain_id
from ._shield import Creation, Removal, finish
from ._tasks import CLEANUP_TIMEOUT, STOP_SIGNAL_LABEL, Task, TaskState, load_task
from ._transport import DEFAULT
from ._wire import encode_scalars
from .stdio import Pipes, Stdio, null

if TYPE_CHECKING:
    from . import oci
    from ._client import Client
    from ._image_config import ImageConfig
    from ._images import Image
    from ._sandboxes import Sandbox

__all__ = ["CLEANUP_TIMEOUT", "Container", "Containers", "Extension", "Runtime"]

_P = TypeVar("_P", bound=Pipes | None)  # what `stdio` says the task's `pipes` is

SPEC_TYPE: Final = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
DEFAULT_RUNTIME: Final = "io.containerd.runc.v2"
DEFAULT_SNAPSHOTTER: Final = "overlayfs"
_CONFIG_CACHE_SIZE: Final = 32


@attrs.frozen(kw_only=True)
class Extension:
    """An opaque, typed blob attached to a container (a protobuf ``Any``).

    Example:
        ```python
        Extension(type_url="example.com/my-config", value=b'{"x": 1}')
        ```
    """

    type_url: str
    value: bytes = b""

    def _to_proto(self) -> AnyProto:
        return AnyProto(type_url=self.type_url, value=self.value)


@attrs.frozen(kw_only=True)
class Runtime:
    """Which runtime runs a container's tasks, with its options.

    Attributes:
        name: e.g. ``io.containerd.runc.v2``.
        options: runtime-specific options, if any.
    """

    name: str = DEFAULT_RUNTIME
    options: Extension | None = None


def _spec_bytes(spec: oci.Spec | JSONable | Mapping[str, Any] | str | bytes | None) -> bytes:
    if spec is None:
        return b""
    if isinstance(spec, bytes):
        return spec
    if isinstance(spec, str):
        return spec.encode()
    if isinstance(spec, Mapping):
        return json.dumps(dict(spec), separators=(",", ":")).encode()
    data = spec.to_json()
    return data.encode() if isinstance(data, str) else bytes(data)


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

    def _require_client(self) -> Client:
        if self._client is None:
            raise RuntimeError(f"container {self.id!r} is not bound to a client")
        return self._client

    @overload
    async def new_task(self, *, stdio: Stdio[_P]) -> Task[_P]: ...

    @overload
    async def new_task(self, *, stdio: None = None) -> Task[None]: ...

    async def new_task(self, *, stdio: Stdio[_P] | None = None) -> Task[_P] | Task[None]:
        """Create the container's task (its init process), not yet started.

        The FIFOs for `stdio` are created and opened before the task is, and
        removed again if creating it fails or is cancelled. A missing binary
        fails here, at once.

        Args:
            stdio: where stdin, stdout and stderr go (default `stdio.null`).

        Returns:
            The task; with ``stdio.pipes()`` a ``Task[Pipes]``, whose
            `Task.pipes` are never ``None``, else a ``Task[None]``.

        Raises:
            pycontainerd.errors.AlreadyExists: the container already has a task.

        Example:
            ```python
            async with await container.new_task(stdio=stdio.inherit()) as task:
                await task.start()
                await task.wait()
            ```
        """
        client = self._require_client()
        config = stdio or null()
        rootfs = []
        if self.snapshot_key:
            rootfs = self._prepared_mounts[:]
            if rootfs:
                self._prepared_mounts.clear()
            else:
                reply = await client._caller.unary(
                    _rpc.Snapshots.Mounts,
                    encode_scalars(
                        MountsRequest, snapshotter=self.snapshotter, key=self.snapshot_key
                    ),
                )
                rootfs = reply.mounts
        io = config._open(self.id)
        request = CreateTaskRequest(
            container_id=self.id,
            rootfs=rootfs,
            stdin=io.stdin_uri,
            stdout=io.stdout_uri,
            stderr=io.stderr_uri,
            terminal=config.terminal,
        )
        creation = Creation(lambda: client._caller.unary(_rpc.Tasks.Create, request))
        created = False
        try:
            # The Create finishes even if cancelled: the task is known, then removed.
            created_reply = await finish(creation, timeout=CLEANUP_TIMEOUT)
            created = True
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            try:
                if created or creation.interrupted:
                    with contextlib.suppress(TimeoutError):
                        await finish(
                            Removal(lambda: _remove_task(client, self.id)), timeout=CLEANUP_TIMEOUT
                        )
            finally:
                io.close()
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

    async def image(self) -> Image:
        """The `Image` this container was made from.

        Raises:
            pycontainerd.errors.NotFound: the container has no image, or it is gone.
        """
        if not self.image_name:
            raise errors.NotFound(f"container {self.id!r} has no image")
        return await self._require_client().images.get(self.image_name)


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
    return Runtime(name=name, options=options if options is not None and options.type_url else None)


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


def _label_paths(labels: Mapping[str, str | None]) -> list[str]:
    return [f"labels.{k}" for k in labels]


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

    async def _image_config(self, image: Image) -> ImageConfig:
        key = image.target.digest
        config = self._configs.get(key)
        if config is None:
            config = await image.config()
            if len(self._configs) >= _CONFIG_CACHE_SIZE:
                self._configs.pop(next(iter(self._configs)))
            self._configs[key] = config
        return config

    async def create(
        self,
        id: str,
        *,
        image: Image | str | None = None,
        spec: oci.Spec | Mapping[str, Any] | str | bytes | None = None,
        runtime: str = DEFAULT_RUNTIME,
        runtime_options: Extension | None = None,
        snapshotter: str | None = None,
        snapshot: str | None = None,
        readonly: bool = False,
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

        Args:
            id: the container id (an identifier).
            image: an `Image` (or an image name) for the rootfs and defaults.
            spec: an `oci.Spec` (or its JSON as a dict, str or bytes).
            runtime: the runtime name.
            runtime_options: options for the runtime.
            snapshotter: the snapshotter (default ``overlayfs``).
            snapshot: an existing snapshot key to use as rootfs.
            readonly: prepare a read-only view instead of a writable snapshot.
            labels: labels to set.
            extensions: opaque client data.
            sandbox: the sandbox (a `Sandbox` or its id) the container belongs
                to. containerd records the id without checking that such a
                sandbox exists; 1.6 does not record it at all.

        Raises:
            pycontainerd.errors.InvalidArgument: bad id, or neither spec nor image.
            pycontainerd.errors.AlreadyExists: the id is taken.

        Example:
            ```python
            image = await client.images.get("docker.io/library/busybox:latest")
            container = await client.containers.create(
                "demo", image=image, labels={"app": "demo"}
            )
            ```
        """
        validate(id, "container")
        sandbox_id = sandbox if isinstance(sandbox, str) or sandbox is None else sandbox.id
        if sandbox_id is not None:
            validate(sandbox_id, "sandbox")
        client = self._client
        labels = dict(labels or {})
        image_obj = await client.images.get(image) if isinstance(image, str) else image
        if image_obj is None and spec is None:
            raise errors.InvalidArgument(f"container {id!r} needs a spec or an image")
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
            stop_signal = getattr(config, "stop_signal", "")
            if stop_signal:
                labels.setdefault(STOP_SIGNAL_LABEL, stop_signal)
        sn = snapshotter or (DEFAULT_SNAPSHOTTER if image_obj is not None or snapshot else "")
        request = encode_create(
            id=id,
            labels=labels,
            image=image_obj.name if image_obj is not None else "",
            runtime=runtime,
            runtime_options=runtime_options,
            spec_type=SPEC_TYPE,
            spec=_spec_bytes(spec),
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
        container = await self._create_message(id, request)
        prepares: list[Creation[Any]] = []
        prepared = False
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
            try:
                mounts = await self._prepare(client, sn, id, parent, readonly, prepares)
            except errors.NotFound:
                # The image is not unpacked in this snapshotter yet (or partly).
                await image_obj.unpack(sn)
                mounts = await self._prepare(client, sn, id, parent, readonly, prepares)
            prepared = True
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            # A Prepare cut short may have made the snapshot; one refused at
            # once (the key is taken) made nothing of ours.
            ours = prepared or any(p.interrupted for p in prepares)

            async def undo() -> None:
                if ours:
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
    ) -> list[MountProto]:
        """Prepare (or view) the rootfs snapshot, giving its mounts.

        Run to its end, however it is cancelled: once asked, the snapshot is
        known to exist (the caller removes it on the way out).
        """

        async def prepare() -> ViewSnapshotResponse | PrepareSnapshotResponse:
            if readonly:
                return await client._caller.unary(
                    _rpc.Snapshots.View,
                    ViewSnapshotRequest(snapshotter=sn, key=key, parent=parent),
                )
            return await client._caller.unary(
                _rpc.Snapshots.Prepare,
                PrepareSnapshotRequest(snapshotter=sn, key=key, parent=parent),
            )

        creation = Creation(prepare)
        attempts.append(creation)  # the caller's rollback asks whether it was cut short
        reply = await finish(creation, timeout=CLEANUP_TIMEOUT)
        return reply.mounts

    async def _create_message(self, id: str, request: bytes) -> Container:
        """Send a serialised ``CreateContainerRequest`` for `id`; the container created."""
        client = self._client
        creation = Creation(lambda: client._caller.unary_raw(_rpc.Containers.Create, request))
        made = False
        try:
            # The Create finishes even if cancelled: the container is known, then removed.
            reply = await finish(creation, timeout=CLEANUP_TIMEOUT)
            made = True
            container = _one_container(reply, client)
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            if made or creation.interrupted:  # a refused first try made nothing of ours

                async def undo() -> None:
                    await _ignore_not_found(
                        lambda: client._caller.unary(
                            _rpc.Containers.Delete, encode_scalars(DeleteContainerRequest, id=id)
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
        except errors.ResourceExhausted:
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
            message.labels = {k: v for k, v in labels.items() if v is not None}
            if replace_labels:
                paths.append("labels")
            else:
                paths.extend(_label_paths(labels))
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


_USER_FILES = {"etc/passwd": "/etc/passwd", "etc/group": "/etc/group"}
_USER_FILE_LIMIT = 4 << 20


async def image_user_files(image: Image, user: str) -> dict[str, bytes] | None:
    """``/etc/passwd`` and ``/etc/group`` as the image's layers leave them, when `user` needs them.

    containerd's Go client mounts the container's snapshot to read them when
    the image config names its user (``"app"``, ``"1000:staff"``); without a
    mount, this reads them from the layer blobs instead, top layer first,
    honouring whiteouts. Returns ``None`` when `user` is numeric or empty
    (nothing to look up).
    """
    if all(not part or part.isdigit() for part in user.split(":", 1)):
        return None
    from ._tar import TarReader

    client = image._client
    manifest = await image.manifest()
    found: dict[str, bytes] = {}
    hidden: set[str] = set()
    for layer in reversed(manifest.layers):
        wanted = {n for n in _USER_FILES if n not in found and n not in hidden}
        if not wanted:
            break
        opaque = False
        try:
            async with client.content.reader(layer.digest) as reader:
                async for entry in TarReader(aiter(reader)):
                    name = entry.name.lstrip("./").rstrip("/")
                    if name == "etc/.wh..wh..opq":
                        opaque = True
                    elif name.startswith("etc/.wh.") and "etc/" + name[8:] in wanted:
                        hidden.add("etc/" + name[8:])
                    elif name in wanted and entry.is_file:
                        found[name] = await entry.read(_USER_FILE_LIMIT)
        except errors.InvalidArchive:
            break  # not a tar we can read (zstd...): resolve with what we have
        if opaque:
            hidden.update(n for n in _USER_FILES if n not in found)
    return {_USER_FILES[n]: data for n, data in found.items()}


async def _ignore_not_found(call: Callable[[], Awaitable[object]]) -> None:
    try:
        await call()
    except errors.NotFound:
        pass
