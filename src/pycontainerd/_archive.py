"""Image archives: import OCI-layout and ``docker save`` tars, export OCI-layout tars."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import uuid
import zlib
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import attrs

from . import _oci, errors
from ._descriptors import Descriptor
from ._identifiers import labels as checked_labels
from ._identifiers import shown
from ._images import (
    Image,
    PlatformLike,
    _check_name,
    read_json_blob,
    resolve_manifest,
    snapshotter_name,
    unpack_layers,
    write_json_blob,
)
from ._platforms import Platform
from ._shield import finish
from ._staging import hold_content, roll_back, write_derived
from ._tar import (
    HARDLINK,
    SYMLINK,
    TAR_END,
    TarEntry,
    TarReader,
    byte_source,
    check_member_name,
    link_target,
    tar_header,
    tar_padding,
)

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["ArchiveSource", "export_archive", "import_archive"]

ArchiveSource = str | os.PathLike[str] | bytes | AsyncIterable[bytes]

_LEASE_EXPIRY = 24 * 3600.0
_CLEANUP_TIMEOUT = 10.0
_LAYOUT_VERSION = "1.0.0"
_HASHES = {"sha256", "sha384", "sha512"}
# The files of a docker save tar (and podman's, skopeo's, crane's): layers
# ``<id>/layer.tar``, ``<id>.tar`` or ``<digest>.tar.gz``, configs ``<id>.json``,
# ``<id>/json``. A member named otherwise cannot be one of its images' blobs: it
# is passed over instead of streamed into the content store, whatever its size.
_DOCKER_BLOB = re.compile(r"[0-9a-f]{64}|\.json$|\.tar(?:\.[a-z0-9]+)?$")
# Layers a registry serves but archives leave out: not required to be present.
_FOREIGN = ("foreign", "nondistributable")


def _bad(message: str) -> errors.InvalidArchive:
    return errors.InvalidArchive(message)


@attrs.define
class _Blob:
    digest: str
    size: int
    head: bytes = b""


async def _ingest_entry(client: Client, entry: TarEntry, name: str, digest: str | None) -> _Blob:
    """Stream one archive member into the content store, verifying its digest.

    With `digest` (an OCI ``blobs/<alg>/<hex>`` member) the member must hash
    to it; without (a ``docker save`` file) its digest is computed.
    """
    alg = digest.split(":", 1)[0] if digest else "sha256"
    hasher = hashlib.new(alg)
    head = bytearray()

    def check() -> str:
        got = f"{alg}:{hasher.hexdigest()}"
        if digest is not None and got != digest:
            raise _bad(f"archive blob {name!r} has digest {got}, not the one its name says")
        return got

    ref = f"import-{digest}" if digest else f"import-{uuid.uuid4().hex}"
    try:
        async with client.content.writer(ref, total=entry.size, expected=digest) as w:
            skip = w.offset  # a resumed ingest: its bytes are in the store already
            async for chunk in entry.chunks():
                hasher.update(chunk)
                if len(head) < 16:
                    head += chunk[: 16 - len(head)]
                if skip:
                    if len(chunk) <= skip:
                        skip -= len(chunk)
                        continue
                    chunk, skip = chunk[skip:], 0
                await w.write(chunk)
            got = check()
            await w.commit(expected=got)
    except errors.AlreadyExists:
        # Already in the store: still read and verify what the archive holds.
        async for chunk in entry.chunks():
            hasher.update(chunk)
            if len(head) < 16:
                head += chunk[: 16 - len(head)]
        got = check()
    return _Blob(got, entry.size, bytes(head))


def _blob_digest(name: str) -> str:
    parts = name.split("/")
    if len(parts) != 3 or parts[1] not in _HASHES:
        raise _bad(f"archive blob {name!r} is not named blobs/<algorithm>/<hex digest>")
    digest = f"{parts[1]}:{parts[2]}"
    if not _oci.valid_digest(digest):
        raise _bad(f"archive blob {name!r} is not named by a valid digest")
    return digest


@attrs.define
class _Ingested:
    layout: dict[str, Any] | None = None
    index: _Blob | None = None
    docker: list[Any] | None = None
    blobs: dict[str, _Blob] = attrs.Factory(dict)
    links: dict[str, str] = attrs.Factory(dict)
    passed_over: set[str] = attrs.Factory(set)


async def _read_archive(client: Client, source: ArchiveSource) -> _Ingested:
    found = _Ingested()
    async for entry in TarReader(byte_source(source)):
        name = check_member_name(entry)
        if entry.type in (SYMLINK, HARDLINK):
            found.links[name] = link_target(entry, name)
            continue
        if not entry.is_file or not name:
            continue
        if name == "oci-layout":
            found.layout = _load(await entry.read(_oci.MAX_JSON), name)
        elif name == "manifest.json":
            data = await entry.read(_oci.MAX_JSON)
            doc = _load_any(data, name)
            if not isinstance(doc, list):
                raise _bad("archive manifest.json is not a JSON list")
            found.docker = doc
        elif name == "index.json":
            data = await entry.read(_oci.MAX_JSON)
            _load(data, name)
            digest = _oci.sha256(data)
            await client.content.write(f"import-{digest}", data, expected=digest)
            found.index = _Blob(digest, len(data))
        elif name == "repositories":
            await entry.skip()
        elif name.startswith("blobs/"):
            found.blobs[name] = await _ingest_entry(client, entry, name, _blob_digest(name))
        elif _DOCKER_BLOB.search(name):
            found.blobs[name] = await _ingest_entry(client, entry, name, None)
        else:
            found.passed_over.add(name)
            await entry.skip()
    return found


def _load(data: bytes, what: str) -> dict[str, Any]:
    try:
        return _oci.load_json(data, f"archive {what}")
    except ValueError as exc:
        raise _bad(str(exc)) from None


def _load_any(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise _bad(f"archive {what} is not valid JSON: {exc}") from None


def _layer_media_type(head: bytes) -> str:
    if head[:2] == b"\x1f\x8b" or head[:4] == b"\x28\xb5\x2f\xfd" or head[:3] == b"BZh":
        return _oci.DOCKER_LAYER_GZIP
    return _oci.DOCKER_LAYER


async def _compressed(client: Client, plain: _Blob) -> Descriptor:
    """Store a gzip copy of the plain layer `plain` (containerd's importer with compression).

    The copy is labelled with its diff ID (``containerd.io/uncompressed``),
    so a later import of the same plain layer finds it.
    """
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    ref = f"compress-blob-{plain.digest.replace(':', '-', 1)}"

    async def gzipped(reader: AsyncIterable[bytes]) -> AsyncGenerator[bytes, None]:
        async for chunk in reader:
            # Compressing takes the CPU for a while: not on the event loop.
            out = await anyio.to_thread.run_sync(compressor.compress, chunk)
            if out:
                yield out
        yield compressor.flush()

    async with client.content.reader(plain.digest) as reader:
        digest, size = await write_derived(
            client, ref, gzipped(reader), {_oci.LABEL_UNCOMPRESSED: plain.digest}
        )
    return Descriptor(media_type=_oci.DOCKER_LAYER_GZIP, digest=digest, size=size)


async def _docker_layers(
    client: Client, blobs: Sequence[_Blob], *, compress: bool
) -> dict[str, Descriptor]:
    """The manifest descriptor of each layer blob, by digest, as containerd's ``resolveLayers``.

    A layer the store already holds compressed (a blob labelled with its
    digest as ``containerd.io/uncompressed``) is replaced by that blob;
    a plain one is compressed with `compress`.
    """
    wanted = {b.digest: b for b in blobs}
    found: dict[str, Descriptor] = {}
    filters = [f'labels."{_oci.LABEL_UNCOMPRESSED}"=={d}' for d in wanted]
    for info in await client.content.list(*filters) if filters else []:
        plain = info.labels.get(_oci.LABEL_UNCOMPRESSED, "")
        if plain in wanted:
            # Held by the import's lease before the image refers to it.
            await hold_content(client, info.digest)
            try:
                head = await client.content.read(info.digest, size=16)
            except errors.NotFound:
                continue  # collected since it was listed
            found[plain] = Descriptor(
                media_type=_layer_media_type(head), digest=info.digest, size=info.size
            )
    for digest, blob in wanted.items():
        if digest in found:
            continue
        media_type = _layer_media_type(blob.head)
        if compress and media_type == _oci.DOCKER_LAYER:
            found[digest] = await _compressed(client, blob)
        else:
            found[digest] = Descriptor(media_type=media_type, digest=digest, size=blob.size)
    return found


async def _docker_index(client: Client, found: _Ingested, *, compress: bool) -> Descriptor:
    """Build an OCI index for a ``docker save`` archive, as containerd's importer does."""
    blobs = dict(found.blobs)
    for name, target in found.links.items():
        if target not in blobs:
            raise _bad(
                f"archive link {shown(name)} points to {shown(target)}, which is not in the archive"
            )
        blobs[name] = blobs[target]

    def missing(what: str, name: object) -> errors.InvalidArchive:
        if name in found.passed_over:
            return _bad(
                f"archive {what} {shown(name)} is not named as a layer or config "
                "(<id>/layer.tar, <id>.tar, <id>.json), so it was not imported"
            )
        return _bad(f"archive {what} {shown(name)} not found")

    entries: list[dict[str, Any]] = []
    assert found.docker is not None
    items: list[tuple[_Blob, list[_Blob], list[Any]]] = []
    for item in found.docker:
        if not isinstance(item, dict):
            raise _bad("archive manifest.json entries must be objects")
        config_name = item.get("Config")
        layer_names = item.get("Layers") or []
        tags = item.get("RepoTags") or []
        if not isinstance(config_name, str) or config_name not in blobs:
            raise missing("image config", config_name)
        if not isinstance(layer_names, list) or not isinstance(tags, list):
            raise _bad("archive manifest.json has a malformed entry")
        layer_blobs = []
        for layer_name in layer_names:
            if not isinstance(layer_name, str) or layer_name not in blobs:
                raise missing("layer", layer_name)
            layer_blobs.append(blobs[layer_name])
        items.append((blobs[config_name], layer_blobs, tags))
    resolved = await _docker_layers(
        client, [b for _, layer_blobs, _ in items for b in layer_blobs], compress=compress
    )
    for config_blob, layer_blobs, tags in items:
        config = Descriptor(
            media_type=_oci.DOCKER_CONFIG, digest=config_blob.digest, size=config_blob.size
        )
        layers = [resolved[b.digest] for b in layer_blobs]
        manifest_doc = {
            "schemaVersion": 2,
            "mediaType": _oci.DOCKER_MANIFEST,
            "config": _oci.descriptor_json(config),
            "layers": [_oci.descriptor_json(layer) for layer in layers],
        }
        manifest = await write_json_blob(client, _oci.DOCKER_MANIFEST, _oci.go_json(manifest_doc))
        cfg = await read_json_blob(client, config, "image config")
        try:
            platform: Platform | None = _oci.config_platform(cfg, f"config {config.digest}")
        except ValueError as exc:
            raise _bad(str(exc)) from None
        if platform is not None and not platform.os and not platform.architecture:
            platform = None
        if not tags:
            entries.append(_oci.descriptor_json(manifest, platform))
        for tag in tags:
            try:
                full = _oci.normalize_reference(str(tag))
            except ValueError as exc:
                raise _bad(f"archive tag {shown(tag)}: {exc}") from None
            named = attrs.evolve(
                manifest,
                annotations={
                    _oci.ANNOTATION_IMAGE_NAME: full,
                    _oci.ANNOTATION_REF_NAME: _oci.oci_ref_name(full),
                },
            )
            entries.append(_oci.descriptor_json(named, platform))
    index = {"schemaVersion": 2, "manifests": entries}
    return await write_json_blob(client, _oci.OCI_INDEX, _oci.go_json(index))


def _ref_translator(prefix: str, *, only_prefixed: bool) -> Callable[[str], str]:
    """How an ``org.opencontainers.image.ref.name`` becomes an image name.

    containerd's ``archive.AddRefPrefix`` (a bare tag gets `prefix`, a full
    reference stays) or, `only_prefixed`, ``archive.FilterRefPrefix`` (a full
    reference outside `prefix` gives no image).
    """

    def translate(ref: str) -> str:
        if any(c in ref for c in "/:@"):
            if only_prefixed and not _has_prefix(ref, prefix):
                return ""
            return ref
        return f"{prefix}:{ref}"

    return translate


def _has_prefix(ref: str, prefix: str) -> bool:
    if not ref.startswith(prefix):
        return False
    return len(ref) == len(prefix) or ref[len(prefix)] in "/:@"


@attrs.frozen(kw_only=True)
class _Naming:
    """What names the imported images get (see `Images.import_archive`)."""

    translate: Callable[[str], str]
    digest_prefix: str | None = None  # also name each manifest <prefix>@<digest>
    skip_digest_for_named: bool = False


async def _label_and_collect(
    client: Client,
    index: Descriptor,
    matcher: _oci.PlatformMatcher,
    naming: _Naming,
    archived: set[str],
    *,
    skip_missing: bool,
    discard_layers: bool,
) -> list[tuple[str, Descriptor]]:
    """Walk the imported index: GC-label every parent for its children, collect image names.

    As containerd's ``Client.Import``: children of indexes are limited to the
    matching platforms (entries without a platform are kept), and each
    parent gets ``containerd.io/gc.ref.content.*`` labels for its children
    (but for layers, with `discard_layers`: the garbage collector may then
    take them once unpacked). With `skip_missing`, an index or manifest
    that is not there is passed over (Go's ``WithSkipMissing``). Without,
    and unlike Go, every blob an image needs must be in the archive
    (`archived` digests) or already in the content store, or the archive is
    refused: an image without its layers would only fail later, at unpack or run.
    """
    names: list[tuple[str, Descriptor]] = []
    leaves: dict[str, str] = {}  # digest -> the manifest naming it

    async def read(desc: Descriptor, what: str, top: bool) -> bytes | None:
        try:
            return await read_json_blob(client, desc, what)
        except errors.NotFound:
            if skip_missing and not top:
                return None
            raise

    async def children(entry: _oci.IndexEntry, top: bool) -> list[_oci.IndexEntry]:
        desc = entry.descriptor
        if _oci.is_index(desc.media_type):
            data = await read(desc, "index", top)
            if data is None:
                return []
            entries, _ = _oci.parse_index(data, desc.media_type, f"index {desc.digest}")
            if top:
                for m in entries:
                    annotations = m.descriptor.annotations
                    name = annotations.get(_oci.ANNOTATION_IMAGE_NAME, "")
                    if not name and annotations.get(_oci.ANNOTATION_REF_NAME):
                        name = naming.translate(annotations[_oci.ANNOTATION_REF_NAME])
                    if name:
                        names.append((name, m.descriptor))
                    if naming.digest_prefix is not None and not (
                        name and naming.skip_digest_for_named
                    ):
                        names.append((f"{naming.digest_prefix}@{m.digest}", m.descriptor))
            return [e for e in entries if e.platform is None or matcher.match(e.platform)]
        if _oci.is_manifest(desc.media_type):
            data = await read(desc, "manifest", top)
            if data is None:
                return []
            config, layers, _ = _oci.parse_manifest(
                data, desc.media_type, f"manifest {desc.digest}"
            )
            for d in (config, *layers):
                if not any(word in d.media_type for word in _FOREIGN):
                    leaves.setdefault(d.digest, desc.digest)
            return [_oci.IndexEntry(d, None) for d in (config, *layers)]
        return []

    async def walk(entry: _oci.IndexEntry, top: bool) -> bool:
        kids = await children(entry, top)
        referenced = [
            k.descriptor
            for k in kids
            if not (discard_layers and _oci.is_layer(k.descriptor.media_type))
        ]
        if referenced:
            await client.content.update(entry.digest, labels=_oci.child_gc_labels(referenced))
        for kid in kids:
            await walk(kid, False)
        return bool(kids)

    try:
        found = await walk(_oci.IndexEntry(index, None), True)
    except ValueError as exc:
        raise _bad(str(exc)) from None
    except errors.InvalidArchive:
        raise
    except (errors.InvalidArgument, errors.NotFound) as exc:  # NotFound: an index or manifest
        raise _bad(f"archive is incomplete: {exc}") from None
    if not found:
        raise errors.NotFound(f"the archive holds no image for {matcher}")
    for digest, manifest in leaves.items():
        if digest not in archived and not skip_missing:
            try:
                await client.content.info(digest)
            except errors.NotFound:
                raise _bad(
                    f"archive manifest {manifest} names blob {digest}, which is neither "
                    "in the archive nor in the content store"
                ) from None
    return names


async def import_archive(
    client: Client,
    source: ArchiveSource,
    *,
    unpack: bool = False,
    platform: PlatformLike = None,
    all_platforms: bool = False,
    base_name: str | None = None,
    digests: bool = False,
    index_name: str | None = None,
    snapshotter: str | None = None,
    ref_prefix: str | None = None,
    skip_digest_for_named: bool = False,
    labels: Mapping[str, str] | None = None,
    skip_missing: bool = False,
    compress_blobs: bool = False,
    discard_unpacked_layers: bool = False,
) -> list[Image]:
    """Implementation of `Images.import_archive` (see there)."""
    if index_name is not None:
        _check_name(index_name)
    if base_name and ref_prefix:
        raise errors.InvalidArgument(
            f"base_name {shown(base_name)} and ref_prefix {shown(ref_prefix)}: give one or the other"
        )
    if discard_unpacked_layers and not unpack:
        raise errors.InvalidArgument("discard_unpacked_layers needs unpack")
    if skip_digest_for_named and not digests:
        raise errors.InvalidArgument("skip_digest_for_named needs digests")
    if labels is not None:
        labels = checked_labels(labels)
    if all_platforms:
        matcher = _oci.PlatformMatcher.all()
        unpack_matcher = _oci.matcher_for(platform)
    elif platform is not None:
        matcher = unpack_matcher = _oci.PlatformMatcher.strict(_oci.parse_platform(platform))
    else:
        matcher = unpack_matcher = _oci.matcher_for(None)
    prefix = base_name or ref_prefix or f"import-{datetime.now(UTC):%Y-%m-%d}"
    naming = _Naming(
        translate=_ref_translator(prefix, only_prefixed=bool(base_name)),
        digest_prefix=prefix if digests else None,
        skip_digest_for_named=skip_digest_for_named,
    )

    created: list[str] = []
    previous: dict[str, Image] = {}
    images: list[Image] = []
    async with client.leases.lease(expires_in=_LEASE_EXPIRY) as leased:
        try:
            found = await _read_archive(leased, source)
            if found.layout is not None:
                version = found.layout.get("imageLayoutVersion")
                if version != _LAYOUT_VERSION:
                    raise _bad(f"unsupported OCI image layout version {version!r}")
                if found.index is None:
                    raise _bad("OCI image layout without index.json")
                index = Descriptor(
                    media_type=_oci.OCI_INDEX, digest=found.index.digest, size=found.index.size
                )
            elif found.docker is not None:
                index = await _docker_index(leased, found, compress=compress_blobs)
            else:
                raise _bad(
                    "unrecognized archive: neither an OCI image layout nor a docker save tar"
                )
            archived = {b.digest for b in found.blobs.values()}
            records = await _label_and_collect(
                leased,
                index,
                matcher,
                naming,
                archived,
                skip_missing=skip_missing,
                discard_layers=discard_unpacked_layers,
            )
            if index_name:
                records.insert(0, (index_name, index))
            for name, target in records:
                try:
                    old = await leased.images.get(name)
                except errors.NotFound:
                    created.append(name)
                else:
                    previous.setdefault(name, old)
                image = await leased.images._put(name, target, labels)
                images.append(attrs.evolve(image, _client=client))
            if unpack:
                sn = await snapshotter_name(leased, snapshotter)
                for image in images:
                    manifest = await resolve_manifest(leased, image.target, unpack_matcher)
                    await unpack_layers(
                        leased, sn, manifest.config, manifest.layers, what=f"image {image.name!r}"
                    )
        except BaseException:
            await roll_back(client, leased, created=created, previous=previous)
            raise
    return images


class _Sink(Protocol):
    async def send(self, data: bytes) -> None: ...


async def export_archive(
    client: Client,
    dest: str | os.PathLike[str] | _Sink,
    images: Sequence[Image | str],
    *,
    platform: PlatformLike | Sequence[Platform | str] = None,
    all_platforms: bool = False,
    docker_manifest: bool = True,
    skip_non_distributable: bool = False,
) -> None:
    """Implementation of `Images.export_archive` (see there)."""
    matcher = _oci.exact_matcher(platform)
    if not images:
        raise errors.InvalidArgument("export_archive needs at least one image")
    resolved = [i if isinstance(i, Image) else await client.images.get(i) for i in images]

    targets: list[tuple[Descriptor, str]] = []
    for image in resolved:
        annotations = dict(image.target.annotations)
        annotations[_oci.ANNOTATION_IMAGE_NAME] = image.name
        annotations[_oci.ANNOTATION_REF_NAME] = _oci.oci_ref_name(image.name)
        targets.append((attrs.evolve(image.target, annotations=annotations), image.name))

    blobs: dict[str, Descriptor] = {}  # tar name -> descriptor, in walk order
    docker: dict[str, list[str]] = {}  # manifest digest -> names
    docker_manifests: dict[str, Descriptor] = {}

    def add_blob(desc: Descriptor) -> None:
        alg, _, hexpart = desc.digest.partition(":")
        if not _oci.valid_digest(desc.digest):
            raise errors.InvalidArgument(f"cannot export blob with invalid digest {desc.digest!r}")
        if skip_non_distributable and _oci.is_non_distributable(desc.media_type):
            return
        blobs.setdefault(f"blobs/{alg}/{hexpart}", desc)

    async def walk_all(desc: Descriptor) -> None:
        add_blob(desc)
        try:
            if _oci.is_manifest(desc.media_type):
                data = await read_json_blob(client, desc, "manifest")
                config, layers, _ = _oci.parse_manifest(
                    data, desc.media_type, f"manifest {desc.digest}"
                )
                for d in (config, *layers):
                    await walk_all(d)
            elif _oci.is_index(desc.media_type):
                data = await read_json_blob(client, desc, "index")
                entries, _ = _oci.parse_index(data, desc.media_type, f"index {desc.digest}")
                for e in entries:
                    await walk_all(e.descriptor)
        except ValueError as exc:
            raise errors.InvalidArgument(str(exc)) from None

    resolved_index: dict[str, str] = {}
    for target, name in targets:
        if _oci.is_manifest(target.media_type):
            if target.digest not in docker_manifests:
                await walk_all(target)
                docker_manifests[target.digest] = target
                docker[target.digest] = []
            docker[target.digest].append(name)
        elif _oci.is_index(target.media_type):
            if target.digest not in resolved_index:
                add_blob(target)
                data = await read_json_blob(client, target, "index")
                try:
                    entries, _ = _oci.parse_index(data, target.media_type, f"index {target.digest}")
                except ValueError as exc:
                    raise errors.InvalidArgument(str(exc)) from None
                matching = []
                for e in entries:
                    if e.platform is None or matcher.match(e.platform):
                        matching.append(e)
                    elif not all_platforms:
                        continue
                    await walk_all(e.descriptor)
                best = ""
                if matching:
                    first = matcher.sort(matching)[0]
                    best = first.digest
                    docker_manifests.setdefault(best, first.descriptor)
                    docker.setdefault(best, [])
                else:
                    raise errors.NotFound(f"image {name!r} has no manifest for {matcher}")
                resolved_index[target.digest] = best
            best = resolved_index[target.digest]
            docker[best].append(name)
        else:
            raise errors.InvalidArgument(
                f"image {name!r}: only manifests and indexes can be exported, not {target.media_type!r}"
            )

    index_doc = {
        "schemaVersion": 2,
        "manifests": [_oci.descriptor_json(t) for t, _ in targets],
    }
    files: dict[str, bytes | Descriptor | None] = {
        "oci-layout": _oci.go_json({"imageLayoutVersion": _LAYOUT_VERSION}),
        "index.json": _oci.go_json(index_doc),
    }
    if docker_manifest and docker_manifests:
        entries_json = []
        for digest, desc in docker_manifests.items():
            data = await read_json_blob(client, desc, "manifest")
            try:
                config, layers, _ = _oci.parse_manifest(data, desc.media_type, f"manifest {digest}")
            except ValueError as exc:
                raise errors.InvalidArgument(str(exc)) from None
            tags = []
            for n in docker[digest]:
                try:
                    tags.append(_oci.familiar_reference(n))
                except ValueError:
                    continue
            entries_json.append(
                {
                    "Config": "blobs/" + config.digest.replace(":", "/", 1),
                    "RepoTags": tags or None,
                    "Layers": ["blobs/" + layer.digest.replace(":", "/", 1) for layer in layers],
                }
            )
        files["manifest.json"] = _oci.go_json(entries_json)
    files.update(blobs)
    if blobs:
        files["blobs/"] = None
        for alg in sorted({n.split("/")[1] for n in blobs}):
            files[f"blobs/{alg}/"] = None

    if isinstance(dest, str | os.PathLike):
        path = os.fspath(dest)
        try:
            async with await anyio.open_file(path, "wb") as f:
                await _write_tar(client, files, f.write)
        except BaseException:
            with contextlib.suppress(OSError):
                await finish(anyio.Path(path).unlink, timeout=_CLEANUP_TIMEOUT)
            raise
    else:
        await _write_tar(client, files, dest.send)


async def _write_tar(
    client: Client,
    files: dict[str, bytes | Descriptor | None],
    write: Callable[[bytes], Awaitable[Any]],
) -> None:
    pending = bytearray()

    async def flush() -> None:
        if pending:
            chunk = bytes(pending)
            pending.clear()
            await write(chunk)

    async def emit(data: bytes) -> None:
        pending.extend(data)
        if len(pending) >= 1024 * 1024:
            await flush()

    for name in sorted(files):
        item = files[name]
        if item is None:
            await emit(tar_header(name, 0, mode=0o755, directory=True))
        elif isinstance(item, bytes):
            await emit(tar_header(name, len(item), mode=0o444 if name == "oci-layout" else 0o644))
            await emit(item)
            await emit(tar_padding(len(item)))
        else:
            await emit(tar_header(name, item.size))
            written = 0
            async with client.content.reader(item.digest) as reader:
                async for chunk in reader:
                    written += len(chunk)
                    if len(chunk) >= 64 * 1024:
                        await flush()
                        await write(chunk)
                    else:
                        await emit(chunk)
            if written != item.size:
                raise errors.DataLoss(
                    f"blob {item.digest}: read {written} bytes, the descriptor says {item.size}"
                )
            await emit(tar_padding(item.size))
    await emit(TAR_END)
    await flush()
