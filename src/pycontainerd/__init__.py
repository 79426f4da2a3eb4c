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

from . import errors, events, oci
from ._client import Client
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

__all__ = [
    "Client",
    "Content",
    "ContentInfo",
    "ContentReader",
    "ContentWriter",
    "Descriptor",
    "Diff",
    "Image",
    "ImageConfig",
    "Images",
    "IngestStatus",
    "Lease",
    "LeaseResource",
    "Leases",
    "Manifest",
    "Mount",
    "Namespace",
    "Namespaces",
    "Platform",
    "PluginInfo",
    "ServerInfo",
    "Services",
    "SignalTarget",
    "SnapshotInfo",
    "SnapshotKind",
    "Snapshots",
    "Usage",
    "Version",
    "errors",
    "events",
    "forward_signals",
    "oci",
    "parse_signal",
]
