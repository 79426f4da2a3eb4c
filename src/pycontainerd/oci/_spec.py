"""The `Spec` root object, containerd's default spec, and the ``with_*`` helpers."""

from __future__ import annotations

import os
import posixpath
import socket
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ._codec import RAW, STR, STR_MAP, Model, Obj, Objs, json, str_map
from ._env import DEFAULT_PATH_ENV, EnvLike, merge_env
from ._model import (
    CPU,
    OCI_VERSION,
    Capabilities,
    ConsoleSize,
    DeviceRule,
    IDMapping,
    Linux,
    Memory,
    Mount,
    Namespace,
    Pids,
    Process,
    Resources,
    Rlimit,
    Root,
)
from ._user import Rootfs, append_groups, resolve_user

if TYPE_CHECKING:
    from ._image import ImageConfigLike

__all__ = [
    "DEFAULT_CAPABILITIES",
    "KNOWN_CAPABILITIES",
    "NAMESPACE_TYPES",
    "Spec",
]

DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
"""The capabilities containerd gives a container by default (bounding, effective, permitted)."""

KNOWN_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
"""Every Linux capability up to kernel 5.9, in kernel order (containerd's ``cap.Known()``)."""

NAMESPACE_TYPES: frozenset[str] = frozenset(
    {"pid", "network", "mount", "ipc", "uts", "user", "cgroup"}
)
"""The Linux namespace types the runtime spec names."""

_DEFAULT_NAMESPACES = ("pid", "ipc", "uts", "mount", "network")
_MASKED_PATHS = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
)
_READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
_TMPFS_OPTIONS = ("nosuid", "strictatime", "mode=755", "size=65536k")
_DEFAULT_MOUNTS = (
    Mount(destination="/proc", type="proc", source="proc", options=("nosuid", "noexec", "nodev")),
    Mount(destination="/dev", type="tmpfs", source="tmpfs", options=_TMPFS_OPTIONS),
    Mount(
        destination="/dev/pts",
        type="devpts",
        source="devpts",
        options=("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
    ),
    Mount(
        destination="/dev/shm",
        type="tmpfs",
        source="shm",
        options=("nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
    ),
    Mount(
        destination="/dev/mqueue",
        type="mqueue",
        source="mqueue",
        options=("nosuid", "noexec", "nodev"),
    ),
    Mount(
        destination="/sys",
        type="sysfs",
        source="sysfs",
        options=("nosuid", "noexec", "nodev", "ro"),
    ),
    Mount(destination="/run", type="tmpfs", source="tmpfs", options=_TMPFS_OPTIONS),
)


def _mounts(values: Iterable[Mount]) -> tuple[Mount, ...]:
    return tuple(values)


def _capability(name: str) -> str:
    upper = name.strip().upper()
    full = upper if upper.startswith("CAP_") else f"CAP_{upper}"
    if full not in KNOWN_CAPABILITIES:
        raise ValueError(f"unknown capability {name!r}")
    return full


def _namespace_type(value: str) -> str:
    if value not in NAMESPACE_TYPES:
        known = ", ".join(sorted(NAMESPACE_TYPES))
        raise ValueError(f"unknown namespace type {value!r} (known: {known})")
    return value


def _no_nul(what: str, value: str) -> None:
    """Refuse a NUL in a string runc would pass to the kernel (it would refuse it at start)."""
    if "\0" in value:
        from .. import errors

        raise errors.InvalidArgument(f"{what} {value!r:.60} contains a NUL")


def _non_negative(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or value < 0):
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


@attrs.frozen(kw_only=True)
class Spec(Model):
    """An OCI runtime spec: the ``config.json`` a container is created from.

    Immutable: every ``with_*`` method returns a new `Spec` and leaves the
    original as it was, so specs can be shared and chained. For anything
    the helpers do not cover use `attrs.evolve` on the spec or its parts.
    JSON fields the model does not know (at any depth) are kept and written
    back by `to_json` unchanged.

    Example:
        ```python
        import attrs
        from pycontainerd import oci

        spec = (
            oci.Spec.default(namespace="default", id="web")
            .with_args(["nginx", "-g", "daemon off;"])
            .with_env({"MODE": "prod"})
            .with_memory_limit(256 * 2**20)
            .with_mounts([oci.Mount.parse("type=bind,src=/srv/www,dst=/www,options=rbind:ro")])
        )
        assert spec.process is not None
        spec = attrs.evolve(spec, process=attrs.evolve(spec.process, oom_score_adj=500))
        payload = spec.to_json()                       # bytes, as containerd stores it
        assert oci.Spec.from_json(payload) == spec
        ```
    """

    oci_version: str = attrs.field(
        default=OCI_VERSION, metadata=json("ociVersion", STR, omitempty=False)
    )
    process: Process | None = attrs.field(default=None, metadata=json("process", Obj(Process)))
    root: Root | None = attrs.field(default=None, metadata=json("root", Obj(Root)))
    hostname: str = attrs.field(default="", metadata=json("hostname", STR))
    mounts: tuple[Mount, ...] = attrs.field(
        default=(), converter=_mounts, metadata=json("mounts", Objs(Mount))
    )
    hooks: Any = attrs.field(default=None, hash=False, metadata=json("hooks", RAW))
    annotations: Mapping[str, str] = attrs.field(
        factory=dict, converter=str_map, hash=False, metadata=json("annotations", STR_MAP)
    )
    linux: Linux | None = attrs.field(default=None, metadata=json("linux", Obj(Linux)))

    # ----------------------------------------------------------- constructors

    @classmethod
    def default(cls, *, namespace: str | None = None, id: str | None = None) -> Spec:
        """The default Linux spec of containerd (``oci.GenerateSpec`` with no options).

        Namespaces pid, ipc, uts, mount and network; the /proc, /dev,
        /dev/pts, /dev/shm, /dev/mqueue, /sys and /run mounts; containerd's
        14 default capabilities; masked and read-only /proc and /sys paths;
        ``RLIMIT_NOFILE`` 1024; no new privileges; every device denied in
        the device cgroup; root ``rootfs``; cwd ``/``; user 0:0. The
        process has no args and no env yet.

        Args:
            namespace: the containerd namespace, and
            id: the container id; with both, the cgroups path is
                ``/<namespace>/<id>`` as containerd makes it. Leave both out
                to leave the cgroups path empty (to be filled in later with
                `with_cgroups_path`).

        Raises:
            ValueError: only one of `namespace` and `id` was given.

        Example:
            ```python
            spec = Spec.default(namespace="default", id="redis")
            assert spec.linux is not None and spec.linux.cgroups_path == "/default/redis"
            ```
        """
        if (namespace is None) != (id is None):
            raise ValueError("give both namespace and id (for the cgroups path) or neither")
        cgroups_path = (
            ""
            if namespace is None or id is None
            else posixpath.normpath(posixpath.join("/", namespace, id))
        )
        return cls(
            oci_version=OCI_VERSION,
            root=Root(path="rootfs"),
            process=Process(
                cwd="/",
                no_new_privileges=True,
                capabilities=Capabilities(
                    bounding=DEFAULT_CAPABILITIES,
                    permitted=DEFAULT_CAPABILITIES,
                    effective=DEFAULT_CAPABILITIES,
                ),
                rlimits=(Rlimit(type="RLIMIT_NOFILE", hard=1024, soft=1024),),
            ),
            mounts=_DEFAULT_MOUNTS,
            linux=Linux(
                masked_paths=_MASKED_PATHS,
                readonly_paths=_READONLY_PATHS,
                cgroups_path=cgroups_path,
                resources=Resources(devices=(DeviceRule(allow=False, access="rwm"),)),
                namespaces=tuple(Namespace(type=t) for t in _DEFAULT_NAMESPACES),
            ),
        )

    @classmethod
    def from_image(
        cls,
        config: ImageConfigLike,
        *,
        args: Iterable[str] | None = None,
        entrypoint: Iterable[str] | None = None,
        env: EnvLike | None = None,
        cwd: str | None = None,
        user: str | int | None = None,
        rootfs: Rootfs | None = None,
        namespace: str | None = None,
        id: str | None = None,
        base: Spec | None = None,
    ) -> Spec:
        """A spec that runs an image, as containerd's ``WithImageConfigArgs`` builds it.

        Starting from `base` (default: `Spec.default` with `namespace` and
        `id`):

        - args are the entrypoint followed by the image's cmd; non-empty
          `args` replace the cmd (the entrypoint stays), and `entrypoint`
          replaces the image's entrypoint;
        - env is the image's env (or a default ``PATH`` when it has none),
          then the base spec's env, then `env`, each replacing variables by
          name (a bare ``NAME`` entry removes the variable);
        - cwd is `cwd`, else the image's working dir, else ``/``;
        - the user is `user`, else the image's user, resolved as `with_user`
          does: ``uid``, ``uid:gid``, ``name``, ``name:group``, ...; names
          (and a lone uid's primary group and supplementary groups) are
          looked up in `rootfs`'s ``/etc/passwd`` and ``/etc/group``.

        Args:
            config: the image config (`pycontainerd.ImageConfig`, or
                anything with ``env``, ``entrypoint``, ``cmd``,
                ``working_dir`` and ``user``).
            args: replaces the image's cmd when non-empty.
            entrypoint: replaces the image's entrypoint.
            env: extra variables, as a mapping or ``NAME=value`` strings.
            cwd: the working directory.
            user: overrides the image's user.
            rootfs: the unpacked root filesystem on this host, or a mapping
                of ``"/etc/passwd"`` and ``"/etc/group"`` to their contents
                (read from the image's layers, say), used to resolve user and
                group names. Without it a name cannot be resolved and a lone
                numeric uid gets gid 0.
            namespace: containerd namespace for the default cgroups path.
            id: container id for the default cgroups path.
            base: the spec to start from instead of `Spec.default`.

        An image with no entrypoint or cmd, given no `args`, gives a spec
        with no args, as containerd's client does: the container can be
        created, and creating its task fails (`pycontainerd.Container.new_task`
        says so); give args, or update the spec, to run it.

        Without `namespace` and `id` (and without `base`) the cgroups path
        is left empty; `pycontainerd.Containers.create` then sets
        containerd's ``/<namespace>/<id>``.

        Raises:
            ValueError: the user string is malformed, or a user/group name
                cannot be resolved.

        Example:
            ```python
            config = await image.config()
            spec = Spec.from_image(config, args=["sh", "-c", "echo hi"], env={"DEBUG": "1"})
            ```
        """
        from ._image import apply_image_config

        start = base if base is not None else cls.default(namespace=namespace, id=id)
        return apply_image_config(
            start,
            config,
            args=args,
            entrypoint=entrypoint,
            env=env,
            cwd=cwd,
            user=user,
            rootfs=rootfs,
        )

    # --------------------------------------------------------------- internals

    def _process(self) -> Process:
        return self.process if self.process is not None else Process()

    def _linux(self) -> Linux:
        return self.linux if self.linux is not None else Linux()

    def _resources(self) -> Resources:
        linux = self._linux()
        return linux.resources if linux.resources is not None else Resources()

    def _with_process(self, **changes: Any) -> Spec:
        return attrs.evolve(self, process=attrs.evolve(self._process(), **changes))

    def _with_linux(self, **changes: Any) -> Spec:
        return attrs.evolve(self, linux=attrs.evolve(self._linux(), **changes))

    def _with_resources(self, **changes: Any) -> Spec:
        return self._with_linux(resources=attrs.evolve(self._resources(), **changes))

    def _with_capability_sets(self, **sets: Any) -> Spec:
        process = self._process()
        caps = process.capabilities if process.capabilities is not None else Capabilities()
        return self._with_process(capabilities=attrs.evolve(caps, **sets))

    # ----------------------------------------------------------------- process

    def with_args(self, args: Iterable[str]) -> Spec:
        """Replace the process's arguments (the program and its argv).

        Raises:
            ValueError: `args` is empty, or an argument contains a NUL
                (`pycontainerd.errors.InvalidArgument`).

        Example:
            ```python
            spec = Spec.default().with_args(["sh", "-c", "echo hi"])
            ```
        """
        if isinstance(args, str):
            raise TypeError(f"args must be a sequence of strings, not the string {args!r}")
        values = tuple(args)
        if not values:
            raise ValueError("args must not be empty")
        for arg in values:
            _no_nul("argument", arg)
        return self._with_process(args=values)

    def with_env(self, env: EnvLike) -> Spec:
        """Set environment variables, replacing existing ones by name.

        `env` is a mapping, or ``NAME=value`` strings; a bare ``NAME``
        removes that variable (as containerd's ``WithEnv`` does).

        Example:
            ```python
            spec = Spec.default().with_env({"LANG": "C.UTF-8"}).with_env(["DEBUG=1", "LANG"])
            ```
        """
        return self._with_process(env=merge_env(self._process().env, env))

    def with_default_path_env(self) -> Spec:
        """Set ``PATH`` to containerd's default (``/usr/local/sbin:...:/bin``).

        Example:
            ```python
            spec = Spec.default().with_default_path_env()
            ```
        """
        return self.with_env([DEFAULT_PATH_ENV])

    def with_cwd(self, cwd: str) -> Spec:
        """Set the process's working directory (absolute, inside the container).

        Raises:
            ValueError: `cwd` is not absolute, or contains a NUL
                (`pycontainerd.errors.InvalidArgument`).

        Example:
            ```python
            spec = Spec.default().with_cwd("/srv")
            ```
        """
        if not cwd.startswith("/"):
            raise ValueError(f"cwd must be an absolute path, got {cwd!r}")
        _no_nul("cwd", cwd)
        return self._with_process(cwd=cwd)

    def with_tty(self, *, columns: int | None = None, rows: int | None = None) -> Spec:
        """Give the process a terminal, and ``TERM=xterm`` (as ``ctr run --tty``).

        Args:
            columns: initial terminal width (with `rows`), else the runtime's default.
            rows: initial terminal height.

        Example:
            ```python
            spec = Spec.default().with_args(["sh"]).with_tty(columns=120, rows=40)
            ```
        """
        changes: dict[str, Any] = {
            "terminal": True,
            "env": merge_env(self._process().env, ["TERM=xterm"]),
        }
        if columns is not None or rows is not None:
            if columns is None or rows is None:
                raise ValueError("give both columns and rows, or neither")
            _non_negative("columns", columns)
            _non_negative("rows", rows)
            changes["console_size"] = ConsoleSize(width=columns, height=rows)
        return self._with_process(**changes)

    def with_user(self, user: str | int, *, rootfs: Rootfs | None = None) -> Spec:
        """Run as a user given as ``uid``, ``uid:gid``, ``name``, ``name:group`` (or mixed).

        Follows containerd's ``WithUser``: a lone uid takes its primary
        group from ``/etc/passwd`` (gid 0 when not listed there or without
        `rootfs`); a name must be listed; ``uid:gid`` is used as given. With
        `rootfs` the user's supplementary groups from ``/etc/group`` become
        additional gids. The primary gid is always among the additional gids.

        Args:
            user: the user string (an int is a uid).
            rootfs: the container's root filesystem on this host, or a
                mapping of ``"/etc/passwd"`` and ``"/etc/group"`` to their
                contents, for name and group lookups.

        Raises:
            ValueError: malformed user string, or a name that cannot be
                resolved (no `rootfs`, or not in its passwd/group files).

        Example:
            ```python
            spec = Spec.default().with_user("1000:1000")
            spec = Spec.default().with_user("nobody", rootfs="/var/lib/mybundle/rootfs")
            ```
        """
        resolved = resolve_user(str(user), rootfs)
        current = self._process().user
        return self._with_process(
            user=attrs.evolve(
                current,
                uid=resolved.uid,
                gid=resolved.gid,
                additional_gids=resolved.additional_gids,
            )
        )

    def with_additional_groups(
        self, groups: Iterable[str | int], *, rootfs: Rootfs | None = None
    ) -> Spec:
        """Add supplementary groups, given as gids or group names (containerd's ``WithAppendAdditionalGroups``).

        They are appended to the process's additional gids; names are looked
        up in `rootfs`'s ``/etc/group``. The primary gid stays among them.

        Args:
            groups: gids, or names (a numeric string is a gid).
            rootfs: the container's root filesystem on this host, or a
                mapping of ``"/etc/group"`` to its contents, for names.

        Raises:
            ValueError: a name that cannot be resolved (no `rootfs`, or not
                in its ``/etc/group``), or a gid out of range.

        Example:
            ```python
            files = {"/etc/group": b"audio:x:29:"}
            spec = Spec.default().with_user("1000:1000").with_additional_groups([27, "audio"], rootfs=files)
            assert spec.process is not None and spec.process.user.additional_gids == (1000, 27, 29)
            ```
        """
        current = self._process().user
        gids = append_groups(current.gid, current.additional_gids, groups, rootfs)
        return self._with_process(user=attrs.evolve(current, additional_gids=gids))

    def with_rlimit(self, type: str, *, soft: int, hard: int) -> Spec:
        """Set a POSIX resource limit, replacing one of the same type.

        Example:
            ```python
            spec = Spec.default().with_rlimit("RLIMIT_NOFILE", soft=4096, hard=8192)
            ```
        """
        if not type.startswith("RLIMIT_"):
            raise ValueError(f"rlimit type must look like RLIMIT_NOFILE, got {type!r}")
        _non_negative("soft", soft)
        _non_negative("hard", hard)
        limits = [r for r in self._process().rlimits if r.type != type]
        limits.append(Rlimit(type=type, soft=soft, hard=hard))
        return self._with_process(rlimits=limits)

    def with_no_new_privileges(self, enabled: bool = True) -> Spec:
        """Set (default) or clear the process's ``no_new_privileges`` flag.

        Example:
            ```python
            spec = Spec.default().with_no_new_privileges(False)   # let setuid binaries work
            ```
        """
        return self._with_process(no_new_privileges=enabled)

    # ------------------------------------------------------------ capabilities

    def with_capabilities(self, capabilities: Iterable[str]) -> Spec:
        """Replace the bounding, effective and permitted capability sets.

        Names may omit the ``CAP_`` prefix and are case-insensitive.

        Raises:
            ValueError: an unknown capability name.

        Example:
            ```python
            spec = Spec.default().with_capabilities(["CAP_NET_BIND_SERVICE", "kill"])
            ```
        """
        caps = tuple(dict.fromkeys(_capability(c) for c in capabilities))
        return self._with_capability_sets(bounding=caps, effective=caps, permitted=caps)

    def with_added_capabilities(self, capabilities: Iterable[str]) -> Spec:
        """Add capabilities to the bounding, effective and permitted sets (``ctr --cap-add``).

        Raises:
            ValueError: an unknown capability name.

        Example:
            ```python
            spec = Spec.default().with_added_capabilities(["CAP_NET_ADMIN"])
            ```
        """
        added = [_capability(c) for c in capabilities]
        process = self._process()
        caps = process.capabilities if process.capabilities is not None else Capabilities()
        return self._with_capability_sets(
            bounding=tuple(dict.fromkeys([*caps.bounding, *added])),
            effective=tuple(dict.fromkeys([*caps.effective, *added])),
            permitted=tuple(dict.fromkeys([*caps.permitted, *added])),
        )

    def with_dropped_capabilities(self, capabilities: Iterable[str]) -> Spec:
        """Remove capabilities from the bounding, effective and permitted sets (``--cap-drop``).

        Raises:
            ValueError: an unknown capability name.

        Example:
            ```python
            spec = Spec.default().with_dropped_capabilities(["CAP_NET_RAW"])
            ```
        """
        dropped = {_capability(c) for c in capabilities}
        process = self._process()
        caps = process.capabilities if process.capabilities is not None else Capabilities()
        return self._with_capability_sets(
            bounding=tuple(c for c in caps.bounding if c not in dropped),
            effective=tuple(c for c in caps.effective if c not in dropped),
            permitted=tuple(c for c in caps.permitted if c not in dropped),
        )

    def with_ambient_capabilities(self, capabilities: Iterable[str]) -> Spec:
        """Replace the inheritable and ambient sets (useful for non-root users).

        Raises:
            ValueError: an unknown capability name.

        Example:
            ```python
            spec = Spec.default().with_user("1000:1000").with_ambient_capabilities(["NET_BIND_SERVICE"])
            ```
        """
        caps = tuple(dict.fromkeys(_capability(c) for c in capabilities))
        return self._with_capability_sets(inheritable=caps, ambient=caps)

    def with_privileged(self) -> Spec:
        """Loosen the sandbox like ``ctr run --privileged`` (host devices aside).

        Every known capability; no masked or read-only paths; writable
        sysfs and cgroup mounts; no AppArmor profile, SELinux label or
        seccomp filter; all devices allowed in the device cgroup. Device
        nodes are not copied from the host: add them with
        `attrs.evolve` on `Linux.devices` if needed.

        Example:
            ```python
            spec = Spec.default().with_privileged()
            ```
        """
        spec = self._with_capability_sets(
            bounding=KNOWN_CAPABILITIES, effective=KNOWN_CAPABILITIES, permitted=KNOWN_CAPABILITIES
        )
        spec = spec._with_process(apparmor_profile="", selinux_label="")
        spec = spec._with_linux(masked_paths=(), readonly_paths=(), seccomp=None)
        spec = spec._with_resources(devices=(DeviceRule(allow=True, access="rwm"),))

        def writable(mount: Mount) -> Mount:
            if mount.type not in ("sysfs", "cgroup"):
                return mount
            return attrs.evolve(mount, options=["rw" if o == "ro" else o for o in mount.options])

        return attrs.evolve(spec, mounts=[writable(m) for m in spec.mounts])

    # ------------------------------------------------------------ filesystem

    def with_mounts(self, mounts: Iterable[Mount]) -> Spec:
        """Append mounts (after the existing ones, so they mount on top).

        Example:
            ```python
            spec = Spec.default().with_mounts([
                Mount(destination="/data", type="bind", source="/srv/data", options=("rbind", "rw")),
            ])
            ```
        """
        return attrs.evolve(self, mounts=[*self.mounts, *mounts])

    def without_mounts(self, *destinations: str) -> Spec:
        """Remove the mounts at these destinations (compared after normalising the path).

        Example:
            ```python
            spec = Spec.default().without_mounts("/run")
            ```
        """
        drop = set(destinations)
        return attrs.evolve(
            self, mounts=[m for m in self.mounts if os.path.normpath(m.destination) not in drop]
        )

    def with_rootfs_path(self, path: str | os.PathLike[str]) -> Spec:
        """Set the root filesystem path (absolute, or relative to the bundle).

        Example:
            ```python
            spec = Spec.default().with_rootfs_path("/srv/rootfs")
            ```
        """
        root = self.root if self.root is not None else Root()
        return attrs.evolve(self, root=attrs.evolve(root, path=os.fspath(path)))

    def with_readonly_rootfs(self, readonly: bool = True) -> Spec:
        """Make the root filesystem read-only (``ctr run --read-only``), or writable again.

        Example:
            ```python
            spec = Spec.default().with_readonly_rootfs()
            ```
        """
        root = self.root if self.root is not None else Root()
        return attrs.evolve(self, root=attrs.evolve(root, readonly=readonly))

    # ------------------------------------------------------ identity, network

    def with_hostname(self, hostname: str) -> Spec:
        """Set the container's hostname (needs a uts namespace, which the default has).

        Example:
            ```python
            spec = Spec.default().with_hostname("web-1")
            ```
        """
        return attrs.evolve(self, hostname=hostname)

    def with_annotations(self, annotations: Mapping[str, str]) -> Spec:
        """Add or replace annotations.

        Example:
            ```python
            spec = Spec.default().with_annotations({"org.example/owner": "team-a"})
            ```
        """
        return attrs.evolve(self, annotations={**self.annotations, **annotations})

    def with_namespace(self, type: str, path: str = "") -> Spec:
        """Use a new namespace of this type, or join the one at `path`; replaces the same type.

        Raises:
            ValueError: an unknown namespace type.

        Example:
            ```python
            spec = Spec.default().with_namespace("network", "/var/run/netns/blue")
            ```
        """
        namespace = Namespace(type=_namespace_type(type), path=path)
        namespaces = list(self._linux().namespaces)
        for index, existing in enumerate(namespaces):
            if existing.type == type:
                namespaces[index] = namespace
                break
        else:
            namespaces.append(namespace)
        return self._with_linux(namespaces=namespaces)

    def with_host_namespace(self, type: str) -> Spec:
        """Share the host's namespace of this type (drop it from the spec).

        Raises:
            ValueError: an unknown namespace type.

        Example:
            ```python
            spec = Spec.default().with_host_namespace("pid")
            ```
        """
        _namespace_type(type)
        return self._with_linux(namespaces=[n for n in self._linux().namespaces if n.type != type])

    def with_host_network(self, *, hostname: str | None = None) -> Spec:
        """Use the host's network, like ``ctr run --net-host``.

        Drops the network namespace, bind-mounts the host's ``/etc/hosts``
        and ``/etc/resolv.conf`` read-only, and sets ``HOSTNAME`` to
        `hostname` (default: this machine's host name).

        Example:
            ```python
            spec = Spec.default().with_host_network()
            ```
        """
        name = hostname if hostname is not None else socket.gethostname()
        return (
            self.with_host_namespace("network")
            .with_mounts(
                [
                    Mount(
                        destination="/etc/hosts",
                        type="bind",
                        source="/etc/hosts",
                        options=("rbind", "ro"),
                    ),
                    Mount(
                        destination="/etc/resolv.conf",
                        type="bind",
                        source="/etc/resolv.conf",
                        options=("rbind", "ro"),
                    ),
                ]
            )
            .with_env([f"HOSTNAME={name}"])
        )

    def with_user_namespace(
        self, uid_mappings: Iterable[IDMapping], gid_mappings: Iterable[IDMapping]
    ) -> Spec:
        """Add a user namespace (when missing) and append id mappings to it.

        Example:
            ```python
            m = IDMapping(container_id=0, host_id=100000, size=65536)
            spec = Spec.default().with_user_namespace([m], [m])
            ```
        """
        linux = self._linux()
        namespaces = list(linux.namespaces)
        if not any(n.type == "user" for n in namespaces):
            namespaces.append(Namespace(type="user"))
        return self._with_linux(
            namespaces=namespaces,
            uid_mappings=[*linux.uid_mappings, *uid_mappings],
            gid_mappings=[*linux.gid_mappings, *gid_mappings],
        )

    def with_sysctl(self, sysctl: Mapping[str, str]) -> Spec:
        """Add or replace namespaced kernel parameters.

        Example:
            ```python
            spec = Spec.default().with_sysctl({"net.ipv4.ip_unprivileged_port_start": "0"})
            ```
        """
        return self._with_linux(sysctl={**self._linux().sysctl, **sysctl})

    def with_cgroups_path(self, path: str) -> Spec:
        """Set the cgroups path (containerd's default is ``/<namespace>/<container id>``).

        Example:
            ```python
            spec = Spec.default().with_cgroups_path("/default/web")
            ```
        """
        return self._with_linux(cgroups_path=path)

    # --------------------------------------------------------------- resources

    def with_memory_limit(
        self, limit: int, *, reservation: int | None = None, swap: int | None = None
    ) -> Spec:
        """Limit memory (bytes); `swap` is memory plus swap, ``-1`` for unlimited.

        Raises:
            ValueError: a negative limit or reservation.

        Example:
            ```python
            spec = Spec.default().with_memory_limit(256 * 2**20, swap=256 * 2**20)
            ```
        """
        _non_negative("limit", limit)
        _non_negative("reservation", reservation)
        current = self._resources().memory or Memory()
        memory = attrs.evolve(current, limit=limit)
        if reservation is not None:
            memory = attrs.evolve(memory, reservation=reservation)
        if swap is not None:
            memory = attrs.evolve(memory, swap=swap)
        return self._with_resources(memory=memory)

    def with_cpu_limit(self, cpus: float, *, period: int = 100_000) -> Spec:
        """Limit CPU time to `cpus` CPUs' worth (CFS quota), like ``ctr run --cpus``.

        Raises:
            ValueError: `cpus` or `period` is not positive.

        Example:
            ```python
            spec = Spec.default().with_cpu_limit(1.5)     # quota 150000 per 100000 us
            ```
        """
        if not cpus > 0 or period <= 0:
            raise ValueError(f"cpus and period must be positive, got {cpus!r} and {period!r}")
        return self.with_cpu(quota=int(cpus * period), period=period)

    def with_cpu(
        self,
        *,
        shares: int | None = None,
        quota: int | None = None,
        period: int | None = None,
        cpus: str | None = None,
        mems: str | None = None,
    ) -> Spec:
        """Set CPU cgroup settings; arguments left out keep their current value.

        Args:
            shares: relative weight (``--cpu-shares``).
            quota: CFS quota in microseconds per `period` (``-1``: none).
            period: CFS period in microseconds.
            cpus: cpuset of CPUs allowed, such as ``"0-1"``.
            mems: cpuset of memory nodes allowed.

        Example:
            ```python
            spec = Spec.default().with_cpu(shares=512, cpus="0")
            ```
        """
        _non_negative("shares", shares)
        _non_negative("period", period)
        current = self._resources().cpu or CPU()
        given: dict[str, Any] = {
            "shares": shares,
            "quota": quota,
            "period": period,
            "cpus": cpus,
            "mems": mems,
        }
        return self._with_resources(
            cpu=attrs.evolve(current, **{k: v for k, v in given.items() if v is not None})
        )

    def with_pids_limit(self, limit: int) -> Spec:
        """Limit the number of processes in the container.

        Example:
            ```python
            spec = Spec.default().with_pids_limit(100)
            ```
        """
        return self._with_resources(pids=Pids(limit=limit))
