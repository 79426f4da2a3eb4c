"""Typed options for containerd's runc shim and for containerd 1.x's Linux runtime.

A container's runtime options (``containers.create(runtime_options=...)``)
reach the shim when its task is created; `Container.new_task` can send task
options that replace them for that task. For the runc shim
(``io.containerd.runc.v2``, the default) both are `RuncOptions`
(``containerd.runc.v1.Options``). `CreateOptions`
(``containerd.linux.runc.CreateOptions``) are the task options of
``io.containerd.runtime.v1.linux``, the runtime containerd 1.6 and 1.7 still
carry and 2.0 removed. Other shims take their own options as an
`pycontainerd.Extension`.

Example:
    ```python
    from pycontainerd import runtime

    container = await client.containers.create(
        "web",
        image=image,
        runtime_options=runtime.RuncOptions(binary_name="/usr/bin/crun", systemd_cgroup=True),
    )
    async with await container.new_task(no_new_keyring=True) as task:  # keeps binary_name
        await task.start()
    ```
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Final

import attrs
import betterproto

from . import errors
from ._api.containerd.linux.runc import CreateOptions as _CreateOptionsProto
from ._api.containerd.runc.v1 import CheckpointOptions as _CheckpointOptionsProto
from ._api.containerd.runc.v1 import Options as _OptionsProto
from ._extension import Extension

__all__ = [
    "CREATE_OPTIONS_TYPE",
    "LINUX_RUNTIME_V1",
    "RUNC_OPTIONS_TYPE",
    "CreateOptions",
    "CriuOptions",
    "RuncOptions",
]

RUNC_OPTIONS_TYPE: Final = "containerd.runc.v1.Options"
"""The type URL of `RuncOptions`, as containerd's Go ``typeurl`` registers it (no prefix)."""

CREATE_OPTIONS_TYPE: Final = "containerd.linux.runc.CreateOptions"
"""The type URL of `CreateOptions`."""

LINUX_RUNTIME_V1: Final = "io.containerd.runtime.v1.linux"
"""containerd 1.x's Linux runtime, whose task options are `CreateOptions` (gone in 2.0)."""

_UINT32_MAX: Final = (1 << 32) - 1


def _uint32(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UINT32_MAX:
        raise errors.InvalidArgument(
            f"{attribute.name} must be an integer from 0 to {_UINT32_MAX}, not {value!r:.40}"
        )


def _text(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or "\0" in value:
        raise errors.InvalidArgument(
            f"{attribute.name} must be a string without NUL, not {value!r:.60}"
        )


def _flag(instance: object, attribute: attrs.Attribute[Any], value: bool) -> None:
    if not isinstance(value, bool):
        raise errors.InvalidArgument(f"{attribute.name} must be True or False, not {value!r:.40}")


def _names(value: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str | bytes):
        raise errors.InvalidArgument(f"empty_namespaces must be a list of names, not {value!r:.60}")
    return tuple(value)


def _each_text(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    for item in value:
        _text(instance, attribute, item)


@attrs.frozen(kw_only=True)
class RuncOptions:
    """Options of containerd's runc shim (``io.containerd.runc.v2``): ``containerd.runc.v1.Options``.

    Give them as a container's runtime options (they apply to each of its
    tasks) or as one task's options (`Container.new_task`). Empty fields
    mean the shim's defaults.

    Attributes:
        no_pivot_root: do not use ``pivot_root`` to enter the rootfs (``runc --no-pivot``).
        no_new_keyring: do not give the container a session keyring of its own.
        shim_cgroup: an existing cgroup (a path such as ``/shims``) the shim moves itself into.
        io_uid: the owner of the shim's stdio pipes (for a container in a user namespace).
        io_gid: their group.
        binary_name: the OCI runtime binary the shim calls instead of ``runc``
            (``crun``, ``runsc``...): a name looked up on the shim's ``PATH``, or a path.
        root: the runtime's state directory (``runc --root``); the shim
            appends the namespace.
        systemd_cgroup: let systemd manage the container's cgroup (``runc --systemd-cgroup``);
            the spec's ``cgroupsPath`` is then ``slice:prefix:name``.
        criu_image_path: where CRIU's checkpoint images are read from on restore.
        criu_work_path: CRIU's work directory (its logs).
        task_api_address: the address of a task API the shim serves elsewhere
            (``ttrpc+unix://...``, ``grpc+vsock://cid:port``; containerd 2.x).
        task_api_version: that task API's version (2 or 3; containerd 2.x).

    Example:
        ```python
        from pycontainerd import runtime

        options = runtime.RuncOptions(binary_name="crun", root="/run/crun")
        container = await client.containers.create("web", image=image, runtime_options=options)
        ```
    """

    TYPE_URL: ClassVar[str] = RUNC_OPTIONS_TYPE

    no_pivot_root: bool = attrs.field(default=False, validator=_flag)
    no_new_keyring: bool = attrs.field(default=False, validator=_flag)
    shim_cgroup: str = attrs.field(default="", validator=_text)
    io_uid: int = attrs.field(default=0, validator=_uint32)
    io_gid: int = attrs.field(default=0, validator=_uint32)
    binary_name: str = attrs.field(default="", validator=_text)
    root: str = attrs.field(default="", validator=_text)
    systemd_cgroup: bool = attrs.field(default=False, validator=_flag)
    criu_image_path: str = attrs.field(default="", validator=_text)
    criu_work_path: str = attrs.field(default="", validator=_text)
    task_api_address: str = attrs.field(default="", validator=_text)
    task_api_version: int = attrs.field(default=0, validator=_uint32)

    def to_extension(self) -> Extension:
        """These options as the `pycontainerd.Extension` containerd stores and sends.

        The value is their protobuf encoding, byte for byte as containerd's
        Go types produce it (fields in number order, defaults left out).
        """
        return _encode(self)

    @classmethod
    def from_extension(cls, extension: Extension) -> RuncOptions:
        """Decode runc options from their `pycontainerd.Extension`.

        Raises:
            pycontainerd.errors.InvalidArgument: `extension` holds another type.
            pycontainerd.errors.DataLoss: its value does not decode.
        """
        return cls(**_decoded(cls, extension))


@attrs.frozen(kw_only=True)
class CreateOptions:
    """Task options of ``io.containerd.runtime.v1.linux``: ``containerd.linux.runc.CreateOptions``.

    containerd 1.6 and 1.7 only (2.0 removed that runtime). The ``open_tcp``
    to ``cgroups_mode`` fields are CRIU's, for a task restored from a checkpoint.

    Attributes:
        no_pivot_root: do not use ``pivot_root`` to enter the rootfs.
        open_tcp: restore established TCP connections.
        external_unix_sockets: restore external unix sockets.
        terminal: restore a terminal.
        file_locks: restore file locks.
        empty_namespaces: namespaces (``network``...) to restore empty.
        cgroups_mode: CRIU's cgroup mode: ``soft``, ``full`` or ``strict``.
        no_new_keyring: do not give the container a session keyring of its own.
        shim_cgroup: an existing cgroup the shim moves itself into.
        io_uid: the owner of the shim's stdio pipes.
        io_gid: their group.
        criu_work_path: CRIU's work directory.
        criu_image_path: where CRIU's images are read from.

    Example:
        ```python
        from pycontainerd import runtime

        container = await client.containers.create(
            "legacy", image=image, runtime=runtime.LINUX_RUNTIME_V1
        )
        task = await container.new_task(options=runtime.CreateOptions(no_new_keyring=True))
        ```
    """

    TYPE_URL: ClassVar[str] = CREATE_OPTIONS_TYPE

    no_pivot_root: bool = attrs.field(default=False, validator=_flag)
    open_tcp: bool = attrs.field(default=False, validator=_flag)
    external_unix_sockets: bool = attrs.field(default=False, validator=_flag)
    terminal: bool = attrs.field(default=False, validator=_flag)
    file_locks: bool = attrs.field(default=False, validator=_flag)
    empty_namespaces: Sequence[str] = attrs.field(
        default=(), converter=_names, validator=_each_text
    )
    cgroups_mode: str = attrs.field(default="", validator=_text)
    no_new_keyring: bool = attrs.field(default=False, validator=_flag)
    shim_cgroup: str = attrs.field(default="", validator=_text)
    io_uid: int = attrs.field(default=0, validator=_uint32)
    io_gid: int = attrs.field(default=0, validator=_uint32)
    criu_work_path: str = attrs.field(default="", validator=_text)
    criu_image_path: str = attrs.field(default="", validator=_text)

    def to_extension(self) -> Extension:
        """These options as the `pycontainerd.Extension` containerd stores and sends.

        The value is their protobuf encoding, byte for byte as containerd's
        Go types produce it (fields in number order, defaults left out).
        """
        return _encode(self)

    @classmethod
    def from_extension(cls, extension: Extension) -> CreateOptions:
        """Decode create options from their `pycontainerd.Extension`.

        Raises:
            pycontainerd.errors.InvalidArgument: `extension` holds another type.
            pycontainerd.errors.DataLoss: its value does not decode.
        """
        return cls(**_decoded(cls, extension))


_PROTOS: Final[dict[str, type[betterproto.Message]]] = {
    RUNC_OPTIONS_TYPE: _OptionsProto,
    CREATE_OPTIONS_TYPE: _CreateOptionsProto,
}


def _encode(options: RuncOptions | CreateOptions) -> Extension:
    fields = attrs.asdict(options, recurse=False)
    if "empty_namespaces" in fields:
        fields["empty_namespaces"] = list(fields["empty_namespaces"])
    message = _PROTOS[options.TYPE_URL](**fields)
    return Extension(type_url=options.TYPE_URL, value=bytes(message))


def _decoded(cls: type[RuncOptions | CreateOptions], extension: Extension) -> dict[str, Any]:
    if extension.type_url != cls.TYPE_URL:
        raise errors.InvalidArgument(
            f"{extension.type_url!r:.80} is not {cls.TYPE_URL} ({cls.__name__})"
        )
    try:
        message = _PROTOS[cls.TYPE_URL]().parse(extension.value)
    except Exception as exc:  # betterproto raises whatever its parser hit
        raise errors.DataLoss(f"malformed {cls.TYPE_URL}: {exc}") from exc
    return {a.name: getattr(message, a.name) for a in attrs.fields(cls)}


def _checked_options(
    options: object, name: str, *, task: bool = False
) -> RuncOptions | CreateOptions | Extension | None:
    """`options` as given, if of a kind the SDK sends (a task's may be `CreateOptions` too).

    The one check of ``runtime_options=`` (containers, sandboxes) and of a
    task's ``options=``.

    Raises:
        pycontainerd.errors.InvalidArgument: another kind; the message names `name`.
    """
    kinds: tuple[type, ...] = (
        (RuncOptions, CreateOptions, Extension) if task else (RuncOptions, Extension)
    )
    if options is not None and not isinstance(options, kinds):
        wanted = (
            "RuncOptions, CreateOptions or an Extension" if task else "RuncOptions or an Extension"
        )
        raise errors.InvalidArgument(f"{name} must be {wanted}, not {options!r:.80}")
    return options  # type: ignore[return-value]  # checked just above


def _as_extension(options: RuncOptions | CreateOptions | Extension | None) -> Extension | None:
    """What containerd stores and sends for `options`."""
    return options if options is None or isinstance(options, Extension) else options.to_extension()


def _stored_options(extension: Extension | None) -> RuncOptions | Extension | None:
    """A container's stored runtime options: typed when they are runc's, else as stored.

    Options that claim runc's type but do not decode stay an `Extension`:
    reading a container must not fail on what another client wrote.
    """
    if extension is None or extension.type_url != RUNC_OPTIONS_TYPE:
        return extension
    try:
        return RuncOptions.from_extension(extension)
    except errors.DataLoss:
        return extension


@attrs.frozen(kw_only=True)
class CriuOptions:
    """How CRIU dumps a task: the fields of runc's ``CheckpointOptions`` besides exit and paths.

    They travel to the shim in the checkpoint request (as runc's
    ``containerd.runc.v1.CheckpointOptions``), and `Container.checkpoint`
    keeps them in the checkpoint for a later restore.

    Attributes:
        tcp_established: dump established TCP connections (CRIU's
            ``--tcp-established``).
        external_unix_sockets: allow Unix sockets connected outside the
            container (``--ext-unix-sk``).
        terminal: allow a task with a terminal (``--shell-job``).
        file_locks: dump file locks (``--file-locks``).
        empty_namespaces: namespaces to create empty on restore, such as
            ``"network"`` (``--empty-ns``).
        cgroups_mode: ``"soft"``, ``"full"`` or ``"strict"``
            (``--manage-cgroups-mode``; ``""``: CRIU's default).
        work_path: where CRIU writes its logs and work files (default: a
            directory of the shim's).

    Example:
        ```python
        image = await task.checkpoint(criu=runtime.CriuOptions(tcp_established=True, work_path="/tmp/w"))
        ```
    """

    tcp_established: bool = attrs.field(default=False, validator=_flag)
    external_unix_sockets: bool = attrs.field(default=False, validator=_flag)
    terminal: bool = attrs.field(default=False, validator=_flag)
    file_locks: bool = attrs.field(default=False, validator=_flag)
    empty_namespaces: Sequence[str] = attrs.field(
        default=(), converter=_names, validator=_each_text
    )
    cgroups_mode: str = attrs.field(default="", validator=_text)
    work_path: str = attrs.field(default="", validator=_text)

    def _to_proto(self, *, exit: bool, image_path: str = "") -> _CheckpointOptionsProto:
        return _CheckpointOptionsProto(
            exit=exit,
            open_tcp=self.tcp_established,
            external_unix_sockets=self.external_unix_sockets,
            terminal=self.terminal,
            file_locks=self.file_locks,
            empty_namespaces=list(self.empty_namespaces),
            cgroups_mode=self.cgroups_mode,
            image_path=image_path,
            work_path=self.work_path,
        )
