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

from . import errors, events
from ._client import Client
from ._descriptors import Descriptor, Mount
from ._introspection import PluginInfo, ServerInfo, Version
from ._namespaces import Namespace, Namespaces
from ._platforms import Platform
from ._services import Services
from ._signals import SignalTarget, forward_signals, parse_signal

__all__ = [
    "Client",
    "Descriptor",
    "Mount",
    "Namespace",
    "Namespaces",
    "Platform",
    "PluginInfo",
    "ServerInfo",
    "Services",
    "SignalTarget",
    "Version",
    "errors",
    "events",
    "forward_signals",
    "parse_signal",
]
