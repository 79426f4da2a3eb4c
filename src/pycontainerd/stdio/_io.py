"""The FIFOs of one process: creation, opening, copying and removal (private)."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
import tempfile
import warnings
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

import anyio

from .. import errors
from ._streams import CHUNK, FifoReceiveStream, FifoSendStream, NoInput, NoOutput

if TYPE_CHECKING:
    from . import Pipes, Stdio

FIFO_ROOT: Final = "/run/containerd/fifo"
"""Where FIFO directories are created by default when this process may write there."""

_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_root(path: str, *, default: bool) -> int | None:
    """Open the FIFO root `path` (made ``0700`` if missing) once it is checked; its fd.

    It must be a directory, not a symbolic link, owned by this process's
    user and writable by nobody else: FIFOs made in it could otherwise be
    replaced by another local user. The default root of a process that is
    not root is skipped (``None``) when it is not this user's own, as when
    it is root's: the caller then uses a private temp dir.
    """
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except FileExistsError:
        pass  # not a directory: judged below
    except OSError:
        if default:
            return None
        raise
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise errors.UnsafeFifoDir(path, "is a symbolic link or not a directory") from exc
        if default and exc.errno == errno.EACCES:
            return None
        raise
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            if default and os.geteuid() != 0:
                os.close(fd)
                return None
            raise errors.UnsafeFifoDir(path, f"is owned by uid {st.st_uid}, not {os.geteuid()}")
        if st.st_mode & 0o022:
            raise errors.UnsafeFifoDir(
                path, f"is writable by its group or others (mode {stat.S_IMODE(st.st_mode):04o})"
            )
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise
    return fd


def make_fifo_dir(root: str | None) -> str:
    """A new private (``0700``) directory for one process's FIFOs, under `root` if given.

    Without `root`: under `FIFO_ROOT` when it is usable, else a private temp dir.

    Raises:
        pycontainerd.errors.UnsafeFifoDir: the root is not safe to use.
    """
    root_fd = _open_root(root or FIFO_ROOT, default=root is None)
    if root_fd is None:
        return tempfile.mkdtemp(prefix=f"pycontainerd-fifo-{os.getpid()}-")  # mode 0700
    try:
        while True:
            name = "pycontainerd-" + secrets.token_hex(8)
            try:
                # Relative to the checked root's fd: the path cannot be swapped in between.
                os.mkdir(name, 0o700, dir_fd=root_fd)
            except FileExistsError:
                continue
            return os.path.join(root or FIFO_ROOT, name)
    finally:
        os.close(root_fd)


def mkfifo(directory: str, name: str, stream: str) -> str:
    path = os.path.join(directory, f"{name}-{stream}")
    os.mkfifo(path, 0o600)  # fails if the name exists: nothing is reused
    return path


def is_fifo(path: str) -> bool:
    if not path.startswith("/"):
        return False
    try:
        return stat.S_ISFIFO(os.lstat(path).st_mode)
    except OSError:
        return False


def _open_fifo(path: str, flags: int) -> int | None:
    """Open the FIFO at `path` without following a symbolic link; ``None`` if it is none."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOENT):  # a link, or gone since it was looked at
            return None
        raise
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):  # replaced by something else
        os.close(fd)
        return None
    return fd


class FifoRegistry:
    """The FIFOs a client's task and process handles hold, by process (private).

    Shared by a `Client` and its views. Deleting a process through any handle
    releases what every handle of it holds; a handle that is collected
    releases its own (`TaskIO.__del__`), so nothing is held here strongly.
    """

    def __init__(self, root: str | None) -> None:
        self.root = root  # the client's default FIFO root, if it has one
        self._held: weakref.WeakSet[TaskIO] = weakref.WeakSet()

    def add(self, io: TaskIO, namespace: str, container_id: str, exec_id: str) -> None:
        io.key = (namespace, container_id, exec_id)
        self._held.add(io)

    def release(self, namespace: str, container_id: str, exec_id: str | None) -> None:
        """Close and remove the FIFOs of a deleted process (`exec_id` ``None``: a task and its execs).

        No I/O wait: safe in a cleanup path, under any cancellation.
        """
        for io in list(self._held):
            key = io.key
            if key is None or key[:2] != (namespace, container_id):
                continue
            if exec_id is None or key[2] == exec_id:
                self._held.discard(io)
                io.close()
                io.remove_fifos()


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
        self.key: tuple[str, str, str] | None = None  # (namespace, container, exec id) once held

    @property
    def terminal(self) -> bool:
        return self.config.terminal

    @property
    def pumps(self) -> bool:
        """Whether `wait` copies data (capture and inherit do; pipes leave it to the user)."""
        return self.config.mode in ("capture", "inherit") and not self._drained

    def _open_ends(self) -> None:
        # Readers first, non-blocking: the shim opens the writers during Create.
        # No symbolic link is followed, and what opens must be a FIFO: a path the
        # daemon recorded (re-attach) may have been replaced by another user.
        if self.stdout_uri:
            fd = _open_fifo(self.stdout_uri, os.O_RDONLY | os.O_NONBLOCK)
            if fd is not None:
                self.stdout = FifoReceiveStream(fd, self.stdout_uri)
        if self.stderr_uri:
            fd = _open_fifo(self.stderr_uri, os.O_RDONLY | os.O_NONBLOCK)
            if fd is not None:
                self.stderr = FifoReceiveStream(fd, self.stderr_uri)
        if self.stdin_uri:
            # O_RDWR never blocks nor fails for want of a reader.
            fd = _open_fifo(self.stdin_uri, os.O_RDWR | os.O_NONBLOCK)
            if fd is not None:
                self.stdin = FifoSendStream(fd, self.stdin_uri)
        for stream in (self.stdout, self.stderr, self.stdin):
            if stream is not None:
                stream._owner = self
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
            with contextlib.suppress(anyio.ClosedResourceError):  # deleted through another handle
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
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return  # the end, or the process was deleted through another handle
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

    @property
    def holds(self) -> bool:
        """Whether an fd is open or the FIFO directory we created is still there."""
        streams = (self.stdout, self.stderr, self.stdin)
        return self.directory is not None or any(
            s is not None and s._fd is not None for s in streams
        )

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

    def __del__(self) -> None:
        # As asyncio's transports do: a handle dropped with its FIFOs open releases
        # them, and says so. No task waits on these fds (it would hold a stream,
        # which holds this object), so they are closed without the event loop.
        if not self.holds:
            return
        warnings.warn(
            f"unclosed FIFOs of {self._describe()}", ResourceWarning, stacklevel=1, source=self
        )
        for s in (self.stdout, self.stderr, self.stdin):
            if s is not None:
                s._discard()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def _describe(self) -> str:
        if self.key is None:
            return self.directory or self.stdout_uri or "a process"
        namespace, container_id, exec_id = self.key
        what = f"exec process {exec_id!r} of task" if exec_id else "task"
        return f"{what} {container_id!r} in namespace {namespace!r}"

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
