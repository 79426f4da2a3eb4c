"""pyctr content, snapshots, leases and sandboxes."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anyio

from .. import errors
from .._client import Client
from .._platforms import Platform
from . import _output as out
from ._app import CliError, Commands, format_option, label_pairs, quiet_option
from ._images import _BlobProgress, _registry_options, registry_settings


def register(commands: Commands) -> None:
    """Add the commands of this module."""
    _register_content(commands)
    _register_snapshots(commands)
    _register_leases(commands)
    _register_sandboxes(commands)


# --- content ---------------------------------------------------------------------------------


def _register_content(commands: Commands) -> None:
    c = commands.group("content", "manage the content store")
    p = c.command("ls", content_ls, "list blobs", aliases=["list"])
    p.add_argument("filters", nargs="*", metavar="FILTER")
    quiet_option(p)
    format_option(p)
    p = c.command("get", content_get, "write a blob to stdout")
    p.add_argument("digest")
    p = c.command("ingest", content_ingest, "store stdin as a blob; print its digest")
    p.add_argument("ref", help="the ingest reference")
    p.add_argument("--expected-digest", help="refuse the blob unless it has this digest")
    p.add_argument("--expected-size", type=int, help="its size, if known")
    p.add_argument("--label", action="append", default=[], help="KEY=VALUE (repeat)")
    p = c.command("rm", content_rm, "remove blobs", aliases=["remove", "delete"])
    p.add_argument("digests", nargs="+", metavar="DIGEST")
    p = c.command("fetch", content_fetch, "fetch an image's content (no unpacking)")
    p.add_argument("ref", help="e.g. docker.io/library/busybox:latest")
    p.add_argument("--platform", action="append", default=[], help="fetch this platform (repeat)")
    p.add_argument("--all-platforms", action="store_true", help="fetch every platform")
    p.add_argument(
        "--skip-metadata",
        action="store_true",
        help="skip the other platforms' manifests and configs",
    )
    p.add_argument(
        "--metadata-only", action="store_true", help="fetch manifests and configs, no layers"
    )
    p.add_argument("--max-concurrent-downloads", type=int, default=3, metavar="N")
    _registry_options(p)


def _age(when: datetime | None) -> str:
    if when is None:
        return "-"
    seconds = int((datetime.now(UTC) - when).total_seconds())
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{max(seconds, 0)} seconds"


async def content_ls(client: Client, args: argparse.Namespace) -> int:
    """Pyctr content ls."""
    infos = await client.content.list(*args.filters)
    return out.listing(
        args,
        infos,
        key=lambda i: i.digest,
        headers=["DIGEST", "SIZE", "AGE", "LABELS"],
        row=lambda i: [i.digest, out.human_size(i.size), _age(i.created_at), i.labels],
    )


async def content_get(client: Client, args: argparse.Namespace) -> int:
    """Pyctr content get: stream a blob to stdout."""
    if sys.stdout.isatty():
        raise CliError("refusing to write a blob to a terminal; redirect stdout")
    sink = sys.stdout.buffer
    async with client.content.reader(args.digest) as reader:
        async for chunk in reader:
            sink.write(chunk)
    sink.flush()
    return 0


async def _stdin_chunks() -> AsyncIterator[bytes]:
    while chunk := await anyio.to_thread.run_sync(sys.stdin.buffer.read, 1 << 20):
        yield chunk


async def content_ingest(client: Client, args: argparse.Namespace) -> int:
    """Pyctr content ingest."""
    digest = await client.content.write(
        args.ref,
        _stdin_chunks(),
        expected=args.expected_digest,
        total=args.expected_size,
        labels=label_pairs(args.label),
    )
    print(digest)
    return 0


async def content_rm(client: Client, args: argparse.Namespace) -> int:
    """Pyctr content rm."""
    for digest in args.digests:
        await client.content.delete(digest)
        print(digest)
    return 0


# --- snapshots -------------------------------------------------------------------------------


def _register_snapshots(commands: Commands) -> None:
    s = commands.group("snapshots", "manage snapshots", aliases=["snapshot"])
    p = s.command("ls", snapshots_ls, "list snapshots", aliases=["list"])
    p.add_argument("filters", nargs="*", metavar="FILTER")
    p.add_argument("--snapshotter", default=None, help="snapshotter (default: overlayfs)")
    quiet_option(p)
    format_option(p)
    p = s.command("prepare", snapshots_prepare, "prepare an active snapshot; print its mounts")
    p.add_argument("key")
    p.add_argument("parent", nargs="?", default="")
    p.add_argument("--target", default="/tmp", help="mount point shown in the mount commands")
    p.add_argument("--snapshotter", default=None, help="snapshotter (default: overlayfs)")
    p = s.command("mounts", snapshots_mounts, "print the mount commands of a snapshot")
    p.add_argument("target", help="mount point shown in the mount commands")
    p.add_argument("key")
    p.add_argument("--snapshotter", default=None, help="snapshotter (default: overlayfs)")
    format_option(p)
    p = s.command("rm", snapshots_rm, "remove snapshots", aliases=["remove", "delete"])
    p.add_argument("keys", nargs="+", metavar="KEY")
    p.add_argument("--snapshotter", default=None, help="snapshotter (default: overlayfs)")
    p = s.command("usage", snapshots_usage, "disk usage of snapshots")
    p.add_argument("keys", nargs="*", metavar="KEY", help="default: every snapshot")
    p.add_argument("--snapshotter", default=None, help="snapshotter (default: overlayfs)")
    format_option(p)


def _mount_lines(mounts: list[Any], target: str) -> list[str]:
    lines = []
    for m in mounts:
        options = f" -o {','.join(m.options)}" if m.options else ""
        lines.append(f"mount -t {m.type} {m.source} {target}{options}")
    return lines


async def snapshots_ls(client: Client, args: argparse.Namespace) -> int:
    """Pyctr snapshots ls."""
    infos = await client.snapshots(args.snapshotter).list(*args.filters)
    return out.listing(
        args,
        infos,
        key=lambda i: i.name,
        headers=["KEY", "PARENT", "KIND"],
        row=lambda i: [i.name, i.parent, i.kind.name.lower()],
    )


async def snapshots_prepare(client: Client, args: argparse.Namespace) -> int:
    """Pyctr snapshots prepare."""
    mounts = await client.snapshots(args.snapshotter).prepare(args.key, args.parent or None)
    for line in _mount_lines(list(mounts), args.target):
        print(line)
    return 0


async def snapshots_mounts(client: Client, args: argparse.Namespace) -> int:
    """Pyctr snapshots mounts."""
    mounts = await client.snapshots(args.snapshotter).mounts(args.key)
    if args.format == "json":
        out.print_json(mounts)
    else:
        for line in _mount_lines(mounts, args.target):
            print(line)
    return 0


async def snapshots_rm(client: Client, args: argparse.Namespace) -> int:
    """Pyctr snapshots rm."""
    snapshots = client.snapshots(args.snapshotter)
    for key in args.keys:
        await snapshots.remove(key)
        print(key)
    return 0


async def snapshots_usage(client: Client, args: argparse.Namespace) -> int:
    """Pyctr snapshots usage."""
    snapshots = client.snapshots(args.snapshotter)
    keys = list(args.keys) or [i.name for i in await snapshots.list()]
    usages = [(key, await snapshots.usage(key)) for key in keys]
    if args.format == "json":
        out.print_json([{"key": k, "size": u.size, "inodes": u.inodes} for k, u in usages])
    else:
        out.table(
            ["KEY", "SIZE", "INODES"], ([k, out.human_size(u.size), u.inodes] for k, u in usages)
        )
    return 0


# --- leases -------------------------------------------------------------------------------


def _register_leases(commands: Commands) -> None:
    le = commands.group("leases", "manage leases", aliases=["lease"])
    p = le.command("ls", leases_ls, "list leases", aliases=["list"])
    p.add_argument("filters", nargs="*", metavar="FILTER")
    quiet_option(p)
    format_option(p)
    p = le.command("create", leases_create, "create a lease; print its id")
    p.add_argument("labels", nargs="*", metavar="KEY=VALUE")
    p.add_argument("--id", help="the lease id (default: random)")
    p.add_argument("--expires", type=float, help="seconds until it expires (default: never)")
    p = le.command("rm", leases_rm, "remove leases", aliases=["remove", "delete"])
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--sync", action="store_true", help="wait for garbage collection")


async def leases_ls(client: Client, args: argparse.Namespace) -> int:
    """Pyctr leases ls."""
    leases = await client.leases.list(*args.filters)
    return out.listing(
        args,
        leases,
        key=lambda x: x.id,
        headers=["ID", "CREATED AT", "LABELS"],
        row=lambda x: [x.id, x.created_at, x.labels],
    )


async def leases_create(client: Client, args: argparse.Namespace) -> int:
    """Pyctr leases create."""
    lease = await client.leases.create(
        args.id, expires_in=args.expires, labels=label_pairs(args.labels)
    )
    print(lease.id)
    return 0


async def leases_rm(client: Client, args: argparse.Namespace) -> int:
    """Pyctr leases rm."""
    for lease_id in args.ids:
        await client.leases.delete(lease_id, sync=args.sync)
        print(lease_id)
    return 0


# --- sandboxes ---------------------------------------------------------------------


def _register_sandboxes(commands: Commands) -> None:
    sb = commands.group("sandboxes", "sandbox records (containerd 1.7+)", aliases=["sandbox", "sb"])
    p = sb.command("ls", sandboxes_ls, "list sandboxes", aliases=["list"])
    p.add_argument("filters", nargs="*", metavar="FILTER")
    quiet_option(p)
    format_option(p)
    p = sb.command("rm", sandboxes_rm, "shut sandboxes down and remove them", aliases=["remove"])
    p.add_argument("ids", nargs="+", metavar="ID")


async def sandboxes_ls(client: Client, args: argparse.Namespace) -> int:
    """Pyctr sandboxes ls."""
    sandboxes = await client.sandboxes.list(*args.filters)
    return out.listing(
        args,
        sandboxes,
        key=lambda x: x.id,
        headers=["ID", "CREATED AT", "SANDBOXER", "RUNTIME", "LABELS"],
        row=lambda x: [x.id, x.created_at, x.sandboxer, x.runtime.name, x.labels],
    )


async def sandboxes_rm(client: Client, args: argparse.Namespace) -> int:
    """Pyctr sandboxes rm (ctr sandboxes rm): shut each one down, then delete its record."""
    for sandbox_id in args.ids:
        sandbox = await client.sandboxes.get(sandbox_id)
        # A daemon without a controller service (CRI off) has no instance to stop.
        with contextlib.suppress(errors.NotFound, errors.Unimplemented):
            await sandbox.controller.shutdown(sandbox.id)
        await client.sandboxes.delete(sandbox.id)
        print(sandbox_id)
    return 0


async def content_fetch(client: Client, args: argparse.Namespace) -> int:
    """Pyctr content fetch: as ``ctr content fetch``, the host's platform and every manifest."""
    if args.metadata_only and (args.platform or args.all_platforms or args.skip_metadata):
        raise CliError("--metadata-only takes no --platform, --all-platforms or --skip-metadata")
    if args.metadata_only:
        platforms: list[str] | None = []
    elif args.all_platforms:
        platforms = None
    else:
        platforms = args.platform or [str(Platform.host())]
    progress = _BlobProgress("fetching")
    try:
        image = await client.fetch(
            args.ref,
            platforms=platforms,
            all_metadata=not args.skip_metadata,
            progress=progress,
            max_concurrent_downloads=args.max_concurrent_downloads,
            **registry_settings(args),
        )
    finally:
        progress.finish()
    print(f"{image.name} {image.target.digest}")
    return 0
