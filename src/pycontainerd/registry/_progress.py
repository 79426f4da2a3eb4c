"""Per-blob progress of pulls and pushes."""

from __future__ import annotations

import enum
import inspect
from collections.abc import Awaitable, Callable

import attrs

from .._descriptors import Descriptor

__all__ = ["BlobState", "Progress", "ProgressCallback", "report"]


class BlobState(enum.Enum):
    """Where one blob of a pull or push stands."""

    WAITING = "waiting"
    """Queued behind the concurrency bound."""
    DOWNLOADING = "downloading"
    """Bytes are flowing from the registry into the content store."""
    UPLOADING = "uploading"
    """Bytes are flowing from the content store to the registry."""
    EXISTS = "exists"
    """Nothing to transfer: the content store (pull) or registry (push) has it already."""
    DONE = "done"
    """Transferred and verified."""


@attrs.frozen(kw_only=True)
class Progress:
    """One progress update for one blob.

    Attributes:
        digest: the blob's digest.
        media_type: what the blob is (manifest, config, layer...).
        offset: bytes transferred so far (a resumed download starts above 0).
        total: the blob's size in bytes.
        state: where the blob stands.

    Example:
        ```python
        async def show(p: Progress) -> None:
            print(f"{p.digest[7:19]} {p.state.value:12} {p.offset}/{p.total}")

        await client.pull("localhost:5000/app:v1", progress=show)
        ```
    """

    digest: str
    media_type: str
    offset: int
    total: int
    state: BlobState

    @property
    def fraction(self) -> float:
        """How much is done, from 0.0 to 1.0 (1.0 for an empty blob)."""
        return self.offset / self.total if self.total else 1.0


ProgressCallback = Callable[[Progress], Awaitable[None] | None]
"""A sync or async callable taking `Progress` updates.

Pass ``send_stream.send`` of an anyio memory object stream to consume the
updates as an async iterator in another task.
"""


async def report(
    callback: ProgressCallback | None, desc: Descriptor, offset: int, state: BlobState
) -> None:
    """Deliver the `Progress` of blob `desc` to `callback` (awaiting it if it is async)."""
    if callback is None:
        return
    result = callback(
        Progress(
            digest=desc.digest,
            media_type=desc.media_type,
            offset=offset,
            total=desc.size,
            state=state,
        )
    )
    if inspect.isawaitable(result):
        await result
