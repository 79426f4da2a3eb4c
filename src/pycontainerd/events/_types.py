"""Typed events: one attrs class per containerd event message, and their envelope."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Self

import attrs
import betterproto
from betterproto.lib.google.protobuf import Any as _Any

from .. import _convert
from .._api import _registry
from .._api.containerd import events as _ev
from .._api.containerd.services.events.v1 import Envelope as _Envelope
from .._api.containerd.services.images.v1 import ImageCreate as _ImageCreate
from .._api.containerd.services.images.v1 import ImageDelete as _ImageDelete
from .._api.containerd.services.images.v1 import ImageUpdate as _ImageUpdate
from .._codec import WireError
from .._descriptors import Mount
from . import _wire

__all__ = [
    "ContainerCreate",
    "ContainerDelete",
    "ContainerRuntime",
    "ContainerUpdate",
    "ContentDelete",
    "Envelope",
    "Event",
    "ImageCreate",
    "ImageDelete",
    "ImageUpdate",
    "NamespaceCreate",
    "NamespaceDelete",
    "NamespaceUpdate",
    "SnapshotCommit",
    "SnapshotPrepare",
    "SnapshotRemove",
    "TaskCheckpointed",
    "TaskCreate",
    "TaskDelete",
    "TaskExecAdded",
    "TaskExecStarted",
    "TaskExit",
    "TaskIO",
    "TaskOOM",
    "TaskPaused",
    "TaskResumed",
    "TaskStart",
    "Unknown",
]

_GOOGLE_PREFIX = "type.googleapis.com/"


def _labels(value: Mapping[str, str]) -> Mapping[str, str]:
    return dict(value)


def _mounts(value: Iterable[Mount]) -> tuple[Mount, ...]:
    return tuple(value)


class _Event:
    """Base of the typed events: the generic conversion to and from the generated message.

    Subclasses name their message (``TYPE_URL``, ``_PROTO``) and the topic
    containerd publishes them on (``TOPIC``). Fields with the same name as the
    message's are copied; mappings become dicts.
    """

    TYPE_URL: ClassVar[str]
    TOPIC: ClassVar[str | None]
    _PROTO: ClassVar[type[betterproto.Message]]

    @classmethod
    def _from_proto(cls, msg: Any) -> Self:
        values = {}
        for f in attrs.fields(cls):  # type: ignore[arg-type]
            v = getattr(msg, f.name)
            values[f.name] = dict(v) if isinstance(v, dict) else v
        return cls(**values)

    def _to_proto(self) -> betterproto.Message:
        values = {}
        for f in attrs.fields(type(self)):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            values[f.name] = dict(v) if isinstance(v, Mapping) else v
        return self._PROTO(**values)


# --- tasks -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TaskIO(_Event):
    """The stdio paths a task was created with (part of `TaskCreate`)."""

    TYPE_URL: ClassVar[str] = "containerd.events.TaskIO"
    TOPIC: ClassVar[str | None] = None
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.TaskIo

    stdin: str = ""
    stdout: str = ""
    stderr: str = ""
    terminal: bool = False


@attrs.frozen(kw_only=True)
class TaskCreate(_Event):
    """A task was created (topic ``/tasks/create``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.TaskCreate"
    TOPIC: ClassVar[str | None] = "/tasks/create"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.TaskCreate

    container_id: str
    bundle: str = ""
    rootfs: Sequence[Mount] = attrs.field(default=(), converter=_mounts)
    io: TaskIO = attrs.field(factory=TaskIO)
    checkpoint: str = ""
    pid: int = 0

    @classmethod
    def _from_proto(cls, msg: Any) -> Self:
        return cls(
            container_id=msg.container_id,
            bundle=msg.bundle,
            rootfs=tuple(Mount._from_proto(m) for m in msg.rootfs),
            io=TaskIO._from_proto(msg.io),
            checkpoint=msg.checkpoint,
            pid=msg.pid,
        )

    def _to_proto(self) -> betterproto.Message:
        return _ev.TaskCreate(
            container_id=self.container_id,
            bundle=self.bundle,
            rootfs=[m._to_proto() for m in self.rootfs],
            io=self.io._to_proto(),  # type: ignore[arg-type]
            checkpoint=self.checkpoint,
            pid=self.pid,
        )


@attrs.frozen(kw_only=True)
class TaskStart(_Event):
    """A task's init process started (topic ``/tasks/start``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.TaskStart"
    TOPIC: ClassVar[str | None] = "/tasks/start"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.TaskStart

    container_id: str
    pid: int = 0


class _Exited(_Event):
    @classmethod
    def _from_proto(cls, msg: Any) -> Self:
        return cls(
            container_id=msg.container_id,  # type: ignore[call-arg]
            id=msg.id,
            pid=msg.pid,
            exit_status=msg.exit_status,
            exited_at=_convert.timestamp(msg.exited_at),
        )

    def _to_proto(self) -> betterproto.Message:
        values = attrs.asdict(self)  # type: ignore[arg-type]
        if values["exited_at"] is None:
            del values["exited_at"]
        return self._PROTO(**values)


@attrs.frozen(kw_only=True)
class TaskExit(_Exited):
    """A process of a task exited (topic ``/tasks/exit``).

    Attributes:
        container_id: the task's container.
        id: the process: the container id for the init process, else the exec id.
        pid: the process id on the host.
        exit_status: the exit code (128 + signal number when killed by a signal).
        exited_at: when it exited (UTC), ``None`` if unknown.
    """

    TYPE_URL: ClassVar[str] = "containerd.events.TaskExit"
    TOPIC: ClassVar[str | None] = "/tasks/exit"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.TaskExit

    container_id: str
    id: str = ""
    pid: int = 0
    exit_status: int = 0
    exited_at: datetime | None = None


@attrs.frozen(kw_only=True)
class TaskDelete(_Exited):
    """A task (or an exec process, ``id``) was deleted (topic ``/tasks/delete``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.TaskDelete"
    TOPIC: ClassVar[str | None] = "/tasks/delete"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.TaskDelete

    container_id: str
    id: str = ""
    pid: int = 0
    exit_status: int = 0
    exited_at: datetime | None = None


@attrs.frozen(kw_only=True)
class TaskOOM(_Event):
    """A task's cgroup hit its memory limit (topic ``/tasks/oom``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.TaskOOM"
    TOPIC: ClassVar[str | None] = "/tasks/oom"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.TaskOom

    container_id: str


@attrs.frozen(kw_only=True)
class TaskExecAdded(_Event):
    """An exec process was added to a task (topic ``/tasks/exec-added``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.TaskExecAdded"
    TOPIC: ClassVar[str | None] = "/tasks/exec-added"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.TaskExecAdded

    container_id: str
    exec_id: str = ""


@attrs.frozen(kw_only=True)
class TaskExecStarted(_Event):
    """An exec process started (topic ``/tasks/exec-started``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.TaskExecStarted"
    TOPIC: ClassVar[str | None] = "/tasks/exec-started"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.TaskExecStarted

    container_id: str
    exec_id: str = ""
    pid: int = 0


@attrs.frozen(kw_only=True)
class TaskPaused(_Event):
    """A task was paused (topic ``/tasks/paused``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.TaskPaused"
    TOPIC: ClassVar[str | None] = "/tasks/paused"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.TaskPaused

    container_id: str


@attrs.frozen(kw_only=True)
class TaskResumed(_Event):
    """A paused task was resumed (topic ``/tasks/resumed``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.TaskResumed"
    TOPIC: ClassVar[str | None] = "/tasks/resumed"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.TaskResumed

    container_id: str


@attrs.frozen(kw_only=True)
class TaskCheckpointed(_Event):
    """A task was checkpointed (topic ``/tasks/checkpointed``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.TaskCheckpointed"
    TOPIC: ClassVar[str | None] = "/tasks/checkpointed"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.TaskCheckpointed

    container_id: str
    checkpoint: str = ""


# --- containers ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Unknown:
    """An event (or an ``Any`` value) whose type the SDK does not know.

    Attributes:
        type_url: the message's full name, e.g. ``example.com.MyEvent``.
        value: the serialized message.
    """

    type_url: str
    value: bytes = b""

    def _to_any(self) -> _Any:
        return _Any(type_url=self.type_url, value=self.value)


@attrs.frozen(kw_only=True)
class ContainerRuntime:
    """The runtime named in `ContainerCreate`: its name and (undecoded) options."""

    name: str
    options: Unknown | None = None


@attrs.frozen(kw_only=True)
class ContainerCreate(_Event):
    """A container was created (topic ``/containers/create``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.ContainerCreate"
    TOPIC: ClassVar[str | None] = "/containers/create"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.ContainerCreate

    id: str
    image: str = ""
    runtime: ContainerRuntime | None = None

    @classmethod
    def _from_proto(cls, msg: Any) -> Self:
        runtime = None
        if _convert.is_set(msg.runtime):
            opts = msg.runtime.options
            runtime = ContainerRuntime(
                name=msg.runtime.name,
                options=Unknown(type_url=opts.type_url, value=bytes(opts.value))
                if _convert.is_set(opts)
                else None,
            )
        return cls(id=msg.id, image=msg.image, runtime=runtime)

    def _to_proto(self) -> betterproto.Message:
        msg = _ev.ContainerCreate(id=self.id, image=self.image)
        if self.runtime is not None:
            msg.runtime = _ev.ContainerCreateRuntime(name=self.runtime.name)
            if self.runtime.options is not None:
                msg.runtime.options = self.runtime.options._to_any()
        return msg


@attrs.frozen(kw_only=True)
class ContainerUpdate(_Event):
    """A container was updated (topic ``/containers/update``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.ContainerUpdate"
    TOPIC: ClassVar[str | None] = "/containers/update"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.ContainerUpdate

    id: str
    image: str = ""
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=_labels)
    snapshot_key: str = ""


@attrs.frozen(kw_only=True)
class ContainerDelete(_Event):
    """A container was deleted (topic ``/containers/delete``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.ContainerDelete"
    TOPIC: ClassVar[str | None] = "/containers/delete"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.ContainerDelete

    id: str


# --- images, content, namespaces, snapshots --------------------------------------


@attrs.frozen(kw_only=True)
class ImageCreate(_Event):
    """An image record was created (topic ``/images/create``)."""

    TYPE_URL: ClassVar[str] = "containerd.services.images.v1.ImageCreate"
    TOPIC: ClassVar[str | None] = "/images/create"
    _PROTO: ClassVar[type[betterproto.Message]] = _ImageCreate

    name: str
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=_labels)


@attrs.frozen(kw_only=True)
class ImageUpdate(_Event):
    """An image record was updated (topic ``/images/update``)."""

    TYPE_URL: ClassVar[str] = "containerd.services.images.v1.ImageUpdate"
    TOPIC: ClassVar[str | None] = "/images/update"
    _PROTO: ClassVar[type[betterproto.Message]] = _ImageUpdate

    name: str
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=_labels)


@attrs.frozen(kw_only=True)
class ImageDelete(_Event):
    """An image record was deleted (topic ``/images/delete``)."""

    TYPE_URL: ClassVar[str] = "containerd.services.images.v1.ImageDelete"
    TOPIC: ClassVar[str | None] = "/images/delete"
    _PROTO: ClassVar[type[betterproto.Message]] = _ImageDelete

    name: str


@attrs.frozen(kw_only=True)
class ContentDelete(_Event):
    """A blob was removed from the content store (topic ``/content/delete``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.ContentDelete"
    TOPIC: ClassVar[str | None] = "/content/delete"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.ContentDelete

    digest: str


@attrs.frozen(kw_only=True)
class NamespaceCreate(_Event):
    """A namespace was created (topic ``/namespaces/create``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.NamespaceCreate"
    TOPIC: ClassVar[str | None] = "/namespaces/create"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.NamespaceCreate

    name: str
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=_labels)


@attrs.frozen(kw_only=True)
class NamespaceUpdate(_Event):
    """A namespace's labels changed (topic ``/namespaces/update``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.NamespaceUpdate"
    TOPIC: ClassVar[str | None] = "/namespaces/update"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.NamespaceUpdate

    name: str
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=_labels)


@attrs.frozen(kw_only=True)
class NamespaceDelete(_Event):
    """A namespace was deleted (topic ``/namespaces/delete``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.NamespaceDelete"
    TOPIC: ClassVar[str | None] = "/namespaces/delete"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.NamespaceDelete

    name: str


@attrs.frozen(kw_only=True)
class SnapshotPrepare(_Event):
    """An active snapshot was prepared (topic ``/snapshot/prepare``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.SnapshotPrepare"
    TOPIC: ClassVar[str | None] = "/snapshot/prepare"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.SnapshotPrepare

    key: str
    parent: str = ""


@attrs.frozen(kw_only=True)
class SnapshotCommit(_Event):
    """An active snapshot was committed as `name` (topic ``/snapshot/commit``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.SnapshotCommit"
    TOPIC: ClassVar[str | None] = "/snapshot/commit"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.SnapshotCommit

    key: str
    name: str = ""


@attrs.frozen(kw_only=True)
class SnapshotRemove(_Event):
    """A snapshot was removed (topic ``/snapshot/remove``)."""

    TYPE_URL: ClassVar[str] = "containerd.events.SnapshotRemove"
    TOPIC: ClassVar[str | None] = "/snapshot/remove"
    _PROTO: ClassVar[type[betterproto.Message]] = _ev.SnapshotRemove

    key: str


Event = (
    TaskCreate
    | TaskStart
    | TaskExit
    | TaskDelete
    | TaskOOM
    | TaskExecAdded
    | TaskExecStarted
    | TaskPaused
    | TaskResumed
    | TaskCheckpointed
    | TaskIO
    | ContainerCreate
    | ContainerUpdate
    | ContainerDelete
    | ImageCreate
    | ImageUpdate
    | ImageDelete
    | ContentDelete
    | NamespaceCreate
    | NamespaceUpdate
    | NamespaceDelete
    | SnapshotPrepare
    | SnapshotCommit
    | SnapshotRemove
    | Unknown
)
"""Any event value an `Envelope` can carry."""

_TYPED: tuple[type[_Event], ...] = (
    TaskCreate,
    TaskStart,
    TaskExit,
    TaskDelete,
    TaskOOM,
    TaskExecAdded,
    TaskExecStarted,
    TaskPaused,
    TaskResumed,
    TaskCheckpointed,
    TaskIO,
    ContainerCreate,
    ContainerUpdate,
    ContainerDelete,
    ImageCreate,
    ImageUpdate,
    ImageDelete,
    ContentDelete,
    NamespaceCreate,
    NamespaceUpdate,
    NamespaceDelete,
    SnapshotPrepare,
    SnapshotCommit,
    SnapshotRemove,
)
_BY_URL: dict[str, type[_Event]] = {cls.TYPE_URL: cls for cls in _TYPED}


def _builder(cls: type[Any], schema: _wire.Schema) -> _wire.Builder:
    """A function decoding ``data[pos:end]`` straight into `cls` (missing fields: proto defaults)."""
    base: dict[str, Any] = {}
    kinds = {name: kind for name, kind, _ in schema.values()}
    for f in attrs.fields(cls):
        if f.default is attrs.NOTHING:
            base[f.name] = 0 if kinds.get(f.name) == _wire.INT else ""

    def build(data: bytes, pos: int, end: int) -> Any:
        return cls(**{**base, **_wire.fields(data, pos, end, schema)})

    return build


def _runtime(data: bytes, pos: int, end: int) -> ContainerRuntime:
    msg = _wire.fields(data, pos, end, _RUNTIME)
    options = msg.get("options")
    return ContainerRuntime(
        name=msg.get("name", ""),
        options=None if options is None else Unknown(type_url=options[0], value=options[1]),
    )


_RUNTIME: _wire.Schema = {
    1: ("name", _wire.STR, None),
    2: ("options", _wire.MESSAGE, _wire.any_value),
}
_task_io = _builder(TaskIO, _wire.schema_of(_ev.TaskIo))
_OVERRIDES: dict[str, tuple[int, _wire.Builder | None]] = {
    "exited_at": (_wire.TIMESTAMP, None),
    "rootfs": (_wire.MOUNTS, None),
    "io": (_wire.MESSAGE, _task_io),
    "runtime": (_wire.MESSAGE, _runtime),
}
_BUILDERS: dict[str, _wire.Builder] = {
    cls.TYPE_URL: _builder(cls, _wire.schema_of(cls._PROTO, _OVERRIDES)) for cls in _TYPED
}
_URL_BY_MESSAGE: dict[type[betterproto.Message], str] = {}


def decode(any_: _Any) -> Event:
    """The typed event for an ``Any``; `Unknown` for types the SDK does not model."""
    return decode_event(any_.type_url, bytes(any_.value))


def decode_event(type_url: str, value: bytes) -> Event:
    """The typed event for a type URL and serialized message; `Unknown` when not modelled."""
    return _decode_in_place(type_url, value, 0, len(value))


def encode(event: Event | betterproto.Message) -> _Any:
    """An ``Any`` for a typed event, an `Unknown` or a generated message.

    Raises:
        TypeError: `event` is a generated message with no known type URL.
    """
    if isinstance(event, Unknown):
        return event._to_any()
    if isinstance(event, _Event):
        return _Any(type_url=event.TYPE_URL, value=bytes(event._to_proto()))
    if isinstance(event, betterproto.Message):
        if not _URL_BY_MESSAGE:
            _URL_BY_MESSAGE.update((cls, url) for url, cls in _registry.MESSAGES.items())
        url = _URL_BY_MESSAGE.get(type(event))
        if url is None:
            raise TypeError(f"no type URL is known for the message {type(event).__name__}")
        return _Any(type_url=url, value=bytes(event))
    raise TypeError(f"cannot publish {event!r}: not an event value or a protobuf message")


@attrs.frozen(kw_only=True)
class Envelope:
    """One event as the daemon delivered it.

    Attributes:
        timestamp: when the daemon published it (UTC).
        namespace: the namespace it happened in.
        topic: e.g. ``/tasks/exit``.
        event: the typed event (`TaskExit`, `ContainerCreate`, ... or `Unknown`).

    Example:
        ```python
        async for envelope in stream:
            if isinstance(envelope.event, events.TaskExit):
                print(envelope.event.container_id, envelope.event.exit_status)
        ```
    """

    timestamp: datetime | None
    namespace: str
    topic: str
    event: Event

    @classmethod
    def _from_proto(cls, msg: _Envelope) -> Envelope:
        return cls(
            timestamp=_convert.timestamp(msg.timestamp),
            namespace=msg.namespace,
            topic=msg.topic,
            event=decode(msg.event),
        )

    @classmethod
    def _from_wire(cls, data: bytes) -> Envelope:
        try:
            ts, namespace, topic, type_url, start, end = _wire.envelope(data)
        except (WireError, UnicodeDecodeError, OverflowError) as exc:
            raise _wire.data_loss("event envelope", exc) from exc
        return cls(
            timestamp=ts,
            namespace=namespace,
            topic=topic,
            event=_decode_in_place(type_url, data, start, end),
        )


def _decode_in_place(type_url: str, data: bytes, start: int, end: int) -> Event:
    build = _BUILDERS.get(type_url)
    if build is None:
        build = _BUILDERS.get(type_url.removeprefix(_GOOGLE_PREFIX))
    if build is not None:
        try:
            return build(data, start, end)  # type: ignore[no-any-return]
        except (WireError, UnicodeDecodeError, TypeError, ValueError, OverflowError):
            pass  # a corrupt payload is still delivered, undecoded
    return Unknown(type_url=type_url.removeprefix(_GOOGLE_PREFIX), value=data[start:end])


class _EnvelopeReply(_Envelope):
    """The Subscribe reply type handed to grpclib: decodes straight into `Envelope`."""

    @classmethod
    def FromString(cls, data: bytes) -> Envelope:  # type: ignore[override]
        return Envelope._from_wire(data)
