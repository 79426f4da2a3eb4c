"""Images: the image store, image handles, platform resolution, unpack, image from a directory."""

from __future__ import annotations

import base64
import builtins
import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

import anyio
import attrs
from betterproto.lib.google.protobuf import FieldMask

from . import _oci, errors
from ._api import _rpc
from ._api.containerd.services.images.v1 import (
    CreateImageRequest,
    DeleteImageRequest,
    GetImageRequest,
    ListImagesRequest,
    UpdateImageRequest,
)
from ._api.containerd.services.images.v1 import Image as _Image
from ._convert import timestamp
from ._descriptors import Descriptor, Mount
from ._facade import Facade
from ._identifiers import label_changes, label_paths, shown
from ._identifiers import labels as checked_labels
from ._image_config import ImageConfig
from ._layer_builder import pack_directory
from ._leases import LeaseResource
from ._namespaces import DEFAULT_SNAPSHOTTER_LABEL, namespace_labels
from ._platforms import Platform
from ._shield import Removal, finish
from ._snapshots import DEFAULT_SNAPSHOTTER, Snapshots

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["Image", "Images", "Manifest"]

_LEASE_EXPIRY = 24 * 3600.0
_CLEANUP_TIMEOUT = 10.0
_CHUNK = 1024 * 1024

PlatformLike = Platform | str | None


def _labels(values: Mapping[str, str]) -> Mapping[str, str]:
    return dict(values)


@attrs.frozen(kw_only=True)
class Manifest:
    """An image manifest resolved for one platform.

    Attributes:
        descriptor: the manifest blob itself.
        platform: the platform the index declared for it (``None`` when the
            image target is a manifest or the index gave none).
        config: the image config blob.
        layers: the layer blobs, bottom first.
        annotations: the manifest's annotations.

    Example:
        ```python
        manifest = await image.manifest("linux/arm64")
        print(manifest.config.digest, sum(layer.size for layer in manifest.layers))
        ```
    """

    descriptor: Descriptor
    platform: Platform | None = None
    config: Descriptor
    layers: tuple[Descriptor, ...] = ()
    annotations: Mapping[str, str] = attrs.field(factory=dict, converter=_labels)


async def read_json_blob(client: Client, desc: Descriptor, what: str) -> bytes:
    """Read a small JSON blob (manifest, index, config), refusing more than 20 MiB."""
    if desc.size > _oci.MAX_JSON:
        raise errors.InvalidArgument(
            f"{what} {desc.digest} is {desc.size} bytes, larger than the 20 MiB limit"
        )
    # Never trust the declared size for how much to hold in memory.
    data = await client.content.read(desc.digest, size=_oci.MAX_JSON + 1)
    if len(data) > _oci.MAX_JSON:
        raise errors.InvalidArgument(f"{what} {desc.digest} is larger than the 20 MiB limit")
    if len(data) != desc.size:
        raise errors.InvalidArgument(
            f"{what} {desc.digest} is {len(data)} bytes, but its descriptor says {desc.size}"
        )
    return data


def _json_error(exc: ValueError) -> errors.InvalidArgument:
    return errors.InvalidArgument(str(exc))


async def resolve_manifest(
    client: Client, target: Descriptor, matcher: _oci.PlatformMatcher
) -> Manifest:
    """Find the manifest of `target` for the platforms `matcher` accepts (containerd's ``images.Manifest``).

    Indexes are searched best platform first; an index entry without a
    platform is judged by its config's os/architecture.
    """

    async def visit(entry: _oci.IndexEntry, top: bool) -> Manifest | None:
        desc = entry.descriptor
        if _oci.is_manifest(desc.media_type):
            data = await read_json_blob(client, desc, "manifest")
            try:
                config, layers, doc = _oci.parse_manifest(
                    data, desc.media_type, f"manifest {desc.digest}"
                )
            except ValueError as exc:
                raise _json_error(exc) from None
            if not top and entry.platform is None:
                cfg = await read_json_blob(client, config, "image config")
                try:
                    if not matcher.match(_oci.config_platform(cfg, f"config {config.digest}")):
                        return None
                except ValueError as exc:
                    raise _json_error(exc) from None
            annotations = doc.get("annotations") or {}
            return Manifest(
                descriptor=desc,
                platform=entry.platform,
                config=config,
                layers=tuple(layers),
                annotations={str(k): str(v) for k, v in annotations.items()},
            )
        if _oci.is_index(desc.media_type):
            data = await read_json_blob(client, desc, "index")
            try:
                entries, _ = _oci.parse_index(data, desc.media_type, f"index {desc.digest}")
            except ValueError as exc:
                raise _json_error(exc) from None
            candidates = [e for e in entries if e.platform is None or matcher.match(e.platform)]
            for child in matcher.sort(candidates):
                found = await visit(child, False)
                if found is not None:
                    return found
            return None
        raise errors.NotFound(f"unexpected media type {desc.media_type!r} for {desc.digest}")

    found = await visit(_oci.IndexEntry(target, None), True)
    if found is None:
        raise errors.NotFound(f"no manifest matching {matcher} in {target.digest}")
    return found


def _unique() -> str:
    return f"{time.time_ns() % 1_000_000_000}-{base64.urlsafe_b64encode(secrets.token_bytes(3)).decode()}"


@attrs.frozen(kw_only=True)
class Image:
    """An image record: a name pointing at a manifest or index in the content store.

    A handle: it holds the client it came from, and creating one does no
    I/O. Methods that look inside the image resolve the manifest for a
    platform: the host's by default (and what it can run, such as 386 on
    amd64), or the `platform` passed. The manifest and config are read
    once per handle and platform (the target is content-addressed, so they
    cannot change); a new handle (`Images.get`) reads them afresh.

    Example:
        ```python
        image = await client.images.get("docker.io/library/busybox:latest")
        config = await image.config()
        print(image.target.digest, config.cmd, await image.size())
        if not await image.is_unpacked():
            await image.unpack()
        ```
    """

    name: str
    target: Descriptor
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=_labels)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    _client: Client = attrs.field(alias="_client", eq=False, repr=False)
    # Manifests and configs this handle has resolved, by (what, platform): the
    # target is content-addressed, so what it resolves to never changes.
    _resolved: dict[tuple[str, PlatformLike], Any] = attrs.field(
        factory=dict, init=False, eq=False, repr=False
    )

    @classmethod
    def _from_proto(cls, client: Client, msg: _Image) -> Image:
        return cls(
            name=msg.name,
            target=Descriptor._from_proto(msg.target),
            labels=dict(msg.labels),
            created_at=timestamp(msg.created_at),
            updated_at=timestamp(msg.updated_at),
            _client=client,
        )

    async def manifest(self, platform: PlatformLike = None) -> Manifest:
        """The image's manifest for `platform` (default: the host's).

        Raises:
            pycontainerd.errors.NotFound: no manifest matches, or a blob is missing.

        Example:
            ```python
            m = await image.manifest("linux/arm64")
            print(m.config.digest, [layer.size for layer in m.layers])
            ```
        """
        found: Manifest | None = self._resolved.get(("manifest", platform))
        if found is None:
            async with self._resolving():
                found = await self._manifest(platform)
        return found

    def _resolving(self) -> anyio.Lock:
        """The lock that makes concurrent first calls read the blobs once, not each."""
        lock: anyio.Lock | None = self._resolved.get(("lock", None))
        if lock is None:
            lock = self._resolved["lock", None] = anyio.Lock()
        return lock

    async def _manifest(self, platform: PlatformLike) -> Manifest:
        found: Manifest | None = self._resolved.get(("manifest", platform))
        if found is None:
            found = await resolve_manifest(self._client, self.target, _oci.matcher_for(platform))
            self._resolved["manifest", platform] = found
        return found

    async def config(self, platform: PlatformLike = None) -> ImageConfig:
        """The image config (entrypoint, env, diff IDs, ...) for `platform` (default: the host's).

        Example:
            ```python
            config = await image.config()
            print(config.entrypoint, config.cmd, config.env)
            ```
        """
        found: ImageConfig | None = self._resolved.get(("config", platform))
        if found is not None:
            return found
        async with self._resolving():
            found = self._resolved.get(("config", platform))
            if found is None:
                manifest = await self._manifest(platform)
                data = await read_json_blob(self._client, manifest.config, "image config")
                try:
                    found = ImageConfig.from_json(data)
                except ValueError as exc:
                    raise _json_error(exc) from None
                self._resolved["config", platform] = found
        return found

    async def platforms(self) -> list[Platform]:
        """Every platform the image offers (from its index, or from the config of a single manifest).

        Example:
            ```python
            print([str(p) for p in await image.platforms()])
            ```
        """
        found: list[Platform] = []

        async def walk(entry: _oci.IndexEntry) -> None:
            if entry.platform is not None:
                found.append(entry.platform)
                return
            desc = entry.descriptor
            try:
                if _oci.is_index(desc.media_type):
                    data = await read_json_blob(self._client, desc, "index")
                    entries, _ = _oci.parse_index(data, desc.media_type, f"index {desc.digest}")
                    for child in entries:
                        await walk(child)
                elif _oci.is_manifest(desc.media_type):
                    data = await read_json_blob(self._client, desc, "manifest")
                    config, _, _ = _oci.parse_manifest(
                        data, desc.media_type, f"manifest {desc.digest}"
                    )
                    await walk(_oci.IndexEntry(config, None))
                elif _oci.is_config(desc.media_type):
                    data = await read_json_blob(self._client, desc, "image config")
                    found.append(_oci.config_platform(data, f"config {desc.digest}"))
            except ValueError as exc:
                raise _json_error(exc) from None

        await walk(_oci.IndexEntry(self.target, None))
        return found

    async def size(self, platform: PlatformLike = None) -> int:
        """Bytes of the image's packed content for one platform: index, manifest, config and layers.

        As containerd's ``Image.Size``: the sizes the descriptors declare,
        for the best-matching manifest of an index.

        Example:
            ```python
            print(f"{await image.size() / 2**20:.1f} MiB")
            ```
        """
        total = self.target.size
        if _oci.is_index(self.target.media_type):
            manifest = await self.manifest(platform)
            total += manifest.descriptor.size
        else:
            manifest = await self.manifest(platform)
        return total + manifest.config.size + sum(layer.size for layer in manifest.layers)

    async def user_files(self, platform: PlatformLike = None) -> dict[str, bytes]:
        """``/etc/passwd`` and ``/etc/group`` as the image's layers leave them: an `oci.Rootfs`.

        The mapping names the files by path (``"/etc/passwd"``, ``"/etc/group"``;
        one the image lacks is left out); pass it as ``rootfs=`` to
        `oci.Spec.from_image`, `oci.Spec.with_user` or
        `oci.Spec.with_additional_groups` to resolve user and group names.
        containerd's Go client mounts the container's snapshot to read them;
        this reads the layer blobs instead, top layer first, honouring
        whiteouts, so it needs no mount and works with a remote daemon. A
        layer that is not a tar this can read (zstd) ends the search. Read
        once per handle and platform.

        Example:
            ```python
            files = await image.user_files()
            spec = oci.Spec.from_image(await image.config(), user="app", rootfs=files)
            ```
        """
        found: dict[str, bytes] | None = self._resolved.get(("user_files", platform))
        if found is None:
            found = await _read_user_files(self._client, await self.manifest(platform))
            self._resolved["user_files", platform] = found
        return dict(found)

    async def chain_id(self, platform: PlatformLike = None) -> str:
        """The identity chain ID of the image's layers: the name of its unpacked snapshot.

        Example:
            ```python
            info = await client.snapshots().stat(await image.chain_id())
            ```
        """
        config = await self.config(platform)
        return _oci.chain_id(config.diff_ids)

    async def is_unpacked(
        self, snapshotter: str | None = None, *, platform: PlatformLike = None
    ) -> bool:
        """Whether the image's top snapshot (its chain ID) exists in `snapshotter`.

        Example:
            ```python
            if not await image.is_unpacked():
                await image.unpack()
            ```
        """
        chain = await self.chain_id(platform)
        name = await snapshotter_name(self._client, snapshotter)
        try:
            await self._client.snapshots(name).stat(chain)
        except errors.NotFound:
            return False
        return True

    async def unpack(self, snapshotter: str | None = None, *, platform: PlatformLike = None) -> str:
        """Unpack the image's layers into `snapshotter` (default ``overlayfs``); return the chain ID.

        Works as containerd's unpacker: under a lease, each layer is applied
        through the diff service onto a snapshot prepared under a random key
        and committed under its chain ID; layers already unpacked are
        skipped. The layer blobs get a ``containerd.io/uncompressed`` label
        and the config a ``containerd.io/gc.ref.snapshot.<snapshotter>``
        label, so the garbage collector keeps the snapshots while the image
        exists. Cancelling removes the snapshot being prepared and the lease.

        Raises:
            pycontainerd.errors.DataLoss: a layer unpacked to a different diff ID
                than the config lists.
            pycontainerd.errors.InvalidArgument: the manifest's layers and the
                config's diff IDs do not line up.

        Example:
            ```python
            chain_id = await image.unpack()
            mounts = await client.snapshots().prepare("my-rootfs", chain_id)
            ```
        """
        name = await snapshotter_name(self._client, snapshotter)
        manifest = await self.manifest(platform)
        async with self._client.leases.lease(expires_in=_LEASE_EXPIRY) as leased:
            return await unpack_layers(
                leased, name, manifest.config, manifest.layers, what=f"image {self.name!r}"
            )


async def snapshotter_name(client: Client, snapshotter: str | None) -> str:
    """The snapshotter to use: the one given, the namespace's default label, or overlayfs."""
    if snapshotter:
        return snapshotter
    labels = await namespace_labels(client)
    return labels.get(DEFAULT_SNAPSHOTTER_LABEL) or DEFAULT_SNAPSHOTTER


async def unpack_layers(
    client: Client,
    snapshotter: str,
    config: Descriptor,
    layers: Sequence[Descriptor],
    *,
    what: str,
    fetched: Callable[[Descriptor], Awaitable[None]] | None = None,
    snapshot_labels: Mapping[str, str] | None = None,
) -> str:
    """Unpack `layers` (bottom first) into `snapshotter` as containerd's unpacker does; return the chain ID.

    See `Image.unpack`; `client` should carry a lease, which then holds
    each snapshot until an image refers to it. With `fetched`, the blobs
    need not be in the content store yet: the unpacker awaits
    ``fetched(blob)`` before it reads the config or applies a layer, which
    lets a pull unpack the lower layers while the upper ones still
    download. `what` names the image in errors. `snapshot_labels` go on
    each snapshot it makes (containerd's ``snapshots.WithLabels`` unpack
    option), under the labels the unpacker sets itself.
    """
    if fetched is not None:
        await fetched(config)
    data = await read_json_blob(client, config, "image config")
    try:
        diff_ids = ImageConfig.from_json(data).diff_ids
    except ValueError as exc:
        raise errors.InvalidArgument(f"{config.digest}: {exc}") from None
    if len(diff_ids) != len(layers):
        raise errors.InvalidArgument(
            f"{what}: manifest has {len(layers)} layers "
            f"but the config lists {len(diff_ids)} diff IDs"
        )
    snapshots = client.snapshots(snapshotter)
    for attempt in range(3):
        try:
            top = await _unpack_chain(
                client, snapshots, layers, diff_ids, fetched, snapshot_labels or {}
            )
        except _ParentGone as gone:
            # A lower snapshot vanished (removed or collected) between its stat
            # and the prepare on top of it: start again from the bottom.
            if attempt == 2:
                raise errors.NotFound(
                    f"{what}: snapshot {gone.parent} keeps disappearing"
                ) from None
            continue
        break
    await client.content.update(
        config.digest, labels={f"{_oci.LABEL_GC_SNAPSHOT}{snapshotter}": top}
    )
    return top


_USER_FILES = {"etc/passwd": "/etc/passwd", "etc/group": "/etc/group"}
_USER_FILE_LIMIT = 4 << 20


async def _read_user_files(client: Client, manifest: Manifest) -> dict[str, bytes]:
    """The files of `Image.user_files` from `manifest`'s layers."""
    from ._tar import TarReader

    found: dict[str, bytes] = {}
    hidden: set[str] = set()
    for layer in reversed(manifest.layers):
        wanted = {n for n in _USER_FILES if n not in found and n not in hidden}
        if not wanted:
            break
        opaque = False
        try:
            async with client.content.reader(layer.digest) as reader:
                async for entry in TarReader(aiter(reader)):
                    name = entry.name.lstrip("./").rstrip("/")
                    if name == "etc/.wh..wh..opq":
                        opaque = True
                    elif name.startswith("etc/.wh.") and "etc/" + name[8:] in wanted:
                        hidden.add("etc/" + name[8:])
                    elif name in wanted and entry.is_file:
                        found[name] = await entry.read(_USER_FILE_LIMIT)
        except errors.InvalidArchive:
            break  # not a tar we can read (zstd...): resolve with what we have
        if opaque:
            hidden.update(n for n in _USER_FILES if n not in found)
    return {_USER_FILES[n]: data for n, data in found.items()}


class _ParentGone(Exception):
    def __init__(self, parent: str) -> None:
        super().__init__(parent)
        self.parent = parent


async def _unpack_chain(
    client: Client,
    snapshots: Snapshots,
    layers: Sequence[Descriptor],
    diff_ids: Sequence[str],
    fetched: Callable[[Descriptor], Awaitable[None]] | None,
    snapshot_labels: Mapping[str, str],
) -> str:
    chain: list[str] = []
    for layer, diff_id in zip(layers, diff_ids, strict=True):
        parent = _oci.chain_id(chain)
        chain.append(diff_id)
        chain_id = _oci.chain_id(chain)
        if client.lease is not None:
            # Hold the snapshot in the unpack's lease first, so that one found
            # below cannot be garbage-collected before the image refers to it.
            await client.leases.add_resource(
                client.lease, LeaseResource(id=chain_id, type=f"snapshots/{snapshots.name}")
            )
        if await _exists(snapshots, chain_id):
            continue
        if fetched is not None:
            await fetched(layer)
        labels = dict(snapshot_labels)
        labels.update(
            (k, v) for k, v in layer.annotations.items() if k.startswith("containerd.io/snapshot/")
        )
        labels[_oci.LABEL_SNAPSHOT_REF] = chain_id
        applied = await _apply_layer(client, snapshots, layer, diff_id, parent, chain_id, labels)
        if applied:
            await client.content.update(layer.digest, labels={_oci.LABEL_UNCOMPRESSED: diff_id})
    return _oci.chain_id(chain)


async def apply_layer(client: Client, layer: Descriptor, mounts: Sequence[Mount]) -> Descriptor:
    """Apply one layer blob onto `mounts` through the diff service (no deadline: layers can be big)."""
    return await client.diff.apply(layer, mounts, timeout=None)


async def _exists(snapshots: Snapshots, key: str) -> bool:
    try:
        await snapshots.stat(key)
    except errors.NotFound:
        return False
    return True


async def _apply_layer(
    client: Client,
    snapshots: Snapshots,
    layer: Descriptor,
    diff_id: str,
    parent: str,
    chain_id: str,
    labels: dict[str, str],
) -> bool:
    """Prepare, apply and commit one layer. False if someone else unpacked it meanwhile."""
    key = ""
    mounts: Sequence[Mount] = ()
    for _ in range(3):
        key = f"extract-{_unique()} {chain_id}"
        try:
            mounts = await snapshots.prepare(key, parent or None, labels=labels)
        except errors.NotFound:
            if parent and not await _exists(snapshots, parent):
                raise _ParentGone(parent) from None
            raise
        except errors.AlreadyExists:
            if await _exists(snapshots, chain_id):
                return False
            key = ""
            continue
        break
    if not key:
        raise errors.AlreadyExists(f"unable to prepare an extraction snapshot for {chain_id}")
    committed = False
    try:
        applied = await apply_layer(client, layer, mounts)
        if applied.digest != diff_id:
            raise errors.DataLoss(
                f"layer {layer.digest} unpacked to diff ID {applied.digest}, "
                f"but the image config says {diff_id}"
            )
        try:
            await snapshots.commit(chain_id, key, labels=labels)
        except errors.AlreadyExists:
            return False
        committed = True
        return True
    finally:
        if not committed:
            with contextlib.suppress(TimeoutError, errors.RPCError):
                await finish(Removal(lambda: snapshots.remove(key)), timeout=_CLEANUP_TIMEOUT)


class Images(Facade):
    """The image store of the client's namespace (``client.images``).

    Example:
        ```python
        for image in await client.images.list("name~=busybox"):
            print(image.name, image.target.digest)
        ```
    """

    async def list(self, *filters: str) -> builtins.list[Image]:
        """The images, optionally narrowed by `filters`, as ``ctr images ls`` takes them.

        `filters` mean what they mean for every ``list()``: several are ORed,
        the comma-separated selectors of one are ANDed (containerd's syntax, see
        `pycontainerd.events.filters`).
        Fields include ``name``, ``target.digest``, ``target.mediatype`` and
        ``labels.<key>``.

        Example:
            ```python
            await client.images.list('labels."env"==prod', "name~=^docker.io/")
            ```
        """
        reply = await self._caller.unary(_rpc.Images.List, ListImagesRequest(filters=list(filters)))
        return [Image._from_proto(self._client, i) for i in reply.images]

    async def get(self, name: str) -> Image:
        """The image `name`.

        Raises:
            pycontainerd.errors.NotFound: there is no such image.

        Example:
            ```python
            image = await client.images.get("docker.io/library/busybox:latest")
            ```
        """
        _check_name(name)
        reply = await self._caller.unary(_rpc.Images.Get, GetImageRequest(name=name))
        return Image._from_proto(self._client, reply.image)

    async def create(
        self,
        image: Image | str,
        target: Descriptor | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> Image:
        """Create an image record: from an `Image` (e.g. a renamed copy) or a name and a target.

        Raises:
            pycontainerd.errors.AlreadyExists: an image with that name exists.
            pycontainerd.errors.InvalidArgument: no target, or a bad name.

        Example:
            ```python
            copy = await client.images.create(attrs.evolve(image, name="example.com/copy:1"))
            other = await client.images.create("example.com/x:1", image.target, labels={"a": "b"})
            ```
        """
        if isinstance(image, Image):
            name = image.name
            target = target or image.target
            labels = image.labels if labels is None else labels
        else:
            name = image
        _check_name(name)
        labels = checked_labels(labels)
        if target is None:
            raise errors.InvalidArgument(f"image {shown(name)}: a target descriptor is required")
        reply = await self._caller.unary(
            _rpc.Images.Create,
            CreateImageRequest(image=_Image(name=name, labels=labels, target=target._to_proto())),
        )
        return Image._from_proto(self._client, reply.image)

    async def update(
        self,
        name: str,
        *,
        target: Descriptor | None = None,
        labels: Mapping[str, str | None] | None = None,
        replace_labels: bool = False,
    ) -> Image:
        """Point `name` at a new target and/or set labels (a ``None`` value removes that label).

        Only what is passed changes; labels not named keep their values,
        unless `replace_labels`.

        Args:
            name: the image.
            target: the descriptor it should point at.
            labels: the labels to set (``None``: remove that label).
            replace_labels: make `labels` the image's whole set of labels (the
                ``labels`` field path, as Go's ``Update(ctx, image,
                "labels")``): every label not named is removed, ``{}`` removes
                them all.

        Raises:
            pycontainerd.errors.NotFound: there is no such image.

        Example:
            ```python
            await client.images.update(image.name, labels={"pinned": "true", "old": None})
            await client.images.update(image.name, labels={"pinned": "true"}, replace_labels=True)
            ```
        """
        _check_name(name)
        if labels is not None:
            labels = label_changes(labels)
        paths = [
            *(["target"] if target is not None else []),
            *label_paths(labels or (), replace=replace_labels),
        ]
        if target is None:
            current = await self.get(name)
            if not paths:
                return current
            # containerd 1.7 and 2.x dereference the image's target even when the
            # mask leaves it alone: an image without one panics the daemon.
            target = current.target
        msg = _Image(name=name, target=target._to_proto())
        if labels is not None:
            msg.labels = {k: v for k, v in labels.items() if v is not None}
        reply = await self._caller.unary(
            _rpc.Images.Update,
            UpdateImageRequest(image=msg, update_mask=FieldMask(paths=paths)),
        )
        return Image._from_proto(self._client, reply.image)

    async def delete(
        self, name: str, *, sync: bool = False, target: Descriptor | None = None
    ) -> None:
        """Delete the image record `name`.

        Args:
            name: the image.
            sync: wait for the garbage collector to remove what only this
                image kept (content, snapshots) before returning.
            target: delete it only if it still points at this descriptor's
                digest. containerd 2.0 and newer check it as they delete;
                with older daemons, which ignore the field, the SDK checks
                first (so a change in between goes unseen).

        Raises:
            pycontainerd.errors.NotFound: there is no such image, or its
                target is not `target`.

        Example:
            ```python
            await client.images.delete("docker.io/library/busybox:latest", sync=True)
            # only if nobody re-tagged it meanwhile
            await client.images.delete(image.name, target=image.target)
            ```
        """
        _check_name(name)
        request = DeleteImageRequest(name=name, sync=sync)
        if target is not None:
            if await self._client._release() >= (2, 0):
                request.target = target._to_proto()
            elif (current := await self.get(name)).target.digest != target.digest:
                raise errors.NotFound(
                    f"image {name!r} has target {current.target.digest}, not {target.digest}"
                )
        await self._caller.unary(_rpc.Images.Delete, request)

    async def _put(self, name: str, target: Descriptor) -> Image:
        """Point `name` at `target`, creating the record if needed (as containerd's import does)."""
        try:
            return await self.update(name, target=target)
        except errors.NotFound:
            pass
        try:
            return await self.create(name, target)
        except errors.AlreadyExists:
            return await self.update(name, target=target)

    async def create_from_directory(
        self,
        name: str,
        path: str | os.PathLike[str],
        *,
        config: ImageConfig | None = None,
        platform: PlatformLike = None,
        labels: Mapping[str, str] | None = None,
    ) -> Image:
        """Pack a local directory into a single-layer image named `name`.

        The layer is a gzip tar built deterministically (sorted entries, fixed
        mtimes, numeric ownership and permission bits kept, symlinks and hard
        links preserved): the same tree always gives the same digests. The
        image config is `config` (entrypoint, cmd, env, ...) with its
        platform and diff IDs filled in; the manifest is an OCI manifest. An
        existing image of that name is re-pointed at the new manifest.
        Nothing is unpacked: call `Image.unpack`.

        Args:
            name: the image name, e.g. ``"example.com/tools:1"``.
            path: the directory to pack (read as it is on disk: run as root
                to read every file).
            config: how to run the image; its ``diff_ids`` are replaced.
            platform: the image's platform (default: `config`'s if set, else the host's).
            labels: labels for the image record.

        Raises:
            NotADirectoryError: `path` is not a directory.
            PermissionError: a file in the tree cannot be read.

        Example:
            ```python
            image = await client.images.create_from_directory(
                "example.com/hello:1", "./rootfs",
                config=ImageConfig(entrypoint=("/bin/hello",), env=("PATH=/bin",)),
            )
            await image.unpack()
            ```
        """
        _check_name(name)
        labels = checked_labels(labels)
        config = config or ImageConfig()
        if platform is not None:
            p = Platform.parse(platform) if isinstance(platform, str) else platform
        elif config.architecture:
            p = Platform(
                os=config.os or "linux", architecture=config.architecture, variant=config.variant
            )
        else:
            p = Platform.host()
        with tempfile.TemporaryFile(prefix="pycontainerd-layer-") as tmp:
            packed = await anyio.to_thread.run_sync(pack_directory, path, tmp)
            await anyio.to_thread.run_sync(tmp.seek, 0)
            config = attrs.evolve(
                config,
                os=p.os,
                architecture=p.architecture,
                variant=p.variant,
                diff_ids=(packed.diff_id,),
            )
            layer = Descriptor(
                media_type=_oci.OCI_LAYER_GZIP, digest=packed.digest, size=packed.size
            )
            async with self._client.leases.lease(expires_in=_LEASE_EXPIRY) as leased:
                await leased.content.write(
                    f"layer-{packed.digest}",
                    _file_chunks(tmp),
                    expected=packed.digest,
                    total=packed.size,
                )
                image = await _store_image(leased, name, config, [layer], labels)
        return attrs.evolve(image, _client=self._client)

    async def import_archive(
        self,
        source: str | os.PathLike[str] | bytes | AsyncIterable[bytes],
        *,
        unpack: bool = False,
        platform: PlatformLike = None,
        all_platforms: bool = False,
        base_name: str | None = None,
        digests: bool = False,
        index_name: str | None = None,
        snapshotter: str | None = None,
    ) -> builtins.list[Image]:
        """Import the images of an OCI image-layout tar or a ``docker save`` tar.

        The archive is read as a stream (from a path, bytes or an async byte
        iterator; plain or gzip-compressed; layers gzip or plain): every blob
        goes straight into the content store, nothing is extracted to disk,
        and memory stays bounded whatever the size. Each blob named by digest
        is checked against its name. Everything happens under a lease; if
        the import fails or is cancelled, images it created are deleted and
        the lease goes with the content, so nothing half-made is left.

        As ``ctr images import``: images are named after the index's
        ``io.containerd.image.name`` annotation, else its
        ``org.opencontainers.image.ref.name`` (a bare tag gets `base_name`
        prefixed, by default ``import-<yyyy-mm-dd>``; with `base_name`, full
        names outside it are skipped). Existing images of those names are
        re-pointed. Content is kept for the matching platforms only.

        Args:
            source: the archive.
            unpack: unpack each imported image into `snapshotter`.
            platform: keep (and unpack) this platform only (default: the host's
                and what it can run).
            all_platforms: keep the content of every platform.
            base_name: prefix for bare tags; also filters full names.
            digests: also create ``<base_name>@<digest>`` images.
            index_name: also keep the archive's index as an image of that name.
            snapshotter: where to unpack (default: the namespace's default, else overlayfs).

        Returns:
            The images created or updated, in archive order.

        Raises:
            pycontainerd.errors.InvalidArchive: the archive is malformed or
                hostile (absolute or ``..`` paths, links leaving the archive,
                JSON over 20 MiB, a blob that does not match its digest).
            pycontainerd.errors.NotFound: no image in the archive matches the platform.

        Example:
            ```python
            images = await client.images.import_archive("busybox.tar", unpack=True)
            print([image.name for image in images])
            ```
        """
        from ._archive import import_archive

        return await import_archive(
            self._client,
            source,
            unpack=unpack,
            platform=platform,
            all_platforms=all_platforms,
            base_name=base_name,
            digests=digests,
            index_name=index_name,
            snapshotter=snapshotter,
        )

    async def export_archive(
        self,
        dest: str | os.PathLike[str] | Any,
        images: Sequence[Image | str],
        *,
        platform: PlatformLike = None,
        all_platforms: bool = False,
        docker_manifest: bool = True,
    ) -> None:
        """Write `images` as an OCI image-layout tar (importable by ``ctr`` and ``docker load``).

        Blobs are streamed from the content store into the tar, entries sorted
        by name, as ``ctr images export`` writes them: ``oci-layout``,
        ``index.json`` (one entry per image, annotated with its name), the
        blobs, and a Docker-compatible ``manifest.json``.

        Args:
            dest: a file path (removed again if the export fails), or an object
                with an async ``send(bytes)`` such as an anyio byte stream.
            images: images or image names.
            platform: for indexes, the platform to export (default: the host's, strictly).
            all_platforms: export every platform's manifests of indexes.
            docker_manifest: write ``manifest.json`` for ``docker load``.

        Raises:
            pycontainerd.errors.NotFound: an image or a blob is missing, or an
                index has no manifest for the platform.

        Example:
            ```python
            await client.images.export_archive("busybox.tar", ["docker.io/library/busybox:latest"])
            ```
        """
        from ._archive import export_archive

        await export_archive(
            self._client,
            dest,
            images,
            platform=platform,
            all_platforms=all_platforms,
            docker_manifest=docker_manifest,
        )


async def _file_chunks(f: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := await anyio.to_thread.run_sync(f.read, _CHUNK):
        yield chunk


async def write_json_blob(client: Client, media_type: str, data: bytes) -> Descriptor:
    """Write a small JSON document as a blob; return its descriptor."""
    digest = _oci.sha256(data)
    await client.content.write(f"{media_type.rsplit('.', 1)[-1]}-{digest}", data, expected=digest)
    return Descriptor(media_type=media_type, digest=digest, size=len(data))


async def _store_image(
    client: Client,
    name: str,
    config: ImageConfig,
    layers: Sequence[Descriptor],
    labels: Mapping[str, str] | None,
) -> Image:
    """Write config and manifest (with GC labels) and point the image `name` at the manifest."""
    config_desc = await write_json_blob(client, _oci.OCI_CONFIG, config.to_json())
    manifest = await write_json_blob(
        client, _oci.OCI_MANIFEST, _oci.manifest_json(config_desc, layers)
    )
    await client.content.update(
        manifest.digest, labels=_oci.child_gc_labels([config_desc, *layers])
    )
    image = await client.images._put(name, manifest)
    if labels:
        image = await client.images.update(name, labels=dict(labels))
    return image


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name or name != name.strip() or "\x00" in name:
        raise errors.InvalidArgument(f"invalid image name {shown(name)}")
