"""The FIFOs of one process: creation, opening, copying and removal (private)."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

import anyio

from ._streams import CHUNK, FifoReceiveStream, FifoSendStream, NoInput, NoOutput

if TYPE_CHECKING:
    from . import Pipes, Stdio

FIFO_ROOT: Final = "/run/containerd/fifo"
"""Where FIFO directories are created when this process may write there."""


def _fifo_root() -> str | None:
    try:
        os.makedirs(FIFO_ROOT, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return FIFO_ROOT if os.access(FIFO_ROOT, os.W_OK | os.X_OK) else None


def make_fifo_dir() -> str:
    root = _fifo_root()
    if root is not None:
        with contextlib.suppress(OSError):
            return tempfile.mkdtemp(prefix="pycontainerd-", dir=root)  # mode 0700
    return tempfile.mkdtemp(prefix=f"pycontainerd-fifo-{os.getpid()}-")


def mkfifo(directory: str, name: str, stream: str) -> str:
    path = os.path.join(directory, f"{name}-{stream}")
    os.mkfifo(path, 0o700)
    return path


def is_fifo(path: str) -> bool:
    if not path.startswith("/"):
        return False
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


class TaskIO:
    """The open FIFO ends of one process and the copying that `wait` does.

    Private: `Task` and `Process` own one each and close it when deleted.
    """

    def __init__(
        self, config: Stdio, stdin: str, stdout: str, stderr: str, *, directory: str | None = None
    ) -> None:
        self.config = config
        self.stdin_uri = stdin
        self.stdout_uri = stdout
        self.stderr_uri = stderr
        self.directory = directory  # removed on close when we created it
        self.stdin: FifoSendStream | None = None
        self.stdout: FifoReceiveStream | None = None
        self.stderr: FifoReceiveStream | None = None
        self.pipes: Pipes | None = None  # with `stdio.pipes`, once the ends are open
        self.captured: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self.truncated = False
        self._pump_lock = anyio.Lock()
        self._drained = False
        self._input_sent = False

    @property
    def terminal(self) -> bool:
        return self.config.terminal

    @property
    def pumps(self) -> bool:
        """Whether `wait` copies data (capture and inherit do; pipes leave it to the user)."""
        return self.config.mode in ("capture", "inherit") and not self._drained

    def _open_ends(self) -> None:
        # Readers first, non-blocking: the shim opens the writers during Create.
        if self.stdout_uri:
            fd = os.open(self.stdout_uri, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            self.stdout = FifoReceiveStream(fd, self.stdout_uri)
        if self.stderr_uri:
            fd = os.open(self.stderr_uri, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            self.stderr = FifoReceiveStream(fd, self.stderr_uri)
        if self.stdin_uri:
            # O_RDWR never blocks nor fails for want of a reader.
            fd = os.open(self.stdin_uri, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            self.stdin = FifoSendStream(fd, self.stdin_uri)
        if self.config.mode == "pipes":
            from . import Pipes

            # Every stream exists: one the process lacks is a pipe nobody is at the other end of.
            self.pipes = Pipes(
                stdin=self.stdin or NoInput(),
                stdout=self.stdout or NoOutput(),
                stderr=self.stderr or NoOutput(),
            )

    def end_outputs_without_writer(self) -> None:
        """The process will not open its output FIFOs: let their readers end.

        A reader waits for the shim to open the FIFO; call this when it will
        not (its start failed, or it had stopped before we attached).
        """
        for stream in (self.stdout, self.stderr):
            if stream is not None:
                stream._end_without_writer()

    def on_stdin_close(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Tell the shim to close its end too when our stdin stream is closed."""
        if self.stdin is not None:
            self.stdin._on_close = callback

    async def pump(self, exited: anyio.Event) -> None:
        """Copy data until the outputs end; stop feeding stdin once `exited` is set.

        Safe to call from several waiters: one copies, the others wait for it;
        if the copying waiter is cancelled, the next one carries on.
        """
        async with self._pump_lock:
            if self._drained:
                return
            async with anyio.create_task_group() as tg:
                if self.stdin is not None and not self._input_sent:
                    tg.start_soon(self._feed_until, exited)
                for name, stream in (("stdout", self.stdout), ("stderr", self.stderr)):
                    if stream is not None and not stream.eof:
                        tg.start_soon(self._drain, name, stream)
            self._drained = True

    async def _feed_until(self, exited: anyio.Event) -> None:
        async with anyio.create_task_group() as tg:

            async def stop_on_exit() -> None:
                await exited.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(stop_on_exit)
            await self._feed()
            tg.cancel_scope.cancel()

    async def _feed(self) -> None:
        stdin = self.stdin
        assert stdin is not None
        if self.config.mode == "capture":
            if self.config.input:
                await stdin.send(self.config.input)
        else:  # inherit: copy our own stdin
            while True:
                try:
                    await anyio.wait_readable(0)
                except OSError:
                    pass  # regular files and /dev/null cannot be polled; they never block
                data = os.read(0, CHUNK)
                if not data:
                    break
                await stdin.send(data)
        self._input_sent = True
        await stdin.aclose()

    async def _drain(self, name: str, stream: FifoReceiveStream) -> None:
        sink = self.captured[name]
        limit = self.config.max_bytes
        inherit = self.config.mode == "inherit"
        target = 1 if name == "stdout" else 2
        while True:
            try:
                data = await stream.receive()
            except anyio.EndOfStream:
                return
            if inherit:
                _write_all(target, data)
            elif limit is None:
                sink += data
            else:
                room = limit - len(sink)
                if room < len(data):
                    self.truncated = True
                if room > 0:
                    sink += data[:room]

    def close(self) -> None:
        """Close every fd and remove the FIFO directory we created (idempotent, no I/O wait)."""
        for s in (self.stdout, self.stderr):
            if s is not None:
                s.close()
        if self.stdin is not None:
            self.stdin.close_fd()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def remove_fifos(self) -> None:
        """Remove attached FIFOs (and their directory once empty) after the process is gone."""
        parents = set()
        for path in (self.stdin_uri, self.stdout_uri, self.stderr_uri):
            if is_fifo(path):
                with contextlib.suppress(OSError):
                    os.unlink(path)
                parents.add(os.path.dirname(path))
        for parent in parents:
            with contextlib.suppress(OSError):
                os.rmdir(parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            continue
        view = view[n:]
