"""Sandboxes: records in the daemon's sandbox store, and the controllers that run them.

A sandbox is an environment that containers share (a pod, a micro VM). The
**store** keeps its record: an id, the runtime and spec its controller uses,
labels, extensions and the name of that controller (its *sandboxer*). A
**controller** runs the sandbox: creates and starts its instance, reports its
status, stops and shuts it down. Containers name the sandbox they belong to
(``client.containers.create(..., sandbox=...)``).

Both services arrived in containerd 1.7; the controller's ``sandboxer`` field
and its Metrics call in 2.0.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

import anyio
import attrs
from betterproto.lib.google.protobuf import Any as AnyProto

from . import _identifiers, _wire, errors
from ._api import _rpc
from ._api.containerd.services.sandbox.v1 import (
    ControllerMetricsRequest,
    ControllerPlatformRequest,
    ControllerShutdownRequest,
    ControllerStartRequest,
    ControllerStatusRequest,
    ControllerStopRequest,
    ControllerWaitRequest,
    StoreCreateRequest,
    StoreDeleteRequest,
    StoreGetRequest,
    StoreListRequest,
)
from ._api.containerd.types import Sandbox as _Sandbox
from ._containers import DEFAULT_RUNTIME, SPEC_TYPE, Extension, Runtime, _spec_bytes
from ._convert import is_set, timestamp
from ._facade import Facade
from ._platforms import Platform
from ._shield import Creation, Removal, finish
from ._transport import DEFAULT, Timeout
from .runtime import RuncOptions, _as_extension, _checked_options, _stored_options

if TYPE_CHECKING:
    import betterproto

    from . import oci
    from ._client import Client
    from ._containers import Container
    from ._descriptors import Mount
    from ._tasks import ExitStatus

__all__ = [
    "DEFAULT_SANDBOXER",
    "Sandbox",
    "SandboxController",
    "SandboxInstance",
    "SandboxMetrics",
    "SandboxStatus",
    "Sandboxes",
]

#: The sandbox controller that is not CRI's: it starts the sandbox's runtime
#: shim, which must serve containerd's sandbox API (``containerd.runtime.sandbox.v1``).
DEFAULT_SANDBOXER: Final = "shim"

_STORE_CREATE: Final = "containerd.services.sandbox.v1.StoreCreateRequest"
_STORE_UPDATE: Final = "containerd.services.sandbox.v1.StoreUpdateRequest"
_CONTROLLER_CREATE: Final = "containerd.services.sandbox.v1.ControllerCreateRequest"
_CONTROLLERS_PLUGIN: Final = ("io.containerd.grpc.v1", "sandbox-controllers")
_CLEANUP_TIMEOUT: Final = 10.0

_Req = TypeVar("_Req", bound="betterproto.Message")
_Rep = TypeVar("_Rep", bound="betterproto.Message")


def _stamp(value: datetime | None) -> datetime | None:
    """A timestamp from the daemon; Go's zero time (year 1) and the epoch mean unset."""
    stamp = timestamp(value)
    return None if stamp is None or stamp.year == 1 else stamp


def _extension(msg: AnyProto | None) -> Extension | None:
    """An ``Any`` from the daemon; ``None`` when absent or empty (Go sends empty ones for nil)."""
    if msg is None or not is_set(msg) or not (msg.type_url or msg.value):
        return None
    return Extension(type_url=msg.type_url, value=msg.value)


def _any(options: RuncOptions | Extension | None) -> dict[str, Any] | None:
    extension = _as_extension(options)
    if extension is None:
        return None
    return {"type_url": extension.type_url, "value": extension.value}


@attrs.frozen(kw_only=True)
class Sandbox:
    """A sandbox record, as the store holds it, bound to the client that read it.

    A snapshot of the record at that moment. Its controller calls (`start`,
    `status`, `stop`, `shutdown`...) go to the controller the record names
    (`sandboxer`).

    Attributes:
        id: the sandbox id.
        runtime: the runtime (shim) its controller starts it with.
        labels: its labels.
        extensions: opaque client data. containerd keeps an extension once
            written: it can be replaced, not removed.
        sandboxer: the controller that manages it ("" on containerd 1.7,
            whose store does not record it).
        created_at: when it was created.
        updated_at: when it was last updated.
        spec_type: the type URL of its spec ("" when it has none).
        spec_json: its spec as the store holds it (JSON for an OCI spec).

    Example:
        ```python
        sandbox = await client.sandboxes.get("pod-1")
        print(sandbox.runtime.name, sandbox.labels)
        ```
    """

    id: str
    runtime: Runtime = attrs.field(factory=Runtime)
    labels: Mapping[str, str] = attrs.field(factory=dict)
    extensions: Mapping[str, Extension] = attrs.field(factory=dict)
    sandboxer: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    spec_type: str = attrs.field(default="", repr=False)
    spec_json: bytes = attrs.field(default=b"", repr=False)
    _client: Client | None = attrs.field(default=None, eq=False, repr=False, alias="client")

    @classmethod
    def _from_proto(cls, msg: _Sandbox, client: Client | None) -> Sandbox:
        spec = _extension(msg.spec)
        runtime = msg.runtime
        return cls(
            id=msg.sandbox_id,
            runtime=Runtime(
                name=runtime.name if runtime is not None else "",
                options=_stored_options(
                    _extension(runtime.options) if runtime is not None else None
                ),
            ),
            labels=dict(msg.labels),
            extensions={
                k: Extension(type_url=v.type_url, value=v.value) for k, v in msg.extensions.items()
            },
            sandboxer=msg.sandboxer,
            created_at=_stamp(msg.created_at),
            updated_at=_stamp(msg.updated_at),
            spec_type=spec.type_url if spec is not None else "",
            spec_json=spec.value if spec is not None else b"",
            client=client,
        )

    def _message(self) -> dict[str, Any]:
        """The record as ``containerd.types.Sandbox`` fields, for `_wire.encode`."""
        return _record(
            self.id,
            runtime=self.runtime.name,
            runtime_options=self.runtime.options,
            spec=(
                Extension(type_url=self.spec_type, value=self.spec_json)
                if self.spec_type or self.spec_json
                else None
            ),
            labels=self.labels,
            extensions=self.extensions,
            sandboxer=self.sandboxer,
        )

    @functools.cached_property
    def spec(self) -> oci.Spec | None:
        """The OCI spec, as an `oci.Spec` (decoded on first access); ``None`` without one."""
        if not self.spec_json:
            return None
        from .oci import Spec

        return Spec.from_json(self.spec_json)

    def _require_client(self) -> Client:
        if self._client is None:
            raise RuntimeError(f"sandbox {self.id!r} is not bound to a client")
        return self._client

    @property
    def controller(self) -> SandboxController:
        """The controller the record names (`DEFAULT_SANDBOXER` when it names none).

        Example:
            ```python
            sandbox = await client.sandboxes.get("pod-1")
            print(sandbox.controller.sandboxer, await sandbox.controller.status(sandbox.id))
            ```
        """
        return SandboxController(self._require_client(), self.sandboxer or DEFAULT_SANDBOXER)

    async def start(
        self,
        *,
        rootfs: Sequence[Mount] = (),
        options: Extension | None = None,
        netns_path: str = "",
        annotations: Mapping[str, str] | None = None,
    ) -> SandboxInstance:
        """Create the sandbox's instance in its controller from this record, then start it.

        `SandboxController.create` then `SandboxController.start`, as
        containerd's CRI runs a pod sandbox. If starting fails or is
        cancelled, the instance is shut down again (shielded, bounded in
        time; errors of that shutdown are dropped) before the error
        propagates. The arguments are `SandboxController.create`'s.

        Raises:
            pycontainerd.errors.Unimplemented: the daemon has no sandbox
                controller service (older than 1.7, or its plugin did not
                load: the message quotes why).

        Example:
            ```python
            sandbox = await client.sandboxes.create("pod-1", spec=spec)
            instance = await sandbox.start()
            print(instance.pid, instance.address)
            ```
        """
        controller = self.controller
        await controller.create(
            self, rootfs=rootfs, options=options, netns_path=netns_path, annotations=annotations
        )
        try:
            return await controller.start(self.id)
        except BaseException:
            with contextlib.suppress(TimeoutError, errors.RPCError):
                await finish(lambda: controller.shutdown(self.id), timeout=_CLEANUP_TIMEOUT)
            raise

    async def status(self, *, verbose: bool = False) -> SandboxStatus:
        """The instance's status; see `SandboxController.status`.

        Example:
            ```python
            status = await sandbox.status()
            print(status.state, status.pid)
            ```
        """
        return await self.controller.status(self.id, verbose=verbose)

    async def platform(self) -> Platform:
        """The platform the instance runs containers for; see `SandboxController.platform`.

        Example:
            ```python
            print(await sandbox.platform())  # linux/amd64
            ```
        """
        return await self.controller.platform(self.id)

    async def wait(self) -> ExitStatus:
        """Wait until the instance exits; see `SandboxController.wait`.

        Example:
            ```python
            status = await sandbox.wait()
            print(status.code, status.exited_at)
            ```
        """
        return await self.controller.wait(self.id)

    async def stop(self, *, grace: float | None = None) -> None:
        """Stop the instance; see `SandboxController.stop`.

        Example:
            ```python
            await sandbox.stop(grace=10)
            ```
        """
        await self.controller.stop(self.id, grace=grace)

    async def metrics(self) -> SandboxMetrics:
        """The instance's statistics; see `SandboxController.metrics`.

        Example:
            ```python
            print((await sandbox.metrics()).memory_usage)
            ```
        """
        return await self.controller.metrics(self.id)

    async def shutdown(self) -> None:
        """Shut the instance down in its controller, then delete the record.

        What the controller or the store no longer knows is skipped (their
        `errors.NotFound`), as containerd's Go client does: a sandbox that
        was never started is simply deleted, provided the daemon has a
        controller service to ask.

        Example:
            ```python
            await sandbox.stop()
            await sandbox.shutdown()
            ```
        """
        try:
            await self.controller.shutdown(self.id)
        except errors.NotFound:
            pass
        try:
            await self._require_client().sandboxes.delete(self.id)
        except errors.NotFound:
            pass

    async def update(self, **changes: Any) -> Sandbox:
        """Change this sandbox's record; see `Sandboxes.update`.

        Example:
            ```python
            updated = await sandbox.update(labels={"tier": "web"})
            print(updated.labels)
            ```
        """
        return await self._require_client().sandboxes.update(self.id, **changes)

    async def delete(self) -> None:
        """Delete this sandbox's record (not its instance); see `Sandboxes.delete`.

        Example:
            ```python
            await sandbox.delete()
            ```
        """
        await self._require_client().sandboxes.delete(self.id)

    async def new_container(self, id: str, **options: Any) -> Container:
        """Create a container that belongs to this sandbox.

        `Containers.create` with ``sandbox=self``; `options` are its other
        arguments.

        Example:
            ```python
            sandbox = await client.sandboxes.get("pod-1")
            container = await sandbox.new_container("pod-1-web", image=image)
            print(container.sandbox)  # pod-1
            ```
        """
        return await self._require_client().containers.create(id, sandbox=self, **options)


def _record(
    id: str,
    *,
    runtime: str,
    runtime_options: RuncOptions | Extension | None,
    spec: Extension | None,
    labels: Mapping[str, str],
    extensions: Mapping[str, Extension],
    sandboxer: str,
) -> dict[str, Any]:
    # The runtime message is always sent, even with an empty name: containerd 1.7
    # and 2.x read sandbox.runtime.name without checking that the message came,
    # and a sandbox without one panics the daemon.
    return {
        "sandbox_id": id,
        "runtime": {"name": runtime, "options": _any(runtime_options)},
        "spec": _any(spec),
        "labels": dict(labels),
        "extensions": {k: _any(v) for k, v in extensions.items()},
        "sandboxer": sandboxer,
    }


def _spec_extension(spec: oci.Spec | Mapping[str, Any] | str | bytes | None) -> Extension | None:
    return None if spec is None else Extension(type_url=SPEC_TYPE, value=_spec_bytes(spec))


class Sandboxes(Facade):
    """The sandbox records of the client's namespace (``client.sandboxes``): containerd 1.7+.

    On containerd 1.6 every call raises `errors.Unimplemented`, whose message
    says that the call needs containerd 1.7 or newer.

    Example:
        ```python
        sandbox = await client.sandboxes.create("pod-1", labels={"app": "web"})
        print([s.id for s in await client.sandboxes.list("labels.app==web")])
        await client.sandboxes.delete(sandbox.id)
        ```
    """

    async def create(
        self,
        id: str,
        *,
        runtime: str = DEFAULT_RUNTIME,
        runtime_options: RuncOptions | Extension | None = None,
        spec: oci.Spec | Mapping[str, Any] | str | bytes | None = None,
        labels: Mapping[str, str] | None = None,
        extensions: Mapping[str, Extension] | None = None,
        sandboxer: str = DEFAULT_SANDBOXER,
    ) -> Sandbox:
        """Record a new sandbox in the store (nothing runs yet: see `Sandbox.start`).

        Args:
            id: the sandbox id (an identifier).
            runtime: the runtime (shim) its controller starts it with.
            runtime_options: options for that runtime.
            spec: its spec: an `oci.Spec` (or its JSON as a dict, str or bytes),
                stored as containerd's Go client stores one.
            labels: labels to set.
            extensions: opaque client data.
            sandboxer: the controller that is to run it (containerd 1.7 does
                not record it).

        Raises:
            pycontainerd.errors.InvalidArgument: `id` is not a valid identifier,
                or `runtime_options` are neither `RuncOptions` nor an `Extension`.
            pycontainerd.errors.AlreadyExists: a sandbox with this id exists.
            pycontainerd.errors.Unimplemented: the daemon is older than 1.7.

        Example:
            ```python
            sandbox = await client.sandboxes.create(
                "pod-1", spec=oci.Spec.default(), labels={"app": "web"}
            )
            ```
        """
        _identifiers.validate(id, "sandbox")
        _checked_options(runtime_options, "runtime_options")
        record = _record(
            id,
            runtime=runtime,
            runtime_options=runtime_options,
            spec=_spec_extension(spec),
            labels=labels or {},
            extensions=extensions or {},
            sandboxer=sandboxer,
        )
        request = _wire.encode(_STORE_CREATE, {"sandbox": record})
        caller = self._caller

        async def as_asked() -> bool:
            asked = StoreCreateRequest().parse(request).sandbox
            try:
                stored = (
                    await caller.unary(_rpc.Store.Get, StoreGetRequest(sandbox_id=id))
                ).sandbox
            except errors.NotFound:
                return False
            stored.created_at, stored.updated_at = asked.created_at, asked.updated_at
            stored.sandboxer = stored.sandboxer or asked.sandboxer  # 1.7's store keeps none
            return bool(stored == asked)

        creation = Creation(lambda: caller.unary(_rpc.Store.Create, request), ours=as_asked)
        try:
            # The Create finishes even if cancelled: the record is known, then removed.
            reply = await finish(creation, timeout=_CLEANUP_TIMEOUT)
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            if creation.made or creation.unsure:  # a refused create made nothing of ours

                async def undo() -> None:
                    if await creation.owned():
                        with contextlib.suppress(errors.NotFound):
                            await caller.unary(_rpc.Store.Delete, StoreDeleteRequest(sandbox_id=id))

                with contextlib.suppress(TimeoutError, errors.ConnectionError):
                    await finish(Removal(undo), timeout=_CLEANUP_TIMEOUT)
            raise
        return Sandbox._from_proto(reply.sandbox, self._client)

    async def get(self, id: str) -> Sandbox:
        """The sandbox `id`.

        Raises:
            pycontainerd.errors.NotFound: there is no such sandbox.

        Example:
            ```python
            sandbox = await client.sandboxes.get("pod-1")
            ```
        """
        _identifiers.validate(id, "sandbox")
        reply = await self._caller.unary(_rpc.Store.Get, StoreGetRequest(sandbox_id=id))
        return Sandbox._from_proto(reply.sandbox, self._client)

    async def list(self, *filters: str) -> builtins.list[Sandbox]:
        """The namespace's sandboxes, optionally narrowed by `filters`.

        `filters` mean what they mean for every ``list()``: several are ORed,
        the comma-separated selectors of one are ANDed (containerd's syntax, see
        `pycontainerd.events.filters`). The fields are ``id`` and
        ``labels.<key>``.

        Raises:
            pycontainerd.errors.InvalidArgument: a filter does not parse.

        Example:
            ```python
            web = await client.sandboxes.list("labels.app==web", 'id~="^pod-"')
            ```
        """
        reply = await self._caller.unary(
            _rpc.Store.List, StoreListRequest(filters=builtins.list(filters))
        )
        return [Sandbox._from_proto(s, self._client) for s in reply.list]

    async def update(
        self,
        id: str,
        *,
        labels: Mapping[str, str | None] | None = None,
        replace_labels: bool = False,
        extensions: Mapping[str, Extension] | None = None,
        spec: oci.Spec | Mapping[str, Any] | str | bytes | None = None,
        runtime: str | None = None,
        runtime_options: RuncOptions | Extension | None = None,
    ) -> Sandbox:
        """Change a sandbox's record; only what is given changes (field masks).

        Args:
            id: the sandbox.
            labels: labels to set, key by key; a ``None`` value removes that
                label. Other labels stay, unless `replace_labels`.
            replace_labels: make `labels` the complete set.
            extensions: extensions to set, key by key (containerd keeps an
                extension once written: it can be replaced, not removed).
            spec: a new spec (`oci.Spec` or its JSON).
            runtime: a new runtime, with `runtime_options` (none unless given).
            runtime_options: options for `runtime`; only with `runtime`.

        Returns:
            The sandbox as stored after the update.

        Raises:
            pycontainerd.errors.NotFound: there is no such sandbox.
            pycontainerd.errors.InvalidArgument: `runtime_options` without `runtime`,
                or neither `RuncOptions` nor an `Extension`.

        Example:
            ```python
            await client.sandboxes.update("pod-1", labels={"tier": "front", "old": None})
            ```
        """
        _identifiers.validate(id, "sandbox")
        if runtime_options is not None and runtime is None:
            raise errors.InvalidArgument("runtime_options need the runtime they are for")
        _checked_options(runtime_options, "runtime_options")
        paths: builtins.list[str] = []
        new_labels: dict[str, str] = {}
        if labels is not None:
            new_labels = {k: v for k, v in labels.items() if v is not None}
            paths.extend(_identifiers.label_paths(labels, replace=replace_labels))
        if extensions is not None:
            # Key by key: a whole "extensions" path would merge into what is stored
            # while the reply showed only the new set.
            paths.extend(f"extensions.{k}" for k in extensions)
        if spec is not None:
            paths.append("spec")
        if runtime is not None:
            paths.append("runtime")
        if not paths:
            return await self.get(id)
        record = _record(
            id,
            runtime=runtime or "",
            runtime_options=runtime_options,
            spec=_spec_extension(spec),
            labels=new_labels,
            extensions=extensions or {},
            sandboxer="",
        )
        reply = await self._caller.unary(
            _rpc.Store.Update, _wire.encode(_STORE_UPDATE, {"sandbox": record, "fields": paths})
        )
        return Sandbox._from_proto(reply.sandbox, self._client)

    async def delete(self, id: str) -> None:
        """Delete the record of the sandbox `id` (its instance, if any, is the controller's).

        Containers that name the sandbox keep naming it: containerd does not
        check.

        Raises:
            pycontainerd.errors.NotFound: there is no such sandbox.

        Example:
            ```python
            await client.sandboxes.delete("pod-1")
            ```
        """
        _identifiers.validate(id, "sandbox")
        try:
            await self._caller.unary(_rpc.Store.Delete, StoreDeleteRequest(sandbox_id=id))
        except errors.Unknown as exc:
            # containerd 1.7 answers UNKNOWN for a sandbox it does not have.
            if "bucket not found" not in exc.message:
                raise
            raise errors.NotFound(exc.message, method=exc.method) from None


@attrs.frozen(kw_only=True)
class SandboxInstance:
    """A started sandbox instance, as its controller reports it (`SandboxController.start`).

    Attributes:
        sandbox_id: the sandbox.
        pid: the process id of the instance (its shim, its VM...).
        created_at: when the instance was created.
        labels: labels the controller reports.
        address: where containerd reaches the instance's task API
            (``ttrpc+unix://...``, ``grpc+vsock://...``), if the controller says.
        version: the version of that API.

    Example:
        ```python
        instance = await sandbox.start()
        print(instance.pid)
        ```
    """

    sandbox_id: str
    pid: int = 0
    created_at: datetime | None = None
    labels: Mapping[str, str] = attrs.field(factory=dict)
    address: str = ""
    version: int = 0


@attrs.frozen(kw_only=True)
class SandboxStatus:
    """A sandbox instance's status (`SandboxController.status`).

    Attributes:
        sandbox_id: the sandbox.
        pid: the process id of the instance (0 when none runs).
        state: the controller's word for it (``SANDBOX_READY``, ``SANDBOX_NOTREADY``...;
            "" when the controller knows no instance).
        info: extra information (with ``verbose=True``).
        created_at: when the instance was created.
        exited_at: when it exited, if it did.
        extra: controller-specific data.
        address: where containerd reaches the instance's task API, if known.
        version: the version of that API.

    Example:
        ```python
        status = await sandbox.status()
        if status.exited_at is not None:
            print("exited", status.exited_at)
        ```
    """

    sandbox_id: str
    pid: int = 0
    state: str = ""
    info: Mapping[str, str] = attrs.field(factory=dict)
    created_at: datetime | None = None
    exited_at: datetime | None = None
    extra: Extension | None = None
    address: str = ""
    version: int = 0


@attrs.frozen(kw_only=True)
class SandboxMetrics:
    """A sandbox instance's statistics (`SandboxController.metrics`).

    The common cgroup figures are decoded into attributes when the payload
    is a cgroup ``Metrics`` message; everything is in `data` (the decoded
    message, a generated class), when its type is known.

    Attributes:
        sandbox_id: the sandbox.
        timestamp: when the figures were sampled.
        type_url: the type of `data`.
        pids: number of processes.
        memory_usage: bytes of memory used.
        memory_limit: the memory limit in bytes.
        cpu_usage_ns: total CPU time in nanoseconds.
        data: the decoded message (``None`` if the type is unknown).

    Example:
        ```python
        m = await sandbox.metrics()
        print(m.type_url, m.memory_usage)
        ```
    """

    sandbox_id: str
    timestamp: datetime | None
    type_url: str
    pids: int | None = None
    memory_usage: int | None = None
    memory_limit: int | None = None
    cpu_usage_ns: int | None = None
    data: betterproto.Message | None = attrs.field(default=None, eq=False, repr=False)


class SandboxController(Facade):
    """One sandbox controller of the daemon (``client.sandbox_controller(name)``): containerd 1.7+.

    A controller runs sandboxes whose records are in the store: it creates
    and starts their instances, reports their status, and stops and shuts
    them down. containerd 2.x names its controllers (``shim``, and CRI's
    ``podsandbox``); 1.7 has a single one and ignores the name.

    Every call raises `errors.Unimplemented` when the daemon has no
    controller service: on 1.6 (the message says the call needs 1.7), and on
    a 2.x daemon whose controller service did not load (the message quotes
    the daemon's reason: containerd 2.1 loads it only with CRI's pod-sandbox
    controller enabled).

    Example:
        ```python
        controller = client.sandbox_controller("shim")
        status = await controller.status("pod-1")
        print(status.state)
        ```
    """

    def __init__(self, client: Client, sandboxer: str) -> None:
        super().__init__(client)
        self._sandboxer = sandboxer

    @property
    def sandboxer(self) -> str:
        """The controller's name."""
        return self._sandboxer

    def __repr__(self) -> str:
        return f"<SandboxController {self._sandboxer!r}>"

    async def _call(
        self, rpc: _rpc.Unary[_Req, _Rep], request: _Req | bytes, *, timeout: Timeout = DEFAULT
    ) -> _Rep:
        try:
            return await self._caller.unary(rpc, request, timeout=timeout)
        except errors.Unimplemented as exc:
            reason = await self._not_loaded(exc)
            if reason is None:
                raise
            raise errors.Unimplemented(f"{rpc.path}: {reason}", method=rpc.path) from exc

    async def _not_loaded(self, exc: errors.Unimplemented) -> str | None:
        """Why the daemon has no controller service although it knows one (2.x), if that is so."""
        if "unknown service" not in exc.message:
            return None
        kind, name = _CONTROLLERS_PLUGIN
        try:
            plugins = await self._client.plugins(f"type=={kind},id=={name}")
        except errors.RPCError:
            return None
        for plugin in plugins:
            if plugin.init_error is not None:
                return (
                    f"the daemon has no sandbox controller service: its plugin "
                    f"{kind}.{name} did not load ({plugin.init_error})"
                )
        return None

    async def create(
        self,
        sandbox: Sandbox | str,
        *,
        rootfs: Sequence[Mount] = (),
        options: Extension | None = None,
        netns_path: str = "",
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        """Create the sandbox's instance (not yet started) from its record.

        Args:
            sandbox: the record (a `Sandbox`), or the id of one, which is read
                from the store first (the controller is sent the whole record,
                as containerd's Go client sends it).
            rootfs: mounts for the instance's root filesystem.
            options: controller-specific options (CRI sends its pod config).
            netns_path: the network namespace to use.
            annotations: annotations for the instance.

        Raises:
            pycontainerd.errors.NotFound: no such sandbox (in the store), or
                no such controller.
            pycontainerd.errors.AlreadyExists: the controller runs the sandbox already.

        Example:
            ```python
            controller = client.sandbox_controller()
            await controller.create("pod-1")
            instance = await controller.start("pod-1")
            ```
        """
        if isinstance(sandbox, str):
            sandbox = await self._client.sandboxes.get(sandbox)
        request = {
            "sandbox_id": sandbox.id,
            "rootfs": [
                {"type": m.type, "source": m.source, "target": m.target, "options": m.options}
                for m in rootfs
            ],
            "options": _any(options),
            "netns_path": netns_path,
            "annotations": dict(annotations or {}),
            "sandbox": sandbox._message(),
            "sandboxer": self._sandboxer,
        }
        await self._call(_rpc.Controller.Create, _wire.encode(_CONTROLLER_CREATE, request))

    async def start(self, id: str) -> SandboxInstance:
        """Start the sandbox's instance (made by `create`).

        Raises:
            pycontainerd.errors.NotFound: the controller has no such instance.

        Example:
            ```python
            instance = await client.sandbox_controller().start("pod-1")
            print(instance.pid)
            ```
        """
        _identifiers.validate(id, "sandbox")
        reply = await self._call(
            _rpc.Controller.Start, ControllerStartRequest(sandbox_id=id, sandboxer=self._sandboxer)
        )
        return SandboxInstance(
            sandbox_id=reply.sandbox_id or id,
            pid=reply.pid,
            created_at=_stamp(reply.created_at),
            labels=dict(reply.labels),
            address=reply.address,
            version=reply.version,
        )

    async def platform(self, id: str) -> Platform:
        """The platform the sandbox's instance runs containers for.

        Raises:
            pycontainerd.errors.Unimplemented: the daemon's controller service
                has no Platform handler (containerd 1.7 and 2.1 have none).

        Example:
            ```python
            platform = await client.sandbox_controller().platform("pod-1")
            ```
        """
        _identifiers.validate(id, "sandbox")
        reply = await self._call(
            _rpc.Controller.Platform,
            ControllerPlatformRequest(sandbox_id=id, sandboxer=self._sandboxer),
        )
        return Platform._from_proto(reply.platform)

    async def status(self, id: str, *, verbose: bool = False) -> SandboxStatus:
        """The status of the sandbox's instance.

        A controller that runs no instance of the sandbox may still answer
        (containerd's ``shim`` controller does: no pid, no state, an exit
        time of now) rather than raise `errors.NotFound`.

        Args:
            id: the sandbox.
            verbose: ask for the controller's extra `SandboxStatus.info`.

        Example:
            ```python
            status = await client.sandbox_controller().status("pod-1", verbose=True)
            print(status.state, status.info)
            ```
        """
        _identifiers.validate(id, "sandbox")
        reply = await self._call(
            _rpc.Controller.Status,
            ControllerStatusRequest(sandbox_id=id, verbose=verbose, sandboxer=self._sandboxer),
        )
        return SandboxStatus(
            sandbox_id=reply.sandbox_id or id,
            pid=reply.pid,
            state=reply.state,
            info=dict(reply.info),
            created_at=_stamp(reply.created_at),
            exited_at=_stamp(reply.exited_at),
            extra=_extension(reply.extra),
            address=reply.address,
            version=reply.version,
        )

    async def wait(self, id: str) -> ExitStatus:
        """Wait until the sandbox's instance exits (no deadline, as for every wait).

        Example:
            ```python
            status = await client.sandbox_controller().wait("pod-1")
            print(status.code)
            ```
        """
        from ._tasks import ExitStatus

        _identifiers.validate(id, "sandbox")
        reply = await self._call(
            _rpc.Controller.Wait,
            ControllerWaitRequest(sandbox_id=id, sandboxer=self._sandboxer),
            timeout=None,
        )
        return ExitStatus(code=reply.exit_status, exited_at=_stamp(reply.exited_at))

    async def stop(self, id: str, *, grace: float | None = None) -> None:
        """Stop the sandbox's instance.

        Args:
            id: the sandbox.
            grace: seconds the instance has to stop before it is killed
                (whole seconds, rounded up; ``None``: the controller's choice).
                Not a ``timeout=``: the call itself has the client's deadline.

        Raises:
            pycontainerd.errors.NotFound: the controller has no such instance.

        Example:
            ```python
            await client.sandbox_controller().stop("pod-1", grace=10)
            ```
        """
        _identifiers.validate(id, "sandbox")
        if grace is not None and not grace >= 0:
            raise errors.InvalidArgument(f"invalid grace {grace!r}: negative")
        seconds = 0 if grace is None else math.ceil(grace)
        await self._call(
            _rpc.Controller.Stop,
            ControllerStopRequest(sandbox_id=id, timeout_secs=seconds, sandboxer=self._sandboxer),
        )

    async def shutdown(self, id: str) -> None:
        """Shut the sandbox's instance down and release what the controller holds for it.

        The record stays in the store (`Sandbox.shutdown` deletes it too).

        Raises:
            pycontainerd.errors.NotFound: the controller has no such instance.

        Example:
            ```python
            await client.sandbox_controller().shutdown("pod-1")
            ```
        """
        _identifiers.validate(id, "sandbox")
        await self._call(
            _rpc.Controller.Shutdown,
            ControllerShutdownRequest(sandbox_id=id, sandboxer=self._sandboxer),
        )

    async def metrics(self, id: str) -> SandboxMetrics:
        """The statistics of the sandbox's instance (containerd 2.0 or newer).

        Raises:
            pycontainerd.errors.NotFound: the controller has no such instance.
            pycontainerd.errors.Unimplemented: the daemon is older than 2.0.

        Example:
            ```python
            m = await client.sandbox_controller().metrics("pod-1")
            print(m.pids, m.cpu_usage_ns)
            ```
        """
        from ._tasks import decode_metric_data

        _identifiers.validate(id, "sandbox")
        reply = await self._call(
            _rpc.Controller.Metrics,
            ControllerMetricsRequest(sandbox_id=id, sandboxer=self._sandboxer),
        )
        metric = reply.metrics
        type_url, data, figures = decode_metric_data(metric.data if metric is not None else None)
        return SandboxMetrics(
            sandbox_id=(metric.id if metric is not None else "") or id,
            timestamp=_stamp(metric.timestamp) if metric is not None else None,
            type_url=type_url,
            data=data,
            **figures,
        )
