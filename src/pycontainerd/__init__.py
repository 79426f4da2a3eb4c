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
    from . import events, oci, registry, stdio
    from ._containers import Container, Containers, Extension, Runtime
    from ._content import Content, ContentInfo, ContentReader, ContentWriter, IngestStatus
    from ._descriptors import Descriptor, Mount
    from ._diff import Diff
    from ._image_config import ImageConfig
    from ._images import Image, Images, Manifest
    from ._introspection import PluginInfo, ServerInfo, Version
    from ._leases import Lease, LeaseResource, Leases
    from ._namespaces import Namespace, Namespaces
    from ._platforms import Platform
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

__all__ = [
    "DEFAULT",
    "Client",
    "Container",
    "Containers",
    "Content",
    "ContentInfo",
    "ContentReader",
    "ContentWriter",
    "Descriptor",
    "Diff",
    "ExitStatus",
    "Extension",
    "Image",
    "ImageConfig",
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
    "stdio",
]

# Where each public name lives: imported on first access (PEP 562), so that
# `import pycontainerd` does not pay for the facades and modules a program
# never uses.
_LAZY = {
    "events": ".events",
    "oci": ".oci",
    "registry": ".registry",
    "stdio": ".stdio",
    "Container": "._containers",
    "Containers": "._containers",
    "Extension": "._containers",
    "Runtime": "._containers",
    "Content": "._content",
    "ContentInfo": "._content",
    "ContentReader": "._content",
    "ContentWriter": "._content",
    "IngestStatus": "._content",
    "Descriptor": "._descriptors",
    "Mount": "._descriptors",
    "Diff": "._diff",
    "ImageConfig": "._image_config",
    "Image": "._images",
    "Images": "._images",
    "Manifest": "._images",
    "PluginInfo": "._introspection",
    "ServerInfo": "._introspection",
    "Version": "._introspection",
    "Lease": "._leases",
    "LeaseResource": "._leases",
    "Leases": "._leases",
    "Namespace": "._namespaces",
    "Namespaces": "._namespaces",
    "Platform": "._platforms",
    "Services": "._services",
    "SignalTarget": "._signals",
    "forward_signals": "._signals",
    "parse_signal": "._signals",
    "SnapshotInfo": "._snapshots",
    "SnapshotKind": "._snapshots",
    "Snapshots": "._snapshots",
    "Usage": "._snapshots",
    "ExitStatus": "._tasks",
    "Metrics": "._tasks",
    "Process": "._tasks",
    "ProcessInfo": "._tasks",
    "RunResult": "._tasks",
    "Task": "._tasks",
    "Tasks": "._tasks",
    "TaskState": "._tasks",
    "TaskStatus": "._tasks",
}


def __getattr__(name: str) -> Any:
    import importlib

    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(where, __name__)
    value = module if where == "." + name else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
