"""``client.push``: upload an image's blobs and manifests to a registry, then tag it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio

from .. import _oci, errors
from .._descriptors import Descriptor
from .._images import Image
from .._platforms import Platform
from ._auth import AuthLike
from ._hosts import Headers, Hosts, header_pairs
from ._http import Repository, TLSConfig
from ._media import distribution_source
from ._progress import BlobState, ProgressCallback, report
from ._reference import Reference
from ._remote import Remote, hosts_for
from ._tasks import task_group

if TYPE_CHECKING:
    from .._client import Client

__all__ = ["push"]


class _Pusher:
    def __init__(
        self, client: Client, repo: Repository, progress: ProgressCallback | None, limit: int
    ) -> None:
        self.client = client
        self.repo = repo
        self.progress = progress
        self.limiter = anyio.CapacityLimiter(limit)
        self.source_key = distribution_source(repo.ref.domain)

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
            info = await self.client.content.info(desc.digest)
            source = _mount_source(self.repo.ref.path, info.labels.get(self.source_key, ""))
            await report(self.progress, desc, 0, BlobState.UPLOADING)
            mounted = await self.repo.push_blob(desc, lambda: self._chunks(desc), mount_from=source)
            await report(
                self.progress, desc, desc.size, BlobState.EXISTS if mounted else BlobState.DONE
            )

    async def _chunks(self, desc: Descriptor) -> AsyncIterator[bytes]:
        offset = 0
        async with self.client.content.reader(desc.digest) as reader:
            async for chunk in reader:
                yield chunk
                offset += len(chunk)
                await report(self.progress, desc, offset, BlobState.UPLOADING)


def _mount_source(target: str, sources: str) -> str | None:
    """The repository to mount a blob from: the source sharing most leading path parts with `target`.

    `sources` is the blob's ``containerd.io/distribution.source.<host>``
    label for the registry pushed to (repositories, comma-separated); the
    target itself is no candidate (containerd's ``selectRepositoryMountCandidate``).
    """
    parts = target.split("/")
    best: tuple[int, str] | None = None
    for repo in filter(None, sources.split(",")):
        if repo == target:
            continue
        common = 0
        for mine, theirs in zip(parts, repo.split("/"), strict=False):
            if mine != theirs:
                break
            common += 1
        if best is None or common >= best[0]:
            best = (common, repo)
    return None if best is None else best[1]


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
    hosts: Hosts | None = None,
    headers: Headers | None = None,
    max_concurrent_uploads: int,
) -> Descriptor:
    """Implementation of `Client.push` (see there)."""
    reference = Reference.parse(ref)
    if not isinstance(max_concurrent_uploads, int) or max_concurrent_uploads < 1:
        raise ValueError(
            f"invalid max_concurrent_uploads {max_concurrent_uploads!r}: must be at least 1"
        )
    sent = header_pairs(headers)
    if image is None:
        image = await client.images.get(str(reference))
    elif isinstance(image, str):
        image = await client.images.get(image)
    matcher = _oci.matcher_for(platform) if platform is not None else None
    found = await hosts_for(reference, hosts, auth)
    async with Remote(
        reference,
        found,
        push=True,
        insecure=insecure,
        ca=ca,
        headers=sent,
        max_connections=max_concurrent_uploads + 1,
    ) as remote:
        repo = remote.pusher()
        pusher = _Pusher(client, repo, progress, max_concurrent_uploads)
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
