"""`Client.pull` and `Client.push` done by the daemon's transfer service (containerd 2.0 on)."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from .. import errors
from .._descriptors import Descriptor
from .._images import Image
from .._oci import parse_platform
from .._platforms import Platform
from ..errors import Status
from ..registry._auth import AuthLike, Credentials
from ..registry._errors import (
    AccessDeniedError,
    AuthenticationError,
    DigestError,
    NotFoundError,
    RegistryError,
    UnavailableError,
)
from ..registry._progress import BlobState, ProgressCallback
from ..registry._progress import Progress as BlobProgress
from ..registry._reference import Reference
from ._objects import ImageStore, Progress, Registry, Unpack
from ._session import run

if TYPE_CHECKING:
    from .._client import Client

__all__ = ["pull", "push"]

# The daemon's per-blob events (core/transfer/local/progress.go), as pull's states.
_STATES = {
    "waiting": BlobState.WAITING,
    "downloading": BlobState.DOWNLOADING,
    "uploading": BlobState.UPLOADING,
    "complete": BlobState.DONE,
    "already exists": BlobState.EXISTS,
}


def _per_blob(callback: ProgressCallback | None) -> Callable[[Progress], Awaitable[None]] | None:
    """The daemon's progress events as the per-blob `registry.Progress` of `Client.pull`."""
    if callback is None:
        return None

    async def deliver(event: Progress) -> None:
        state = _STATES.get(event.event)
        desc = event.descriptor
        if state is None or desc is None:
            return  # events about the whole transfer ("Pulling from ...", "saved")
        offset = desc.size if state in (BlobState.DONE, BlobState.EXISTS) else event.progress
        update = BlobProgress(
            digest=desc.digest,
            media_type=desc.media_type,
            offset=offset,
            total=event.total or desc.size,
            state=state,
        )
        result = callback(update)
        if inspect.isawaitable(result):
            await result

    return deliver


# What the daemon's registry failures say (containerd's remotes/docker), and the
# registry error `Client.pull` and `Client.push` document for each.
# The HTTP status is the one such a failure comes from, where one does.
_REGISTRY_FAILURES: tuple[tuple[str, type[RegistryError], int | None], ...] = (
    ("401 Unauthorized", AuthenticationError, 401),
    ("no basic auth credentials", AuthenticationError, 401),
    ("authorization failed", AuthenticationError, 401),
    ("403 Forbidden", AccessDeniedError, 403),
    ("unexpected commit digest", DigestError, None),
    ("failed to do request", UnavailableError, None),
    ("connection refused", UnavailableError, None),
    ("failed to resolve", NotFoundError, 404),
)


@contextlib.contextmanager
def _as_registry_errors(reference: Reference) -> Iterator[None]:
    """Raise the daemon's registry failures as the `registry` errors the in-process path raises."""
    try:
        yield
    except errors.RPCError as exc:
        text = str(exc)
        for marker, kind, status_code in _REGISTRY_FAILURES:
            if marker in text and not (
                kind is NotFoundError and exc.status is not Status.NOT_FOUND
            ):
                raise kind(f"{reference}: {text}", status_code=status_code) from exc
        raise


def _registry(reference: Reference, auth: AuthLike, insecure: bool) -> Registry:
    # insecure reaches the daemon only for loopback hosts (Client._daemon_transfers):
    # plain HTTP, as ctr's --plain-http, without trying HTTPS first.
    return Registry(
        str(reference),
        auth=None if auth is None else Credentials._coerce(auth),
        plain_http=insecure,
    )


async def pull(
    client: Client,
    ref: str,
    *,
    platform: Platform | str | None,
    unpack_into: str | None,
    auth: AuthLike,
    insecure: bool,
    progress: ProgressCallback | None,
    labels: Mapping[str, str],
) -> Image:
    """`Client.pull` through the transfer service, unpacking into snapshotter `unpack_into` if given.

    `labels` were checked by the caller.
    """
    reference = Reference.parse(ref)
    chosen = Platform.host() if platform is None else parse_platform(platform)
    store = ImageStore(
        str(reference),
        platforms=[chosen],
        unpack=() if unpack_into is None else [Unpack(platform=chosen, snapshotter=unpack_into)],
        labels=labels,
    )
    with _as_registry_errors(reference):
        await run(client, _registry(reference, auth, insecure), store, progress=_per_blob(progress))
    return await client.images.get(str(reference))


async def push(
    client: Client,
    ref: str,
    image: Image | str | None,
    *,
    auth: AuthLike,
    insecure: bool,
    progress: ProgressCallback | None,
) -> Descriptor:
    """`Client.push` (of a whole image) through the transfer service."""
    reference = Reference.parse(ref)
    name = image.name if isinstance(image, Image) else image or str(reference)
    local = await client.images.get(name)
    with _as_registry_errors(reference):
        await run(
            client,
            ImageStore(name),
            _registry(reference, auth, insecure),
            progress=_per_blob(progress),
        )
    return local.target
