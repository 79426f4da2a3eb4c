"""pycontainerd: a typed, async-native SDK for containerd.

Example:
    ```python
    import anyio
    import pycontainerd

    async def main() -> None:
        async with pycontainerd.Client() as client:
            print(await client.version())

    anyio.run(main)
    ```
"""

from typing import TYPE_CHECKING, Any

from . import errors
from ._client import Client
from ._transport import DEFAULT

if TYPE_CHECKING:
    from . import events, oci, registry, runtime, services, stdio
    from ._containers import Container, Containers, Extension, Runtime
    from ._content import Content, ContentInfo, ContentReader, ContentWriter, IngestStatus
    from ._descriptors import Descriptor, Mount
    from ._diff import Diff
    from ._image_config import ImageConfig
    from ._image_mount import ImageMount
    from ._images import Image, ImageCheck, Images, ImageUsage, Manifest
    from ._introspection import Deprecation, PluginInfo, RuntimeInfo, ServerInfo, Version
    from ._leases import Lease, LeaseResource, Leases
    from ._namespaces import Namespace, Namespaces
    from ._platforms import Platform
    from ._sandboxes import (
        Sandbox,
        SandboxController,
        Sandboxes,
        SandboxInstance,
        SandboxMetrics,
        SandboxStatus,
    )
    from ._services import Services
    from ._signals import SignalTarget, forward_signals, parse_signal
    from ._snapshots import SnapshotInfo, SnapshotKind, Snapshots, Usage
    from ._tasks import (
        ExitStatus,
        Metrics,
        Process,
        ProcessInfo,
        RunResult,
        Task,
        Tasks,
        TaskState,
        TaskStatus,
    )
    from ._tls import TLS

__all__ = [
    "DEFAULT",
    "TLS",
    "Client",
    "Container",
    "Containers",
    "Content",
    "ContentInfo",
    "ContentReader",
    "ContentWriter",
    "Deprecation",
    "Descriptor",
    "Diff",
    "ExitStatus",
    "Extension",
    "Image",
    "ImageCheck",
    "ImageConfig",
    "ImageMount",
    "ImageUsage",
    "Images",
    "IngestStatus",
    "Lease",
    "LeaseResource",
    "Leases",
    "Manifest",
    "Metrics",
    "Mount",
    "Namespace",
    "Namespaces",
    "Platform",
    "PluginInfo",
    "Process",
    "ProcessInfo",
    "RunResult",
    "Runtime",
    "RuntimeInfo",
    "Sandbox",
    "SandboxController",
    "SandboxInstance",
    "SandboxMetrics",
    "SandboxStatus",
    "Sandboxes",
    "ServerInfo",
    "Services",
    "SignalTarget",
    "SnapshotInfo",
    "SnapshotKind",
    "Snapshots",
    "Task",
    "TaskState",
    "TaskStatus",
    "Tasks",
    "Usage",
    "Version",
    "errors",
    "events",
    "forward_signals",
    "oci",
    "parse_signal",
    "registry",
    "runtime",
    "services",
    "stdio",
    "transfer",
]

# Where each public name lives: imported on first access (PEP 562), so that
# `import pycontainerd` does not pay for the facades and modules a program
# never uses.
_SUBPACKAGES = frozenset(("events", "oci", "registry", "runtime", "services", "stdio", "transfer"))
_LAZY = {
    name: module
    for module, names in {
        "._containers": ("Container", "Containers", "Extension", "Runtime"),
        "._content": ("Content", "ContentInfo", "ContentReader", "ContentWriter", "IngestStatus"),
        "._descriptors": ("Descriptor", "Mount"),
        "._diff": ("Diff",),
        "._image_config": ("ImageConfig",),
        "._image_mount": ("ImageMount",),
        "._images": ("Image", "ImageCheck", "ImageUsage", "Images", "Manifest"),
        "._introspection": ("Deprecation", "PluginInfo", "RuntimeInfo", "ServerInfo", "Version"),
        "._leases": ("Lease", "LeaseResource", "Leases"),
        "._namespaces": ("Namespace", "Namespaces"),
        "._platforms": ("Platform",),
        "._sandboxes": (
            "Sandbox",
            "SandboxController",
            "SandboxInstance",
            "SandboxMetrics",
            "SandboxStatus",
            "Sandboxes",
        ),
        "._services": ("Services",),
        "._signals": ("SignalTarget", "forward_signals", "parse_signal"),
        "._snapshots": ("SnapshotInfo", "SnapshotKind", "Snapshots", "Usage"),
        "._tasks": (
            "ExitStatus",
            "Metrics",
            "Process",
            "ProcessInfo",
            "RunResult",
            "Task",
            "Tasks",
            "TaskState",
            "TaskStatus",
        ),
        "._tls": ("TLS",),
    }.items()
    for name in names
}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _SUBPACKAGES:
        value: Any = importlib.import_module("." + name, __name__)
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
