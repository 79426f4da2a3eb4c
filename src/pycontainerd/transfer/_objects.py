"""The sources and destinations of a transfer, as containerd's transfer service knows them."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import attrs
from betterproto.lib.google.protobuf import Any as AnyProto

from .. import _identifiers
from .._api.containerd.types.transfer import (
    AuthResponse,
    AuthType,
    ImageExportStream,
    ImageImportStream,
    ImageReference,
    OciRegistry,
    RegistryResolver,
    UnpackConfiguration,
)
from .._api.containerd.types.transfer import (
    ImageStore as _ImageStore,
)
from .._descriptors import Descriptor
from .._platforms import Platform
from ..registry._auth import Credentials, host_credentials
from ..registry._reference import Reference

if TYPE_CHECKING:
    from ._session import Session

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


def packed(type_url: str, message: bytes) -> AnyProto:
    return AnyProto(type_url=type_url, value=message)


class _Endpoint(Protocol):
    async def _to_any(self, session: Session) -> AnyProto: ...


Source = _Endpoint
"""What a transfer reads from: `Registry`, `ImageStore` or `ImportStream`."""
Destination = _Endpoint
"""What a transfer writes to: `Registry`, `ImageStore` or `ExportStream`."""


@attrs.frozen(kw_only=True)
class Progress:
    """One progress event of a transfer, as the daemon reports it.

    Attributes:
        event: what happened: ``"waiting"``, ``"downloading"``,
            ``"uploading"``, ``"complete"``, ``"already exists"`` for a blob;
            ``"Pulling from ..."``, ``"saved"`` and the like for the whole.
        name: what it is about (a reference, or a blob's ref key).
        parents: the names of what it belongs to.
        progress: bytes done so far.
        total: bytes in all (0 when unknown).
        descriptor: the blob, for per-blob events.
    """

    event: str
    name: str = ""
    parents: Sequence[str] = ()
    progress: int = 0
    total: int = 0
    descriptor: Descriptor | None = None


def _normalized(reference: str) -> str:
    return str(Reference.parse(reference))


# betterproto's enum members type as int; the constructor gives the enum type.
_NONE, _CREDENTIALS, _REFRESH = (
    AuthType(t) for t in (AuthType.NONE, AuthType.CREDENTIALS, AuthType.REFRESH)
)


@attrs.frozen(kw_only=True)
class Registry:
    """An image in an OCI registry: where a pull reads from and a push writes to.

    The daemon talks to the registry itself; when it needs credentials it
    asks the client over a stream, and gets them only for the registry's own
    host: `auth` (or, without it, docker's ``config.json`` entry for that
    host). Nothing of them goes into a request, a label or a log.

    Attributes:
        reference: the image reference (normalised as docker does).
        auth: credentials for the registry's host.
        headers: extra HTTP headers for every request to the registry.
        hosts_dir: a directory of containerd ``hosts.toml`` files
            (``certs.d`` layout) for mirrors, CAs and the like, read by the
            daemon.
        plain_http: talk plain HTTP (the daemon already does for loopback hosts).

    Example:
        ```python
        from pycontainerd import transfer

        await client.transfer(
            transfer.Registry("localhost:5000/app:1"),
            transfer.ImageStore("localhost:5000/app:1", unpack=[transfer.Unpack()]),
        )
        ```
    """

    reference: str = attrs.field(converter=_normalized, kw_only=False)
    auth: Credentials | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    hosts_dir: str | None = None
    plain_http: bool = False

    async def _credentials_for(self, host: str) -> Credentials | None:
        return await host_credentials(self.auth, Reference.parse(self.reference), host)

    async def _answer(self, host: str) -> AuthResponse:
        creds = await self._credentials_for(host)
        if creds is None:
            return AuthResponse(auth_type=_NONE)
        if creds.identity_token:
            return AuthResponse(auth_type=_REFRESH, secret=creds.identity_token)
        return AuthResponse(auth_type=_CREDENTIALS, username=creds.username, secret=creds.password)

    async def _to_any(self, session: Session) -> AnyProto:
        resolver = RegistryResolver(
            headers=dict(self.headers),
            host_dir=self.hosts_dir or "",
            default_scheme="http" if self.plain_http else "",
        )
        resolver.auth_stream = await session.serve_credentials(self._answer)
        message = OciRegistry(reference=self.reference, resolver=resolver)
        return packed("containerd.types.transfer.OCIRegistry", bytes(message))


@attrs.frozen(kw_only=True)
class Unpack:
    """Unpack the image for `platform` into `snapshotter` (the host's and the default's if unset)."""

    platform: Platform | None = None
    snapshotter: str = ""

    def _to_proto(self) -> UnpackConfiguration:
        platform = self.platform or Platform.host()
        return UnpackConfiguration(platform=platform._to_proto(), snapshotter=self.snapshotter)


@attrs.frozen
class ImageName:
    """A name the image store gives what a transfer brings (an import's images, say).

    Attributes:
        name: the name, or with `prefix` the repository that names found in
            the archive's annotations must start with (a bare tag there,
            such as ``latest``, is appended to it).
        prefix: `name` is such a prefix.
        allow_overwrite: with `prefix`, keep full names from the archive
            that do not start with it too.
        add_digest: also name the image ``name@digest``.
        skip_named_digest: with `add_digest`, not when a name was found.

    Example:
        ```python
        from pycontainerd import transfer

        # ctr import's naming: names from the archive, under any repository
        transfer.ImageName("import", prefix=True, allow_overwrite=True)
        ```
    """

    name: str
    prefix: bool = attrs.field(default=False, kw_only=True)
    allow_overwrite: bool = attrs.field(default=False, kw_only=True)
    add_digest: bool = attrs.field(default=False, kw_only=True)
    skip_named_digest: bool = attrs.field(default=False, kw_only=True)

    def _to_proto(self) -> ImageReference:
        return ImageReference(
            name=self.name,
            is_prefix=self.prefix,
            allow_overwrite=self.allow_overwrite,
            add_digest=self.add_digest,
            skip_named_digest=self.skip_named_digest,
        )


@attrs.frozen(kw_only=True)
class ImageStore:
    """The namespace's images: where a pull or import lands, what a push or export reads.

    As a destination it names the image (`name`) and says which platforms to
    fetch and unpack; as a source it is the image to push, export or tag.

    Attributes:
        name: the image name.
        platforms: the platforms to fetch (default: the host's; all of them
            with `all_metadata`).
        unpack: what to unpack after fetching.
        labels: labels of the stored image.
        all_metadata: fetch the manifests and configs of every platform.
        manifest_limit: how many manifests of an index to fetch, at most.
        extra_references: more names for the same image (as a destination);
            an import names its images only through these.

    Example:
        ```python
        from pycontainerd import transfer

        # tag: image store to image store
        await client.transfer(
            transfer.ImageStore("example.com/app:1"), transfer.ImageStore("example.com/app:latest")
        )
        ```
    """

    name: str = attrs.field(default="", kw_only=False)
    platforms: Sequence[Platform] = ()
    unpack: Sequence[Unpack] = ()
    labels: Mapping[str, str] = attrs.field(factory=dict)
    all_metadata: bool = False
    manifest_limit: int = 0
    extra_references: Sequence[str | ImageName] = ()

    async def _to_any(self, session: Session) -> AnyProto:
        message = _ImageStore(
            name=self.name,
            labels=_identifiers.labels(self.labels, "image store labels"),
            platforms=[p._to_proto() for p in self.platforms],
            all_metadata=self.all_metadata,
            manifest_limit=self.manifest_limit,
            extra_references=[
                (ImageName(n) if isinstance(n, str) else n)._to_proto()
                for n in self.extra_references
            ],
            unpacks=[u._to_proto() for u in self.unpack],
        )
        return packed("containerd.types.transfer.ImageStore", bytes(message))


ArchiveSource = bytes | bytearray | memoryview | str | os.PathLike[str] | AsyncIterable[bytes]


@attrs.frozen(kw_only=True)
class ImportStream:
    """An image archive (OCI layout or ``docker save`` tar) the daemon reads from the client.

    Attributes:
        archive: the archive: bytes, a file path, or an async iterable of chunks.
        media_type: the archive's media type, if known.
        force_compress: compress uncompressed layers while importing.

    Example:
        ```python
        from pycontainerd import transfer

        await client.transfer(
            transfer.ImportStream("busybox.tar"),
            transfer.ImageStore(
                extra_references=[transfer.ImageName("import", prefix=True, allow_overwrite=True)],
                unpack=[transfer.Unpack()],
            ),
        )
        ```
    """

    archive: ArchiveSource = attrs.field(kw_only=False)
    media_type: str = ""
    force_compress: bool = False

    async def _to_any(self, session: Session) -> AnyProto:
        stream = await session.send_bytes(_chunks(self.archive))
        message = ImageImportStream(
            stream=stream, media_type=self.media_type, force_compress=self.force_compress
        )
        return packed("containerd.types.transfer.ImageImportStream", bytes(message))


@attrs.frozen(kw_only=True)
class ExportStream:
    """An image archive (OCI layout tar) the daemon writes to the client.

    Attributes:
        sink: where the archive goes: a file path, or a callable that takes
            each chunk (it may be async).
        media_type: the archive's media type (the daemon's default if empty).
        platforms: the platforms to export (default: the host's).
        all_platforms: export every platform.
        skip_compatibility_manifest: leave out docker's ``manifest.json``.
        skip_non_distributable: leave out non-distributable layers.

    Example:
        ```python
        from pycontainerd import transfer

        await client.transfer(
            transfer.ImageStore("example.com/app:1"), transfer.ExportStream("app.tar")
        )
        ```
    """

    sink: str | os.PathLike[str] | Callable[[bytes], Awaitable[None] | None] = attrs.field(
        kw_only=False
    )
    media_type: str = ""
    platforms: Sequence[Platform] = ()
    all_platforms: bool = False
    skip_compatibility_manifest: bool = False
    skip_non_distributable: bool = False

    async def _to_any(self, session: Session) -> AnyProto:
        stream = await session.receive_archive(self.sink)
        message = ImageExportStream(
            stream=stream,
            media_type=self.media_type,
            platforms=[p._to_proto() for p in self.platforms],
            all_platforms=self.all_platforms,
            skip_compatibility_manifest=self.skip_compatibility_manifest,
            skip_non_distributable=self.skip_non_distributable,
        )
        return packed("containerd.types.transfer.ImageExportStream", bytes(message))


_CHUNK = 1 << 20


async def _chunks(source: ArchiveSource) -> AsyncIterable[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        for start in range(0, len(view), _CHUNK):
            yield bytes(view[start : start + _CHUNK])
    elif isinstance(source, str | os.PathLike):
        import anyio

        async with await anyio.open_file(Path(source), "rb") as f:
            while chunk := await f.read(_CHUNK):
                yield chunk
    else:
        async for chunk in source:
            yield chunk
