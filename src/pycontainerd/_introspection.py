"""Version and introspection value classes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any, cast

import attrs

from . import _wire, errors
from ._api.containerd.services.introspection.v1 import (
    DeprecationWarning as _DeprecationWarning,
)
from ._api.containerd.services.introspection.v1 import Plugin as _Plugin
from ._api.containerd.services.introspection.v1 import (
    PluginInfoRequest,
    PluginInfoResponse,
    ServerResponse,
)
from ._api.containerd.types import RuntimeInfo as _RuntimeInfo
from ._api.containerd.types import RuntimeRequest
from ._convert import timestamp
from ._platforms import Platform
from .errors import RPCError, error_for_status

__all__ = ["Deprecation", "PluginInfo", "RuntimeInfo", "ServerInfo", "Version"]


@attrs.frozen(kw_only=True)
class Version:
    """The daemon's version (``1.6.20~ds1``) and source revision."""

    version: str
    revision: str


def version_of(reply: bytes) -> Version:
    """The `Version` in a serialised ``VersionResponse``.

    Decoded by the wire codec: betterproto's decoder costs a fifth of a
    ``version()`` call's client instructions (1.59M -> 1.34M per call under
    callgrind), and S1 is the benchmark of a call's overhead.

    Raises:
        pycontainerd.errors.DataLoss: the reply is not such a message.
    """
    try:
        version: Version = _version_builder()(reply, 0, len(reply))
    except _wire.WireError as exc:
        raise _wire.data_loss("version reply", exc) from None
    return version


@cache
def _version_builder() -> _wire.Builder:
    return _wire.record("containerd.services.version.v1.VersionResponse", Version)


@attrs.frozen(kw_only=True)
class Deprecation:
    """A deprecated feature the daemon saw in use (containerd 1.7 and newer report them).

    Attributes:
        id: containerd's identifier, e.g. ``io.containerd.deprecation/pull-schema-1-image``.
        message: what is deprecated and what to do instead.
        last_occurrence: when the daemon last saw it used.
    """

    id: str
    message: str
    last_occurrence: datetime | None = None


@attrs.frozen(kw_only=True)
class ServerInfo:
    """The daemon itself: its version, and what introspection says of it.

    Attributes:
        uuid: the daemon's identity, stable across restarts on the same root.
        version: its version, as `pycontainerd.Client.version` reports it.
        revision: the source revision it was built from.
        pid: its process id; ``None`` from containerd 1.6, which does not say.
        pidns: the inode of its PID namespace (``None`` from 1.6).
        deprecations: deprecated features in use (1.7 and newer).
    """

    uuid: str
    version: str
    revision: str
    pid: int | None = None
    pidns: int | None = None
    deprecations: Sequence[Deprecation] = ()

    @classmethod
    def _from_proto(cls, reply: ServerResponse, version: Version) -> ServerInfo:
        return cls(
            uuid=reply.uuid,
            version=version.version,
            revision=version.revision,
            # 1.6's reply has no such fields: they decode as 0, which no daemon's pid is.
            pid=reply.pid or None,
            pidns=reply.pidns or None,
            deprecations=tuple(
                Deprecation(
                    id=d.id,
                    message=d.message,
                    last_occurrence=timestamp(d.last_occurrence),
                )
                # The generated annotation names its own DeprecationWarning, which
                # mypy reads as the builtin warning class.
                for d in cast("list[_DeprecationWarning]", reply.deprecations)
            ),
        )


@attrs.frozen(kw_only=True)
class PluginInfo:
    """One plugin of the daemon, as introspection reports it.

    Attributes:
        type: the plugin type, e.g. ``io.containerd.snapshotter.v1``.
        id: the plugin id, e.g. ``overlayfs``.
        init_error: why the plugin failed to load (as the matching
            `RPCError`), or ``None`` when it is usable.
    """

    type: str
    id: str
    requires: Sequence[str] = ()
    platforms: Sequence[Platform] = ()
    exports: Mapping[str, str] = attrs.field(factory=dict)
    capabilities: Sequence[str] = ()
    init_error: RPCError | None = None

    @property
    def ok(self) -> bool:
        """Whether the plugin loaded."""
        return self.init_error is None

    @classmethod
    def _from_proto(cls, msg: _Plugin) -> PluginInfo:
        err = msg.init_err
        return cls(
            type=msg.type,
            id=msg.id,
            requires=tuple(msg.requires),
            platforms=tuple(Platform._from_proto(p) for p in msg.platforms),
            exports=dict(msg.exports),
            capabilities=tuple(msg.capabilities),
            init_error=error_for_status(err.code, err.message) if err.code else None,
        )


@attrs.frozen(kw_only=True)
class RuntimeInfo:
    """A runtime as its shim describes itself (`pycontainerd.Client.runtime_info`).

    Attributes:
        name: the runtime (the shim), e.g. ``io.containerd.runc.v2``.
        version: the shim's version (the containerd release it came with).
        revision: its source revision, if it says.
        features: the OCI runtime features document of the runtime the shim
            drives (``runc features``): its version (under ``annotations``),
            hooks, mount options, namespaces, capabilities and seccomp
            support, as parsed JSON; empty if it reports none.
        annotations: the shim's annotations.
    """

    name: str
    version: str
    revision: str = ""
    features: Mapping[str, Any] = attrs.field(factory=dict)
    annotations: Mapping[str, str] = attrs.field(factory=dict)


# Where containerd's runtime plugin answers PluginInfo (Go: plugins.RuntimePluginV2, "task").
_RUNTIME_PLUGIN = ("io.containerd.runtime.v2", "task")


def runtime_info_request(runtime: str) -> PluginInfoRequest:
    """The PluginInfo request that asks the runtime plugin about `runtime`."""
    from betterproto.lib.google.protobuf import Any as AnyProto

    options = AnyProto(
        type_url="containerd.types.RuntimeRequest",
        value=bytes(RuntimeRequest(runtime_path=runtime)),
    )
    return PluginInfoRequest(type=_RUNTIME_PLUGIN[0], id=_RUNTIME_PLUGIN[1], options=options)


def runtime_info_of(reply: PluginInfoResponse) -> RuntimeInfo:
    """The `RuntimeInfo` in a PluginInfo reply of the runtime plugin.

    Raises:
        pycontainerd.errors.DataLoss: the reply holds something else.
    """
    extra = reply.extra
    if not extra.type_url.endswith("containerd.types.RuntimeInfo"):
        raise errors.DataLoss(f"runtime info of unexpected type {extra.type_url!r}")
    info = _RuntimeInfo().parse(extra.value)
    features: Mapping[str, Any] = {}
    if info.features.value:
        # containerd marshals the OCI features struct (a Go type, not a message) as JSON.
        try:
            features = json.loads(info.features.value)
        except ValueError as exc:
            raise errors.DataLoss(
                f"runtime features ({info.features.type_url}) are not JSON: {exc}"
            ) from exc
    return RuntimeInfo(
        name=info.name,
        version=info.version.version,
        revision=info.version.revision,
        features=features,
        annotations=dict(info.annotations),
    )
