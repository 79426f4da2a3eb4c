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

from . import errors, events, oci, registry, stdio
from ._client import Client
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
from ._transport import DEFAULT

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
