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

@pytest.mark.anyio
async def test_version(containerd_client):
    assert (await containerd_client.version()).version
```

Requires root, containerd and runc (``apt-get install containerd runc``).
"""

from ._cleanup import Inventory, empty_namespace, inventory
from ._daemon import ContainerdDaemon, DaemonError, require_tools

__all__ = [
    "ContainerdDaemon",
    "DaemonError",
    "Inventory",
    "empty_namespace",
    "inventory",
    "require_tools",
]
