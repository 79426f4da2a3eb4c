"""``client.pull``: fetch an image from a registry into the content store, unpack, name it.

The flow follows containerd's Go client (``Client.Pull``): resolve the
reference, walk index -> manifest -> config and layers (one manifest, the
best match for the platform), stream blobs into the content store under one
lease, label parents with ``containerd.io/gc.ref.content.*`` and every blob
with ``containerd.io/distribution.source.<host>``, unpack, then create (or
update) the image record. Only then is the lease released: a failed or
cancelled pull leaves no image record, and what it committed is collected.
Partial blobs stay as ingests (with containerd's 24-hour expiry for
unleased ingests) so the next pull resumes them.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final

import anyio
import attrs

from .. import _identifiers, _oci, errors
from .._descriptors import Descriptor
from .._images import Image, snapshotter_name, unpack_layers
from .._platforms import Platform
from .._shield import Removal, finish
from ._auth import AuthLike
from ._errors import DigestError, NotFoundError, PlatformNotFoundError, UnsupportedMediaTypeError
from ._hosts import Headers, Hosts, header_pairs
from ._http import TLSConfig
from ._ingest import abort_ingest, open_ingest, prime_ingest
from ._media import append_source, distribution_source, label_fits
from ._progress import BlobState, ProgressCallback, report
from ._reference import Reference
from ._remote import Remote, checked_descriptor, hosts_for
from ._tasks import task_group

if TYPE_CHECKING:
    from .._client import Client
    from .._content import ContentWriter

__all__ = ["fetch", "pull"]

_LEASE_EXPIRY: Final = 24 * 3600.0
_CLEANUP_TIMEOUT: Final = 10.0
# While unpacking, layer downloads start bottom-up (see `_Turns`): a layer
# starts when at most _LOOKAHEAD bytes remain to download below it, or when
# the lowest download made no progress for _STALL seconds.
_STALL: Final = 0.1
_LOOKAHEAD: Final = 8 << 20


def _ref_key(desc: Descriptor) -> str:
    """The ingest ref containerd's Go client uses for a blob (``remotes.MakeRefKey``)."""
    mt = desc.media_type
    if _oci.is_manifest(mt):
        kind = "manifest"
    elif _oci.is_index(mt):
        kind = "index"
    elif _oci.is_layer(mt):
        kind = "layer"
    elif _oci.is_config(mt):
        kind = "config"
    else:
        kind = "unknown"
    return f"{kind}-{desc.digest}"


class _Turns:
    """When each layer download may start while unpacking: bottom-up, a little ahead.

    The unpacker applies layers bottom-up, each as soon as it is stored. When
    the layers share what limits the pull (the client's or the daemon's CPU,
    as with a registry on the same host), downloading them side by side
    stores the bottom layer late and leaves most of the unpacking for after
    the last byte arrived. So a layer starts once at most `_LOOKAHEAD` bytes
    remain to download below it (small layers go side by side; a large one
    is followed closely by the next, which has its ingest and request ready
    as it ends), or once the lowest download made no progress for `_STALL`
    (a slow connection: more of them help). Waiting layers queue in order;
    ``max_concurrent_downloads`` bounds the downloads as before, and a
    download, once started, is never held back.
    """

    def __init__(
        self,
        layers: Sequence[Descriptor],
        stored: Mapping[str, anyio.Event],
        *,
        lookahead: int = _LOOKAHEAD,
        stall: float = _STALL,
    ) -> None:
        unique = {d.digest: d.size for d in layers}  # first occurrence, in order
        self._order = list(unique)
        self._size = unique
        self._stored = stored
        self._fetched = dict.fromkeys(unique, 0)
        self._started = {digest: anyio.Event() for digest in unique}
        self._lookahead = lookahead
        self._stall = stall
        self._moved = anyio.Event()

    def _head(self) -> str | None:
        for digest in self._order:
            if not self._stored[digest].is_set():
                return digest
        return None

    def pending_below(self, digest: str) -> int:
        """Bytes still to download for the layers below `digest`."""
        index = self._order.index(digest)
        return sum(
            self._size[d] - self._fetched[d]
            for d in self._order[:index]
            if not self._stored[d].is_set()
        )

    def moved(self, digest: str, fetched: int | None = None) -> None:
        """Record that the download of `digest` holds `fetched` bytes (``None``: it ended)."""
        if digest not in self._fetched:
            return
        if fetched is not None:
            self._fetched[digest] = fetched
            if digest != self._head():
                return  # only the lowest download's pace matters to the waiting ones
        self._moved.set()
        self._moved = anyio.Event()

    async def wait(self, digest: str) -> None:
        """Wait for layer `digest`'s turn (other blobs, such as the config, never wait)."""
        if digest not in self._started:
            return
        try:
            index = self._order.index(digest)
            if index:
                await self._started[self._order[index - 1]].wait()  # queue in order
            while self.pending_below(digest) > self._lookahead:
                moved = self._moved
                with anyio.move_on_after(self._stall) as scope:
                    await moved.wait()
                if scope.cancelled_caught:
                    return  # the lowest download stalled
        finally:
            self._started[digest].set()


@attrs.define
class _Parent:
    descriptor: Descriptor
    data: bytes
    gc_labels: dict[str, str]


class _Puller:
    def __init__(
        self,
        client: Client,
        leased: Client,
        repo: Remote,
        matcher: _oci.PlatformMatcher,
        progress: ProgressCallback | None,
        limit: int,
        *,
        manifests: int | None = 1,
        all_metadata: bool = False,
        blob_labels: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.leased = leased
        self.repo = repo
        self.matcher = matcher
        # How many of an index's matching manifests to fetch (best first;
        # None: all), and whether the others' manifests and configs come too.
        self.manifests = manifests
        self.all_metadata = all_metadata
        self.blob_labels = dict(blob_labels or {})
        self.progress = progress
        self.limiter = anyio.CapacityLimiter(limit)
        self.source_key = distribution_source(repo.ref.domain)
        self.source_repo = repo.ref.path
        # Set when a blob fails its digest: the blobs cancelled because of it
        # abort their ingests (a failed pull leaves none; an interrupted one
        # keeps them for the next pull to resume).
        self.bad_data = False
        self.turns: _Turns | None = None

    async def fetch(
        self,
        root: Descriptor,
        snapshotter: str | None,
        snapshot_labels: Mapping[str, str] | None = None,
    ) -> None:
        """Fetch everything `root` needs for its platforms; parents are stored after the blobs.

        With a `snapshotter`, layers are unpacked while later ones still
        download (as containerd's unpacker does): each is applied as soon as
        it and the layers below it are in the content store, and layers
        start downloading bottom-up (see `_Turns`).
        """
        parents: list[_Parent] = []
        blobs: list[Descriptor] = []
        await self._walk(root, parents, blobs)
        unique = list({b.digest: b for b in blobs}.values())
        stored = {b.digest: anyio.Event() for b in unique}
        for blob in unique:
            await report(self.progress, blob, 0, BlobState.WAITING)
        if snapshotter is not None:
            self.turns = _Turns(blobs[1:], stored)  # the layers, bottom-up
        async with task_group() as tg:
            for blob in unique:
                tg.start_soon(self._blob, blob, stored[blob.digest])
            if snapshotter is not None:
                config, *layers = blobs  # the selected manifest's config, then its layers

                async def fetched(blob: Descriptor) -> None:
                    await stored[blob.digest].wait()

                tg.start_soon(
                    functools.partial(
                        unpack_layers,
                        self.leased,
                        snapshotter,
                        config,
                        layers,
                        what=str(self.repo.ref),
                        fetched=fetched,
                        snapshot_labels=snapshot_labels,
                    )
                )
            tg.start_soon(self._store_parents, parents, list(stored.values()))

    async def _store_parents(self, parents: list[_Parent], stored: list[anyio.Event]) -> None:
        """Store the manifest (and index) once every blob is, while the last layers unpack.

        A pull that fails after this (in the unpacking) still leaves nothing:
        its lease goes, and the garbage collector with it takes these too.
        """
        for event in stored:
            await event.wait()
        for parent in reversed(parents):  # manifest before the index pointing at it
            await self._store_parent(parent)

    async def _walk(
        self,
        desc: Descriptor,
        parents: list[_Parent],
        blobs: list[Descriptor],
        *,
        metadata_only: bool = False,
    ) -> None:
        where = f"{self.repo.ref.name}@{desc.digest}"
        if not (_oci.is_index(desc.media_type) or _oci.is_manifest(desc.media_type)):
            raise UnsupportedMediaTypeError(
                f"{where}: cannot pull media type {desc.media_type!r} (not a manifest or index)"
            )
        await report(self.progress, desc, 0, BlobState.DOWNLOADING)
        data = await self.repo.fetch_manifest(desc)
        try:
            if _oci.is_index(desc.media_type):
                entries, _ = _oci.parse_index(data, desc.media_type, f"index {where}")
                parents.append(
                    _Parent(desc, data, _oci.child_gc_labels([e.descriptor for e in entries]))
                )
                candidates = [
                    e
                    for e in entries
                    if (e.platform is None or self.matcher.match(e.platform))
                    and (
                        _oci.is_manifest(e.descriptor.media_type)
                        or _oci.is_index(e.descriptor.media_type)
                    )
                ]
                if not candidates and not (metadata_only or self.all_metadata):
                    offered = sorted({str(e.platform) for e in entries if e.platform is not None})
                    raise PlatformNotFoundError(
                        f"{where} has no manifest for {self.matcher} "
                        f"(it offers: {', '.join(offered) or 'none'})"
                    )
                chosen = [] if metadata_only else self.matcher.sort(candidates)[: self.manifests]
                for entry in chosen:
                    await self._walk(entry.descriptor, parents, blobs)
                if self.all_metadata or metadata_only:
                    for entry in entries:
                        child = entry.descriptor
                        if entry not in chosen and (
                            _oci.is_manifest(child.media_type) or _oci.is_index(child.media_type)
                        ):
                            await self._walk(child, parents, blobs, metadata_only=True)
            else:
                config, layers, _ = _oci.parse_manifest(data, desc.media_type, f"manifest {where}")
                parents.append(_Parent(desc, data, _oci.child_gc_labels([config, *layers])))
                blobs.extend([config] if metadata_only else [config, *layers])
        except ValueError as exc:
            raise UnsupportedMediaTypeError(str(exc)) from None

    def _source_labels(self, current: str | None) -> dict[str, str]:
        value = append_source(current, self.source_repo)
        return {self.source_key: value} if label_fits(self.source_key, value) else {}

    async def _store_parent(self, parent: _Parent) -> None:
        desc = parent.descriptor
        labels = {**parent.gc_labels, **self._source_labels(None)}
        for attempt in range(2):
            start = 0
            try:
                async with open_ingest(
                    self.leased, _ref_key(desc), total=desc.size, expected=desc.digest
                ) as w:
                    start = w.offset
                    await w.write(parent.data[start:])
                    await self._commit(w, desc, labels)
            except errors.AlreadyExists:
                await self._label_existing(desc, parent.gc_labels)
                await report(self.progress, desc, desc.size, BlobState.EXISTS)
                return
            except DigestError:
                if attempt == 0 and start > 0:
                    continue  # a stale partial ingest (now aborted): once more from 0
                raise
            await report(self.progress, desc, desc.size, BlobState.DONE)
            return

    async def _label_existing(self, desc: Descriptor, extra: dict[str, str]) -> None:
        info = await self.leased.content.info(desc.digest)
        labels = {**extra, **self._source_labels(info.labels.get(self.source_key))}
        if any(info.labels.get(k) != v for k, v in labels.items()):
            await self.leased.content.update(desc.digest, labels=dict(labels))

    async def _commit(self, w: ContentWriter, desc: Descriptor, labels: dict[str, str]) -> None:
        try:
            await w.commit(labels=labels)
        except errors.FailedPrecondition as exc:
            raise DigestError(
                f"blob {desc.digest} from {self.repo.ref.domain} does not match its digest "
                f"or size: {exc}"
            ) from None

    async def blob(self, desc: Descriptor) -> None:
        """Fetch the one blob `desc` into the content store (`Client.fetch_blob`)."""
        await self._blob(desc, anyio.Event())

    async def _blob(self, desc: Descriptor, stored: anyio.Event) -> None:
        if self.turns is not None:
            await self.turns.wait(desc.digest)
        async with self.limiter:
            key = _ref_key(desc)
            try:
                await self._transfer(desc, stored, key)
            except DigestError:
                raise  # this blob's own ingest went with its bad data
            except NotFoundError:
                await abort_ingest(self.leased, key)  # no host has it: nothing to resume
                raise
            except BaseException:
                if self.bad_data:
                    # Cancelled because another blob proved bad: the pull
                    # fails, it was not interrupted, so keep nothing to resume.
                    await abort_ingest(self.leased, key)
                raise
            finally:
                if self.turns is not None:
                    self.turns.moved(desc.digest)

    async def _transfer(self, desc: Descriptor, stored: anyio.Event, key: str) -> None:
        try:
            await prime_ingest(self.client, key, total=desc.size, expected=desc.digest)
        except errors.AlreadyExists:
            pass  # the lease still has to take hold of it, below
        for attempt in range(2):
            start = 0
            try:
                async with open_ingest(
                    self.leased, key, total=desc.size, expected=desc.digest
                ) as w:
                    start = w.offset
                    if start > desc.size:
                        raise DigestError(
                            f"ingest {key} holds {start} bytes, more than {desc.size}"
                        )
                    await self._download(w, desc, start)
                    await self._commit(w, desc, {**self.blob_labels, **self._source_labels(None)})
            except errors.AlreadyExists:
                await self._label_existing(desc, self.blob_labels)
                stored.set()
                await report(self.progress, desc, desc.size, BlobState.EXISTS)
                return
            except DigestError:
                if attempt == 0 and start > 0:
                    continue  # the resumed part may be what was bad: once more from 0
                self.bad_data = True  # before the task group cancels the other blobs
                raise
            stored.set()
            await report(self.progress, desc, desc.size, BlobState.DONE)
            return

    async def _download(self, w: ContentWriter, desc: Descriptor, start: int) -> None:
        offset = start
        await report(self.progress, desc, offset, BlobState.DOWNLOADING)
        if offset >= desc.size:
            return
        async with self.repo.blob(desc, offset) as chunks:
            async for chunk in chunks:
                await w.write(chunk)
                offset += len(chunk)
                if self.turns is not None:
                    self.turns.moved(desc.digest, offset)
                await report(self.progress, desc, offset, BlobState.DOWNLOADING)


async def _put_image(
    client: Client, name: str, target: Descriptor, labels: Mapping[str, str]
) -> Image:
    """Create the image record, or re-point an existing one (as containerd's ``createNewImage``).

    An existing record's labels are replaced by `labels` (none: no labels),
    as Go's client and the 2.x transfer service's image store do.
    """
    while True:
        try:
            return await client.images.create(name, target, labels=labels)
        except errors.AlreadyExists:
            pass
        try:
            return await client.images.update(
                name, target=target, labels=dict(labels), replace_labels=True
            )
        except errors.NotFound:
            continue  # removed meanwhile: create again


async def pull(
    client: Client,
    ref: str,
    *,
    platform: Platform | str | None = None,
    unpack: bool = True,
    snapshotter: str | None = None,
    auth: AuthLike = None,
    insecure: bool = False,
    ca: TLSConfig = None,
    progress: ProgressCallback | None = None,
    max_concurrent_downloads: int = 3,
    hosts: Hosts | None = None,
    headers: Headers | None = None,
    labels: Mapping[str, str] | None = None,
    snapshot_labels: Mapping[str, str] | None = None,
) -> Image:
    """Implementation of `Client.pull` (see there)."""
    return await _run(
        client,
        ref,
        _oci.matcher_for(platform),
        manifests=1,
        all_metadata=False,
        unpack=unpack,
        snapshotter=snapshotter,
        auth=auth,
        insecure=insecure,
        ca=ca,
        progress=progress,
        max_concurrent_downloads=max_concurrent_downloads,
        hosts=hosts,
        headers=headers,
        labels=labels,
        snapshot_labels=snapshot_labels,
    )


async def fetch(
    client: Client,
    ref: str,
    *,
    platforms: Sequence[Platform | str] | None = None,
    all_metadata: bool = False,
    auth: AuthLike = None,
    insecure: bool = False,
    ca: TLSConfig = None,
    progress: ProgressCallback | None = None,
    max_concurrent_downloads: int = 3,
    hosts: Hosts | None = None,
    headers: Headers | None = None,
    labels: Mapping[str, str] | None = None,
) -> Image:
    """Implementation of `Client.fetch` (see there)."""
    if isinstance(platforms, str):
        raise TypeError(f"platforms must be a sequence of platforms, not the string {platforms!r}")
    if platforms is None:
        matcher = _oci.PlatformMatcher.all()
    else:
        parsed = [_oci.parse_platform(p) for p in platforms]
        matcher = _oci.PlatformMatcher(parsed)  # any of them, in order (Go's platforms.Any)
    return await _run(
        client,
        ref,
        matcher,
        manifests=None,
        all_metadata=all_metadata,
        unpack=False,
        snapshotter=None,
        auth=auth,
        insecure=insecure,
        ca=ca,
        progress=progress,
        max_concurrent_downloads=max_concurrent_downloads,
        hosts=hosts,
        headers=headers,
        labels=labels,
        snapshot_labels=None,
    )


async def _run(
    client: Client,
    ref: str,
    matcher: _oci.PlatformMatcher,
    *,
    manifests: int | None,
    all_metadata: bool,
    unpack: bool,
    snapshotter: str | None,
    auth: AuthLike,
    insecure: bool,
    ca: TLSConfig,
    progress: ProgressCallback | None,
    max_concurrent_downloads: int,
    hosts: Hosts | None,
    headers: Headers | None,
    labels: Mapping[str, str] | None,
    snapshot_labels: Mapping[str, str] | None,
) -> Image:
    reference = Reference.parse(ref)
    if not isinstance(max_concurrent_downloads, int) or max_concurrent_downloads < 1:
        raise ValueError(
            f"invalid max_concurrent_downloads {max_concurrent_downloads!r}: must be at least 1"
        )
    image_labels = _identifiers.labels(labels, "image labels")
    unpack_labels = _identifiers.labels(snapshot_labels, "snapshot labels")
    sent = header_pairs(headers)
    found = await hosts_for(reference, hosts, auth)
    async with Remote(
        reference,
        found,
        insecure=insecure,
        ca=ca,
        headers=sent,
        max_connections=max_concurrent_downloads + 1,
    ) as repo:
        root = await repo.resolve()
        lease_id = await client.leases._create_surely(
            None, _LEASE_EXPIRY, {"pycontainerd/pull": _label_value(str(reference))}
        )
        leased = client.with_lease(lease_id)
        done = False
        try:
            unpack_into = await snapshotter_name(client, snapshotter) if unpack else None
            puller = _Puller(
                client,
                leased,
                repo,
                matcher,
                progress,
                max_concurrent_downloads,
                manifests=manifests,
                all_metadata=all_metadata,
            )
            await puller.fetch(root, unpack_into, unpack_labels)
            image = await _put_image(leased, str(reference), root, image_labels)
            done = True
        finally:
            # After a failure, collect what was committed right away. A
            # lease that cannot be deleted (daemon gone) expires by itself.
            with contextlib.suppress(TimeoutError, errors.RPCError):
                await finish(
                    Removal(lambda: client.leases.delete(lease_id, sync=not done)),
                    timeout=_CLEANUP_TIMEOUT,
                )
    return attrs.evolve(image, _client=client)


def _label_value(value: str) -> str:
    return value[:4000]


async def fetch_blob(
    client: Client,
    ref: str,
    descriptor: Descriptor,
    *,
    auth: AuthLike = None,
    insecure: bool = False,
    ca: TLSConfig = None,
    hosts: Hosts | None = None,
    headers: Headers | None = None,
    labels: Mapping[str, str] | None = None,
) -> None:
    """Implementation of `Client.fetch_blob` (see there)."""
    reference = Reference.parse(ref)
    descriptor = checked_descriptor(descriptor)
    extra = _identifiers.labels(labels, "content labels")
    sent = header_pairs(headers)
    found = await hosts_for(reference, hosts, auth)
    async with Remote(reference, found, insecure=insecure, ca=ca, headers=sent) as repo:
        puller = _Puller(
            client, client, repo, _oci.PlatformMatcher.all(), None, 1, blob_labels=extra
        )
        await puller.blob(descriptor)
