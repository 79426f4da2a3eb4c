"""pyctr content, snapshots, leases and sandboxes."""

from __future__ import annotations

import argparse
import contextlib
import os
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
    p = c.command("rm", content_rm, "remove blobs", aliases=["remove", "delete", "del"])
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
    p = c.command("label", content_label, "set labels (an empty value removes one)")
    p.add_argument("digest")
    p.add_argument("labels", nargs="*", metavar="KEY=VALUE")
    p = c.command("active", content_active, "list ingests under way")
    p.add_argument("filters", nargs="*", metavar="FILTER", help="e.g. 'ref~=^pull-'")
    format_option(p)
    prune = c.group("prune", "prune content")
    p = prune.command(
        "references",
        content_prune_references,
        "remove the labels by which blobs hold their layers (the layers then go)",
    )
    p.add_argument("--async", dest="run_async", action="store_true", help="do not wait for gc")
    p.add_argument("--dry", action="store_true", help="only print the labels it would remove")
    p = c.command("edit", content_edit, "edit a blob in $EDITOR; print the new digest")
    p.add_argument("digest")
    p.add_argument("--editor", default=None, help="the editor (default: $EDITOR, else vi)")
    p.add_argument("--validate", choices=("json",), help="refuse a result that is not JSON")


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


async def content_label(client: Client, args: argparse.Namespace) -> int:
    """Pyctr content label: print the blob's labels after the change."""
    changes = {k: (v or None) for k, v in label_pairs(args.labels).items()}
    if changes:
        info = await client.content.update(args.digest, labels=changes)
    else:
        info = await client.content.info(args.digest)
    print(out.cell_text(info.labels))
    return 0


async def content_active(client: Client, args: argparse.Namespace) -> int:
    """Pyctr content active."""
    statuses = await client.content.list_statuses(*args.filters)
    if args.format == "json":
        out.print_json(statuses)
    else:
        out.table(
            ["REF", "SIZE", "AGE"],
            (
                [
                    st.ref,
                    f"{out.human_size(st.offset)}/{out.human_size(st.total)}",
                    _age(st.started_at),
                ]
                for st in statuses
            ),
        )
    return 0


def _is_layer_reference(key: str) -> bool:
    """A label by which a blob keeps a layer: ``gc.ref.content.l.N``, or legacy ``...content.N``.

    The legacy form's index 0 was the config, which stays referenced.
    """
    if key.startswith("containerd.io/gc.ref.content.l."):
        return True
    rest = key.removeprefix("containerd.io/gc.ref.content.")
    return rest != key and rest.isdigit() and rest != "0"


async def content_prune_references(client: Client, args: argparse.Namespace) -> int:
    """Pyctr content prune references: as ctr's, then a garbage collection (waited for)."""
    for info in await client.content.list():
        drop = sorted(k for k in info.labels if _is_layer_reference(k))
        if args.dry:
            for key in drop:
                print(f"{info.digest} {key}")
        elif drop:
            await client.content.update(info.digest, labels=dict.fromkeys(drop))
    if not args.dry:
        # a lease's deletion is what starts a collection (synchronous unless --async)
        lease = await client.leases.create(expires_in=3600)
        await client.leases.delete(lease.id, sync=not args.run_async)
    return 0


async def content_edit(client: Client, args: argparse.Namespace) -> int:
    """Pyctr content edit: the blob in an editor, stored again (with its labels) if changed."""
    import json
    import os
    import shlex
    import tempfile

    info = await client.content.info(args.digest)
    data = await client.content.read(info.digest)
    editor = args.editor or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="pyctr-edit-") as tmp:
        path = os.path.join(tmp, info.digest.replace(":", "-"))
        await anyio.Path(path).write_bytes(data)
        # the editor owns the terminal: its stdio is pyctr's
        done = await anyio.run_process(
            [*shlex.split(editor), path], stdin=None, stdout=None, stderr=None, check=False
        )
        if done.returncode != 0:
            raise CliError(f"editor {editor!r} exited with {done.returncode}: blob unchanged")
        edited = await anyio.Path(path).read_bytes()
    if args.validate == "json":
        try:
            json.loads(edited)
        except ValueError as exc:
            raise CliError(f"the edited blob is not JSON ({exc}): blob unchanged") from None
    if edited == data:
        print(info.digest)
        return 0
    digest = await client.content.write(
        f"edit-{info.digest}", edited, total=len(edited), labels=dict(info.labels)
    )
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
    p = s.command(
        "mounts", snapshots_mounts, "print the mount commands of a snapshot", aliases=["m", "mount"]
    )
    p.add_argument("target", help="mount point shown in the mount commands")
    p.add_argument("key")
    p.add_argument("--snapshotter", default=None, help="snapshotter (default: overlayfs)")
    format_option(p)
    p = s.command("rm", snapshots_rm, "remove snapshots", aliases=["remove", "delete", "del"])
    p.add_argument("keys", nargs="+", metavar="KEY")
    p.add_argument("--snapshotter", default=None, help="snapshotter (default: overlayfs)")
    p = s.command("view", snapshots_view, "create a read-only view; print its mounts")
    p.add_argument("key")
    p.add_argument("parent", nargs="?", default="")
    p.add_argument("-t", "--target", default="/tmp", help="mount point shown in the mount commands")
    p.add_argument("--mounts", action="store_true", help="print the mounts as JSON")
    p.add_argument("--snapshotter", default=None, help="snapshotter (default: overlayfs)")
    p = s.command("commit", snapshots_commit, "commit an active snapshot under a name")
    p.add_argument("key", help="the committed snapshot's name")
    p.add_argument("active", help="the active snapshot to commit")
    p.add_argument("--label", action="append", default=[], help="KEY=VALUE (repeat)")
    p.add_argument("--snapshotter", default=None, help="snapshotter (default: overlayfs)")
    p = s.command("info", snapshots_info, "show a snapshot (JSON)")
    p.add_argument("key")
    p.add_argument("--snapshotter", default=None, help="snapshotter (default: overlayfs)")
    p.add_argument("--format", choices=("json",), default="json", help="output format")
    p = s.command("label", snapshots_label, "set labels (an empty value removes one)")
    p.add_argument("key")
    p.add_argument("labels", nargs="*", metavar="KEY=VALUE")
    p.add_argument("--snapshotter", default=None, help="snapshotter (default: overlayfs)")
    p = s.command("tree", snapshots_tree, "show snapshots as a tree of parents and children")
    p.add_argument("--snapshotter", default=None, help="snapshotter (default: overlayfs)")
    format_option(p)
    p = s.command("diff", snapshots_diff, "write the diff of two snapshots as a layer to stdout")
    p.add_argument("key", help="the upper snapshot")
    p.add_argument("lower", nargs="?", help="the lower one (default: KEY's parent)")
    p.add_argument(
        "--media-type",
        default="application/vnd.oci.image.layer.v1.tar+gzip",
        help="the layer's media type (default: gzip-compressed OCI layer)",
    )
    p.add_argument("--ref", help="the content ingest reference")
    p.add_argument("--keep", action="store_true", help="keep the layer in the content store")
    p.add_argument("--label", action="append", default=[], help="KEY=VALUE for the layer (repeat)")
    p.add_argument("--snapshotter", default=None, help="snapshotter (default: overlayfs)")
    p = s.command("usage", snapshots_usage, "disk usage of snapshots")
    p.add_argument("keys", nargs="*", metavar="KEY", help="default: every snapshot")
    p.add_argument("--snapshotter", default=None, help="snapshotter (default: overlayfs)")
    format_option(p)


def _gc_root() -> dict[str, str]:
    """The label that keeps a snapshot or blob from garbage collection, as ctr sets it.

    ctr's prepare and commit set it (its view does not): without it the next
    collection, which any lease's end may start, removes what nothing refers to.
    """
    return {"containerd.io/gc.root": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


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
    mounts = await client.snapshots(args.snapshotter).prepare(
        args.key, args.parent or None, labels=_gc_root()
    )
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


async def snapshots_view(client: Client, args: argparse.Namespace) -> int:
    """Pyctr snapshots view."""
    mounts = await client.snapshots(args.snapshotter).view(args.key, args.parent or None)
    if args.mounts:
        out.print_json(mounts)
    else:
        for line in _mount_lines(mounts, args.target):
            print(line)
    return 0


async def snapshots_commit(client: Client, args: argparse.Namespace) -> int:
    """Pyctr snapshots commit."""
    labels = {**_gc_root(), **label_pairs(args.label)}
    await client.snapshots(args.snapshotter).commit(args.key, args.active, labels=labels)
    return 0


async def snapshots_info(client: Client, args: argparse.Namespace) -> int:
    """Pyctr snapshots info."""
    out.print_json(await client.snapshots(args.snapshotter).stat(args.key))
    return 0


async def snapshots_label(client: Client, args: argparse.Namespace) -> int:
    """Pyctr snapshots label: print the snapshot's labels after the change."""
    snapshots = client.snapshots(args.snapshotter)
    changes = {k: (v or None) for k, v in label_pairs(args.labels).items()}
    info = await snapshots.update(args.key, labels=changes) if changes else None
    if info is None:
        info = await snapshots.stat(args.key)
    print(out.cell_text(info.labels))
    return 0


def tree_lines(parents: dict[str, str]) -> list[str]:
    """Names indented under their parents (a name whose parent is not listed is a root)."""
    children: dict[str, list[str]] = {}
    for name, parent in parents.items():
        children.setdefault(parent if parent in parents else "", []).append(name)
    lines: list[str] = []

    def walk(name: str, depth: int) -> None:
        for child in sorted(children.get(name, [])):
            lines.append(("  " * depth + "\\_ " if depth else "") + child)  # ctr's layout
            walk(child, depth + 1)

    walk("", 0)
    return lines


async def snapshots_tree(client: Client, args: argparse.Namespace) -> int:
    """Pyctr snapshots tree."""
    infos = await client.snapshots(args.snapshotter).list()
    parents = {i.name: i.parent for i in infos}
    if args.format == "json":
        out.print_json([{"name": n, "parent": p} for n, p in parents.items()])
    else:
        for line in tree_lines(parents):
            print(line)
    return 0


@contextlib.asynccontextmanager
async def _mounted(client: Client, snapshotter: str | None, key: str) -> AsyncIterator[list[Any]]:
    """The mounts of snapshot `key`: its own if active, else those of a view removed after."""
    from .._snapshots import SnapshotKind

    snapshots = client.snapshots(snapshotter)
    if (await snapshots.stat(key)).kind is SnapshotKind.ACTIVE:
        yield await snapshots.mounts(key)
        return
    view = f"pyctr-diff-{key}-{os.getpid()}"
    try:
        yield await snapshots.view(view, key)
    finally:
        with contextlib.suppress(errors.NotFound):
            await snapshots.remove(view)


async def snapshots_diff(client: Client, args: argparse.Namespace) -> int:
    """Pyctr snapshots diff: as ctr's, the layer goes to stdout; ``--keep`` keeps it stored."""
    if sys.stdout.isatty():
        raise CliError("refusing to write a layer to a terminal; redirect stdout")
    labels = {**label_pairs(args.label), **(_gc_root() if args.keep else {})}
    snapshots = client.snapshots(args.snapshotter)
    lower = args.lower or (await snapshots.stat(args.key)).parent
    async with client.leases.lease() as leased:
        async with _mounted(leased, args.snapshotter, args.key) as upper_mounts:
            if lower:
                async with _mounted(leased, args.snapshotter, lower) as lower_mounts:
                    desc = await leased.diff.compare(
                        lower_mounts,
                        upper_mounts,
                        media_type=args.media_type,
                        ref=args.ref,
                        labels=labels,
                    )
            else:
                desc = await leased.diff.compare(
                    [], upper_mounts, media_type=args.media_type, ref=args.ref, labels=labels
                )
        sink = sys.stdout.buffer
        async with leased.content.reader(desc.digest) as reader:
            async for chunk in reader:
                sink.write(chunk)
        sink.flush()
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
    p = le.command("rm", leases_rm, "remove leases", aliases=["remove", "delete", "del"])
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
