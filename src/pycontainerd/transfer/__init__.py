"""Transfers done by the daemon itself: containerd's transfer service (containerd 1.7 and newer).

A transfer moves an image from a source to a destination, and the daemon does
the work (``ctr`` 2.x pulls and pushes this way): `Registry` to `ImageStore`
is a pull, `ImageStore` to `Registry` a push, `ImportStream` to `ImageStore`
an import, `ImageStore` to `ExportStream` an export, and `ImageStore` to
`ImageStore` a tag. `pycontainerd.Client.transfer` runs one; the streams it
needs (progress, credentials, archive bytes) are served while it runs, and
closed when it ends, fails or is cancelled.

Example:
    ```python
    from pycontainerd import transfer

    await client.transfer(
        transfer.Registry("localhost:5000/app:1"),
        transfer.ImageStore("localhost:5000/app:1", unpack=[transfer.Unpack()]),
        progress=lambda p: print(p.event, p.name, p.progress, p.total),
    )
    ```
"""

from ._objects import (
    Destination,
    ExportStream,
    ImageName,
    ImageStore,
    ImportStream,
    Progress,
    Registry,
    Source,
    Unpack,
)

__all__ = [
    "Destination",
    "ExportStream",
    "ImageName",
    "ImageStore",
    "ImportStream",
    "Progress",
    "Registry",
    "Source",
    "Unpack",
]
