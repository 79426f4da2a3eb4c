"""Test support: a private containerd daemon and pytest fixtures.

`ContainerdDaemon` starts a containerd of its own (root, state and socket in
a temp dir, CRI plugin disabled), so tests never touch a system daemon.
`inventory` and `empty_namespace` take stock of and clean a namespace.

To use the fixtures in your own tests, enable the plugin in ``conftest.py``:

```python
pytest_plugins = ["pycontainerd.testing.pytest_plugin"]
```

Then ask for ``containerd_client`` (a `pycontainerd.Client` in a fresh
namespace, emptied and deleted after the test) in an ``anyio`` test:

```python
import pytest
import pycontainerd

@pytest.mark.anyio
async def test_version(containerd_client: pycontainerd.Client) -> None:
    assert (await containerd_client.version()).version
```

Requires root, containerd and runc (``apt-get install containerd runc``).
Set ``PYCONTAINERD_TEST_CONTAINERD`` to run the fixtures against another
daemon: a binary's path, or ``debian:trixie`` (containerd 1.7) or
``debian:sid`` (2.x) for the builds `debian_containerd` fetches.

Images for tests are built locally, without a network: `build_busybox_image`
creates (and unpacks) a small busybox image from Debian's ``busybox-static``
through the SDK's own `pycontainerd.Images.create_from_directory`, and
`busybox_archive` gives the same image as OCI archive bytes, to build once
and import into many namespaces.
"""

from ._busybox import (
    BUSYBOX_APPLETS,
    BUSYBOX_CONFIG,
    BUSYBOX_IMAGE,
    build_busybox_image,
    busybox_archive,
    make_busybox_rootfs,
)
from ._cleanup import Inventory, empty_namespace, inventory
from ._daemon import ContainerdDaemon, DaemonError, require_tools
from ._debian import debian_containerd, debian_criu

__all__ = [
    "BUSYBOX_APPLETS",
    "BUSYBOX_CONFIG",
    "BUSYBOX_IMAGE",
    "ContainerdDaemon",
    "DaemonError",
    "Inventory",
    "build_busybox_image",
    "busybox_archive",
    "debian_containerd",
    "debian_criu",
    "empty_namespace",
    "inventory",
    "make_busybox_rootfs",
    "require_tools",
]
