"""Image conversion: Docker media types to OCI, layers uncompressed, platforms dropped (private).

As containerd's ``core/images/converter`` with its default index converter
and the ``uncompress`` layer converter: the image's index, manifests and
layers are walked; what changes is written anew (under a lease, with the GC
references containerd uses), what does not is shared with the source.
"""

from __future__ import annotations

import contextlib
import hashlib
import zlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from . import _oci, errors
from ._descriptors import Descriptor
from ._images import Image, _check_name, read_json_blob
from ._leases import LeaseResource
from ._platforms import Platform
from ._shield import Creation, Removal, finish

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["convert_image"]

_LEASE_EXPIRY = 24 * 3600.0
_CLEANUP_TIMEOUT = 10.0
_CHUNK = 1024 * 1024
_GC_CONTENT = "containerd.io/gc.ref.content."

# containerd's ``converter.ConvertDockerMediaTypeToOCI``.
_DOCKER_TO_OCI = {
    _oci.DOCKER_MANIFEST_LIST: _oci.OCI_INDEX,
    _oci.DOCKER_MANIFEST: _oci.OCI_MANIFEST,
    _oci.DOCKER_CONFIG: _oci.OCI_CONFIG,
    _oci.DOCKER_LAYER_GZIP: _oci.OCI_LAYER_GZIP,
    _oci.DOCKER_LAYER: _oci.OCI_LAYER,
    _oci.DOCKER_LAYER_FOREIGN_GZIP: _oci.OCI_LAYER_NONDISTRIBUTABLE_GZIP,
    _oci.DOCKER_LAYER_FOREIGN: _oci.OCI_LAYER_NONDISTRIBUTABLE,
}
# ``uncompress.convertMediaType``: what a compressed layer becomes.
_UNCOMPRESSED = {
    _oci.DOCKER_LAYER_GZIP: _oci.DOCKER_LAYER,
    _oci.DOCKER_LAYER_FOREIGN_GZIP: _oci.DOCKER_LAYER_FOREIGN,
    _oci.OCI_LAYER_GZIP: _oci.OCI_LAYER,
    _oci.OCI_LAYER_ZSTD: _oci.OCI_LAYER,
    _oci.OCI_LAYER_NONDISTRIBUTABLE_GZIP: _oci.OCI_LAYER_NONDISTRIBUTABLE,
    _oci.OCI_LAYER_NONDISTRIBUTABLE_ZSTD: _oci.OCI_LAYER_NONDISTRIBUTABLE,
}
_PLAIN = frozenset(
    {
        _oci.DOCKER_LAYER,
        _oci.DOCKER_LAYER_FOREIGN,
        _oci.OCI_LAYER,
        _oci.OCI_LAYER_NONDISTRIBUTABLE,
    }
)
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _is_docker(media_type: str) -> bool:
    return media_type.startswith("application/vnd.docker.")


def _apply(raw: dict[str, Any], desc: Descriptor) -> None:
    """Rewrite a descriptor's JSON in place, keeping what `Descriptor` does not model (urls, platform...)."""
    raw["mediaType"] = desc.media_type
    raw["digest"] = desc.digest
    raw["size"] = desc.size
    if desc.annotations:
        raw["annotations"] = dict(desc.annotations)
    else:
        raw.pop("annotations", None)


class _Converter:
    """One conversion's walk; `client` carries the conversion's lease."""

    def __init__(
        self,
        client: Client,
        *,
        oci: bool,
        uncompress: bool,
        matcher: _oci.PlatformMatcher,
    ) -> None:
        self._client = client
        self._oci = oci
        self._uncompress = uncompress
        self._matcher = matcher
        # Layers already converted, by source digest: the platforms of an
        # index often share layers, and each is decompressed once.
        self._layers: dict[str, Descriptor | None] = {}

    async def convert(self, desc: Descriptor) -> Descriptor | None:
        """The converted descriptor of `desc`, or ``None`` when it stays as it is."""
        mt = desc.media_type
        new: Descriptor | None = None
        if _oci.is_layer(mt):
            if self._uncompress:
                new = await self._layer(desc)
        elif _oci.is_manifest(mt):
            new = await self._manifest(desc)
        elif _oci.is_index(mt):
            new = await self._index(desc)
        # A config's bytes stay: uncompressing keeps every diff ID.
        if _is_docker(mt):
            base = new or desc
            if self._oci:
                new = attrs.evolve(
                    base, media_type=_DOCKER_TO_OCI.get(base.media_type, base.media_type)
                )
            elif base.annotations:
                # Docker's formats have no annotations: containerd drops them.
                new = attrs.evolve(base, annotations={})
        return new

    async def _manifest(self, desc: Descriptor) -> Descriptor | None:
        data = await read_json_blob(self._client, desc, "manifest")
        try:
            config, layers, doc = _oci.parse_manifest(
                data, desc.media_type, f"manifest {desc.digest}"
            )
        except ValueError as exc:
            raise errors.InvalidArgument(str(exc)) from None
        modified = self._oci_media_type(doc)
        final_layers = []
        for raw, layer in zip(doc.get("layers") or [], layers, strict=True):
            new = await self.convert(layer)
            if new is not None:
                _apply(raw, new)
                modified = True
            final_layers.append(new or layer)
        new_config = await self.convert(config)
        if new_config is not None:
            _apply(doc["config"], new_config)
            modified = True
        if not modified:
            return None
        return await self._write(desc, doc, [new_config or config, *final_layers])

    async def _index(self, desc: Descriptor) -> Descriptor | None:
        data = await read_json_blob(self._client, desc, "index")
        try:
            entries, doc = _oci.parse_index(data, desc.media_type, f"index {desc.digest}")
        except ValueError as exc:
            raise errors.InvalidArgument(str(exc)) from None
        modified = self._oci_media_type(doc)
        kept: list[dict[str, Any]] = []
        children: list[Descriptor] = []
        for raw, entry in zip(doc.get("manifests") or [], entries, strict=True):
            if entry.platform is not None and not self._matcher.match(entry.platform):
                modified = True
                continue
            new = await self.convert(entry.descriptor)
            if new is not None:
                _apply(raw, new)
                modified = True
            kept.append(raw)
            children.append(new or entry.descriptor)
        if entries and not kept:
            raise errors.NotFound(f"index {desc.digest} has no manifest for {self._matcher}")
        if not modified:
            return None
        doc["manifests"] = kept
        return await self._write(desc, doc, children)

    def _oci_media_type(self, doc: dict[str, Any]) -> bool:
        """Give a manifest or index document its OCI media type; whether it changed."""
        mt = doc.get("mediaType")
        if self._oci and isinstance(mt, str) and _is_docker(mt):
            doc["mediaType"] = _DOCKER_TO_OCI.get(mt, mt)
            return True
        return False

    async def _write(
        self, old: Descriptor, doc: dict[str, Any], children: Sequence[Descriptor]
    ) -> Descriptor:
        """Store a rewritten manifest or index, labelled with GC references to its children.

        The source blob's other labels (a distribution source, say) carry over,
        as containerd's converter keeps them. The labels are set after the
        write so that they hold even when the blob was in the store already.
        """
        data = _oci.go_json(doc)
        digest = _oci.sha256(data)
        info = await self._client.content.info(old.digest)
        labels = {k: v for k, v in info.labels.items() if not k.startswith(_GC_CONTENT)}
        labels.update(_oci.child_gc_labels(children))
        await self._client.content.write(f"converter-write-json-{digest}", data, expected=digest)
        await self._client.content.update(digest, labels=labels)
        return attrs.evolve(old, digest=digest, size=len(data))

    async def _layer(self, desc: Descriptor) -> Descriptor | None:
        if desc.media_type in _PLAIN:
            return None
        if desc.digest not in self._layers:
            self._layers[desc.digest] = await self._uncompressed(desc)
        return self._layers[desc.digest]

    async def _uncompressed(self, desc: Descriptor) -> Descriptor:
        """Write `desc`'s layer uncompressed (containerd's ``uncompress.LayerConvertFunc``).

        The new blob's digest is the layer's diff ID. When the source says
        its diff ID (the ``containerd.io/uncompressed`` label that unpacking
        sets) and that blob is in the store, nothing is decompressed;
        otherwise the source gets the label, as containerd's ``GetDiffID``
        leaves it.
        """
        client = self._client
        media_type = _UNCOMPRESSED.get(desc.media_type, desc.media_type)
        info = await client.content.info(desc.digest)
        known = info.labels.get(_oci.LABEL_UNCOMPRESSED, "")
        labels = {k: v for k, v in info.labels.items() if k != _oci.LABEL_UNCOMPRESSED}
        ref = f"convert-uncompress-from-{desc.digest}"
        if _oci.valid_digest(known) and client.lease is not None:
            # Held by the lease first, so that it cannot be collected before
            # the new image refers to it.
            await client.leases.add_resource(client.lease, LeaseResource(id=known, type="content"))
            with contextlib.suppress(errors.NotFound):
                size = (await client.content.info(known)).size
                return attrs.evolve(desc, media_type=media_type, digest=known, size=size)
        hasher = hashlib.sha256()
        size = 0
        async with client.content.reader(desc.digest) as reader:
            chunks = aiter(reader)
            first = await anext(chunks, b"")
            if first[:4] == _ZSTD_MAGIC:
                raise errors.Unimplemented(
                    f"layer {desc.digest} is zstd-compressed: the SDK can only uncompress gzip"
                )
            if first[:2] != _GZIP_MAGIC:
                # Not compressed after all: the blob is its own diff ID.
                return attrs.evolve(desc, media_type=media_type)
            try:
                async with client.content.writer(ref) as w:
                    if w.offset:  # left by an interrupted conversion: start over
                        await w.truncate()
                    async for piece in _gunzip(first, chunks, desc.digest):
                        hasher.update(piece)
                        size += len(piece)
                        await w.write(piece)
                    digest = f"sha256:{hasher.hexdigest()}"
                    await w.commit(expected=digest, labels=labels)
            except errors.AlreadyExists:
                digest = f"sha256:{hasher.hexdigest()}"
        if known != digest:
            await client.content.update(desc.digest, labels={_oci.LABEL_UNCOMPRESSED: digest})
        return attrs.evolve(desc, media_type=media_type, digest=digest, size=size)


async def _gunzip(first: bytes, rest: AsyncIterator[bytes], digest: str) -> AsyncIterator[bytes]:
    """Inflate a gzip stream of one or more members (as Go's reader, which reads them all)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    async def chunks() -> AsyncIterator[bytes]:
        yield first
        async for chunk in rest:
            yield chunk

    async for chunk in chunks():
        data = chunk
        while True:
            try:
                # Bounded output per step: a small chunk may inflate enormously.
                out = inflater.decompress(data, _CHUNK)
            except zlib.error as exc:
                raise errors.DataLoss(f"layer {digest} is not a valid gzip stream: {exc}") from exc
            if out:
                yield out
            if inflater.eof:
                data = inflater.unused_data
                if not data:
                    break
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                continue
            data = inflater.unconsumed_tail
            # A full output may leave more to come with no input left (a long match).
            if not data and len(out) < _CHUNK:
                break
    if not inflater.eof:
        raise errors.DataLoss(f"layer {digest} ends in the middle of its gzip stream")


async def convert_image(
    client: Client,
    source: Image | str,
    name: str,
    *,
    oci: bool,
    uncompress: bool,
    platform: Platform | str | Sequence[Platform | str] | None,
    all_platforms: bool,
) -> Image:
    """Implementation of `Images.convert` (see there)."""
    _check_name(name)
    matcher = _oci.PlatformMatcher.all() if all_platforms else _oci.exact_matcher(platform)
    src = source if isinstance(source, Image) else await client.images.get(source)
    async with client.leases.lease(expires_in=_LEASE_EXPIRY) as leased:
        previous: Image | None = None
        recorded = False
        try:
            converter = _Converter(leased, oci=oci, uncompress=uncompress, matcher=matcher)
            target = await converter.convert(src.target) or src.target
            if name == src.name:
                previous = src
            else:
                with contextlib.suppress(errors.NotFound):
                    previous = await leased.images.get(name)

            async def record() -> Image:
                if previous is None:
                    return await leased.images.create(name, target, labels=src.labels)
                # As containerd's converter: the result has the source's labels.
                return await leased.images.update(
                    name, target=target, labels=dict(src.labels), replace_labels=True
                )

            creation = Creation(record)
            try:
                image = await finish(creation, timeout=_CLEANUP_TIMEOUT)
            except BaseException:
                recorded = creation.made or creation.unsure
                raise
            recorded = True
            # A native cancellation that lands now is taken here, while the
            # record can still be undone, not in a caller that never sees it.
            await anyio.lowlevel.checkpoint()
        except BaseException:

            async def undo() -> None:
                if recorded:
                    await _undo_record(client, name, previous)
                # Collect what the conversion wrote now, not at some later GC.
                if leased.lease is not None:
                    with contextlib.suppress(errors.NotFound):
                        await client.leases.delete(leased.lease, sync=True)

            with contextlib.suppress(TimeoutError, errors.ConnectionError):
                await finish(Removal(undo), timeout=_CLEANUP_TIMEOUT)
            raise
    return attrs.evolve(image, _client=client)


async def _undo_record(client: Client, name: str, previous: Image | None) -> None:
    # A lost connection is raised: the caller's `finish` tries again once the daemon is back.
    try:
        if previous is None:
            await client.images.delete(name)
        else:
            await client.images.update(
                name, target=previous.target, labels=previous.labels, replace_labels=True
            )
    except errors.ConnectionError:
        raise
    except errors.RPCError:
        pass
