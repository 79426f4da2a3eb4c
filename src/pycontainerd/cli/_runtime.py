"""pyctr containers, tasks and run.

The SDK modules a command needs are imported inside it: pyctr builds its whole
command tree on every run, and ``pyctr version`` should not pay for ``run``'s
imports (``tests/unit/test_cli_output.py`` checks it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .. import errors
from . import _output as out
from ._app import CliError, Commands, ExitCode, format_option, label_pairs, quiet_option

if TYPE_CHECKING:
    from .. import oci
    from .._client import Client
    from .._containers import Container
    from .._tasks import Process, Task


def register(commands: Commands) -> None:
    """Add the commands of this module."""
    _register_containers(commands)
    _register_tasks(commands)
    _register_run(commands)


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
    p.add_argument("--env-file", help="file of NAME=value lines ('#' comments) to add")
    p.add_argument("--annotation", action="append", default=[], help="KEY=VALUE (repeat)")
    p.add_argument("--hostname", help="the container's host name")
    p.add_argument("--privileged", action="store_true", help="every capability, all devices")
    p.add_argument("--read-only", action="store_true", help="a read-only root filesystem")
    p.add_argument(
        "--allow-new-privs", action="store_true", help="clear the spec's no_new_privileges"
    )
    p.add_argument("--cap-add", action="append", default=[], help="capability to add (repeat)")
    p.add_argument("--cap-drop", action="append", default=[], help="capability to drop (repeat)")
    p.add_argument("--memory-limit", type=int, metavar="BYTES", help="memory limit in bytes")
    p.add_argument("--cpus", type=float, help="CPU quota in CPUs (e.g. 0.5)")
    p.add_argument("--cgroup", help="cgroup path")
    p.add_argument("--runtime", help="runtime name (default: io.containerd.runc.v2)")
    p.add_argument("--sandbox", help="create the container in this sandbox")
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


def _env_file(path: str | None) -> list[str]:
    """The NAME=value lines of ``--env-file`` (blank lines and ``#`` comments skipped)."""
    if path is None:
        return []
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f]
    except OSError as exc:
        raise CliError(f"--env-file {path!r}: {exc.strerror}") from None
    return [line for line in lines if line and not line.startswith("#")]


async def _create_container(client: Client, args: argparse.Namespace) -> Container:
    from .. import oci

    # bad values are refused before anything is made
    mounts = [oci.Mount.parse(m) for m in args.mount]
    labels = label_pairs(args.label)
    annotations = label_pairs(args.annotation)
    env = _env_file(args.env_file) + list(args.env)
    image = await client.images.get(args.image)
    if not await image.is_unpacked(args.snapshotter):
        await image.unpack(args.snapshotter)
    config = await image.config()
    spec = oci.Spec.from_image(
        config,
        args=args.command or None,
        env=env or None,
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
    spec = _with_flags(spec, args, annotations)
    return await client.containers.create(
        args.id,
        image=image,
        spec=spec,
        runtime=args.runtime,
        snapshotter=args.snapshotter,
        labels=labels,
        sandbox=args.sandbox,
    )


def _with_flags(spec: oci.Spec, args: argparse.Namespace, annotations: dict[str, str]) -> oci.Spec:
    """The spec with the security, resource and naming flags of ctr run applied."""
    if args.privileged:
        spec = spec.with_privileged()
    if args.cap_add:
        spec = spec.with_added_capabilities(args.cap_add)
    if args.cap_drop:
        spec = spec.with_dropped_capabilities(args.cap_drop)
    if args.allow_new_privs:
        spec = spec.with_no_new_privileges(False)
    if args.read_only:
        spec = spec.with_readonly_rootfs()
    if args.hostname:
        spec = spec.with_hostname(args.hostname)
    if annotations:
        spec = spec.with_annotations(annotations)
    if args.memory_limit is not None:
        spec = spec.with_memory_limit(args.memory_limit)
    if args.cpus is not None:
        spec = spec.with_cpu_limit(args.cpus)
    if args.cgroup:
        spec = spec.with_cgroups_path(args.cgroup)
    return spec


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
    p = c.command("rm", containers_rm, "remove containers", aliases=["remove", "delete", "del"])
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
    p = t.command("attach", tasks_attach, "attach this terminal to a running task's stdio")
    p.add_argument("id")
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
    p = t.command("rm", tasks_rm, "delete stopped tasks", aliases=["remove", "delete", "del"])
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
    import termios
    import tty

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
    from .._signals import forward_signals

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
    from .. import stdio

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


async def tasks_attach(client: Client, args: argparse.Namespace) -> int:
    """Pyctr tasks attach: as ``ctr tasks attach``, until the task exits, with its exit code.

    Only a task whose stdio are FIFOs can be attached to (one started with
    ``pyctr run -d`` or ``tasks start -d`` has none: its output is discarded).
    """
    from .. import stdio

    container = await client.containers.get(args.id)
    terminal = _process_terminal(container)
    task = await container.task(stdio=stdio.inherit(terminal=terminal))
    raise ExitCode(await _attached(task, terminal=terminal))


def _process_terminal(container: Container) -> bool:
    spec = _spec_json(container)
    return bool(isinstance(spec, dict) and (spec.get("process") or {}).get("terminal"))


async def tasks_kill(client: Client, args: argparse.Namespace) -> int:
    """Pyctr tasks kill."""
    from .._signals import parse_signal

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
    from ..runtime import CriuOptions

    task = await client.tasks.get(args.id)
    criu = CriuOptions(work_path=args.work_path) if args.work_path else None
    if args.image_path:
        await task.checkpoint(exit=args.exit, image_path=args.image_path, criu=criu)
    else:
        print((await task.checkpoint(exit=args.exit, criu=criu)).name)
    return 0


async def tasks_exec(client: Client, args: argparse.Namespace) -> int:
    """Pyctr tasks exec: the process's exit code becomes pyctr's."""
    from .. import stdio

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
    from .._tasks import TaskState

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
    from .. import stdio
    from .._shield import finish

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
