"""``client.push``: upload an image's blobs and manifests to a registry, then tag it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Final

import anyio

from .. import _oci, errors
from .._descriptors import Descriptor
from .._images import Image
from .._platforms import Platform
from ._http import Repository, TLSConfig
from ._progress import BlobState, ProgressCallback, report
from ._pull import AuthLike, resolve_credentials
from ._reference import Reference
from ._tasks import task_group

if TYPE_CHECKING:
    from .._client import Client

__all__ = ["push"]

_MAX_CONCURRENT_UPLOADS: Final = 3


class _Pusher:
    def __init__(self, client: Client, repo: Repository, progress: ProgressCallback | None) -> None:
        self.client = client
        self.repo = repo
        self.progress = progress
        self.limiter = anyio.CapacityLimiter(_MAX_CONCURRENT_UPLOADS)

    async def walk(
        self,
        desc: Descriptor,
        matcher: _oci.PlatformMatcher | None,
        manifests: list[tuple[Descriptor, bytes]],
        blobs: dict[str, Descriptor],
    ) -> Descriptor:
        """Collect what `desc` needs; with a matcher an index is narrowed to one manifest.

        Returns the descriptor to tag (the selected manifest when narrowed).
        """
        where = f"{desc.media_type} {desc.digest}"
        if _oci.is_index(desc.media_type):
            data = await self.client.content.read(desc.digest)
            try:
                entries, _ = _oci.parse_index(data, desc.media_type, where)
            except ValueError as exc:
                raise errors.InvalidArgument(str(exc)) from None
            if matcher is not None:
                candidates = [
                    e for e in entries if e.platform is not None and matcher.match(e.platform)
                ]
                if not candidates:
                    raise errors.NotFound(f"{where} has no manifest for {matcher}")
                return await self.walk(
                    matcher.sort(candidates)[0].descriptor, None, manifests, blobs
                )
            for entry in entries:
                await self.walk(entry.descriptor, None, manifests, blobs)
            manifests.append((desc, data))
            return desc
        if _oci.is_manifest(desc.media_type):
            data = await self.client.content.read(desc.digest)
            try:
                config, layers, _ = _oci.parse_manifest(data, desc.media_type, where)
            except ValueError as exc:
                raise errors.InvalidArgument(str(exc)) from None
            for blob in (config, *layers):
                blobs.setdefault(blob.digest, blob)
            manifests.append((desc, data))
            return desc
        raise errors.InvalidArgument(f"cannot push {where}: not a manifest or index")

    async def upload(self, desc: Descriptor) -> None:
        async with self.limiter:
            if await self.repo.blob_exists(desc):
                await report(self.progress, desc, desc.size, BlobState.EXISTS)
                return
            await report(self.progress, desc, 0, BlobState.UPLOADING)
            await self.repo.push_blob(desc, lambda: self._chunks(desc))
            await report(self.progress, desc, desc.size, BlobState.DONE)

    async def _chunks(self, desc: Descriptor) -> AsyncIterator[bytes]:
        offset = 0
        async with self.client.content.reader(desc.digest) as reader:
            async for chunk in reader:
                yield chunk
                offset += len(chunk)
                await report(self.progress, desc, offset, BlobState.UPLOADING)


async def push(
    client: Client,
    ref: str,
    image: Image | str | None = None,
    *,
    platform: Platform | str | None = None,
    auth: AuthLike = None,
    insecure: bool = False,
    ca: TLSConfig = None,
    progress: ProgressCallback | None = None,
) -> Descriptor:
    """Implementation of `Client.push` (see there)."""
    reference = Reference.parse(ref)
    if image is None:
        image = await client.images.get(str(reference))
    elif isinstance(image, str):
        image = await client.images.get(image)
    matcher = _oci.matcher_for(platform) if platform is not None else None
    credentials = await resolve_credentials(auth, reference.domain)
    async with Repository(
        reference,
        credentials=credentials,
        push=True,
        insecure=insecure,
        ca=ca,
        max_connections=_MAX_CONCURRENT_UPLOADS + 1,
    ) as repo:
        pusher = _Pusher(client, repo, progress)
        manifests: list[tuple[Descriptor, bytes]] = []
        blobs: dict[str, Descriptor] = {}
        target = await pusher.walk(image.target, matcher, manifests, blobs)
        if reference.digest is not None and reference.digest != target.digest:
            raise errors.InvalidArgument(
                f"cannot push {image.name!r} as {reference}: its digest is {target.digest}"
            )
        async with task_group() as tg:
            for blob in blobs.values():
                tg.start_soon(pusher.upload, blob)
        for desc, data in manifests:
            is_root = desc.digest == target.digest
            tag = reference.tag if is_root and reference.tag and not reference.digest else None
            await report(progress, desc, 0, BlobState.UPLOADING)
            await repo.put_manifest(tag or desc.digest, desc.media_type, data)
            await report(progress, desc, desc.size, BlobState.DONE)
    return target
