"""Checkpoint and restore: CRIU images of tasks and containers, kept as images in the store.

The layout is containerd's own (its Go client's ``Task.Checkpoint``,
``Container.Checkpoint`` and ``Client.Restore``), so ``ctr`` restores what
the SDK checkpoints and the other way round: an OCI index whose manifests are
the CRIU dump (a tar), the container's spec and the checkpoint options (both
serialised ``Any`` messages), the runtime options, the container's image and
its rootfs changes (a gzip layer), told apart by media type.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import anyio
import attrs
from betterproto.lib.google.protobuf import Any as AnyProto

from . import _oci, errors
from ._api import _rpc
from ._api.containerd.runc.v1 import CheckpointOptions
from ._api.containerd.services.tasks.v1 import CheckpointTaskRequest
from ._containers import CLEANUP_TIMEOUT, Container, Extension
from ._descriptors import Descriptor
from ._identifiers import validate
from ._images import Image, _check_name
from ._platforms import Platform
from ._shield import Creation, Removal, finish
from ._tasks import Task, TaskState
from .runtime import CriuOptions, _as_extension

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["CriuOptions"]

# containerd's media types for the parts of a checkpoint (core/images/mediatypes.go).
CHECKPOINT: Final = _oci.CHECKPOINT
CHECKPOINT_CONFIG: Final = _oci.CHECKPOINT_CONFIG
CHECKPOINT_OPTIONS: Final = "application/vnd.containerd.container.checkpoint.options.v1+proto"
CHECKPOINT_RUNTIME_OPTIONS: Final = (
    "application/vnd.containerd.container.checkpoint.runtime.options+proto"
)
# The index annotations `Client.Restore` reads (Go's client/container.go).
RUNTIME_ANNOTATION: Final = "io.containerd.checkpoint.runtime"
SNAPSHOTTER_ANNOTATION: Final = "io.containerd.checkpoint.snapshotter"
# What a task checkpoint records of its container's image, and its image label.
IMAGE_NAME_ANNOTATION: Final = "image.name"
CHECKPOINT_LABEL: Final = "containerd.io/checkpoint"
# The type URL Go's typeurl gives runc's options: the message's full name, no prefix.
OPTIONS_TYPE: Final = "containerd.runc.v1.CheckpointOptions"
_LEASE_EXPIRY: Final = 24 * 3600.0


def options_any(options: CheckpointOptions) -> AnyProto:
    """`options` as the ``Any`` of a checkpoint request."""
    return AnyProto(type_url=OPTIONS_TYPE, value=bytes(options))


def default_name(container_id: str) -> str:
    """Go's name for a task checkpoint: ``containerd.io/checkpoint/<id>:<MM-DD-YYYY-HH:MM:SS>``."""
    return f"containerd.io/checkpoint/{container_id}:{time.strftime('%m-%d-%Y-%H:%M:%S')}"


def _platform() -> Platform:
    host = Platform.host()
    return Platform(os=host.os, architecture=host.architecture)


Blob = tuple[str, bytes, Mapping[str, str]]  # ingest ref, data, labels


def _blob(media_type: str, data: bytes) -> Descriptor:
    return Descriptor(media_type=media_type, digest=_oci.sha256(data), size=len(data))


def _index(
    manifests: Sequence[tuple[Descriptor, Platform | None]], annotations: Mapping[str, str]
) -> tuple[Descriptor, bytes, dict[str, str]]:
    """The checkpoint's OCI index, with the garbage-collection labels Go gives it."""
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": _oci.OCI_INDEX,
        "manifests": [_oci.descriptor_json(d, p) for d, p in manifests],
    }
    if annotations:
        doc["annotations"] = dict(sorted(annotations.items()))
    data = _oci.go_json(doc)
    labels = {f"containerd.io/gc.ref.content.{i}": d.digest for i, (d, _) in enumerate(manifests)}
    return _blob(_oci.OCI_INDEX, data), data, labels


async def write_blobs(client: Client, blobs: Sequence[Blob]) -> None:
    """Write small blobs all at once: each commit waits for the daemon's disk."""
    async with anyio.create_task_group() as tg:
        for ref, data, labels in blobs:
            tg.start_soon(
                functools.partial(
                    client.content.write, ref, data, expected=_oci.sha256(data), labels=labels
                )
            )


async def _checkpoint_rpc(
    client: Client, container_id: str, options: CheckpointOptions | None
) -> list[tuple[Descriptor, Platform | None]]:
    request = CheckpointTaskRequest(container_id=container_id)
    if options is not None:
        request.options = options_any(options)
    reply = await client._caller.unary(_rpc.Tasks.Checkpoint, request)
    return [(Descriptor._from_proto(d), _platform()) for d in reply.descriptors]


async def _refuse_stored_spec(client: Client, container: Container) -> None:
    """Refuse, before the dump, a task checkpoint that containerd before 2.0 fails after it.

    The daemon stores the container's spec beside the dump, and before 2.0 it
    answers ``AlreadyExists`` when that blob is already in the namespace (an
    earlier checkpoint of the same spec holds it): by then CRIU has dumped,
    and with ``exit`` the task is gone. The blob is the spec's ``Any``
    message, so whether it is there can be asked first.
    """
    if await client._release() >= (2, 0):
        return
    blob = bytes(AnyProto(type_url=container.spec_type, value=container.spec_json))
    digest = _oci.sha256(blob)
    try:
        await client.content.info(digest)
    except errors.NotFound:
        return
    raise errors.AlreadyExists(
        f"container {container.id!r}: an earlier checkpoint holds its spec ({digest}), and "
        "containerd before 2.0 fails a checkpoint whose spec blob exists: delete that "
        "checkpoint first"
    )


async def _rw_layer(client: Client, container: Container) -> Descriptor:
    """The container's rootfs changes as a gzip layer (Go's ``rootfs.CreateDiff``)."""
    snapshots = client.snapshots(container.snapshotter)
    info = await snapshots.stat(container.snapshot_key)
    view = f"{info.parent or 'root'}-parent-view-{secrets.token_hex(6)}"
    try:
        # Made to its end however it is cancelled, then removed below: a view
        # the collector removed instead would leave 1.6's child index behind.
        lower = await finish(
            Creation(lambda: snapshots.view(view, parent=info.parent or None)),
            timeout=CLEANUP_TIMEOUT,
        )
        upper = await snapshots.mounts(container.snapshot_key)
        layer = await client.diff.compare(
            lower, upper, ref=f"checkpoint-rw-{container.snapshot_key}"
        )
    finally:
        with contextlib.suppress(TimeoutError, errors.ContainerdError):
            await finish(Removal(lambda: snapshots.remove(view)), timeout=CLEANUP_TIMEOUT)
    return layer


class _Writing:
    """What a checkpoint writes: under a lease, and undone if the call ends short.

    Entering creates the lease; `leased` makes calls under it. If the block
    fails or is cancelled, the image `store` made is deleted and the lease
    deleted synchronously, so that what was written is collected at once. A
    native cancellation (``Task.cancel()``) that lands only at the next
    suspension is taken before leaving, while the image can still be undone,
    rather than in the caller, who would never see the image.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self._stack = contextlib.AsyncExitStack()
        self._images: list[tuple[str, Creation[Image]]] = []
        self.leased = client

    async def __aenter__(self) -> _Writing:
        self.leased = await self._stack.enter_async_context(
            self._client.leases.lease(expires_in=_LEASE_EXPIRY)
        )
        return self

    async def store(self, name: str, index: Descriptor, labels: Mapping[str, str]) -> Image:
        """Create the image record `name` for `index`."""

        async def as_asked() -> bool:
            try:
                found = await self._client.images.get(name)
            except errors.NotFound:
                return False
            return found.target == index and dict(found.labels) == dict(labels)

        creation = Creation(
            lambda: self.leased.images.create(name, index, labels=labels), ours=as_asked
        )
        try:
            image = await finish(creation, timeout=CLEANUP_TIMEOUT)
        except BaseException:
            if creation.made or creation.unsure:  # a refused create made nothing of ours
                self._images.append((name, creation))
            raise
        self._images.append((name, creation))
        return attrs.evolve(image, _client=self._client)

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            try:
                if exc_info[0] is None:
                    await anyio.lowlevel.checkpoint()
            except BaseException:
                await self._undo()
                raise
            if exc_info[0] is not None:
                await self._undo()
        finally:
            # The lease goes (shielded, bounded); after a success, what it held
            # is referenced by the image.
            await self._stack.aclose()

    async def _undo(self) -> None:
        client, lease = self._client, self.leased.lease
        assert lease is not None

        async def undo() -> None:
            for name, creation in self._images:
                if await creation.owned():
                    with contextlib.suppress(errors.NotFound):
                        await client.images.delete(name)
            with contextlib.suppress(errors.NotFound):
                await client.leases.delete(lease, sync=True)

        with contextlib.suppress(TimeoutError, errors.ContainerdError):
            await finish(undo, timeout=CLEANUP_TIMEOUT)


@contextlib.asynccontextmanager
async def _paused(task: Task[Any], state: TaskState) -> Any:
    """Hold a running task paused for the block (Go resumes it however the block ends)."""
    if state is not TaskState.RUNNING:
        yield
        return
    try:
        # Resumed even if the pause was cut short: it may have reached the shim.
        await task.pause()
        yield
    finally:
        # A task that the checkpoint made exit cannot be resumed: that is no error.
        with contextlib.suppress(TimeoutError, errors.ContainerdError):
            await finish(task.resume, timeout=CLEANUP_TIMEOUT)


async def checkpoint_task(
    task: Task[Any],
    *,
    name: str | None,
    exit: bool,
    image_path: str | None,
    criu: CriuOptions | None,
) -> Image | None:
    """`Task.checkpoint`."""
    client = task._client
    if name is not None:
        _check_name(name)
    if image_path is not None and not image_path.startswith("/"):
        raise errors.InvalidArgument(f"image_path {image_path!r} must be an absolute path")
    options = None
    if criu is not None or exit or image_path:
        options = (criu or CriuOptions())._to_proto(exit=exit, image_path=image_path or "")
    container = await client.containers.get(task.id)
    if not image_path:
        await _refuse_stored_spec(client, container)
    state = (await task.status()).state
    async with _Writing(client) as writing, _paused(task, state):
        leased = writing.leased
        manifests = await _checkpoint_rpc(leased, task.id, options)
        if image_path:
            return None  # the shim wrote the dump there, and nothing into the store
        annotations = {}
        if container.image_name:
            base = await leased.images.get(container.image_name)
            manifests.append((base.target, None))
            annotations[IMAGE_NAME_ANNOTATION] = container.image_name
        if container.snapshot_key:
            manifests.append((await _rw_layer(leased, container), _platform()))
        index, data, labels = _index(manifests, annotations)
        await write_blobs(leased, [(task.id, data, labels)])
        return await writing.store(name or default_name(task.id), index, {CHECKPOINT_LABEL: "true"})


async def checkpoint_container(
    container: Container,
    name: str,
    *,
    task: bool,
    image: bool,
    rw: bool,
    exit: bool,
    criu: CriuOptions | None,
) -> Image:
    """`Container.checkpoint`."""
    client = container._require_client()
    _check_name(name)
    info = await client.containers.get(container.id)
    if not info.image_name:
        raise errors.InvalidArgument(f"container {info.id!r} has no image to checkpoint against")
    if rw and not info.snapshot_key:
        raise errors.InvalidArgument(f"container {info.id!r} has no rootfs snapshot")
    base = await client.images.get(info.image_name)
    options = (criu or CriuOptions(file_locks=True))._to_proto(exit=exit)
    if task:
        await _refuse_stored_spec(client, info)
    handle: Task[None] = Task(client, info)  # no I/O: one Get says whether the task exists
    running: Task[Any] | None = handle
    try:
        state = (await handle.status()).state
    except errors.NotFound:
        if task:
            raise
        running, state = None, TaskState.UNKNOWN
    annotations = {
        _oci.ANNOTATION_REF_NAME: base.name,
        RUNTIME_ANNOTATION: info.runtime.name,
        SNAPSHOTTER_ANNOTATION: info.snapshotter,
    }
    manifests: list[tuple[Descriptor, Platform | None]] = []
    blobs: list[Blob] = []  # written once the task runs again, all at once
    async with _Writing(client) as writing:
        leased = writing.leased
        # Paused, as ``ctr containers checkpoint`` pauses it, when the rootfs
        # changes are taken: they and the memory dump are then of one moment.
        # (CRIU freezes the task for the dump by itself.)
        async with contextlib.AsyncExitStack() as stack:
            if running is not None and rw:
                await stack.enter_async_context(_paused(running, state))
            # In the order ``ctr`` takes them: runtime, image, rw layer, task.
            if (runtime_options := _as_extension(info.runtime.options)) is not None:
                data = bytes(runtime_options._to_proto())
                blobs.append((f"{info.id}-runtime-options", data, {}))
                manifests.append((_blob(CHECKPOINT_RUNTIME_OPTIONS, data), _platform()))
            if image:
                manifests.append((base.target, None))
            if rw:
                manifests.append((await _rw_layer(leased, info), _platform()))
            if task:
                manifests += await _checkpoint_rpc(leased, info.id, options)
                data = bytes(options_any(options))
                blobs.append((f"{info.id}-checkpoint-options", data, {}))
                manifests.append((_blob(CHECKPOINT_OPTIONS, data), _platform()))
        index, data, labels = _index(manifests, annotations)
        await write_blobs(leased, [*blobs, (f"{info.id}index", data, labels)])
        return await writing.store(name, index, {})


async def read_index(image: Image) -> tuple[list[Descriptor], dict[str, str]]:
    """A checkpoint's manifests and annotations."""
    from ._images import _json_error, read_json_blob

    if not _oci.is_index(image.target.media_type):
        raise errors.InvalidArgument(
            f"image {image.name!r} is not a checkpoint: its target is a {image.target.media_type}"
        )
    data = await read_json_blob(image._client, image.target, f"checkpoint {image.name!r}")
    try:
        entries, doc = _oci.parse_index(data, image.target.media_type, f"checkpoint {image.name!r}")
    except ValueError as exc:
        raise _json_error(exc) from exc
    annotations = doc.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise errors.InvalidArgument(f"checkpoint {image.name!r} has malformed annotations")
    return [e.descriptor for e in entries], {str(k): str(v) for k, v in annotations.items()}


def _find(manifests: Sequence[Descriptor], media_type: str) -> Descriptor | None:
    return next((d for d in manifests if d.media_type == media_type), None)


async def task_checkpoint(image: Image) -> Descriptor:
    """The CRIU dump of a checkpoint, for ``new_task(checkpoint=...)`` (Go's ``WithTaskCheckpoint``)."""
    manifests, _ = await read_index(image)
    dump = _find(manifests, CHECKPOINT)
    if dump is None:
        raise errors.InvalidArgument(f"checkpoint {image.name!r} holds no task (no {CHECKPOINT})")
    return dump


async def restore(
    client: Client,
    id: str,
    checkpoint: Image | str,
    *,
    rw: bool,
    labels: Mapping[str, str] | None,
) -> Container:
    """`Client.restore`."""
    validate(id, "container")
    image = await client.images.get(checkpoint) if isinstance(checkpoint, str) else checkpoint
    manifests, annotations = await read_index(image)
    wanted = {
        "image name": _oci.ANNOTATION_REF_NAME,
        "runtime": RUNTIME_ANNOTATION,
        "snapshotter": SNAPSHOTTER_ANNOTATION,
    }
    for what, key in wanted.items():
        if not annotations.get(key):
            raise errors.InvalidArgument(
                f"checkpoint {image.name!r} names no {what} ({key}): "
                "only a container checkpoint can be restored into a new container"
            )
    spec_desc = _find(manifests, CHECKPOINT_CONFIG)
    if spec_desc is None:
        raise errors.InvalidArgument(f"checkpoint {image.name!r} holds no spec (no task was taken)")
    layer = _find(manifests, _oci.OCI_LAYER_GZIP)
    if rw and layer is None:
        raise errors.InvalidArgument(f"checkpoint {image.name!r} holds no rw layer")
    spec = AnyProto().parse(await client.content.read(spec_desc.digest))
    runtime_desc = _find(manifests, CHECKPOINT_RUNTIME_OPTIONS)
    runtime_options = None
    if runtime_desc is not None:
        options = AnyProto().parse(await client.content.read(runtime_desc.digest))
        runtime_options = Extension(type_url=options.type_url, value=options.value)
    base = await client.images.get(annotations[_oci.ANNOTATION_REF_NAME])
    container = await client.containers.create(
        id,
        image=base,
        spec=spec.value,
        runtime=annotations[RUNTIME_ANNOTATION],
        runtime_options=runtime_options,
        snapshotter=annotations[SNAPSHOTTER_ANNOTATION],
        labels=labels,
    )
    if rw and layer is not None:
        try:
            mounts = await client.snapshots(container.snapshotter).mounts(container.snapshot_key)
            await client.diff.apply(layer, mounts)
        except BaseException:
            with contextlib.suppress(TimeoutError, errors.ContainerdError):
                await finish(Removal(lambda: client.containers.delete(id)), timeout=CLEANUP_TIMEOUT)
            raise
    return container
