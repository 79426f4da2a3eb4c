"""pyctr images."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio

from .. import errors
from .._client import Client
from .._platforms import Platform
from . import _output as out
from ._app import CliError, Commands, format_option, label_pairs, quiet_option

if TYPE_CHECKING:  # pyctr's start: the image service loads only for image commands
    from .._images import Image, ImageCheck


def register(commands: Commands) -> None:
    """Add the commands of this module."""
    _register_images(commands)


# --- images ----------------------------------------------------------------------


def _local_option(p: argparse.ArgumentParser, verb: str) -> None:
    p.add_argument(
        "--local",
        action="store_true",
        help=f"{verb} in this process, not through the daemon's transfer service (containerd 2.x)",
    )


def _register_images(commands: Commands) -> None:
    images = commands.group("images", "manage images", aliases=["image", "i"])
    p = images.command("ls", images_ls, "list images", aliases=["list"])
    p.add_argument("filters", nargs="*", metavar="FILTER")
    quiet_option(p)
    format_option(p)
    p = images.command("import", images_import, "import images from an OCI or docker tar")
    p.add_argument("archive", help="the tar file ('-' for stdin)")
    p.add_argument("--no-unpack", action="store_true", help="do not unpack the images")
    p.add_argument("--base-name", help="prefix for bare tags (and filter of full names)")
    p.add_argument("--digests", action="store_true", help="also create name@digest images")
    p.add_argument("--index-name", help="also keep the archive's index under this name")
    p.add_argument("--all-platforms", action="store_true", help="keep every platform's content")
    p.add_argument("--platform", help="keep (and unpack) this platform only")
    p.add_argument("--snapshotter", help="snapshotter to unpack into")
    p.add_argument(
        "--skip-digest-for-named",
        action="store_true",
        help="with --digests, no digest image for the images the archive names",
    )
    p.add_argument("--label", action="append", default=[], help="KEY=VALUE for the images (repeat)")
    p.add_argument(
        "--compress-blobs", action="store_true", help="gzip the plain layers of a docker tar"
    )
    p.add_argument(
        "--discard-unpacked-layers",
        action="store_true",
        help="let the GC remove layer blobs once unpacked (needs --local on containerd 2.x)",
    )
    p.add_argument(
        "--skip-missing",
        action="store_true",
        help="accept an archive that lacks some blobs (needs --local on containerd 2.x)",
    )
    _local_option(p, "import")
    p = images.command("export", images_export, "export images to an OCI tar")
    p.add_argument("archive", help="the tar file to write ('-' for stdout)")
    p.add_argument("refs", nargs="+", metavar="REF")
    p.add_argument("--platform", action="append", default=[], help="export this platform (repeat)")
    p.add_argument("--all-platforms", action="store_true", help="export every platform")
    p.add_argument(
        "--skip-manifest-json", action="store_true", help="leave out docker's manifest.json"
    )
    p.add_argument(
        "--skip-non-distributable",
        action="store_true",
        help="leave out non-distributable layers (such as Windows base layers)",
    )
    p = images.command("convert", images_convert, "convert an image (media types, compression)")
    p.add_argument("source", metavar="SOURCE_REF")
    p.add_argument("target", metavar="TARGET_REF")
    p.add_argument("--oci", action="store_true", help="convert Docker media types to OCI ones")
    p.add_argument(
        "--uncompress", action="store_true", help="convert tar.gz layers to uncompressed tar"
    )
    p.add_argument("--platform", action="append", default=[], help="keep this platform (repeat)")
    p.add_argument("--all-platforms", action="store_true", help="keep every platform")
    p = images.command("pull", images_pull, "pull an image from a registry (and unpack it)")
    p.add_argument("ref", help="e.g. docker.io/library/busybox:latest")
    p.add_argument("--platform", help="the platform to pull (default: the host's)")
    p.add_argument("--no-unpack", action="store_true", help="do not unpack it")
    p.add_argument("--snapshotter", help="snapshotter to unpack into")
    p.add_argument("--max-concurrent-downloads", type=int, default=3, metavar="N")
    _registry_options(p)
    _local_option(p, "pull")
    p = images.command("push", images_push, "push an image to a registry")
    p.add_argument("ref", help="where to push, e.g. registry.example.com/team/app:v1")
    p.add_argument("local", nargs="?", help="the local image (default: the one named REF)")
    p.add_argument("--platform", help="push only this platform's manifest")
    p.add_argument("--max-concurrent-uploaded-layers", type=int, default=3, metavar="N")
    _registry_options(p)
    _local_option(p, "push")
    p = images.command("rm", images_rm, "remove images", aliases=["remove", "delete"])
    p.add_argument("refs", nargs="+", metavar="REF")
    p.add_argument("--sync", action="store_true", help="wait for garbage collection")
    _register_records(images)
    p = images.command("build", images_build, "build a single-layer image from a directory")
    p.add_argument("ref", help="the image name, e.g. example.com/tools:1")
    p.add_argument("directory")
    p.add_argument("--entrypoint", action="append", default=[], help="entrypoint word (repeat)")
    p.add_argument("--cmd", action="append", default=[], help="cmd word (repeat)")
    p.add_argument("--env", action="append", default=[], help="NAME=value (repeat)")
    p.add_argument("--workdir", default="", help="working directory")
    p.add_argument("--user", default="", help="user (uid[:gid] or name)")
    p.add_argument("--label", action="append", default=[], help="KEY=VALUE (repeat)")
    p.add_argument("--unpack", action="store_true", help="unpack it too")
    p.add_argument("--snapshotter", help="snapshotter to unpack into")
    # usage, check, mount, unmount
    p = images.command("usage", images_usage, "show the usage of an image's unpacked snapshots")
    p.add_argument("ref")
    p.add_argument(
        "--snapshotter", help="the snapshotter (default: the namespace's, else overlayfs)"
    )
    format_option(p)
    p = images.command("check", images_check, "check that the images' content is all here")
    p.add_argument("filters", nargs="*", metavar="FILTER")
    p.add_argument(
        "-q", "--quiet", action="store_true", help="print only the complete and unpacked images"
    )
    p.add_argument("--snapshotter", help="where to look for the unpacked images")
    format_option(p)
    p = images.command("mount", images_mount, "mount an image on a host directory")
    p.add_argument("ref")
    p.add_argument("target", help="an existing directory")
    p.add_argument("--rw", action="store_true", help="mount a writable snapshot")
    p.add_argument("--platform", help="the platform to mount (default: the host's)")
    p.add_argument("--snapshotter", help="snapshotter to unpack into")
    p = images.command("unmount", images_unmount, "unmount an image from a host directory")
    p.add_argument("target")
    p.add_argument("--rm", action="store_true", help="also remove the snapshot and its lease")
    p.add_argument("--snapshotter", help="the snapshot's snapshotter (default: the mount's)")


async def images_ls(client: Client, args: argparse.Namespace) -> int:
    """Pyctr images ls."""
    images = await client.images.list(*args.filters)
    if args.quiet:
        for image in images:
            print(image.name)
        return 0
    rows = []
    for image in images:
        try:
            size: int | None = await image.size()
            platforms = [str(p) for p in await image.platforms()]
        except errors.NotFound:  # content missing (e.g. a record without blobs)
            size, platforms = None, []
        rows.append((image, size, platforms))
    if args.format == "json":
        out.print_json(
            [
                {
                    "name": image.name,
                    "target": image.target,
                    "labels": image.labels,
                    "created_at": image.created_at,
                    "updated_at": image.updated_at,
                    "size": size,
                    "platforms": platforms,
                }
                for image, size, platforms in rows
            ]
        )
        return 0
    out.table(
        ["REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"],
        (
            [
                image.name,
                image.target.media_type,
                image.target.digest,
                None if size is None else out.human_size(size),
                platforms,
                image.labels,
            ]
            for image, size, platforms in rows
        ),
    )
    return 0


class _Progress:
    """An import's or export's bytes, drawn on stderr on a terminal (see `out.Progress`)."""

    def __init__(self, label: str, total: int | None) -> None:
        self._bar = out.Progress(label, per_item=False)
        self._bar.set_total(total)
        self._bar.start()

    def add(self, n: int) -> None:
        self._bar.advance(n)

    def finish(self) -> None:
        self._bar.finish()


async def _read_chunks(path: str, progress: _Progress) -> AsyncIterator[bytes]:
    source = sys.stdin.buffer if path == "-" else None
    if source is not None:
        while chunk := await anyio.to_thread.run_sync(source.read, 1 << 20):
            progress.add(len(chunk))
            yield chunk
        return
    async with await anyio.open_file(path, "rb") as f:
        while chunk := await f.read(1 << 20):
            progress.add(len(chunk))
            yield chunk


async def images_import(client: Client, args: argparse.Namespace) -> int:
    """Pyctr images import: read the archive as a stream, with progress on a terminal."""
    if args.discard_unpacked_layers and args.no_unpack:
        raise CliError("--discard-unpacked-layers and --no-unpack do not go together", code=2)
    if args.skip_digest_for_named and not args.digests:
        raise CliError("--skip-digest-for-named needs --digests", code=2)
    labels = label_pairs(args.label)
    total = None if args.archive == "-" else os.stat(args.archive).st_size
    progress = _Progress("importing", total)
    if not args.local and await client._release() >= (2, 0):
        for flag in ("discard_unpacked_layers", "skip_missing"):
            if getattr(args, flag):
                raise CliError(f"--{flag.replace('_', '-')} needs --local", code=2)
        try:
            names = await _import_through_the_daemon(client, args, progress)
        finally:
            progress.finish()
        for name in names:
            print(f"{name} {(await client.images.get(name)).target.digest}")
        return 0
    try:
        images = await client.images.import_archive(
            _read_chunks(args.archive, progress),
            unpack=not args.no_unpack,
            platform=args.platform,
            all_platforms=args.all_platforms,
            base_name=args.base_name,
            digests=args.digests,
            index_name=args.index_name,
            snapshotter=args.snapshotter,
            skip_digest_for_named=args.skip_digest_for_named,
            labels=labels or None,
            skip_missing=args.skip_missing,
            compress_blobs=args.compress_blobs,
            discard_unpacked_layers=args.discard_unpacked_layers,
        )
    finally:
        progress.finish()
    for image in images:
        print(f"{image.name} {image.target.digest}")
    return 0


async def _import_through_the_daemon(
    client: Client, args: argparse.Namespace, progress: _Progress
) -> list[str]:
    """Ctr 2.x's import: the daemon's transfer service reads the archive from us."""
    from .. import transfer

    base = args.base_name or "import"
    names = [
        transfer.ImageName(
            base,
            prefix=True,
            allow_overwrite=not args.base_name,
            add_digest=args.digests,
            skip_named_digest=args.skip_digest_for_named,
        )
    ]
    if args.index_name:
        names.append(transfer.ImageName(args.index_name))
    platforms = [Platform.parse(args.platform)] if args.platform else []
    unpack = [
        transfer.Unpack(platform=p, snapshotter=args.snapshotter or "")
        for p in (platforms or [Platform.host()])
        if not args.no_unpack
    ]
    saved: list[str] = []

    def on_event(event: transfer.Progress) -> None:
        if event.event == "saved" and event.name:
            saved.append(event.name)

    await client.transfer(
        transfer.ImportStream(
            _read_chunks(args.archive, progress), force_compress=args.compress_blobs
        ),
        transfer.ImageStore(
            platforms=platforms,
            all_metadata=args.all_platforms,
            extra_references=names,
            unpack=unpack,
            labels=label_pairs(args.label),
        ),
        progress=on_event,
    )
    return list(dict.fromkeys(saved))


class _ProgressSink:
    """An async byte sink writing to a binary file and reporting to a progress line."""

    def __init__(self, raw: Any, progress: _Progress) -> None:
        self._raw = raw
        self._progress = progress

    async def send(self, data: bytes) -> None:
        await anyio.to_thread.run_sync(self._raw.write, data)
        self._progress.add(len(data))


async def images_export(client: Client, args: argparse.Namespace) -> int:
    """Pyctr images export."""
    progress = _Progress("exporting", None)
    with contextlib.ExitStack() as stack:
        if args.archive == "-":
            if sys.stdout.isatty():
                raise CliError("refusing to write a tar archive to a terminal")
            raw: Any = sys.stdout.buffer
        else:
            raw = stack.enter_context(open(args.archive, "wb"))  # noqa: ASYNC230
        try:
            await client.images.export_archive(
                _ProgressSink(raw, progress),
                list(args.refs),
                platform=args.platform,
                all_platforms=args.all_platforms,
                docker_manifest=not args.skip_manifest_json,
                skip_non_distributable=args.skip_non_distributable,
            )
        except BaseException:
            if args.archive != "-":
                stack.close()
                with contextlib.suppress(OSError):
                    os.unlink(args.archive)
            raise
        finally:
            progress.finish()
    return 0


async def images_convert(client: Client, args: argparse.Namespace) -> int:
    """Pyctr images convert: print the converted image's target digest, as ctr does."""
    image = await client.images.convert(
        args.source,
        args.target,
        oci=args.oci,
        uncompress=args.uncompress,
        platform=args.platform or None,  # --platform repeated, or not given
        all_platforms=args.all_platforms,
    )
    print(image.target.digest)
    return 0


def _registry_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", help="USER[:PASSWORD] (the password is asked for if missing)")
    p.add_argument(
        "--insecure",
        "--plain-http",
        action="store_true",
        help="allow plain HTTP and unverified TLS",
    )
    p.add_argument("--ca", help="CA bundle to verify the registry with")
    p.add_argument("--hosts-dir", help="containerd's hosts configuration directory (certs.d)")
    p.add_argument(
        "--header", action="append", default=[], help="'NAME: VALUE' on every request (repeat)"
    )


def registry_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The registry keyword arguments of pull, push and fetch from `_registry_options`."""
    from ..registry import Hosts  # here: httpx (and with it rich) loads only for these commands

    headers: dict[str, list[str]] = {}
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise CliError(f"invalid --header {item!r}: expected 'NAME: VALUE'")
        headers.setdefault(name.strip(), []).append(value.strip())
    return {
        "auth": _credentials(args),
        "insecure": args.insecure,
        "ca": args.ca,
        "hosts": Hosts.from_directory(args.hosts_dir) if args.hosts_dir else None,
        "headers": headers or None,
    }


def _credentials(args: argparse.Namespace) -> tuple[str, str] | None:
    if not args.user:
        return None
    user, sep, password = args.user.partition(":")
    if not sep:
        if not sys.stdin.isatty():
            raise CliError("--user without a password needs a terminal to ask for it")
        password = getpass.getpass(f"password for {user}: ")
    return user, password


class _BlobProgress:
    """A pull's or push's blobs, a bar each and one for all, on a terminal (see `out.Progress`)."""

    def __init__(self, label: str) -> None:
        self._bar = out.Progress(label, per_item=True)
        self._bar.start()

    def __call__(self, update: Any) -> None:
        name = f"{_blob_kind(update.media_type)} {update.digest.partition(':')[2][:12]}"
        self._bar.update(update.digest, name, done=update.offset, total=update.total or None)

    def finish(self) -> None:
        self._bar.finish()


def _blob_kind(media_type: str) -> str:
    """What a blob of this media type is, in a word (OCI's and docker's names)."""
    for word, kind in (
        ("layer", "layer"),
        ("rootfs", "layer"),
        ("config", "config"),
        ("index", "index"),
        ("manifest.list", "index"),
        ("manifest", "manifest"),
    ):
        if word in media_type:
            return kind
    return "blob"


async def images_pull(client: Client, args: argparse.Namespace) -> int:
    """Pyctr images pull."""
    progress = _BlobProgress("pulling")
    try:
        image = await client.pull(
            args.ref,
            platform=args.platform,
            unpack=not args.no_unpack,
            snapshotter=args.snapshotter,
            progress=progress,
            max_concurrent_downloads=args.max_concurrent_downloads,
            local=args.local,
            **registry_settings(args),
        )
    finally:
        progress.finish()
    print(f"{image.name} {image.target.digest}")
    return 0


async def images_push(client: Client, args: argparse.Namespace) -> int:
    """Pyctr images push."""
    progress = _BlobProgress("pushing")
    try:
        desc = await client.push(
            args.ref,
            args.local,
            platform=args.platform,
            progress=progress,
            local=args.local,
            max_concurrent_uploads=args.max_concurrent_uploaded_layers,
            **registry_settings(args),
        )
    finally:
        progress.finish()
    print(f"{args.ref} {desc.digest}")
    return 0


async def images_rm(client: Client, args: argparse.Namespace) -> int:
    """Pyctr images rm."""
    for ref in args.refs:
        await client.images.delete(ref, sync=args.sync)
        print(ref)
    return 0


async def images_build(client: Client, args: argparse.Namespace) -> int:
    """Pyctr images build: a single-layer image from a directory."""
    from .._image_config import ImageConfig  # here: pyctr's other commands start faster

    if not await anyio.Path(args.directory).is_dir():
        raise CliError(f"not a directory: {args.directory!r}")
    config = ImageConfig(
        entrypoint=tuple(args.entrypoint),
        cmd=tuple(args.cmd),
        env=tuple(args.env),
        working_dir=args.workdir,
        user=args.user,
    )
    image = await client.images.create_from_directory(
        args.ref, args.directory, config=config, labels=label_pairs(args.label)
    )
    if args.unpack:
        await image.unpack(args.snapshotter)
    print(f"{image.name} {image.target.digest}")
    return 0


async def images_usage(client: Client, args: argparse.Namespace) -> int:
    """Pyctr images usage: each unpacked snapshot of the image, top first, as ``ctr``'s."""
    image = await client.images.get(args.ref)
    usage = await image.usage(snapshots=True, snapshotter=args.snapshotter)
    if await image.chain_id() not in usage.snapshots:
        raise CliError(f"image {image.name} isn't unpacked in snapshotter {usage.snapshotter}")
    if args.format == "json":
        out.print_json(
            {
                "name": image.name,
                "snapshotter": usage.snapshotter,
                "content": usage.content,
                "snapshots": [
                    {"key": key, "size": used.size, "inodes": used.inodes}
                    for key, used in usage.snapshots.items()
                ],
                "total": usage.total,
            }
        )
        return 0
    out.table(
        ["KEY", "SIZE", "INODES"],
        ([key, out.human_size(used.size), used.inodes] for key, used in usage.snapshots.items()),
    )
    return 0


async def images_check(client: Client, args: argparse.Namespace) -> int:
    """Pyctr images check: as ``ctr``'s, exit 1 when an image cannot be checked."""
    failure: str | None = None
    records = []
    for image in await client.images.list(*args.filters):
        try:
            check = await image.check()
        except errors.ContainerdError as exc:
            check, failure = None, failure or f"unable to check {image.name}: {exc}"
        try:
            unpacked = await image.is_unpacked(args.snapshotter)
        except errors.ContainerdError as exc:
            # as ctr: an image whose config is missing cannot say
            unpacked, failure = False, failure or f"unable to check unpack for {image.name}: {exc}"
        records.append((image, check, unpacked))
    if args.quiet:
        for image, check, unpacked in records:
            if check is not None and check.complete and unpacked:
                print(image.name)
    elif args.format == "json":
        out.print_json([_check_record(*record) for record in records])
    else:
        out.table(
            ["REF", "TYPE", "DIGEST", "STATUS", "SIZE", "UNPACKED"],
            (
                [
                    image.name,
                    image.target.media_type,
                    image.target.digest,
                    *_check_cells(check),
                    "true" if unpacked else "false",
                ]
                for image, check, unpacked in records
            ),
        )
    if failure is not None:
        raise CliError(failure)
    return 0


def _check_status(check: ImageCheck | None) -> str:
    if check is None:
        return "error"
    if not check.available:
        return "unavailable"
    return "incomplete" if check.missing else "complete"


def _check_cells(check: ImageCheck | None) -> list[str]:
    """STATUS and SIZE as ctr shows them: 'complete (2/2)', '1.2 MiB/1.2 MiB'."""
    if check is None:
        return ["error", "-"]
    present = out.human_size(sum(blob.size for blob in check.present))
    if not check.available:
        return [f"unavailable ({len(check.present)}/?)", f"{present}/?"]
    required = out.human_size(sum(blob.size for blob in check.required))
    counts = f"({len(check.present)}/{len(check.required)})"
    return [f"{_check_status(check)} {counts}", f"{present}/{required}"]


def _check_record(image: Image, check: ImageCheck | None, unpacked: bool) -> dict[str, Any]:
    return {
        "name": image.name,
        "target": image.target,
        "status": _check_status(check),
        "required": None if check is None else check.required,
        "present": None if check is None else check.present,
        "missing": None if check is None else check.missing,
        "unpacked": unpacked,
    }


async def images_mount(client: Client, args: argparse.Namespace) -> int:
    """Pyctr images mount: prints the chain ID, then the target, as ``ctr``'s."""
    image = await client.images.get(args.ref)
    mounted = await image.mount(
        args.target, rw=args.rw, snapshotter=args.snapshotter, platform=args.platform
    )
    print(mounted.chain_id)
    print(mounted.target)
    return 0


async def images_unmount(client: Client, args: argparse.Namespace) -> int:
    """Pyctr images unmount: unmounts; with ``--rm`` removes the snapshot and lease too."""
    await client.images.unmount(args.target, remove=args.rm, snapshotter=args.snapshotter)
    print(args.target)
    return 0


# --- image records: tag, label, inspect, prune -----------------------------------------


def _register_records(images: Commands) -> None:
    p = images.command("tag", images_tag, "give an image more names")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("targets", nargs="+", metavar="TARGET")
    p.add_argument("--force", action="store_true", help="replace an image of a TARGET name")
    p.add_argument(
        "--skip-reference-check", action="store_true", help="accept names that are not references"
    )
    p = images.command("label", images_label, "set labels (an empty value removes one)")
    p.add_argument("name")
    p.add_argument("labels", nargs="*", metavar="KEY=VALUE")
    p.add_argument("-r", "--replace-all", action="store_true", help="these labels, no others")
    p = images.command("inspect", images_inspect, "show an image's content as a tree")
    p.add_argument("name")
    p.add_argument("--content", action="store_true", help="show each index's and manifest's JSON")
    format_option(p)
    p = images.command("prune", images_prune, "remove images no container uses")
    p.add_argument("--all", action="store_true", help="required: remove every unused image")


async def images_tag(client: Client, args: argparse.Namespace) -> int:
    """Pyctr images tag: as ``ctr images tag --local``, new records with the same target."""
    from ..registry import Reference

    if not args.skip_reference_check:
        for target in args.targets:
            Reference.parse(target)  # a bad name: ValueError, one line, before any change
    image = await client.images.get(args.source)
    for target in args.targets:
        try:
            await client.images.create(target, image.target, labels=image.labels)
        except errors.AlreadyExists:
            if not args.force:
                raise
            await client.images.delete(target)
            await client.images.create(target, image.target, labels=image.labels)
        print(target)
    return 0


async def images_label(client: Client, args: argparse.Namespace) -> int:
    """Pyctr images label: prints the image's labels after the change."""
    changes = {k: (v or None) for k, v in label_pairs(args.labels).items()}
    if changes or args.replace_all:
        image = await client.images.update(
            args.name, labels=changes, replace_labels=args.replace_all
        )
    else:
        image = await client.images.get(args.name)
    print(out.cell_text(image.labels))
    return 0


async def _content_tree(client: Client, desc: dict[str, Any], *, content: bool) -> dict[str, Any]:
    """A descriptor (OCI JSON) and, for an index or a manifest in the store, its children."""
    import json

    platform = desc.get("platform") or {}
    node: dict[str, Any] = {
        "media_type": desc["mediaType"],
        "digest": desc["digest"],
        "size": desc["size"],
        "platform": "/".join(
            p
            for p in (platform.get("os"), platform.get("architecture"), platform.get("variant"))
            if p
        )
        or None,
        "present": True,
    }
    if _blob_kind(node["media_type"]) not in ("index", "manifest"):
        try:
            await client.content.info(node["digest"])
        except errors.NotFound:
            node["present"] = False
        return node
    try:
        body = json.loads(await client.content.read(node["digest"]))
    except errors.NotFound:
        node["present"] = False
        return node
    if content:
        node["content"] = body
    children = [
        *body.get("manifests", []),
        *([body["config"]] if "config" in body else []),
        *body.get("layers", []),
    ]
    node["children"] = [await _content_tree(client, c, content=content) for c in children]
    return node


def _tree_text(node: dict[str, Any], depth: int = 0) -> list[str]:
    platform = f" {node['platform']}" if node["platform"] else ""
    missing = "" if node["present"] else " (missing)"
    kind = _blob_kind(node["media_type"])
    lines = [
        f"{'  ' * depth}{'└─ ' if depth else ''}{kind} {node['digest']} "
        f"{out.human_size(node['size'])}{platform}{missing}"
    ]
    if "content" in node:
        import json

        body = json.dumps(node["content"], indent=2).splitlines()
        lines += [f"{'  ' * (depth + 1)}{line}" for line in body]
    for child in node.get("children", []):
        lines += _tree_text(child, depth + 1)
    return lines


async def images_inspect(client: Client, args: argparse.Namespace) -> int:
    """Pyctr images inspect: the image's index, manifests, configs and layers, and which are in."""
    image = await client.images.get(args.name)
    target = image.target
    top = {"mediaType": target.media_type, "digest": target.digest, "size": target.size}
    tree = await _content_tree(client, top, content=args.content)
    if args.format == "json":
        out.print_json({"name": image.name, "target": tree})
        return 0
    print(image.name)
    for line in _tree_text(tree, 1):
        print(line)
    return 0


async def images_prune(client: Client, args: argparse.Namespace) -> int:
    """Pyctr images prune --all: as ctr's, every image no container names; the last waits for gc."""
    if not args.all:
        out.warn("no images pruned: images prune needs --all")
        return 0
    used = {c.image_name for c in await client.containers.list()}
    unused = [i.name for i in await client.images.list() if i.name not in used]
    for n, name in enumerate(unused, 1):
        with contextlib.suppress(errors.NotFound):  # removed by someone else meanwhile
            await client.images.delete(name, sync=n == len(unused))
            print(name)
    return 0
