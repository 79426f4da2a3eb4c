"""Typed, immutable value classes for the parts of the OCI runtime spec containers use."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ._codec import (
    BOOL,
    INT,
    INTS,
    OPT_INT,
    RAW,
    STR,
    STR_MAP,
    STRS,
    Model,
    Obj,
    Objs,
    ints,
    json,
    str_map,
    strs,
)

__all__ = [
    "CPU",
    "OCI_VERSION",
    "Capabilities",
    "ConsoleSize",
    "Device",
    "DeviceRule",
    "IDMapping",
    "Linux",
    "Memory",
    "Mount",
    "Namespace",
    "Pids",
    "Process",
    "Resources",
    "Rlimit",
    "Root",
    "User",
]

OCI_VERSION = "1.0.2-dev"
"""The runtime-spec version containerd 1.6 writes into ``ociVersion``."""


def _rlimits(values: Iterable[Rlimit]) -> tuple[Rlimit, ...]:
    return tuple(values)


def _devicerules(values: Iterable[DeviceRule]) -> tuple[DeviceRule, ...]:
    return tuple(values)


def _idmappings(values: Iterable[IDMapping]) -> tuple[IDMapping, ...]:
    return tuple(values)


def _namespaces(values: Iterable[Namespace]) -> tuple[Namespace, ...]:
    return tuple(values)


def _devices(values: Iterable[Device]) -> tuple[Device, ...]:
    return tuple(values)


@attrs.frozen(kw_only=True)
class ConsoleSize(Model):
    """The size of a process's terminal, in character cells (``process.consoleSize``).

    Example:
        ```python
        ConsoleSize(height=24, width=80)
        ```
    """

    height: int = attrs.field(default=0, metadata=json("height", INT, omitempty=False))
    width: int = attrs.field(default=0, metadata=json("width", INT, omitempty=False))


@attrs.frozen(kw_only=True)
class User(Model):
    """The user a process runs as (``process.user``).

    ``username`` is only meaningful on Windows; Linux uses the numeric ids.

    Example:
        ```python
        User(uid=1000, gid=1000, additional_gids=(1000, 27))
        ```
    """

    uid: int = attrs.field(default=0, metadata=json("uid", INT, omitempty=False))
    gid: int = attrs.field(default=0, metadata=json("gid", INT, omitempty=False))
    umask: int | None = attrs.field(default=None, metadata=json("umask", OPT_INT))
    additional_gids: tuple[int, ...] = attrs.field(
        default=(), converter=ints, metadata=json("additionalGids", INTS)
    )
    username: str = attrs.field(default="", metadata=json("username", STR))


@attrs.frozen(kw_only=True)
class Capabilities(Model):
    """Linux capability sets of a process (``process.capabilities``), as ``CAP_*`` names.

    Example:
        ```python
        caps = ("CAP_CHOWN", "CAP_KILL")
        Capabilities(bounding=caps, effective=caps, permitted=caps)
        ```
    """

    bounding: tuple[str, ...] = attrs.field(
        default=(), converter=strs, metadata=json("bounding", STRS)
    )
    effective: tuple[str, ...] = attrs.field(
        default=(), converter=strs, metadata=json("effective", STRS)
    )
    inheritable: tuple[str, ...] = attrs.field(
        default=(), converter=strs, metadata=json("inheritable", STRS)
    )
    permitted: tuple[str, ...] = attrs.field(
        default=(), converter=strs, metadata=json("permitted", STRS)
    )
    ambient: tuple[str, ...] = attrs.field(
        default=(), converter=strs, metadata=json("ambient", STRS)
    )


@attrs.frozen(kw_only=True)
class Rlimit(Model):
    """A POSIX resource limit (``process.rlimits[]``).

    Example:
        ```python
        Rlimit(type="RLIMIT_NOFILE", soft=1024, hard=4096)
        ```
    """

    type: str = attrs.field(metadata=json("type", STR, omitempty=False))
    hard: int = attrs.field(metadata=json("hard", INT, omitempty=False))
    soft: int = attrs.field(metadata=json("soft", INT, omitempty=False))


@attrs.frozen(kw_only=True)
class Process(Model):
    """The process a container (or an exec) runs (``process``).

    Also the payload of an exec: `to_json` gives what containerd's
    ``Tasks.Exec`` expects as its spec.

    Example:
        ```python
        Process(args=("sh", "-c", "id"), env=("PATH=/bin",), cwd="/", user=User(uid=1000))
        ```
    """

    terminal: bool = attrs.field(default=False, metadata=json("terminal", BOOL))
    console_size: ConsoleSize | None = attrs.field(
        default=None, metadata=json("consoleSize", Obj(ConsoleSize))
    )
    user: User = attrs.field(
        factory=User, metadata=json("user", Obj(User, required=True), omitempty=False)
    )
    args: tuple[str, ...] = attrs.field(default=(), converter=strs, metadata=json("args", STRS))
    env: tuple[str, ...] = attrs.field(default=(), converter=strs, metadata=json("env", STRS))
    cwd: str = attrs.field(default="/", metadata=json("cwd", STR, omitempty=False))
    capabilities: Capabilities | None = attrs.field(
        default=None, metadata=json("capabilities", Obj(Capabilities))
    )
    rlimits: tuple[Rlimit, ...] = attrs.field(
        default=(), converter=_rlimits, metadata=json("rlimits", Objs(Rlimit))
    )
    no_new_privileges: bool = attrs.field(default=False, metadata=json("noNewPrivileges", BOOL))
    apparmor_profile: str = attrs.field(default="", metadata=json("apparmorProfile", STR))
    oom_score_adj: int | None = attrs.field(default=None, metadata=json("oomScoreAdj", OPT_INT))
    selinux_label: str = attrs.field(default="", metadata=json("selinuxLabel", STR))


@attrs.frozen(kw_only=True)
class Root(Model):
    """The container's root filesystem (``root``); a relative path is relative to the bundle.

    Example:
        ```python
        Root(path="rootfs", readonly=True)
        ```
    """

    path: str = attrs.field(default="rootfs", metadata=json("path", STR, omitempty=False))
    readonly: bool = attrs.field(default=False, metadata=json("readonly", BOOL))


@attrs.frozen(kw_only=True)
class Mount(Model):
    """A mount inside the container (``mounts[]``).

    Not to be confused with `pycontainerd.Mount`, the mounts snapshots return.

    Example:
        ```python
        Mount(destination="/data", type="bind", source="/srv/data", options=("rbind", "ro"))
        Mount.parse("type=bind,src=/srv/data,dst=/data,options=rbind:ro")
        ```
    """

    destination: str = attrs.field(metadata=json("destination", STR, omitempty=False))
    type: str = attrs.field(default="", metadata=json("type", STR))
    source: str = attrs.field(default="", metadata=json("source", STR))
    options: tuple[str, ...] = attrs.field(
        default=(), converter=strs, metadata=json("options", STRS)
    )

    @classmethod
    def parse(cls, value: str) -> Mount:
        """Parse ``ctr run --mount`` syntax.

        A comma-separated (CSV, so fields may be double-quoted) list of
        ``key=value`` pairs: ``type``, ``source`` (or ``src``),
        ``destination`` (or ``dst``, ``target``) and ``options``, whose
        value is ``:``-separated. A later key overrides an earlier one.

        Raises:
            ValueError: bad CSV quoting, a field without ``=``, an unknown
                key, no destination, a destination that is relative or has a
                ``..`` component, or a NUL in any field; the message names it.

        Example:
            ```python
            >>> Mount.parse("type=bind,src=/a,dst=/b,options=rbind:ro")
            Mount(destination='/b', type='bind', source='/a', options=('rbind', 'ro'))
            ```
        """
        from ._mountflag import parse_mount_flag

        return parse_mount_flag(cls, value)

    def format(self) -> str:
        """Render as ``ctr run --mount`` syntax; `parse` reads it back to an equal `Mount`.

        Raises:
            ValueError: the mount cannot be written in that syntax (an option
                that is empty or contains ``:``, or unknown JSON fields).

        Example:
            ```python
            >>> Mount(destination="/b", type="bind", source="/a", options=("rbind",)).format()
            'type=bind,source=/a,destination=/b,options=rbind'
            ```
        """
        from ._mountflag import format_mount_flag

        return format_mount_flag(self)


@attrs.frozen(kw_only=True)
class Namespace(Model):
    """A Linux namespace to create, or to join when `path` is set (``linux.namespaces[]``).

    Example:
        ```python
        Namespace(type="network", path="/var/run/netns/blue")
        ```
    """

    type: str = attrs.field(metadata=json("type", STR, omitempty=False))
    path: str = attrs.field(default="", metadata=json("path", STR))


@attrs.frozen(kw_only=True)
class IDMapping(Model):
    """A user-namespace id range (``linux.uidMappings[]`` / ``gidMappings[]``).

    Example:
        ```python
        IDMapping(container_id=0, host_id=100000, size=65536)
        ```
    """

    container_id: int = attrs.field(metadata=json("containerID", INT, omitempty=False))
    host_id: int = attrs.field(metadata=json("hostID", INT, omitempty=False))
    size: int = attrs.field(metadata=json("size", INT, omitempty=False))


@attrs.frozen(kw_only=True)
class DeviceRule(Model):
    """A device-cgroup rule (``linux.resources.devices[]``); unset major/minor match all.

    Example:
        ```python
        DeviceRule(allow=False, access="rwm")            # deny everything
        DeviceRule(allow=True, type="c", major=1, minor=3, access="rwm")  # /dev/null
        ```
    """

    allow: bool = attrs.field(default=False, metadata=json("allow", BOOL, omitempty=False))
    type: str = attrs.field(default="", metadata=json("type", STR))
    major: int | None = attrs.field(default=None, metadata=json("major", OPT_INT))
    minor: int | None = attrs.field(default=None, metadata=json("minor", OPT_INT))
    access: str = attrs.field(default="", metadata=json("access", STR))


@attrs.frozen(kw_only=True)
class Memory(Model):
    """Memory cgroup settings in bytes (``linux.resources.memory``); ``None`` means unset.

    Example:
        ```python
        Memory(limit=256 * 2**20, swap=512 * 2**20)
        ```
    """

    limit: int | None = attrs.field(default=None, metadata=json("limit", OPT_INT))
    reservation: int | None = attrs.field(default=None, metadata=json("reservation", OPT_INT))
    swap: int | None = attrs.field(default=None, metadata=json("swap", OPT_INT))


@attrs.frozen(kw_only=True)
class CPU(Model):
    """CPU cgroup settings (``linux.resources.cpu``).

    `quota` and `period` are microseconds of CFS bandwidth; `cpus` and
    `mems` are cpuset lists such as ``"0-2,4"``.

    Example:
        ```python
        CPU(quota=150_000, period=100_000)    # one and a half CPUs
        ```
    """

    shares: int | None = attrs.field(default=None, metadata=json("shares", OPT_INT))
    quota: int | None = attrs.field(default=None, metadata=json("quota", OPT_INT))
    period: int | None = attrs.field(default=None, metadata=json("period", OPT_INT))
    cpus: str = attrs.field(default="", metadata=json("cpus", STR))
    mems: str = attrs.field(default="", metadata=json("mems", STR))


@attrs.frozen(kw_only=True)
class Pids(Model):
    """The pids cgroup limit (``linux.resources.pids``).

    Example:
        ```python
        Pids(limit=100)
        ```
    """

    limit: int = attrs.field(metadata=json("limit", INT, omitempty=False))


@attrs.frozen(kw_only=True)
class Resources(Model):
    """Cgroup resource settings (``linux.resources``).

    Parts not modelled here (block IO, hugepages, network, RDMA, unified)
    are kept as raw JSON and survive a round trip.

    Example:
        ```python
        Resources(memory=Memory(limit=2**30), pids=Pids(limit=100))
        ```
    """

    devices: tuple[DeviceRule, ...] = attrs.field(
        default=(), converter=_devicerules, metadata=json("devices", Objs(DeviceRule))
    )
    memory: Memory | None = attrs.field(default=None, metadata=json("memory", Obj(Memory)))
    cpu: CPU | None = attrs.field(default=None, metadata=json("cpu", Obj(CPU)))
    pids: Pids | None = attrs.field(default=None, metadata=json("pids", Obj(Pids)))


@attrs.frozen(kw_only=True)
class Device(Model):
    """A device node created in the container (``linux.devices[]``).

    Example:
        ```python
        Device(path="/dev/fuse", type="c", major=10, minor=229, file_mode=0o666)
        ```
    """

    path: str = attrs.field(metadata=json("path", STR, omitempty=False))
    type: str = attrs.field(metadata=json("type", STR, omitempty=False))
    major: int = attrs.field(metadata=json("major", INT, omitempty=False))
    minor: int = attrs.field(metadata=json("minor", INT, omitempty=False))
    file_mode: int | None = attrs.field(default=None, metadata=json("fileMode", OPT_INT))
    uid: int | None = attrs.field(default=None, metadata=json("uid", OPT_INT))
    gid: int | None = attrs.field(default=None, metadata=json("gid", OPT_INT))


@attrs.frozen(kw_only=True)
class Linux(Model):
    """Linux-specific settings (``linux``).

    `seccomp` is kept as the raw JSON object (``None``: no seccomp filter).
    Parts not modelled (Intel RDT, personality, ...) survive a round trip.

    Example:
        ```python
        Linux(namespaces=(Namespace(type="pid"), Namespace(type="mount")), cgroups_path="/ns/id")
        ```
    """

    uid_mappings: tuple[IDMapping, ...] = attrs.field(
        default=(), converter=_idmappings, metadata=json("uidMappings", Objs(IDMapping))
    )
    gid_mappings: tuple[IDMapping, ...] = attrs.field(
        default=(), converter=_idmappings, metadata=json("gidMappings", Objs(IDMapping))
    )
    sysctl: Mapping[str, str] = attrs.field(
        factory=dict, converter=str_map, hash=False, metadata=json("sysctl", STR_MAP)
    )
    resources: Resources | None = attrs.field(
        default=None, metadata=json("resources", Obj(Resources))
    )
    cgroups_path: str = attrs.field(default="", metadata=json("cgroupsPath", STR))
    namespaces: tuple[Namespace, ...] = attrs.field(
        default=(), converter=_namespaces, metadata=json("namespaces", Objs(Namespace))
    )
    devices: tuple[Device, ...] = attrs.field(
        default=(), converter=_devices, metadata=json("devices", Objs(Device))
    )
    seccomp: Any = attrs.field(default=None, hash=False, metadata=json("seccomp", RAW))
    rootfs_propagation: str = attrs.field(default="", metadata=json("rootfsPropagation", STR))
    masked_paths: tuple[str, ...] = attrs.field(
        default=(), converter=strs, metadata=json("maskedPaths", STRS)
    )
    readonly_paths: tuple[str, ...] = attrs.field(
        default=(), converter=strs, metadata=json("readonlyPaths", STRS)
    )
    mount_label: str = attrs.field(default="", metadata=json("mountLabel", STR))
