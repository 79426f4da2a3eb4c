"""pyctr images, containers, tasks, run, content, snapshots and leases."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys
import termios
import tty
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import anyio

from .. import errors, oci, stdio
from .._client import Client
from .._containers import Container
from .._image_config import ImageConfig
from .._platforms import Platform
from .._shield import finish
from .._signals import forward_signals, parse_signal
from .._tasks import Process, Task, TaskState
from ..runtime import CriuOptions
from . import _output as out
from ._app import CliError, Commands, ExitCode, format_option, label_pairs, quiet_option


def register(commands: Commands) -> None:
    """Add the commands of this module."""
    _register_images(commands)
    _register_containers(commands)
    _register_tasks(commands)
    _register_run(commands)
    _register_content(commands)
    _register_snapshots(commands)
    _register_leases(commands)
    _register_sandboxes(commands)


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
    _local_option(p, "import")
    p = images.command("export", images_export, "export images to an OCI tar")
    p.add_argument("archive", help="the tar file to write ('-' for stdout)")
    p.add_argument("refs", nargs="+", metavar="REF")
    p.add_argument("--platform", help="export this platform only")
    p.add_argument("--all-platforms", action="store_true", help="export every platform")
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
    _registry_options(p)
    _local_option(p, "push")
    p = images.command("rm", images_rm, "remove images", aliases=["remove", "delete"])
    p.add_argument("refs", nargs="+", metavar="REF")
    p.add_argument("--sync", action="store_true", help="wait for garbage collection")
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
    """'label: 12.0 MiB / 40.0 MiB' on stderr, redrawn in place, only on a terminal."""

    def __init__(self, label: str, total: int | None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.enabled = sys.stderr.isatty()
        self._shown = -1

    def add(self, n: int) -> None:
        self.done += n
        step = self.done >> 20
        if self.enabled and step != self._shown:
            self._shown = step
            total = f" / {out.human_size(self.total)}" if self.total else ""
            sys.stderr.write(f"\r{self.label}: {out.human_size(self.done)}{total}\x1b[K")
            sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled and self._shown >= 0:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


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
    total = None if args.archive == "-" else os.stat(args.archive).st_size
    progress = _Progress("importing", total)
    if not args.local and await client._release() >= (2, 0):
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
            base, prefix=True, allow_overwrite=not args.base_name, add_digest=args.digests
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
        transfer.ImportStream(_read_chunks(args.archive, progress)),
        transfer.ImageStore(
            platforms=platforms,
            all_metadata=args.all_platforms,
            extra_references=names,
            unpack=unpack,
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


def _registry_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", help="USER[:PASSWORD] (the password is asked for if missing)")
    p.add_argument(
        "--insecure",
        "--plain-http",
        action="store_true",
        help="allow plain HTTP and unverified TLS",
    )
    p.add_argument("--ca", help="CA bundle to verify the registry with")


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
    """Sums per-blob registry progress into one progress line (on a terminal)."""

    def __init__(self, label: str) -> None:
        self._line = _Progress(label, None)
        self._blobs: dict[str, tuple[int, int]] = {}

    def __call__(self, update: Any) -> None:
        self._blobs[update.digest] = (update.offset, update.total)
        done = sum(offset for offset, _ in self._blobs.values())
        self._line.total = sum(total for _, total in self._blobs.values()) or None
        self._line.add(done - self._line.done)

    def finish(self) -> None:
        self._line.finish()


async def images_pull(client: Client, args: argparse.Namespace) -> int:
    """Pyctr images pull."""
    progress = _BlobProgress("pulling")
    try:
        image = await client.pull(
            args.ref,
            platform=args.platform,
            unpack=not args.no_unpack,
            snapshotter=args.snapshotter,
            auth=_credentials(args),
            insecure=args.insecure,
            ca=args.ca,
            progress=progress,
            max_concurrent_downloads=args.max_concurrent_downloads,
            local=args.local,
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
            auth=_credentials(args),
            insecure=args.insecure,
            ca=args.ca,
            progress=progress,
            local=args.local,
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


# --- containers ----------------------------------------------------------------------


# argparse shows the trailing REMAINDER as "...", which reads as required.
_SPEC_USAGE = "%(prog)s [options] IMAGE ID [COMMAND [ARG...]]"


def _spec_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--tty", action="store_true", help="give the process a terminal")
    p.add_argument("--env", action="append", default=[], help="NAME=value (repeat)")
    p.add_argument(
        "--mount",
        action="append",
        default=[],
        help="type=bind,src=/a,dst=/b,options=rbind:ro (repeat)",
    )
    p.add_argument("--label", action="append", default=[], help="KEY=VALUE (repeat)")
    p.add_argument("--snapshotter", help="snapshotter for the rootfs")
    p.add_argument("--cwd", help="working directory")
    p.add_argument("-u", "--user", help="user: uid[:gid] or name[:group], from the image")
    p.add_argument("--net-host", action="store_true", help="use the host's network")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("id", metavar="ID")
    command = p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")
    command.required = False  # none: the image's own command runs


def _terminal_size() -> tuple[int, int] | None:
    """This process's terminal size; ``None`` when unknown (no terminal, or one of 0x0).

    A terminal reports 0x0 when nobody set its size: under ``script``, or a CI
    runner's pseudo-terminal.
    """
    for fd in (0, 1, 2):
        try:
            size = os.get_terminal_size(fd)
        except OSError:
            continue
        return (size.columns, size.lines) if size.columns and size.lines else None
    return None


async def _create_container(client: Client, args: argparse.Namespace) -> Container:
    # bad values are refused before anything is made
    mounts = [oci.Mount.parse(m) for m in args.mount]
    labels = label_pairs(args.label)
    image = await client.images.get(args.image)
    if not await image.is_unpacked(args.snapshotter):
        await image.unpack(args.snapshotter)
    config = await image.config()
    spec = oci.Spec.from_image(
        config,
        args=args.command or None,
        env=list(args.env) or None,
        cwd=args.cwd,
        user=args.user,
        # names, and a lone uid's group, come from the image, as the SDK's create does
        rootfs=await image.user_files() if args.user or config.user else None,
        namespace=client.namespace,
        id=args.id,
    )
    if args.tty:
        size = _terminal_size()
        spec = spec.with_tty(**({"columns": size[0], "rows": size[1]} if size else {}))
    if mounts:
        spec = spec.with_mounts(mounts)
    if args.net_host:
        spec = spec.with_host_network()
    return await client.containers.create(
        args.id,
        image=image,
        spec=spec,
        snapshotter=args.snapshotter,
        labels=labels,
    )


def _register_containers(commands: Commands) -> None:
    c = commands.group("containers", "manage containers", aliases=["container", "c"])
    p = c.command("ls", containers_ls, "list containers", aliases=["list"])
    p.add_argument("filters", nargs="*", metavar="FILTER")
    quiet_option(p)
    format_option(p)
    p = c.command("create", containers_create, "create a container", usage=_SPEC_USAGE)
    _spec_options(p)
    p = c.command("info", containers_info, "show a container (JSON)")
    p.add_argument("id")
    p.add_argument("--spec", action="store_true", help="show only its OCI spec")
    p.add_argument("--format", choices=("json",), default="json", help="output format")
    p = c.command("rm", containers_rm, "remove containers", aliases=["remove", "delete"])
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("--keep-snapshot", action="store_true", help="keep the rootfs snapshot")
    p = c.command("label", containers_label, "set labels (an empty value removes one)")
    p.add_argument("id")
    p.add_argument("labels", nargs="*", metavar="KEY=VALUE")
    p = c.command("checkpoint", containers_checkpoint, "checkpoint a container into an image")
    p.add_argument("id")
    p.add_argument("ref", help="the checkpoint image's name")
    p.add_argument("--rw", action="store_true", help="include the rw layer in the checkpoint")
    p.add_argument("--image", action="store_true", help="include the image in the checkpoint")
    p.add_argument("--task", action="store_true", help="checkpoint the container's task")
    p = c.command("restore", containers_restore, "restore a container from a checkpoint")
    p.add_argument("id")
    p.add_argument("ref", help="the checkpoint image's name")
    p.add_argument("--rw", action="store_true", help="restore the rw layer from the checkpoint")
    p.add_argument(
        "--live", action="store_true", help="restore the task's processes from the checkpoint"
    )


def _container_record(container: Container, *, spec: bool = True) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": container.id,
        "labels": container.labels,
        "image": container.image_name,
        "runtime": container.runtime,
        "snapshotter": container.snapshotter,
        "snapshot_key": container.snapshot_key,
        "created_at": container.created_at,
        "updated_at": container.updated_at,
        "extensions": sorted(container.extensions),
    }
    if spec:
        record["spec"] = _spec_json(container)
    return record


def _spec_json(container: Container) -> Any:
    import json

    try:
        return json.loads(container.spec_json or b"null")
    except ValueError:
        return container.spec_json.decode(errors="replace")


async def containers_ls(client: Client, args: argparse.Namespace) -> int:
    """Pyctr containers ls."""
    containers = await client.containers.list(*args.filters)
    return out.listing(
        args,
        containers,
        key=lambda c: c.id,
        headers=["CONTAINER", "IMAGE", "RUNTIME"],
        row=lambda c: [c.id, c.image_name, c.runtime.name],
        json_value=[_container_record(c, spec=False) for c in containers]
        if args.format == "json"
        else None,
    )


async def containers_create(client: Client, args: argparse.Namespace) -> int:
    """Pyctr containers create."""
    container = await _create_container(client, args)
    print(container.id)
    return 0


async def containers_info(client: Client, args: argparse.Namespace) -> int:
    """Pyctr containers info."""
    container = await client.containers.get(args.id)
    out.print_json(_spec_json(container) if args.spec else _container_record(container))
    return 0


async def containers_rm(client: Client, args: argparse.Namespace) -> int:
    """Pyctr containers rm."""
    for cid in args.ids:
        await client.containers.delete(cid, cleanup_snapshot=not args.keep_snapshot)
        print(cid)
    return 0


async def containers_label(client: Client, args: argparse.Namespace) -> int:
    """Pyctr containers label."""
    changes = {k: (v or None) for k, v in label_pairs(args.labels).items()}
    if changes:
        container = await client.containers.update(args.id, labels=changes)
    else:
        container = await client.containers.get(args.id)
    print(out.cell_text(container.labels))
    return 0


async def containers_checkpoint(client: Client, args: argparse.Namespace) -> int:
    """Pyctr containers checkpoint: as ``ctr``'s, only what the flags name besides the runtime."""
    container = await client.containers.get(args.id)
    await container.checkpoint(args.ref, task=args.task, image=args.image, rw=args.rw)
    return 0


async def containers_restore(client: Client, args: argparse.Namespace) -> int:
    """Pyctr containers restore: the container, and its task started (resumed with ``--live``)."""
    checkpoint = await client.images.get(args.ref)
    container = await client.restore(args.id, checkpoint, rw=args.rw)
    task = await container.new_task(checkpoint=checkpoint if args.live else None)
    await task.start()
    return 0


# --- tasks -------------------------------------------------------------------------------


def _register_tasks(commands: Commands) -> None:
    t = commands.group("tasks", "manage tasks", aliases=["task", "t"])
    p = t.command("ls", tasks_ls, "list tasks", aliases=["list"])
    quiet_option(p)
    format_option(p)
    p = t.command("start", tasks_start, "start a container's task (stdio attached)")
    p.add_argument("id")
    p.add_argument("-d", "--detach", action="store_true", help="do not wait for it")
    p.add_argument("-t", "--tty", action="store_true", help="the spec asks for a terminal")
    p = t.command("kill", tasks_kill, "signal a task")
    p.add_argument("id")
    p.add_argument("-s", "--signal", default="SIGTERM", help="name or number (default SIGTERM)")
    p.add_argument("--all", action="store_true", help="signal every process of the task")
    p.add_argument("--exec-id", help="signal this exec process instead of the task's")
    p = t.command("ps", tasks_ps, "list a task's processes")
    p.add_argument("id")
    format_option(p)
    p = t.command("pause", tasks_pause, "pause a task")
    p.add_argument("id")
    p = t.command("resume", tasks_resume, "resume a paused task")
    p.add_argument("id")
    p = t.command("checkpoint", tasks_checkpoint, "checkpoint a task into an image")
    p.add_argument("id")
    p.add_argument("--exit", action="store_true", help="stop the task after the checkpoint")
    p.add_argument("--image-path", help="write CRIU's files here instead of an image")
    p.add_argument("--work-path", help="where CRIU writes its work files and logs")
    p = t.command("exec", tasks_exec, "run another process in a task")
    p.add_argument("--exec-id", required=True, help="id of the new process")
    p.add_argument("-t", "--tty", action="store_true", help="give it a terminal")
    p.add_argument("--cwd", help="working directory")
    p.add_argument("-u", "--user", help="user: uid[:gid] or name[:group], from the image")
    p.add_argument("--env", action="append", default=[], help="NAME=value (repeat)")
    p.add_argument("id")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")
    p = t.command("metrics", tasks_metrics, "show a task's cgroup figures", aliases=["metric"])
    p.add_argument("id")
    format_option(p)
    p = t.command("rm", tasks_rm, "delete stopped tasks", aliases=["remove", "delete"])
    p.add_argument("ids", nargs="+", metavar="ID")
    p.add_argument("-f", "--force", action="store_true", help="kill a running task first")


async def tasks_ls(client: Client, args: argparse.Namespace) -> int:
    """Pyctr tasks ls."""
    tasks = await client.tasks.list()
    return out.listing(
        args,
        tasks,
        key=lambda t: t.container_id,
        headers=["TASK", "PID", "STATUS"],
        row=lambda t: [t.container_id, t.pid, t.state.value.upper()],
    )


@contextlib.contextmanager
def _raw_terminal(enabled: bool) -> Iterator[None]:
    """Put this process's terminal in raw mode (for a container's own terminal)."""
    fd = sys.stdin.fileno() if enabled else -1
    if not enabled or not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


async def _attached(process: Task | Process, *, terminal: bool) -> int:
    """Wait for a started task or process with signals forwarded; return its exit code.

    A terminal of unknown size is no reason to stop: as ``ctr``, warn and
    carry on with the size the runtime gave the process's terminal.
    """
    size = _terminal_size() if terminal else None
    if terminal and size is None:
        out.warn("the terminal's size is unknown (0x0): the process's terminal keeps its own")
    with _raw_terminal(terminal):
        if size is not None:
            with contextlib.suppress(errors.RPCError):
                await process.resize(*size)
        async with forward_signals(process, terminal=terminal):
            return (await process.wait()).code


async def tasks_start(client: Client, args: argparse.Namespace) -> int:
    """Pyctr tasks start: as ``ctr tasks start``, the task's exit code becomes pyctr's."""
    container = await client.containers.get(args.id)
    terminal = args.tty or bool(_process_terminal(container))
    if args.detach:
        task = await container.new_task(stdio=stdio.null(terminal=terminal))
        await task.start()
        print(task.pid)
        return 0
    async with await container.new_task(stdio=stdio.inherit(terminal=terminal)) as task:
        await task.start()
        code = await _attached(task, terminal=terminal)
        await task.delete()
    raise ExitCode(code)


def _process_terminal(container: Container) -> bool:
    spec = _spec_json(container)
    return bool(isinstance(spec, dict) and (spec.get("process") or {}).get("terminal"))


async def tasks_kill(client: Client, args: argparse.Namespace) -> int:
    """Pyctr tasks kill."""
    sig = parse_signal(args.signal)
    if args.exec_id and args.all:
        raise CliError("--all and --exec-id cannot be used together", code=2)
    task = await client.tasks.get(args.id)
    if args.exec_id:
        await (await task.load_process(args.exec_id)).kill(sig)
    else:
        await task.kill(sig, all=args.all)
    return 0


async def tasks_ps(client: Client, args: argparse.Namespace) -> int:
    """Pyctr tasks ps."""
    task = await client.tasks.get(args.id)
    pids = await task.pids()
    if args.format == "json":
        out.print_json(pids)
    else:
        out.table(["PID", "EXEC"], ([p.pid, p.exec_id] for p in pids))
    return 0


async def tasks_pause(client: Client, args: argparse.Namespace) -> int:
    """Pyctr tasks pause."""
    await (await client.tasks.get(args.id)).pause()
    return 0


async def tasks_resume(client: Client, args: argparse.Namespace) -> int:
    """Pyctr tasks resume."""
    await (await client.tasks.get(args.id)).resume()
    return 0


async def tasks_checkpoint(client: Client, args: argparse.Namespace) -> int:
    """Pyctr tasks checkpoint: prints the image's name (nothing with ``--image-path``)."""
    task = await client.tasks.get(args.id)
    criu = CriuOptions(work_path=args.work_path) if args.work_path else None
    if args.image_path:
        await task.checkpoint(exit=args.exit, image_path=args.image_path, criu=criu)
    else:
        print((await task.checkpoint(exit=args.exit, criu=criu)).name)
    return 0


async def tasks_exec(client: Client, args: argparse.Namespace) -> int:
    """Pyctr tasks exec: the process's exit code becomes pyctr's."""
    if not args.command:
        raise CliError("exec needs a command to run", code=2)
    task = await client.tasks.get(args.id)
    process = await task.exec(
        list(args.command),
        id=args.exec_id,
        stdio=stdio.inherit(terminal=args.tty),
        env=list(args.env) or None,
        cwd=args.cwd,
        user=args.user,
        terminal=args.tty,
    )
    async with process:
        code = await _attached(process, terminal=args.tty)
    raise ExitCode(code)


async def tasks_metrics(client: Client, args: argparse.Namespace) -> int:
    """Pyctr tasks metrics."""
    metrics = await (await client.tasks.get(args.id)).metrics()
    if args.format == "json":
        out.print_json(metrics)
        return 0
    out.table(
        ["ID", "TIMESTAMP", "PIDS", "MEMORY", "LIMIT", "CPU"],
        [
            [
                metrics.container_id,
                metrics.timestamp,
                metrics.pids,
                None if metrics.memory_usage is None else out.human_size(metrics.memory_usage),
                None
                if metrics.memory_limit is None or metrics.memory_limit >= 1 << 62
                else out.human_size(metrics.memory_limit),
                None if metrics.cpu_usage_ns is None else f"{metrics.cpu_usage_ns / 1e9:.3f}s",
            ]
        ],
    )
    return 0


async def tasks_rm(client: Client, args: argparse.Namespace) -> int:
    """Pyctr tasks rm."""
    for cid in args.ids:
        task = await client.tasks.get(cid)
        try:
            status = await task.delete(force=args.force)
        except errors.FailedPrecondition:
            state = (await task.status()).state
            if args.force or state is TaskState.STOPPED:
                raise
            raise CliError(
                f"task {cid} is {state.value}: it must be stopped before deletion "
                "(kill it first, or use -f)"
            ) from None
        print(f"{cid} {status.code}")
    return 0


# --- run ---------------------------------------------------------------------------------


def _register_run(commands: Commands) -> None:
    p = commands.command(
        "run", run, "run a container (stdio attached, signals forwarded)", usage=_SPEC_USAGE
    )
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("-d", "--detach", action="store_true", help="start it and return")
    _spec_options(p)


async def run(client: Client, args: argparse.Namespace) -> int:
    """Pyctr run: as ``ctr run``; the container's exit code becomes pyctr's."""
    if args.detach and args.rm:
        raise CliError("--rm and --detach cannot be used together", code=2)
    container = await _create_container(client, args)
    code = 0
    try:
        if args.detach:
            task = await container.new_task(stdio=stdio.null(terminal=args.tty))
            await task.start()
            print(container.id)
            return 0
        async with await container.new_task(stdio=stdio.inherit(terminal=args.tty)) as task:
            await task.start()
            code = await _attached(task, terminal=args.tty)
            await task.delete()
    finally:
        if args.rm:
            with contextlib.suppress(errors.NotFound, TimeoutError):
                await finish(container.delete, timeout=30)
    raise ExitCode(code)


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
