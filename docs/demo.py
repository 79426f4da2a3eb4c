"""The README's demo: a private containerd, driven through pycontainerd.

Run it with ``nox -s demo`` (as root; it installs containerd and runc if missing).
"""

from __future__ import annotations

import anyio

import pycontainerd
from pycontainerd.testing import ContainerdDaemon


async def main(address: str) -> None:
    """Print what the daemon at `address` is and holds, through the SDK."""
    async with pycontainerd.Client(address, namespace="demo") as client:
        version = await client.version()
        print(f"containerd {version.version} (revision {version.revision})")

        plugins = await client.plugins()
        loaded = sorted(f"{p.type}/{p.id}" for p in plugins if p.ok)
        print(f"{len(loaded)} plugins loaded, for example:")
        for name in loaded[:8]:
            print(f"  {name}")

        await client.namespaces.create("demo", labels={"made-by": "pycontainerd-demo"})
        for ns in await client.namespaces.list():
            print(f"namespace {ns.name} {dict(ns.labels)}")
        await client.namespaces.delete("demo")


if __name__ == "__main__":
    with ContainerdDaemon() as daemon:
        print(f"private containerd listening on {daemon.address}")
        anyio.run(main, daemon.address)
