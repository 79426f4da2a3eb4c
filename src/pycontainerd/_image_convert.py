"""Image conversion: Docker media types to OCI, layers uncompressed, platforms dropped (private).

As containerd's ``core/images/converter`` with its default index converter
and the ``uncompress`` layer converter: the image's index, manifests and
layers are walked; what changes is written anew (under a lease, with the GC
references containerd uses), what does not is shared with the source.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from . import _oci, errors
from ._descriptors import Descriptor
from ._images import Image, _check_name, read_json_blob
from ._platforms import Platform
from ._shield import Creation, finish
from ._staging import hold_content, roll_back, write_derived

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


# containerd's converter decodes each manifest and index into image-spec's
# Go structs and encodes them back: the fields in struct order (image-spec
# v1.1, as containerd 1.7 and later vendor it), those it does not know
# dropped, map keys sorted. The same bytes give the same digests as ``ctr``.


def _go_descriptor(raw: Any, desc: Descriptor | None, what: str) -> dict[str, Any]:
    """The descriptor JSON `raw` as Go re-encodes it, with `desc`'s media type, digest, size and annotations when given.

    What `Descriptor` does not model (urls, data, platform, artifact type)
    carries over from `raw`, as Go's converter copies the struct.
    """
    try:
        entry = _oci.parse_descriptor(raw, what)
    except ValueError as exc:
        raise errors.InvalidArgument(str(exc)) from None
    urls = raw.get("urls")
    data = raw.get("data")
    artifact_type = raw.get("artifactType")
    if urls is not None and not (isinstance(urls, list) and all(isinstance(u, str) for u in urls)):
        raise errors.InvalidArgument(f"{what}: urls of {entry.digest} is not a list of strings")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise errors.InvalidArgument(f"{what}: artifactType of {entry.digest} is not a string")
    if data is not None:
        if not isinstance(data, str):
            raise errors.InvalidArgument(f"{what}: data of {entry.digest} is not a string")
        try:
            # As Go reads a byte slice: standard base64, line breaks ignored.
            data = base64.b64decode(data.replace("\r", "").replace("\n", ""), validate=True)
        except binascii.Error as exc:
            raise errors.InvalidArgument(
                f"{what}: data of {entry.digest} is not base64: {exc}"
            ) from None
    return _oci.descriptor_json(
        desc or entry.descriptor,
        entry.platform,
        entry.extra,
        urls=urls or (),
        data=data or b"",
        artifact_type=artifact_type or "",
    )


def _go_manifest(
    doc: dict[str, Any], config: dict[str, Any], layers: list[dict[str, Any]] | None, what: str
) -> dict[str, Any]:
    """A manifest as Go's ``ocispec.Manifest`` encodes it, given its re-encoded config and layers."""
    return {**_go_head(doc, what), "config": config, "layers": layers, **_go_tail(doc, what)}


def _go_index(doc: dict[str, Any], manifests: list[dict[str, Any]], what: str) -> dict[str, Any]:
    """An index as Go's ``ocispec.Index`` encodes it, given its re-encoded manifests.

    The converter builds the list anew, and Go writes an empty one as ``null``.
    """
    return {**_go_head(doc, what), "manifests": manifests or None, **_go_tail(doc, what)}


def _go_head(doc: dict[str, Any], what: str) -> dict[str, Any]:
    version = doc.get("schemaVersion", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise errors.InvalidArgument(f"{what}: schemaVersion {version!r} is not an integer")
    out: dict[str, Any] = {"schemaVersion": version}
    for key in ("mediaType", "artifactType"):
        value = doc.get(key)
        if value is not None and not isinstance(value, str):
            raise errors.InvalidArgument(f"{what}: {key} {value!r} is not a string")
        if value:
            out[key] = value
    return out


def _go_tail(doc: dict[str, Any], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if doc.get("subject") is not None:
        out["subject"] = _go_descriptor(doc["subject"], None, what)
    annotations = doc.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(
        isinstance(v, str) for v in annotations.values()
    ):
        raise errors.InvalidArgument(f"{what}: annotations is not an object of strings")
    if annotations:
        out["annotations"] = dict(sorted(annotations.items()))
    return out


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
        what = f"manifest {desc.digest}"
        try:
            config, layers, doc = _oci.parse_manifest(data, desc.media_type, what)
        except ValueError as exc:
            raise errors.InvalidArgument(str(exc)) from None
        modified = self._oci_media_type(doc)
        final_layers = []
        layers_json = []
        for raw, layer in zip(doc.get("layers") or [], layers, strict=True):
            new = await self.convert(layer)
            modified = modified or new is not None
            final_layers.append(new or layer)
            layers_json.append(_go_descriptor(raw, new or layer, what))
        new_config = await self.convert(config)
        if not modified and new_config is None:
            return None
        config_json = _go_descriptor(doc["config"], new_config or config, what)
        # Go writes layers that were absent (a nil slice) as ``null``.
        document = _go_manifest(
            doc, config_json, None if doc.get("layers") is None else layers_json, what
        )
        return await self._write(desc, document, [new_config or config, *final_layers])

    async def _index(self, desc: Descriptor) -> Descriptor | None:
        data = await read_json_blob(self._client, desc, "index")
        what = f"index {desc.digest}"
        try:
            entries, doc = _oci.parse_index(data, desc.media_type, what)
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
            modified = modified or new is not None
            kept.append(_go_descriptor(raw, new or entry.descriptor, what))
            children.append(new or entry.descriptor)
        if entries and not kept:
            raise errors.NotFound(f"index {desc.digest} has no manifest for {self._matcher}")
        if not modified:
            return None
        return await self._write(desc, _go_index(doc, kept, what), children)

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
        """Store a rewritten manifest or index document, labelled with GC references to its children.

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
        if _oci.valid_digest(known):
            # Held by the lease first, so that it cannot be collected before
            # the new image refers to it.
            await hold_content(client, known)
            with contextlib.suppress(errors.NotFound):
                size = (await client.content.info(known)).size
                return attrs.evolve(desc, media_type=media_type, digest=known, size=size)
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
            digest, size = await write_derived(
                client, ref, _gunzip(first, chunks, desc.digest), labels
            )
        if known != digest:
            await client.content.update(desc.digest, labels={_oci.LABEL_UNCOMPRESSED: digest})
        return attrs.evolve(desc, media_type=media_type, digest=digest, size=size)


async def _gunzip(
    first: bytes, rest: AsyncIterator[bytes], digest: str
) -> AsyncGenerator[bytes, None]:
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
    matcher = _oci.exact_matcher(platform, all_platforms=all_platforms)
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
            if not recorded:
                await roll_back(client, leased)
            elif previous is None:
                await roll_back(client, leased, created=[name])
            else:
                await roll_back(client, leased, previous={name: previous})
            raise
    return attrs.evolve(image, _client=client)
