"""The README's demo: a private containerd, driven through pycontainerd.

It builds the busybox image from the host's ``busybox-static`` (no network),
runs a container through the SDK, prints its output and the events the run
produced, and cleans everything up. Run it with ``nox -s demo`` (as root; it
installs containerd, runc and busybox-static if missing).
"""

from __future__ import annotations

import anyio

import pycontainerd
from pycontainerd import events
from pycontainerd.events import filters
from pycontainerd.testing import ContainerdDaemon, build_busybox_image, empty_namespace


def describe(event: events.Event) -> str:
    """A short line for an event."""
    match event:
        case events.TaskExit(container_id=cid, exit_status=code):
            return f"task {cid} exited with {code}"
        case (
            events.TaskCreate(container_id=cid, pid=pid)
            | events.TaskStart(container_id=cid, pid=pid)
        ):
            return f"task {cid} pid {pid}"
        case events.TaskDelete(container_id=cid, exit_status=code):
            return f"task {cid} deleted (exit status {code})"
        case events.ContainerCreate(id=cid, image=image):
            return f"container {cid} from {image}"
        case events.ContainerDelete(id=cid):
            return f"container {cid}"
        case events.ImageCreate(name=name) | events.ImageUpdate(name=name):
            return f"image {name}"
        case events.SnapshotPrepare(key=key) | events.SnapshotRemove(key=key):
            return f"snapshot {key}"
        case events.SnapshotCommit(key=key, name=name):
            return f"snapshot {key} committed as {name}"
        case events.ContentDelete(digest=digest):
            return f"blob {digest[:19]}..."
        case events.Unknown(type_url=url):
            return f"({url})"
        case _:
            return repr(event)


async def main(address: str) -> None:
    """Build the image, run a container, print its output and its events, clean up."""
    async with pycontainerd.Client(address, namespace="demo") as client:
        version = await client.version()
        print(f"containerd {version.version} (revision {version.revision})")
        await client.namespaces.create("demo", labels={"made-by": "pycontainerd-demo"})
        try:
            async with client.events.subscribe(
                filters.topic_matches("^/(tasks|containers|images|snapshot)/"),
                filters.topic("/demo/done"),  # several filters: any may match
            ) as stream:
                image = await build_busybox_image(client)
                print(f"built {image.name} ({image.target.digest[:19]}...) from busybox-static")
                result = await client.run(
                    image, ["sh", "-c", "echo hello from $(hostname); uname -s; exit 3"]
                )
                print(
                    f"the container said {result.stdout.decode()!r} and exited with {result.code}"
                )
                await client.events.publish("/demo/done", events.Unknown(type_url="demo.Done"))
                print("events of this run:")
                with anyio.fail_after(10):
                    async for envelope in stream:
                        if envelope.topic == "/demo/done":
                            break
                        print(f"  {envelope.topic:<20} {describe(envelope.event)}")
        finally:
            await empty_namespace(client)  # images, content, snapshots, then the namespace
        print("cleaned up: namespace 'demo' is gone")


if __name__ == "__main__":
    with ContainerdDaemon() as daemon:
        print(f"private containerd listening on {daemon.address}")
        anyio.run(main, daemon.address)
