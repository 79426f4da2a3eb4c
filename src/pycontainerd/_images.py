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
from ._snapshots import DEFAULT_SNAPSHOTTER, Snapshots, Usage

if TYPE_CHECKING:
    from ._client import Client
    from ._image_mount import ImageMount

__all__ = ["Image", "ImageCheck", "ImageUsage", "Images", "Manifest"]

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


def _cache_key(platform: PlatformLike) -> Platform | None:
    """`platform` parsed, as a handle's cache of what it resolved is keyed.

    Raises:
        pycontainerd.errors.InvalidArgument: `platform` is not a platform.
    """
    return None if platform is None else _oci.parse_platform(platform)


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
            pycontainerd.errors.InvalidArgument: `platform` is not a platform.

        Example:
            ```python
            m = await image.manifest("linux/arm64")
            print(m.config.digest, [layer.size for layer in m.layers])
            ```
        """
        platform = _cache_key(platform)
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
        platform = _cache_key(platform)
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
        platform = _cache_key(platform)
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

    # --- usage, content check, host mount ----------------------------------------------

    async def usage(
        self,
        platform: PlatformLike = None,
        *,
        all_platforms: bool = False,
        declared: bool = False,
        snapshots: bool = False,
        snapshotter: str | None = None,
    ) -> ImageUsage:
        """What the image takes up: its blobs in the content store, and its unpacked snapshots.

        As the Go client's ``Image.Usage``: each blob counts the size the
        store has for it (a blob not in the store counts nothing), or with
        `declared` the size its descriptor declares (``WithManifestUsage``).
        By default the blobs are those of the manifest for `platform`, as
        `size` walks them (``WithUsageManifestLimit(1)``), which must be in
        the store; with `all_platforms`, those of every manifest of the
        image that is in the store (what Go walks by default), each blob
        once.

        With `snapshots` (``WithSnapshotUsage``), the usage of the image's
        unpacked snapshots in `snapshotter` is added, one per layer, top
        first, as ``ctr images usage`` lists them: the whole chain, where Go
        counts the snapshot its config's ``containerd.io/gc.ref.snapshot.*``
        label names, the top layer's alone. A layer not unpacked is left
        out.

        Args:
            platform: the platform whose manifest counts (default: the host's).
            all_platforms: count every manifest in the store instead.
            declared: count the sizes the descriptors declare.
            snapshots: add the unpacked snapshots' usage.
            snapshotter: where to look for them (default: the namespace's
                default, else overlayfs).

        Raises:
            pycontainerd.errors.NotFound: no manifest matches `platform`, or
                its manifest or an index on the way is missing.
            pycontainerd.errors.InvalidArgument: `snapshotter` without
                `snapshots`, `platform` with `all_platforms`, or a `platform`
                that is not a platform.

        Example:
            ```python
            usage = await image.usage(snapshots=True)
            print(usage.content, usage.total)
            for chain_id, used in usage.snapshots.items():
                print(chain_id, used.size, used.inodes)
            ```
        """
        if snapshotter is not None and not snapshots:
            raise errors.InvalidArgument(
                f"snapshotter {shown(snapshotter)} given without snapshots=True"
            )
        _oci.refuse_platform_with_all(platform, all_platforms)
        if all_platforms:
            blobs, configs = await _every_blob(self._client, self.target)
        else:
            manifest = await self.manifest(platform)
            blobs = [self.target, manifest.descriptor, manifest.config, *manifest.layers]
            configs = [manifest.config]
        content = 0
        for desc in {desc.digest: desc for desc in blobs}.values():
            content += await _blob_size(self._client, desc, declared)
        if not snapshots:
            return ImageUsage(content=content)
        name = await snapshotter_name(self._client, snapshotter)
        found = await _chain_usage(self._client.snapshots(name), configs)
        return ImageUsage(content=content, snapshotter=name, snapshots=found)

    async def check(self, platform: PlatformLike = None) -> ImageCheck:
        """Whether the image's content for `platform` is all in the content store.

        As containerd's ``images.Check`` (behind ``ctr images check``): the
        manifest for `platform` (default: the host's) is resolved afresh
        from the store; its config and layers are required, each present or
        missing. When the manifest (or an index on the way) cannot be read,
        the image is unavailable: the target is then both required and
        missing, and nothing is known of the rest.

        Example:
            ```python
            check = await image.check()
            if not check.complete:
                print("missing:", [blob.digest for blob in check.missing])
            ```
        """
        try:
            manifest = await resolve_manifest(self._client, self.target, _oci.matcher_for(platform))
        except errors.NotFound:
            return ImageCheck(available=False, required=(self.target,), missing=(self.target,))
        required = (manifest.config, *manifest.layers)
        present, missing = [], []
        for desc in required:
            try:
                await self._client.content.info(desc.digest)
            except errors.NotFound:
                missing.append(desc)
            else:
                present.append(desc)
        return ImageCheck(
            available=True, required=required, present=tuple(present), missing=tuple(missing)
        )

    async def mount(
        self,
        target: str | os.PathLike[str],
        *,
        rw: bool = False,
        snapshotter: str | None = None,
        platform: PlatformLike = None,
    ) -> ImageMount:
        """Mount the image's root filesystem on the host directory `target`, as ``ctr images mount``.

        The image is unpacked into `snapshotter` if it is not yet; a snapshot
        of it keyed by `target`'s absolute path (a read-only view, or with
        `rw` a writable snapshot) is mounted there with the host's
        ``mount(2)``, and a lease of that id holds it. The lease does not
        expire (``ctr``'s does after 24 hours): a host mount lasts until it
        is unmounted, and its snapshot must last as long. `Images.unmount`
        undoes it all, and so does ``ctr images unmount --rm``. A writable
        snapshot left by an unmount without removal is mounted again, with
        its changes.

        This runs on the daemon's host, as root. A failure or a cancellation
        leaves no mount, snapshot or lease behind.

        Args:
            target: an existing directory, not yet a mount point.
            rw: mount a writable snapshot.
            snapshotter: where to unpack (default: the namespace's default, else overlayfs).
            platform: the platform to mount (default: the host's).

        Raises:
            pycontainerd.errors.InvalidArgument: `target` is not a directory,
                or `platform` is not a platform.
            pycontainerd.errors.Unimplemented: the snapshot's mounts need what
                containerd mounts with a helper or a loop device (FUSE, ``loop``,
                id-mapped mounts).
            pycontainerd.errors.AlreadyExists: `target` is a mount point, or a
                snapshot of that key exists that is not this image's.
            pycontainerd.errors.PermissionDenied: not root.

        Example:
            ```python
            mounted = await image.mount("/mnt/busybox")
            try:
                print(os.listdir(f"{mounted.target}/bin")[:5])
            finally:
                await client.images.unmount(mounted.target)
            ```
        """
        from ._image_mount import mount_image

        return await mount_image(self, target, rw=rw, snapshotter=snapshotter, platform=platform)


def _usages(values: Mapping[str, Usage]) -> Mapping[str, Usage]:
    return dict(values)


@attrs.frozen(kw_only=True)
class ImageUsage:
    """What an image takes up, from `Image.usage`.

    Attributes:
        content: bytes of the image's blobs in the content store.
        snapshotter: where the snapshots were looked for (``None``: they were not).
        snapshots: the usage of each unpacked snapshot of the image, by
            chain ID, top layer first (each counts its own layer only).

    Example:
        ```python
        usage = await image.usage(snapshots=True)
        print(f"{usage.content} bytes packed, {usage.total} in all")
        ```
    """

    content: int
    snapshotter: str | None = None
    snapshots: Mapping[str, Usage] = attrs.field(factory=dict, converter=_usages)

    @property
    def total(self) -> int:
        """Bytes of the blobs and of the snapshots together."""
        return self.content + sum(used.size for used in self.snapshots.values())


@attrs.frozen(kw_only=True)
class ImageCheck:
    """Which of an image's blobs are in the content store, from `Image.check`.

    Attributes:
        available: whether the manifest could be resolved (``False``: the
            target, or a manifest it leads to, is missing).
        required: the blobs the image needs: its config and layers (only
            the target when it is not available).
        present: the required blobs in the store.
        missing: the required blobs not in the store.

    Example:
        ```python
        check = await image.check()
        print(check.complete, f"{len(check.present)}/{len(check.required)}")
        ```
    """

    available: bool
    required: tuple[Descriptor, ...] = ()
    present: tuple[Descriptor, ...] = ()
    missing: tuple[Descriptor, ...] = ()

    @property
    def complete(self) -> bool:
        """Whether the image is available and nothing it requires is missing."""
        return self.available and not self.missing


async def _blob_size(client: Client, desc: Descriptor, declared: bool) -> int:
    """A blob's share of `Image.usage`: as the store has it (0 when missing), or as declared."""
    if declared:
        return max(desc.size, 0)
    try:
        info = await client.content.info(desc.digest)
    except errors.NotFound:
        return 0
    return max(info.size, desc.size)  # a descriptor's size may be unset


async def _every_blob(
    client: Client, target: Descriptor
) -> tuple[builtins.list[Descriptor], builtins.list[Descriptor]]:
    """The blobs under `target` in the store, and the configs among them (missing parts skipped)."""
    blobs: list[Descriptor] = []
    configs: list[Descriptor] = []

    async def walk(desc: Descriptor) -> None:
        blobs.append(desc)
        if not (_oci.is_index(desc.media_type) or _oci.is_manifest(desc.media_type)):
            return
        try:
            data = await read_json_blob(client, desc, "manifest")
        except errors.NotFound:
            return  # not in the store: neither are its children, as far as we know
        what = f"manifest {desc.digest}"
        try:
            if _oci.is_index(desc.media_type):
                entries, _ = _oci.parse_index(data, desc.media_type, what)
                children = [entry.descriptor for entry in entries]
            else:
                config, layers, _ = _oci.parse_manifest(data, desc.media_type, what)
                configs.append(config)
                children = [config, *layers]
        except ValueError as exc:
            raise _json_error(exc) from None
        for child in children:
            await walk(child)

    await walk(target)
    return blobs, configs


async def _chain_usage(snapshots: Snapshots, configs: Sequence[Descriptor]) -> dict[str, Usage]:
    """The usage of every unpacked snapshot of the chains `configs` describe, top first."""
    found: dict[str, Usage] = {}
    for config in configs:
        try:
            data = await read_json_blob(snapshots._client, config, "image config")
        except errors.NotFound:
            continue  # a platform whose content is not here is not unpacked either
        try:
            diff_ids = ImageConfig.from_json(data).diff_ids
        except ValueError as exc:
            raise _json_error(exc) from None
        chain = [_oci.chain_id(diff_ids[: i + 1]) for i in range(len(diff_ids))]
        for key in reversed(chain):
            if key not in found:
                with contextlib.suppress(errors.NotFound):
                    found[key] = await snapshots.usage(key)
    return found


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

    async def _put(
        self, name: str, target: Descriptor, labels: Mapping[str, str] | None = None
    ) -> Image:
        """Point `name` at `target`, creating the record if needed (as containerd's import does).

        With `labels`, they become the record's whole set of labels.
        """
        replace = labels is not None
        try:
            return await self.update(name, target=target, labels=labels, replace_labels=replace)
        except errors.NotFound:
            pass
        try:
            return await self.create(name, target, labels=labels)
        except errors.AlreadyExists:
            return await self.update(name, target=target, labels=labels, replace_labels=replace)

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
            p = _oci.parse_platform(platform)
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
        ref_prefix: str | None = None,
        skip_digest_for_named: bool = False,
        labels: Mapping[str, str] | None = None,
        skip_missing: bool = False,
        compress_blobs: bool = False,
        discard_unpacked_layers: bool = False,
    ) -> builtins.list[Image]:
        """Import the images of an OCI image-layout tar or a ``docker save`` tar.

        The archive is read as a stream (from a path, bytes or an async byte
        iterator; plain or gzip-compressed; layers gzip or plain): every blob
        goes straight into the content store, nothing is extracted to disk,
        and memory stays bounded whatever the size. Each blob named by digest
        is checked against its name. Everything happens under a lease; if
        the import fails or is cancelled, images it created are deleted and
        the lease goes with the content, so nothing half-made is left.

        As ``ctr images import --local``: images are named after the index's
        ``io.containerd.image.name`` annotation, else its
        ``org.opencontainers.image.ref.name``, which a prefix translates as
        containerd's ``archive`` package does: a bare tag (``v1``) gets the
        prefix (``<prefix>:v1``), by default ``import-<yyyy-mm-dd>``; a full
        reference stays as it is (``AddRefPrefix``), or, with `base_name`,
        gives no image unless it is under `base_name` (``FilterRefPrefix``).
        The ``io.containerd.image.name`` names are taken as they are. Existing
        images of those names are re-pointed. Content is kept for the
        matching platforms only.

        Args:
            source: the archive.
            unpack: unpack each imported image into `snapshotter`.
            platform: keep (and unpack) this platform only (default: the host's
                and what it can run).
            all_platforms: keep the content of every platform.
            base_name: ``ctr``'s ``--base-name``: the prefix for bare tags, and
                only the full references under it are imported.
            digests: also create ``<prefix>@<digest>`` images.
            index_name: also keep the archive's index as an image of that name.
            snapshotter: where to unpack (default: the namespace's default, else overlayfs).
            ref_prefix: the prefix for bare tags, full references kept (Go's
                ``WithImageRefTranslator(archive.AddRefPrefix(...))``); not
                with `base_name`.
            skip_digest_for_named: with `digests`, no digest image for the
                manifests that got a name (``--skip-digest-for-named``).
            labels: the labels of every imported image (its whole set: an
                existing image's other labels go), as ``--label``.
            skip_missing: pass over indexes and manifests the archive lacks
                (and that the store lacks), and accept images whose config or
                layers are missing (Go's ``WithSkipMissing``): an archive of
                some platforms of a multi-platform image, say.
            compress_blobs: store the plain layers of a ``docker save`` archive
                gzip-compressed, labelled with their diff ID
                (``--compress-blobs``). OCI archives carry their manifests and
                are imported as they are.
            discard_unpacked_layers: let the garbage collector remove the
                layer blobs once unpacked (the manifests get no GC reference
                to them; ``--discard-unpacked-layers``). Needs `unpack`.

        Returns:
            The images created or updated, in archive order.

        Raises:
            pycontainerd.errors.InvalidArchive: the archive is malformed or
                hostile (absolute or ``..`` paths, links leaving the archive,
                JSON over 20 MiB, a blob that does not match its digest), or
                incomplete (without `skip_missing`).
            pycontainerd.errors.InvalidArgument: options that do not go
                together (`base_name` and `ref_prefix`, `discard_unpacked_layers`
                without `unpack`, `skip_digest_for_named` without `digests`).
            pycontainerd.errors.NotFound: no image in the archive matches the platform.

        Example:
            ```python
            images = await client.images.import_archive("busybox.tar", unpack=True)
            print([image.name for image in images])
            await client.images.import_archive(
                "app.tar", unpack=True, discard_unpacked_layers=True,
                base_name="example.com/app", labels={"team": "web"},
            )
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
            ref_prefix=ref_prefix,
            skip_digest_for_named=skip_digest_for_named,
            labels=labels,
            skip_missing=skip_missing,
            compress_blobs=compress_blobs,
            discard_unpacked_layers=discard_unpacked_layers,
        )

    async def export_archive(
        self,
        dest: str | os.PathLike[str] | Any,
        images: Sequence[Image | str],
        *,
        platform: PlatformLike | Sequence[Platform | str] = None,
        all_platforms: bool = False,
        docker_manifest: bool = True,
        skip_non_distributable: bool = False,
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
            platform: for indexes, the platform to export, or several (as
                ``ctr``'s repeated ``--platform``: exact matches, the first
                preferred; default: the host's, strictly).
            all_platforms: export every platform's manifests of indexes.
            docker_manifest: write ``manifest.json`` for ``docker load``.
            skip_non_distributable: leave out non-distributable layers (Docker's
                ``foreign`` and OCI's ``nondistributable`` media types, such as
                Windows base layers), which need not be in the content store
                (``--skip-non-distributable``). The manifests still name them.

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
            skip_non_distributable=skip_non_distributable,
        )

    async def convert(
        self,
        source: Image | str,
        name: str,
        *,
        oci: bool = False,
        uncompress: bool = False,
        platform: PlatformLike | Sequence[Platform | str] = None,
        all_platforms: bool = False,
    ) -> Image:
        """Convert the image `source` into the image `name`, as ``ctr images convert`` does.

        containerd's ``converter.Convert`` with its default index converter:
        the index, manifests and layers are walked, and whatever changes is
        written anew, so a manifest that changes gets a new digest and so
        does every index above it; blobs that do not change are shared with
        the source. Each new blob keeps the labels of the one it replaces
        (such as its distribution source) and gets the
        ``containerd.io/gc.ref.content.*`` labels of its children. Everything
        is written under a lease, then the image record `name` is created,
        or re-pointed (with the source's labels) if it exists; `name` may be
        `source`'s own name, to convert it in place. If the conversion fails
        or is cancelled, the record is put back as it was and what was
        written is collected.

        Args:
            source: the image to convert (left unchanged).
            name: the converted image's name.
            oci: give Docker media types their OCI equivalents (manifest
                list to index, manifest, config, layers). Without it, Docker
                manifests lose their annotations, which Docker's format lacks.
            uncompress: store gzip layers uncompressed (a plain tar, whose
                digest is the layer's diff ID) and point the manifest at them.
                The compressed layer gets the ``containerd.io/uncompressed``
                label. zstd layers are refused (the standard library cannot
                read them).
            platform: keep only the manifests of this platform, or of these
                platforms, in each index (exact matches, as ``ctr``'s
                ``--platform``; default: the host's platform). Manifests
                without a platform are kept.
            all_platforms: keep every manifest; each must then be in the
                content store.

        Returns:
            The image `name`.

        Raises:
            pycontainerd.errors.NotFound: `source`, or a manifest, config or
                (with `uncompress`) layer is missing, or an index has no
                manifest for the platform.
            pycontainerd.errors.Unimplemented: `uncompress` met a zstd layer.
            pycontainerd.errors.DataLoss: a gzip layer is corrupt.
            pycontainerd.errors.InvalidArgument: `name` is not a valid image
                name, a `platform` is not a platform, or `platform` is given
                with `all_platforms`.

        Example:
            ```python
            image = await client.images.convert(
                "docker.io/library/busybox:latest", "example.com/busybox:oci",
                oci=True, uncompress=True,
            )
            manifest = await image.manifest()
            print(image.target.media_type, [layer.media_type for layer in manifest.layers])
            ```
        """
        from ._image_convert import convert_image

        return await convert_image(
            self._client,
            source,
            name,
            oci=oci,
            uncompress=uncompress,
            platform=platform,
            all_platforms=all_platforms,
        )

    async def unmount(
        self,
        target: str | os.PathLike[str],
        *,
        remove: bool = True,
        snapshotter: str | None = None,
    ) -> None:
        """Unmount what is mounted on `target`; then remove its snapshot and lease, as ``ctr images unmount --rm``.

        Every mount stacked on `target` is unmounted (none is fine). With
        `remove` (the default), the snapshot keyed by `target`'s absolute
        path and the lease of that id go too, whether `Image.mount` or
        ``ctr images mount`` made them; ``remove=False`` keeps them, so that
        a writable snapshot can be mounted again with its changes.

        Args:
            target: the directory an image is mounted on.
            remove: remove the snapshot and the lease.
            snapshotter: the snapshot's snapshotter (default: the one the
                mount's lease names, else the namespace's default, else overlayfs).

        Raises:
            pycontainerd.errors.FailedPrecondition: the mount is busy (a
                process uses it) for 2.5 s of tries, as containerd's are;
                nothing is removed then.
            pycontainerd.errors.PermissionDenied: not root.

        Example:
            ```python
            await client.images.unmount("/mnt/busybox")
            ```
        """
        from ._image_mount import unmount_image

        await unmount_image(self._client, target, remove=remove, snapshotter=snapshotter)


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
