"""Tasks (a container's running init process) and exec processes."""

from __future__ import annotations

import contextlib
import enum
import functools
import json
import secrets
import signal as _signal
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, cast, overload

import anyio
import attrs
import betterproto
from anyio.abc import ByteReceiveStream, ByteSendStream
from betterproto.lib.google.protobuf import Any as AnyProto

from . import errors
from ._abc import AsyncResource, JSONable
from ._api import _registry, _rpc
from ._api.containerd.services.tasks.v1 import (
    CloseIoRequest,
    CreateTaskRequest,
    DeleteProcessRequest,
    DeleteResponse,
    DeleteTaskRequest,
    ExecProcessRequest,
    GetRequest,
    KillRequest,
    ListPidsRequest,
    ListTasksRequest,
    MetricsRequest,
    PauseTaskRequest,
    ResizePtyRequest,
    ResumeTaskRequest,
    StartRequest,
    UpdateTaskRequest,
    WaitRequest,
    WaitResponse,
)
from ._api.containerd.types import Metric as MetricProto
from ._api.containerd.v1.types import Process as ProcessProto
from ._api.containerd.v1.types import Status as StatusProto
from ._convert import timestamp
from ._facade import Facade
from ._identifiers import shown, validate
from ._shield import Creation, Removal, finish
from ._wire import encode_scalars
from .events import filters as _filters
from .oci._env import env_entries, merge_env
from .oci._user import Rootfs, resolve_user
from .stdio import Pipes, PipesT_co, Stdio, null
from .stdio._io import TaskIO

if TYPE_CHECKING:
    from . import oci
    from ._client import Client
    from ._containers import Container
    from ._images import Image
    from .runtime import CriuOptions

__all__ = [
    "ExitStatus",
    "Metrics",
    "Process",
    "ProcessInfo",
    "RunResult",
    "Task",
    "TaskState",
    "TaskStatus",
    "Tasks",
]

PROCESS_SPEC_TYPE: Final = "types.containerd.io/opencontainers/runtime-spec/1/Process"
RESOURCES_SPEC_TYPE: Final = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"
STOP_SIGNAL_LABEL: Final = "io.containerd.image.config.stop-signal"
UNKNOWN_EXIT: Final = 255
"""The exit code reported when the real one cannot be known (as containerd's Go client)."""

CLEANUP_TIMEOUT: Final = 30.0
"""Seconds the shielded cleanup of ``async with`` may take before giving up."""

WAIT_RETRY_FOR: Final = 60.0
"""Seconds a wait keeps retrying while the daemon cannot be reached."""

# What the shim answers a delete of a process that runs.
_STILL_RUNNING: Final = "cannot delete a running process"
# What the daemon answers for a task whose shim is dead (containerd's ttrpc.ErrClosed).
_SHIM_GONE: Final = "ttrpc: closed"

# Errors that say the call broke, not that the daemon refused it.
_TRANSPORT_ERRORS = (errors.Unavailable, errors.DeadlineExceeded, errors.Canceled)


_P = TypeVar("_P", bound=Pipes | None)  # what a function's `stdio` says `pipes` is


@attrs.frozen(kw_only=True)
class ExitStatus:
    """How a process ended.

    Attributes:
        code: the exit code; ``128 + n`` when killed by signal ``n``.
        exited_at: when it exited (UTC), if known.

    Example:
        ```python
        status = await task.wait()
        if status.code:
            print("failed at", status.exited_at)
        ```
    """

    code: int
    exited_at: datetime | None = None

    @property
    def signal(self) -> _signal.Signals | None:
        """The signal that killed the process, if the code says so (``128 + n``)."""
        if 128 < self.code < 128 + 65:
            try:
                return _signal.Signals(self.code - 128)
            except ValueError:
                return None
        return None


async def process_as_asked(
    client: Client,
    container_id: str,
    exec_id: str,
    request: CreateTaskRequest | ExecProcessRequest,
) -> bool:
    """Whether the task (or exec process) there is the one `request` asked for (`Creation.owned`).

    It must not have started, and its stdio must be the request's: FIFO
    paths are of this client's making (a new directory each time), so
    another's process never has them. Without stdio (all empty), a
    process that has not started is taken for ours.
    """
    try:
        reply = await client._caller.unary(
            _rpc.Tasks.Get,
            encode_scalars(GetRequest, container_id=container_id, exec_id=exec_id),
        )
    except errors.NotFound:
        return False
    found = reply.process
    return TaskState._from_proto(found.status) is TaskState.CREATED and (
        found.stdin,
        found.stdout,
        found.stderr,
        found.terminal,
    ) == (request.stdin, request.stdout, request.stderr, request.terminal)


class TaskState(enum.Enum):
    """The state of a task or exec process, as the daemon reports it."""

    UNKNOWN = "unknown"
    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"
    PAUSED = "paused"
    PAUSING = "pausing"

    @classmethod
    def _from_proto(cls, value: StatusProto | int) -> TaskState:
        return _STATES.get(int(value), cls.UNKNOWN)


_STATES = {
    StatusProto.CREATED: TaskState.CREATED,
    StatusProto.RUNNING: TaskState.RUNNING,
    StatusProto.STOPPED: TaskState.STOPPED,
    StatusProto.PAUSED: TaskState.PAUSED,
    StatusProto.PAUSING: TaskState.PAUSING,
}


@attrs.frozen(kw_only=True)
class TaskStatus:
    """A task's or exec process's state at one moment.

    Attributes:
        container_id: the container the task belongs to.
        exec_id: the exec process id, ``None`` for the task's init process.
        pid: the process id on the host (0 when not known).
        state: created, running, paused, stopped, ...
        exit_code: the exit code once stopped, else ``None``.
        exited_at: when it stopped, else ``None``.
        terminal: whether it has a pseudo-terminal.
    """

    container_id: str
    exec_id: str | None = None
    pid: int = 0
    state: TaskState = TaskState.UNKNOWN
    exit_code: int | None = None
    exited_at: datetime | None = None
    terminal: bool = False

    @classmethod
    def _from_proto(
        cls, msg: ProcessProto, *, container_id: str | None = None, exec_id: str = ""
    ) -> TaskStatus:
        # Tasks.List fills only `id` (the container id); Get knows what it asked for.
        state = TaskState._from_proto(msg.status)
        stopped = state is TaskState.STOPPED
        return cls(
            container_id=container_id or msg.container_id or msg.id,
            exec_id=exec_id or None,
            pid=msg.pid,
            state=state,
            exit_code=msg.exit_status if stopped else None,
            exited_at=timestamp(msg.exited_at) if stopped else None,
            terminal=msg.terminal,
        )


@attrs.frozen(kw_only=True)
class ProcessInfo:
    """One process inside a task (from `Task.pids`).

    Attributes:
        pid: the host process id.
        exec_id: the exec process it belongs to, when it is one's main process.
    """

    pid: int
    exec_id: str | None = None


@attrs.frozen(kw_only=True)
class Metrics:
    """A task's cgroup statistics.

    The common figures are decoded into attributes; everything else is in
    `data`, the decoded ``io.containerd.cgroups.v1.Metrics`` (or ``v2``)
    message (a generated class: the raw escape hatch).

    Attributes:
        container_id: the task's container.
        timestamp: when the daemon sampled the figures.
        type_url: the type of `data`.
        pids: number of processes in the cgroup.
        memory_usage: bytes of memory used.
        memory_limit: the memory limit in bytes.
        cpu_usage_ns: total CPU time in nanoseconds.
        data: the decoded message (``None`` if the type is unknown).
    """

    container_id: str
    timestamp: datetime | None
    type_url: str
    pids: int | None = None
    memory_usage: int | None = None
    memory_limit: int | None = None
    cpu_usage_ns: int | None = None
    data: betterproto.Message | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def _from_proto(cls, metric: MetricProto, *, container_id: str) -> Metrics:
        type_url, data, figures = decode_metric_data(metric.data)
        return cls(
            container_id=metric.id or container_id,
            timestamp=timestamp(metric.timestamp),
            type_url=type_url,
            data=data,
            **figures,
        )


def decode_metric_data(
    data: AnyProto | None,
) -> tuple[str, betterproto.Message | None, dict[str, int | None]]:
    """A metric's payload: its type URL, the decoded message, and the common figures of a cgroup.

    The figures (``pids``, ``memory_usage``, ``memory_limit``, ``cpu_usage_ns``)
    are read from ``io.containerd.cgroups.v1.Metrics`` and ``v2`` messages;
    any other payload gives none.
    """
    type_url = data.type_url if data is not None else ""
    cls = _registry.MESSAGES.get(type_url.rpartition("/")[2])
    message = cls().parse(data.value) if cls is not None and data is not None else None
    figures: dict[str, int | None] = {}
    if type_url.endswith("cgroups.v1.Metrics") and message is not None:
        d: Any = message
        figures = {
            "pids": d.pids.current,
            "memory_usage": d.memory.usage.usage,
            "memory_limit": d.memory.usage.limit,
            "cpu_usage_ns": d.cpu.usage.total,
        }
    elif type_url.endswith("cgroups.v2.Metrics") and message is not None:
        d = message
        figures = {
            "pids": d.pids.current,
            "memory_usage": d.memory.usage,
            "memory_limit": d.memory.usage_limit,
            "cpu_usage_ns": d.cpu.usage_usec * 1000,
        }
    return type_url, message, figures


@attrs.frozen(kw_only=True)
class RunResult:
    """What `Client.run` and `Task.exec_run` return (like `subprocess.CompletedProcess`).

    Attributes:
        args: the command that ran.
        code: its exit code.
        stdout: its standard output.
        stderr: its standard error (empty with a terminal).
        exited_at: when it exited.
        truncated: whether output beyond ``max_output`` was dropped.
    """

    args: tuple[str, ...]
    code: int
    stdout: bytes = b""
    stderr: bytes = b""
    exited_at: datetime | None = None
    truncated: bool = False

    @property
    def returncode(self) -> int:
        """Alias of `code`, as in `anyio.run_process`."""
        return self.code

    def check_returncode(self) -> None:
        """Raise `pycontainerd.errors.ExitCodeError` if `code` is not zero."""
        if self.code:
            raise errors.ExitCodeError(self)


def _signal_number(sig: int | str | _signal.Signals) -> int:
    if isinstance(sig, int):
        return int(sig)
    text = sig.strip().upper()
    if text.isdigit():
        return int(text)
    name = text if text.startswith("SIG") else "SIG" + text
    try:
        return int(_signal.Signals[name])
    except KeyError:
        raise ValueError(f"unknown signal {shown(sig)}") from None


def _status_of(reply: WaitResponse | DeleteResponse) -> ExitStatus:
    code = reply.exit_status
    return ExitStatus(code=code, exited_at=timestamp(reply.exited_at))


def _checked_args(args: Sequence[str]) -> list[str]:
    if isinstance(args, str | bytes) or not args:
        raise ValueError(f"args must be a non-empty sequence of strings, not {args!r:.60}")
    checked = list(args)
    for arg in checked:
        if not isinstance(arg, str):
            raise TypeError(f"args must be strings: {arg!r:.60}")
        if "\0" in arg:
            raise errors.InvalidArgument(f"argument {arg!r:.60} contains a NUL")
    return checked


def _override_process(
    process: dict[str, Any],
    *,
    env: Mapping[str, str] | Sequence[str] | None,
    cwd: str | None,
    user: str | int | None,
    rootfs: Rootfs | None,
) -> None:
    """Apply a run's or exec's env (merged by name), cwd and user to an OCI process dict.

    The user is resolved as `oci.Spec.with_user` does, names looked up in `rootfs`.
    """
    if env is not None:
        # Validated as specs' env is; merged by name as containerd merges it.
        process["env"] = list(merge_env(process.get("env") or [], env))
    if cwd is not None:
        if "\0" in cwd:
            raise errors.InvalidArgument(f"cwd {cwd!r:.60} contains a NUL")
        process["cwd"] = cwd
    if user is not None:
        resolved = resolve_user(str(user), rootfs)
        process["user"] = {
            **(process.get("user") or {}),
            "uid": resolved.uid,
            "gid": resolved.gid,
            "additionalGids": list(resolved.additional_gids),
        }


def _checked_process(process: oci.Process) -> bytes:
    """An exec's `oci.Process` as JSON, checked as a spec's process is (before any RPC)."""
    _checked_args(process.args)
    env_entries(process.env)
    if "\0" in process.cwd:
        raise errors.InvalidArgument(f"cwd {process.cwd!r:.60} contains a NUL")
    if not process.cwd.startswith("/"):
        raise errors.InvalidArgument(f"cwd must be an absolute path, got {process.cwd!r:.60}")
    return process.to_json()


def _resources_json(resources: Mapping[str, Any] | JSONable) -> bytes:
    if isinstance(resources, Mapping):
        return json.dumps(dict(resources), separators=(",", ":")).encode()
    data = resources.to_json()
    return data.encode() if isinstance(data, str) else data


class _ProcessHandle(AsyncResource, Generic[PipesT_co]):
    """What a task's init process and an exec process have in common."""

    def __init__(
        self, client: Client, container_id: str, exec_id: str, io: TaskIO | None, pid: int
    ) -> None:
        self._client = client
        self._container_id = container_id
        self._exec_id = exec_id
        self._io = io
        self._pid = pid
        self._exit: ExitStatus | None = None
        self._deleted: ExitStatus | None = None
        self._delete_tried = False
        if io is not None:
            io.on_stdin_close(self._close_io_rpc)
            client._fifos.add(io, client.namespace, container_id, exec_id)

    def _describe(self) -> str:
        if self._exec_id:
            return f"exec process {self._exec_id!r} of task {self._container_id!r}"
        return f"task {self._container_id!r}"

    @property
    def pid(self) -> int:
        """The host process id (0 until known)."""
        return self._pid

    @property
    def pipes(self) -> PipesT_co:
        r"""The process's streams: a `stdio.Pipes` with `stdio.pipes`, else ``None``.

        The type says which: made with ``stdio=stdio.pipes()``, this is a
        ``Task[Pipes]`` (or ``Process[Pipes]``) whose ``pipes`` is never
        ``None``, so ``task.pipes.stdin`` needs no check.

        Example:
            ```python
            async with await container.new_task(stdio=stdio.pipes()) as task:
                await task.start()
                await task.pipes.stdin.send(b"hello\n")
                await task.close_stdin()
                async for chunk in task.pipes.stdout:
                    print(chunk)
            ```
        """
        return cast(PipesT_co, self._io.pipes if self._io is not None else None)

    @property
    def stdin(self) -> ByteSendStream | None:
        """The stream to the process's stdin (with `stdio.pipes`), else ``None``.

        Typed as possibly ``None`` whatever the stdio; ``pipes.stdin`` is not.
        """
        if self._io is None or self._io.config.mode != "pipes":
            return None
        return self._io.stdin

    @property
    def stdout(self) -> ByteReceiveStream | None:
        """The stream of the process's stdout (with `stdio.pipes`), else ``None``.

        Typed as possibly ``None`` whatever the stdio; ``pipes.stdout`` is not.
        """
        if self._io is None or self._io.config.mode != "pipes":
            return None
        return self._io.stdout

    @property
    def stderr(self) -> ByteReceiveStream | None:
        """The stream of the process's stderr (`stdio.pipes`, no terminal), else ``None``.

        Typed as possibly ``None`` whatever the stdio; ``pipes.stderr`` is not.
        """
        if self._io is None or self._io.config.mode != "pipes":
            return None
        return self._io.stderr

    @property
    def captured_stdout(self) -> bytes:
        """Output collected so far with `stdio.capture` (complete after `wait`)."""
        return bytes(self._io.captured["stdout"]) if self._io is not None else b""

    @property
    def captured_stderr(self) -> bytes:
        """Error output collected so far with `stdio.capture` (complete after `wait`)."""
        return bytes(self._io.captured["stderr"]) if self._io is not None else b""

    @property
    def output_truncated(self) -> bool:
        """Whether `stdio.capture` dropped output beyond its ``max_bytes``."""
        return self._io is not None and self._io.truncated

    async def _wait_status(self) -> ExitStatus:
        failing_since: float | None = None
        delay = 0.05
        while True:
            try:
                reply = await self._client._caller.unary(
                    _rpc.Tasks.Wait,
                    encode_scalars(
                        WaitRequest, container_id=self._container_id, exec_id=self._exec_id
                    ),
                    timeout=None,
                )
            except (errors.Unavailable, errors.Canceled):
                # The transport broke (daemon restarting...): the process did not exit.
                now = anyio.current_time()
                failing_since = now if failing_since is None else failing_since
                if now - failing_since > WAIT_RETRY_FOR:
                    raise
                await anyio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            except errors.NotFound as exc:
                if failing_since is None:
                    raise
                # Known before the outage, gone after it: the restarted daemon
                # dropped it (2.x does so with a task whose shim it could not
                # take back), and its exit status went with it. Not an exit:
                # the outage's error, which a caller may retry on.
                transport = self._client._caller.transport
                raise errors.ConnectionError(
                    f"{self._describe()} was lost while the daemon at {transport.address} restarted;"
                    " its exit status is unknown",
                    address=transport.address,
                    method=exc.method,
                    in_flight=True,
                ) from exc
            return _status_of(reply)

    async def _wait(self) -> ExitStatus:
        io = self._io
        if self._exit is not None and (io is None or not io.pumps):
            return self._exit
        exited = anyio.Event()
        error: Exception | None = None
        status: ExitStatus | None = self._exit
        async with anyio.create_task_group() as tg:
            if io is not None and io.pumps:
                tg.start_soon(io.pump, exited)
            try:
                if status is None:
                    status = self._exit = await self._wait_status()
            except Exception as exc:  # raised below, not wrapped in an ExceptionGroup
                error = exc
                tg.cancel_scope.cancel()
            finally:
                exited.set()
        if error is not None:
            raise error
        assert status is not None
        return status

    async def kill(
        self, signal: int | str | _signal.Signals = _signal.SIGTERM, *, all: bool = False
    ) -> None:
        """Send `signal` (a number, ``"SIGKILL"`` or ``"KILL"``) to the process.

        The default is SIGTERM for a `Task` and a `Process` alike, as in
        containerd's Go client and ``ctr tasks kill``.

        Args:
            signal: the signal to send (default SIGTERM).
            all: send it to every process of the task, not only the init process.

        Raises:
            pycontainerd.errors.NotFound: the process already exited or is gone.
            ValueError: unknown signal name.

        Example:
            ```python
            await task.kill("SIGKILL")
            ```
        """
        await self._client._caller.unary(
            _rpc.Tasks.Kill,
            encode_scalars(
                KillRequest,
                container_id=self._container_id,
                exec_id=self._exec_id,
                signal=_signal_number(signal),
                all=all,
            ),
        )

    async def _close_io_rpc(self) -> None:
        await self._client._caller.unary(
            _rpc.Tasks.CloseIO,
            encode_scalars(
                CloseIoRequest, container_id=self._container_id, exec_id=self._exec_id, stdin=True
            ),
        )

    async def close_stdin(self) -> None:
        """Close the process's stdin: it reads end-of-file after all data sent.

        Example:
            ```python
            async with await container.new_task(stdio=stdio.pipes()) as task:
                await task.start()
                await task.pipes.stdin.send(b"data")
                await task.close_stdin()
            ```
        """
        if self._io is not None and self._io.stdin is not None:
            await self._io.stdin.aclose()  # closes our end, then tells the shim
        else:
            await self._close_io_rpc()

    async def resize(self, columns: int, rows: int) -> None:
        """Set the size of the process's terminal.

        Example:
            ```python
            await task.resize(120, 40)
            ```
        """
        if columns <= 0 or rows <= 0:
            raise ValueError(f"terminal size must be positive, not {columns}x{rows}")
        await self._client._caller.unary(
            _rpc.Tasks.ResizePty,
            encode_scalars(
                ResizePtyRequest,
                container_id=self._container_id,
                exec_id=self._exec_id,
                width=columns,
                height=rows,
            ),
        )

    async def status(self) -> TaskStatus:
        """The process's current state.

        Raises:
            pycontainerd.errors.NotFound: the task or process does not exist.

        Example:
            ```python
            print((await task.status()).state)
            ```
        """
        reply = await self._client._caller.unary(
            _rpc.Tasks.Get,
            encode_scalars(GetRequest, container_id=self._container_id, exec_id=self._exec_id),
        )
        return TaskStatus._from_proto(
            reply.process, container_id=self._container_id, exec_id=self._exec_id
        )

    async def _delete_rpc(self) -> ExitStatus:
        if self._exec_id:
            request = encode_scalars(
                DeleteProcessRequest, container_id=self._container_id, exec_id=self._exec_id
            )
            rpc: _rpc.Unary[Any, DeleteResponse] = _rpc.Tasks.DeleteProcess
        else:
            request = encode_scalars(DeleteTaskRequest, container_id=self._container_id)
            rpc = _rpc.Tasks.Delete

        async def delete() -> ExitStatus:
            retry = self._delete_tried
            self._delete_tried = True
            pause = 0.05
            while True:
                try:
                    reply = await self._client._caller.unary(rpc, request)
                except errors.NotFound:
                    if not retry:
                        raise
                    # An earlier attempt got through (or the daemon cleaned up
                    # after a dead shim): the process is gone.
                    return self._exit or ExitStatus(code=UNKNOWN_EXIT)
                except errors.Unknown as exc:
                    # The shim died: the daemon refuses the delete ("ttrpc:
                    # closed") until it has noticed, then cleans up itself.
                    if _SHIM_GONE not in exc.message:
                        raise
                    retry = True
                    await anyio.sleep(pause)
                    pause = min(pause * 2, 1.0)
                    continue
                return _status_of(reply)

        # Tried once, a delete counts as tried for good (a later `delete` or
        # teardown of this handle reads NotFound as done), hence the flag
        # rather than a Removal.
        return await finish(delete, timeout=CLEANUP_TIMEOUT)

    async def _delete(self, *, force: bool, deletable: tuple[TaskState, ...]) -> ExitStatus:
        if self._deleted is not None:
            return self._deleted
        stopped = self._exit is not None
        if force:
            await self._force_stop()
            stopped = self._exit is not None
        elif not self._delete_tried and self._exit is None:
            # Not known to have exited: check on the client side, as the Go client
            # does (the shim's own refusal comes back as an opaque UNKNOWN error).
            state = (await self.status()).state
            if state not in deletable:
                raise errors.FailedPrecondition(
                    f"{self._describe()} is {state.value}: it must be stopped before deletion "
                    "(kill it and wait, or delete(force=True))"
                )
            stopped = stopped or state is TaskState.STOPPED
        if stopped and self._io is not None and self._io.pumps:
            await self._wait()  # collect the rest of the output first
        try:
            status = await self._delete_rpc()
        except errors.Unknown as exc:
            # A start cut short by a cancellation can land after `_force_stop`
            # found the process created (nothing to kill): it runs now. Stop it.
            if not force or _STILL_RUNNING not in exc.message:
                raise
            await self._force_stop()
            status = await self._delete_rpc()
        if self._exit is not None and status.code == UNKNOWN_EXIT:
            status = self._exit
        self._deleted = status
        self._exit = self._exit or status
        self._close_io(removed=True)
        return status

    def _close_io(self, *, removed: bool) -> None:
        if removed:
            # Gone from the daemon: what any handle of this client holds for it goes
            # too (a task's exec processes went with it). This handle's own is among them.
            exec_id = self._exec_id or None
            self._client._fifos.release(self._client.namespace, self._container_id, exec_id)
        elif self._io is not None:
            self._io.close()

    async def _force_stop(self) -> None:
        if self._exit is None:
            if self._exec_id:
                try:
                    state = (await self.status()).state
                except errors.NotFound:
                    return
                if state is TaskState.CREATED:
                    return  # never started: nothing to kill, and a wait would block
            try:
                await self.kill(_signal.SIGKILL, all=not self._exec_id)
            except (errors.NotFound, errors.FailedPrecondition, errors.Unknown):
                pass
            with anyio.move_on_after(10):
                try:
                    await self._wait()
                except (errors.NotFound, errors.Unknown):
                    pass  # Unknown: the shim died ("ttrpc: closed"), and what it ran with it

    async def aclose(self) -> None:
        """Kill (if running), wait for and delete the task or process; closes its streams.

        What leaving ``async with`` does: shielded from cancellation, bounded
        by `CLEANUP_TIMEOUT`; a no-op once it is deleted.

        Example:
            ```python
            task = await container.new_task()
            try:
                await task.start()
            finally:
                await task.aclose()
            ```
        """
        await self._teardown(cleanup_timeout=CLEANUP_TIMEOUT)

    async def _teardown(self, *, cleanup_timeout: float) -> None:
        """Kill, wait and delete, to the end however the task is cancelled, bounded in time."""

        async def delete() -> None:
            if self._deleted is None:
                try:
                    await self._delete(force=True, deletable=())
                except errors.NotFound:
                    self._close_io(removed=True)

        try:
            await finish(Removal(delete), timeout=cleanup_timeout)
        finally:
            self._close_io(removed=False)


def _finish_run(
    args: tuple[str, ...], status: ExitStatus, handle: _ProcessHandle[Pipes | None], *, check: bool
) -> RunResult:
    """The `RunResult` of a captured run (raises `ExitCodeError` with `check`)."""
    result = RunResult(
        args=args,
        code=status.code,
        stdout=handle.captured_stdout,
        stderr=handle.captured_stderr,
        exited_at=status.exited_at,
        truncated=handle.output_truncated,
    )
    if check:
        result.check_returncode()
    return result


class Task(_ProcessHandle[PipesT_co]):
    """A container's task: its running (or created, or stopped) init process.

    Made by `Container.new_task` (not yet started) or `Container.task`
    (loads a task that exists). As an async context manager it kills,
    waits for and deletes the task on exit (`aclose`), shielded from
    cancellation and bounded in time; entering does no I/O, leaving blocks
    until the task is gone (at most `CLEANUP_TIMEOUT` seconds).

    Its type parameter is what `pipes` is: a task made with
    ``stdio=stdio.pipes()`` is a ``Task[stdio.Pipes]``, with another stdio a
    ``Task[None]``; a bare ``Task`` means either.

    Example:
        ```python
        async with await container.new_task(stdio=stdio.capture()) as task:
            await task.start()
            status = await task.wait()
        print(status.code, task.captured_stdout)
        ```
    """

    def __init__(
        self,
        client: Client,
        container: Container,
        *,
        pid: int = 0,
        io: TaskIO | None = None,
    ) -> None:
        super().__init__(client, container.id, "", io, pid)
        self._container = container

    def __repr__(self) -> str:
        return f"<Task {self._container_id!r} pid={self._pid}>"

    @property
    def id(self) -> str:
        """The task's id: its container's id."""
        return self._container_id

    @property
    def container(self) -> Container:
        """The container this task runs."""
        return self._container

    async def spec(self) -> oci.Spec:
        """The OCI spec the task runs with: its container's, as the daemon stores it now.

        Read from the container's record on each call (containerd's
        ``Task.Spec``), not from the `container` this handle was made with,
        so an update made since shows.

        Raises:
            pycontainerd.errors.NotFound: the container is gone.

        Example:
            ```python
            spec = await task.spec()
            print(spec.process.args if spec.process else None)
            ```
        """
        container = await self._client.containers.get(self._container_id)
        return container.spec

    async def start(self) -> int:
        """Start the task's init process; returns its pid.

        Example:
            ```python
            pid = await task.start()
            ```
        """
        reply = await self._client._caller.unary(
            _rpc.Tasks.Start,
            encode_scalars(StartRequest, container_id=self._container_id),
        )
        self._pid = reply.pid
        return reply.pid

    async def wait(self) -> ExitStatus:
        """Wait until the task exits; with `stdio.capture` or `stdio.inherit`, until its output is copied too.

        Valid before or after `start`, idempotent (later calls return the
        same status at once) and safe to call from many tasks at once. A wait
        broken by the transport (daemon restart) is retried, never reported
        as an exit.

        Example:
            ```python
            status = await task.wait()
            print(status.code)
            ```
        """
        return await self._wait()

    async def pause(self) -> None:
        """Freeze every process of the task.

        Example:
            ```python
            await task.pause()
            await task.resume()
            ```
        """
        await self._client._caller.unary(
            _rpc.Tasks.Pause,
            encode_scalars(PauseTaskRequest, container_id=self._container_id),
        )

    async def resume(self) -> None:
        """Thaw a paused task."""
        await self._client._caller.unary(
            _rpc.Tasks.Resume,
            encode_scalars(ResumeTaskRequest, container_id=self._container_id),
        )

    @overload
    async def checkpoint(
        self,
        *,
        name: str | None = None,
        exit: bool = False,
        image_path: None = None,
        criu: CriuOptions | None = None,
    ) -> Image: ...

    @overload
    async def checkpoint(
        self,
        *,
        name: str | None = None,
        exit: bool = False,
        image_path: str,
        criu: CriuOptions | None = None,
    ) -> None: ...

    async def checkpoint(
        self,
        *,
        name: str | None = None,
        exit: bool = False,
        image_path: str | None = None,
        criu: CriuOptions | None = None,
    ) -> Image | None:
        """Dump the task with CRIU into an image (as Go's ``Task.Checkpoint`` and ``ctr tasks checkpoint``).

        A running task is paused for the checkpoint and resumed after it
        (unless `exit`). The image's index holds the CRIU dump, the
        container's spec, its image and its rootfs changes, with containerd's
        checkpoint media types; it carries the label
        ``containerd.io/checkpoint=true``. Everything is written under a
        lease: if the checkpoint fails or is cancelled, nothing it wrote is
        left and the task is resumed. Restore it into this container with
        ``container.new_task(checkpoint=image)`` once the task is gone;
        `Container.checkpoint` makes checkpoints that `Client.restore` turns
        into new containers.

        Args:
            name: the image's name (default: containerd's
                ``containerd.io/checkpoint/<id>:<MM-DD-YYYY-HH:MM:SS>``).
            exit: let the task exit after the dump (else it runs on).
            image_path: an absolute directory of the daemon's host for the
                CRIU files instead of the content store; nothing is stored
                and ``None`` is returned.
            criu: CRIU's options (runc's ``CheckpointOptions``); without
                them, and without `exit` and `image_path`, the request
                carries none and the shim's defaults apply.

        Returns:
            The checkpoint image, or ``None`` with `image_path`.

        Raises:
            pycontainerd.errors.InvalidArgument: a bad `name` or a relative
                `image_path`.
            pycontainerd.errors.Unknown: the runtime failed to checkpoint; the
                message quotes runc's error and names CRIU's log.

        Example:
            ```python
            image = await task.checkpoint(exit=True)
            await task.delete()
            async with await task.container.new_task(checkpoint=image) as restored:
                await restored.start()  # carries on where the dump left off
            ```
        """
        from ._checkpoint import checkpoint_task

        return await checkpoint_task(self, name=name, exit=exit, image_path=image_path, criu=criu)

    async def pids(self) -> list[ProcessInfo]:
        """Every process in the task: the init process and exec processes' children.

        Example:
            ```python
            print([p.pid for p in await task.pids()])
            ```
        """
        reply = await self._client._caller.unary(
            _rpc.Tasks.ListPids,
            encode_scalars(ListPidsRequest, container_id=self._container_id),
        )
        found = []
        for p in reply.processes:
            exec_id = None
            if p.info is not None and p.info.type_url:
                cls = _registry.MESSAGES.get(p.info.type_url.rpartition("/")[2])
                if cls is not None:
                    exec_id = getattr(cls().parse(p.info.value), "exec_id", None) or None
            found.append(ProcessInfo(pid=p.pid, exec_id=exec_id))
        return found

    async def metrics(self) -> Metrics:
        """The task's cgroup statistics.

        Example:
            ```python
            m = await task.metrics()
            print(m.memory_usage, m.pids)
            ```
        """
        reply = await self._client._caller.unary(
            _rpc.Tasks.Metrics,
            MetricsRequest(filters=[f"id=={self._container_id}"]),
        )
        if not reply.metrics:
            raise errors.NotFound(f"no metrics for task {self._container_id!r}")
        return Metrics._from_proto(reply.metrics[0], container_id=self._container_id)

    async def update(
        self,
        resources: Mapping[str, Any] | JSONable,
        *,
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        """Change the task's resource limits (the OCI ``linux.resources`` object).

        Args:
            resources: an `oci` resources value, or its JSON form as a dict,
                e.g. ``{"memory": {"limit": 64 << 20}}``.
            annotations: passed to the runtime with the update.

        Example:
            ```python
            await task.update({"memory": {"limit": 128 * 1024 * 1024}})
            ```
        """
        await self._client._caller.unary(
            _rpc.Tasks.Update,
            UpdateTaskRequest(
                container_id=self._container_id,
                resources=AnyProto(type_url=RESOURCES_SPEC_TYPE, value=_resources_json(resources)),
                annotations=dict(annotations or {}),
            ),
        )

    async def stop(self, grace: float = 10.0) -> ExitStatus:
        """Stop the task: its stop signal, then SIGKILL after `grace` seconds, then reap.

        The stop signal is the image's (recorded as a container label when
        the container was made from an image), else SIGTERM. Returns the exit
        status; the task is not deleted. (`grace` is not a ``timeout=``: it
        bounds no call, the task gets SIGKILL when it runs out.)

        Example:
            ```python
            status = await task.stop(grace=5)
            await task.delete()
            ```
        """
        sig: int | str = _signal.SIGTERM
        label = self._container.labels.get(STOP_SIGNAL_LABEL)
        if label:
            sig = label
        if self._exit is not None:
            return self._exit
        try:
            await self.kill(sig, all=False)
        except errors.NotFound:
            return await self.wait()
        with anyio.move_on_after(grace):
            return await self.wait()
        try:
            await self.kill(_signal.SIGKILL, all=True)
        except errors.NotFound:
            pass
        return await self.wait()

    async def delete(self, *, force: bool = False) -> ExitStatus:
        """Delete the task; returns its exit status.

        Without `force` the task must be stopped (checked on the client side,
        as containerd's Go client does). With `force` it is killed with
        SIGKILL first. Retriable: if an earlier attempt got through, a retry
        returns the status instead of raising `NotFound`. Collects the rest of
        captured output first; closes and removes the FIFOs.

        Raises:
            pycontainerd.errors.FailedPrecondition: the task is still running.
            pycontainerd.errors.NotFound: there is no such task.

        Example:
            ```python
            await task.kill()
            await task.wait()
            status = await task.delete()
            ```
        """
        return await self._delete(force=force, deletable=(TaskState.STOPPED, TaskState.UNKNOWN))

    @overload
    async def exec(
        self,
        args: Sequence[str],
        *,
        id: str | None = None,
        stdio: Stdio[_P],
        env: Mapping[str, str] | Sequence[str] | None = None,
        cwd: str | None = None,
        user: str | int | None = None,
        terminal: bool | None = None,
        start: bool = True,
    ) -> Process[_P]: ...

    @overload
    async def exec(
        self,
        args: Sequence[str],
        *,
        id: str | None = None,
        stdio: None = None,
        env: Mapping[str, str] | Sequence[str] | None = None,
        cwd: str | None = None,
        user: str | int | None = None,
        terminal: bool | None = None,
        start: bool = True,
    ) -> Process[None]: ...

    @overload
    async def exec(
        self,
        *,
        process: oci.Process,
        id: str | None = None,
        stdio: Stdio[_P],
        start: bool = True,
    ) -> Process[_P]: ...

    @overload
    async def exec(
        self,
        *,
        process: oci.Process,
        id: str | None = None,
        stdio: None = None,
        start: bool = True,
    ) -> Process[None]: ...

    async def exec(
        self,
        args: Sequence[str] | None = None,
        *,
        process: oci.Process | None = None,
        id: str | None = None,
        stdio: Stdio[_P] | None = None,
        env: Mapping[str, str] | Sequence[str] | None = None,
        cwd: str | None = None,
        user: str | int | None = None,
        terminal: bool | None = None,
        start: bool = True,
    ) -> Process[_P] | Process[None]:
        """Run another process inside the task (like ``ctr task exec``).

        Either give `args`: the process gets the container spec's process
        settings, with `args`, and the given `env` (added to the spec's),
        `cwd`, `user` and `terminal` (default: the stdio's ``terminal``).
        Or give a whole `oci.Process` as `process` (capabilities, rlimits,
        AppArmor profile, ``no_new_privileges``, numeric user and additional
        gids, ...): it is sent as it is, and its ``terminal`` decides
        whether the process gets a terminal. The two cannot be mixed.

        A user name (``"app"``, ``"app:staff"``), or a lone uid (whose
        primary group comes from ``/etc/passwd``), is resolved as
        `oci.Spec.with_user` does, against the container's image
        (`Image.user_files`), or the spec's root directory for a container
        without an image; the user's supplementary groups from ``/etc/group``
        become additional gids.

        Args:
            args: the command line.
            process: the whole process to run, instead of `args`, `env`,
                `cwd`, `user` and `terminal`.
            id: the exec id (an identifier); random by default.
            stdio: its standard streams (default `stdio.null`).
            env: extra environment, as a mapping or ``KEY=value`` strings.
            cwd: working directory.
            user: ``uid``, ``uid:gid``, ``name``, ``name:group`` (or mixed);
                an int is a uid.
            terminal: give it a pseudo-terminal.
            start: start it right away (else call `Process.start`).

        Returns:
            The (started) `Process`; use it as an async context manager to
            kill, wait for and delete it on exit. With ``stdio.pipes()`` it
            is a ``Process[Pipes]``: its `Process.pipes` are never ``None``.

        Raises:
            TypeError: `process` together with `args`, `env`, `cwd`, `user`
                or `terminal` (the message names them), or neither `args`
                nor `process`.
            pycontainerd.errors.InvalidArgument: a bad id, an empty
                command, a NUL in an argument, the environment or the
                working directory, a malformed environment entry, a relative
                working directory in `process`, or a user or group name
                that cannot be resolved; raised before any call.
            pycontainerd.errors.NotFound: a user to resolve, and the
                container's image no longer exists.

        Example:
            ```python
            async with await task.exec(["ls", "/"], stdio=stdio.capture()) as proc:
                status = await proc.wait()
            print(status.code, proc.captured_stdout)

            process = oci.Process(
                args=("id",),
                cwd="/",
                env=("PATH=/bin",),
                user=oci.User(uid=1000, gid=1000, additional_gids=(1000, 27)),
                capabilities=oci.Capabilities(bounding=("CAP_KILL",), effective=("CAP_KILL",)),
                rlimits=(oci.Rlimit(type="RLIMIT_NOFILE", soft=64, hard=64),),
                no_new_privileges=True,
            )
            async with await task.exec(process=process, stdio=stdio.capture()) as proc:
                await proc.wait()
            ```
        """
        exec_id = validate(id, "exec id") if id is not None else "exec-" + secrets.token_hex(6)
        config = stdio or null()
        config._check_local(self._client)
        if process is not None:
            given = {"args": args, "env": env, "cwd": cwd, "user": user, "terminal": terminal}
            mixed = [name for name, value in given.items() if value is not None]
            if mixed:
                raise TypeError(
                    "Task.exec takes either process= or args= with env=, cwd=, user= and"
                    f" terminal=, not both: process= was given with {'=, '.join(mixed)}="
                )
            payload = _checked_process(process)
            argv = process.args
            wants_terminal = process.terminal
        elif args is None:
            raise TypeError("Task.exec needs args (the command line) or process (an oci.Process)")
        else:
            wants_terminal = config.terminal if terminal is None else terminal
            process_spec = await self._process_spec(args, env=env, cwd=cwd, user=user)
            process_spec["terminal"] = wants_terminal
            payload = json.dumps(process_spec, separators=(",", ":")).encode()
            argv = tuple(args)
        if wants_terminal != config.terminal:
            config = attrs.evolve(config, terminal=wants_terminal)
        io = config._open(exec_id, self._client._fifos.root)
        request = ExecProcessRequest(
            container_id=self._container_id,
            exec_id=exec_id,
            stdin=io.stdin_uri,
            stdout=io.stdout_uri,
            stderr=io.stderr_uri,
            terminal=config.terminal,
            spec=AnyProto(type_url=PROCESS_SPEC_TYPE, value=payload),
        )
        creation = Creation(
            lambda: self._client._caller.unary(_rpc.Tasks.Exec, request),
            ours=lambda: process_as_asked(self._client, self._container_id, exec_id, request),
        )
        proc: Process[_P] | None = None
        try:
            # The Exec call finishes even if cancelled: the process is known, then removed.
            await finish(creation, timeout=CLEANUP_TIMEOUT)
            proc = Process(self._client, self, exec_id, io, argv)
            await anyio.lowlevel.checkpoint_if_cancelled()
            if start:
                await proc.start()
        except BaseException:
            owned = False

            async def settle() -> None:
                nonlocal owned
                owned = await creation.owned()

            try:
                if proc is None and creation.unsure:  # it may exist: remove it too, if ours
                    # A read, as safe to repeat as a removal while the daemon is away.
                    with contextlib.suppress(TimeoutError, errors.ConnectionError):
                        await finish(Removal(settle), timeout=CLEANUP_TIMEOUT)
            finally:
                if owned:
                    proc = Process(self._client, self, exec_id, io, argv)
                if proc is not None:
                    await proc._teardown(cleanup_timeout=CLEANUP_TIMEOUT)
                io.close()
            raise
        return proc

    @overload
    async def load_process(self, exec_id: str, *, stdio: Stdio[_P]) -> Process[_P]: ...

    @overload
    async def load_process(self, exec_id: str, *, stdio: None = None) -> Process[None]: ...

    async def load_process(
        self, exec_id: str, *, stdio: Stdio[_P] | None = None
    ) -> Process[_P] | Process[None]:
        """A handle on an exec process already in the task (made by another client, say).

        Like Go's ``Task.LoadProcess``. With `stdio`, its streams are
        attached to the process's FIFOs (as `Tasks.get` does for a task).

        Raises:
            pycontainerd.errors.InvalidArgument: `exec_id` is not an identifier.
            pycontainerd.errors.NotFound: the task has no such process.

        Example:
            ```python
            proc = await task.load_process("debug-shell")
            await proc.kill(signal.SIGKILL)
            await proc.wait()
            await proc.delete()
            ```
        """
        validate(exec_id, "exec id")
        if stdio is not None:
            stdio._check_local(self._client)
        reply = await self._client._caller.unary(
            _rpc.Tasks.Get,
            encode_scalars(GetRequest, container_id=self._container_id, exec_id=exec_id),
        )
        p = reply.process
        started = TaskState._from_proto(p.status) is not TaskState.CREATED
        io = (
            stdio._attach(p.stdin, p.stdout, p.stderr, started=started)
            if stdio is not None
            else None
        )
        proc: Process[_P] = Process(self._client, self, exec_id, io)
        proc._pid = p.pid
        if TaskState._from_proto(p.status) is TaskState.STOPPED:
            proc._exit = ExitStatus(code=p.exit_status, exited_at=timestamp(p.exited_at))
        return proc

    async def _process_spec(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | Sequence[str] | None,
        cwd: str | None,
        user: str | int | None,
    ) -> dict[str, Any]:
        argv = _checked_args(args)
        container = self._container
        spec = container._spec_dict()
        process: dict[str, Any] = dict(spec.get("process") or {})
        process["args"] = argv
        rootfs = None
        if user is not None:
            from ._containers import user_rootfs

            image = (
                await self._client.images.get(container.image_name)
                if container.image_name
                else None
            )
            rootfs = await user_rootfs(image, spec, str(user))
        _override_process(process, env=env, cwd=cwd, user=user, rootfs=rootfs)
        process.setdefault("cwd", "/")
        process.setdefault("user", {"uid": 0, "gid": 0})
        return process

    async def exec_run(
        self,
        args: Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | Sequence[str] | None = None,
        cwd: str | None = None,
        user: str | int | None = None,
        terminal: bool = False,
        check: bool = False,
        timeout: float | None = None,
        max_output: int | None = None,
    ) -> RunResult:
        """Run a process inside the task to completion and collect its output.

        Like `Client.run`, for a task that is already running.

        Raises:
            pycontainerd.errors.ExitCodeError: `check` is true and the exit code is not 0.
            pycontainerd.errors.DeadlineExceeded: it ran longer than `timeout`
                seconds (it is killed); also a `TimeoutError`. Like every wait,
                the run has no deadline unless given one.

        Example:
            ```python
            result = await task.exec_run(["cat", "/etc/hostname"])
            print(result.code, result.stdout)
            ```
        """
        from .stdio import capture

        io = capture(max_output, input=stdin, terminal=terminal)
        async with await self.exec(args, stdio=io, env=env, cwd=cwd, user=user) as proc:
            with anyio.move_on_after(timeout) as scope:
                status = await proc._wait()
            if scope.cancelled_caught:
                raise errors.DeadlineExceeded(
                    f"{list(args)!r} did not exit within {timeout} seconds (it was killed)"
                )
        return _finish_run(tuple(args), status, proc, check=check)


class Process(_ProcessHandle[PipesT_co]):
    """An exec process inside a task, shaped like `anyio.abc.Process`.

    It has `returncode`, `send_signal`, `terminate` and the `stdin`,
    `stdout` and `stderr` streams of one; `wait`, `kill` and `aclose` behave
    as `Task`'s do: `wait` returns an `ExitStatus`, `kill` sends SIGTERM
    unless told otherwise.

    Made by `Task.exec`. As an async context manager it kills, waits for and
    deletes the process on exit (shielded, bounded); entering does no I/O.
    Like `Task`, a ``Process[stdio.Pipes]`` (made with ``stdio.pipes()``) has
    `pipes` that are never ``None``.

    Example:
        ```python
        async with await task.exec(["sh", "-c", "exit 3"]) as proc:
            assert (await proc.wait()).code == 3
        ```
    """

    def __init__(
        self,
        client: Client,
        task: Task[Pipes | None],
        exec_id: str,
        io: TaskIO | None,
        args: tuple[str, ...] = (),
    ) -> None:
        super().__init__(client, task.id, exec_id, io, 0)
        self._task = task
        self.args = args

    def __repr__(self) -> str:
        return f"<Process {self._exec_id!r} of task {self._container_id!r} pid={self._pid}>"

    @property
    def id(self) -> str:
        """The exec id."""
        return self._exec_id

    @property
    def task(self) -> Task[Pipes | None]:
        """The task this process runs in."""
        return self._task

    @property
    def returncode(self) -> int | None:
        """The exit code once `wait` has returned, else ``None``."""
        return self._exit.code if self._exit is not None else None

    @property
    def exit_status(self) -> ExitStatus | None:
        """The full exit status once `wait` has returned, else ``None``."""
        return self._exit

    async def start(self) -> int:
        """Start the process (when `Task.exec` was called with ``start=False``); returns its pid.

        Its output streams can be read before: a read waits until the process
        starts. If the daemon refuses to start it, those reads end (end-of-file).
        """
        try:
            reply = await self._client._caller.unary(
                _rpc.Tasks.Start,
                encode_scalars(
                    StartRequest, container_id=self._container_id, exec_id=self._exec_id
                ),
            )
        except errors.RPCError as exc:
            # The shim opens an exec's FIFOs as it starts it: after a refusal it never
            # will. (A broken transport says nothing: the process may have started.)
            if self._io is not None and not isinstance(exc, _TRANSPORT_ERRORS):
                self._io.end_outputs_without_writer()
            raise
        self._pid = reply.pid
        return reply.pid

    async def wait(self) -> ExitStatus:
        """Wait until the process exits and return its `ExitStatus`, as `Task.wait` does.

        Idempotent and safe to call from several tasks at once; see
        `Task.wait`. `returncode` and `exit_status` hold the result afterwards.

        Example:
            ```python
            status = await proc.wait()
            print(status.code, status.signal)
            ```
        """
        return await self._wait()

    async def send_signal(self, signal: int | str | _signal.Signals) -> None:
        """Send `signal` to the process."""
        await super().kill(signal)

    async def terminate(self) -> None:
        """Send SIGTERM."""
        await super().kill(_signal.SIGTERM)

    async def delete(self, *, force: bool = False) -> ExitStatus:
        """Delete the exec process; returns its exit status.

        Raises:
            pycontainerd.errors.FailedPrecondition: it is still running (and not `force`).
        """
        return await self._delete(
            force=force,
            deletable=(TaskState.STOPPED, TaskState.CREATED, TaskState.UNKNOWN),
        )


def _task_field(task: TaskStatus, path: tuple[str, ...]) -> str | None:
    match path:
        case ("id",) | ("container_id",):
            return task.container_id
        case ("pid",):
            return str(task.pid)
        case ("status",) | ("state",):
            return task.state.value
    return None


class Tasks(Facade):
    """The namespace's tasks (``client.tasks``)."""

    async def list(self, *filters: str) -> list[TaskStatus]:
        """Every task in the namespace (their init processes), optionally narrowed by `filters`.

        `filters` mean what they mean for every ``list()``: several are ORed,
        the comma-separated selectors of one are ANDed (containerd's syntax, see
        `pycontainerd.events.filters`). The fields are ``id`` (the container id,
        also ``container_id``), ``pid`` and ``status`` (also ``state``:
        ``running``, ``stopped``...). The daemon ignores filters on this call,
        so they are matched here, with containerd's rules.

        Raises:
            pycontainerd.errors.InvalidArgument: a filter does not parse.

        Example:
            ```python
            for t in await client.tasks.list("status==running"):
                print(t.container_id, t.pid, t.state)
            ```
        """
        matches = _filters._matcher(filters)
        reply = await self._client._caller.unary(_rpc.Tasks.List, encode_scalars(ListTasksRequest))
        found = [TaskStatus._from_proto(p) for p in reply.tasks]
        return [t for t in found if matches(functools.partial(_task_field, t))]

    @overload
    async def get(self, container_id: str, *, stdio: Stdio[_P]) -> Task[_P]: ...

    @overload
    async def get(self, container_id: str, *, stdio: None = None) -> Task[None]: ...

    async def get(
        self, container_id: str, *, stdio: Stdio[_P] | None = None
    ) -> Task[_P] | Task[None]:
        """Load the task of container `container_id` (see `Container.task`).

        Raises:
            pycontainerd.errors.NotFound: no such container or task.
        """
        container = await self._client.containers.get(container_id)
        return await load_task(self._client, container, stdio)


async def load_task(client: Client, container: Container, stdio: Stdio[_P] | None) -> Task[_P]:
    """Load an existing task; re-attach `stdio` to its FIFOs when given."""
    if stdio is not None:
        stdio._check_local(client)
    reply = await client._caller.unary(
        _rpc.Tasks.Get, encode_scalars(GetRequest, container_id=container.id)
    )
    p = reply.process
    started = TaskState._from_proto(p.status) is not TaskState.CREATED
    io = stdio._attach(p.stdin, p.stdout, p.stderr, started=started) if stdio is not None else None
    task: Task[_P] = Task(client, container, pid=p.pid, io=io)
    if TaskState._from_proto(p.status) is TaskState.STOPPED:
        task._exit = ExitStatus(code=p.exit_status, exited_at=timestamp(p.exited_at))
    return task
