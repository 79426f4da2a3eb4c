"""Where a task's or exec process's stdin, stdout and stderr go.

Pass one of these to `Container.new_task`, `Task.exec` or `Container.task`:

- `null()`: nothing in, output discarded (the shim uses ``/dev/null``).
- `inherit()`: this process's own stdin, stdout and stderr, like ``ctr run``.
- `pipes()`: `Task.pipes` is a `Pipes`: ``stdin``, an anyio `ByteSendStream`,
  and ``stdout`` and ``stderr``, `ByteReceiveStream` s you read yourself.
- `capture()`: output collected as bytes (`Task.captured_stdout`), with an
  optional size bound; optional input fed to stdin.
- `log_file(path)`: the shim appends stdout and stderr to a file
  (containerd's ``file://`` log URI); nothing flows through this process.
- `binary_log(path, args)`: the shim runs a logging program and hands it
  the output (containerd's ``binary://`` log URI, ``ctr run --log-uri``).

Each takes ``terminal=True`` to give the process a pseudo-terminal (stderr is
then merged into stdout).

FIFOs (for `inherit`, `pipes` and `capture`) are created ``0600`` in a new
private ``0700`` directory under a FIFO root: the stdio's ``fifo_dir`` if
given, else the `pycontainerd.Client`'s ``fifo_dir``, else `FIFO_ROOT`
(``/run/containerd/fifo``) when this process may use it, else a private
temp dir. A root that exists must be a directory (not a symbolic link)
owned by this process's user and writable by nobody else, or creating the
task raises `pycontainerd.errors.UnsafeFifoDir` before any call to the
daemon. The FIFOs are opened non-blocking and without following symbolic
links before the task is created, read and written with
`anyio.wait_readable` / `anyio.wait_writable` (no threads), and removed when
the task or process is deleted, through this handle or any other handle of
the same client (`Tasks.get`, `Task.load_process`; deleting a task releases
its exec processes' FIFOs too), on failure and on cancellation too. A handle
that is garbage-collected with its FIFOs still open releases them and emits
a `ResourceWarning`, as asyncio's transports do. A read before the shim has
opened the FIFO (it does so for an exec process only when starting it)
waits for it, as containerd's Go ``cio`` does.

The choice is in the types: `pipes()` is a ``Stdio[Pipes]``, the others are
``Stdio[None]``, and a task or process made with one is a ``Task[Pipes]``
(``Process[Pipes]``) or a ``Task[None]``, whose `Task.pipes` is a `Pipes` or
``None``. So ``await task.pipes.stdin.send(...)`` type-checks, without a
``None`` check, exactly when the task was made with `pipes()`.

For `inherit()` and `capture()`, output is copied while `Task.wait` (or
`Process.wait`) runs, so call it (or leave the task's ``async with``) to
collect it: like a pipe to a subprocess, a task that writes more than the
pipe holds blocks until someone reads.

Example:
    ```python
    from pycontainerd import stdio

    async with await container.new_task(stdio=stdio.capture()) as task:
        await task.start()
        status = await task.wait()
    print(status.code, task.captured_stdout.decode())
    ```
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Generic, Literal

import attrs
from anyio.abc import ByteReceiveStream, ByteSendStream

from .. import errors
from ._io import FIFO_ROOT, TaskIO, is_fifo, make_fifo_dir, mkfifo
from ._streams import FifoReceiveStream, FifoSendStream

__all__ = [
    "FIFO_ROOT",
    "FifoReceiveStream",
    "FifoSendStream",
    "Pipes",
    "Stdio",
    "binary_log",
    "capture",
    "inherit",
    "log_file",
    "null",
    "pipes",
]

Mode = Literal["null", "inherit", "pipes", "capture", "log_file", "binary_log"]


@attrs.frozen(kw_only=True)
class Pipes:
    r"""The standard streams of a task or exec process made with `pipes` (``task.pipes``).

    Each stream is always there, so no ``None`` check is needed. One the
    process does not have behaves like a pipe with nobody at the other end:
    with a terminal stderr goes to the terminal too, so ``stderr`` ends at
    once (read everything from ``stdout``); re-attached to a process made
    without a stdin FIFO, sending to ``stdin`` raises
    `anyio.BrokenResourceError`. The task or process owns the streams and
    closes them when it is deleted.

    Attributes:
        stdin: write to the process's stdin; closing it (``aclose``) gives
            the process end-of-file after every byte sent.
        stdout: the process's stdout (with a terminal: the terminal's output).
        stderr: the process's stderr.

    Example:
        ```python
        async with await container.new_task(stdio=stdio.pipes()) as task:
            pipes = task.pipes  # a Pipes, never None: the task was made with stdio.pipes()
            await task.start()
            await pipes.stdin.send(b"hello\n")
            await pipes.stdin.aclose()
            print(await pipes.stdout.receive())
        ```
    """

    stdin: ByteSendStream
    stdout: ByteReceiveStream
    stderr: ByteReceiveStream


# The type parameter of `Stdio`, `Task` and `Process`: what `Task.pipes` is (`Pipes`
# with `pipes()`, None with the others). Its default makes a bare `Task` or `Stdio`
# mean `Pipes | None`, so annotations written before it existed still check.
if TYPE_CHECKING:
    from typing_extensions import TypeVar

    from .._client import Client

    PipesT_co = TypeVar("PipesT_co", bound=Pipes | None, default=Pipes | None, covariant=True)
else:  # the default (PEP 696) matters to type checkers only
    from typing import TypeVar

    PipesT_co = TypeVar("PipesT_co", covariant=True)


@attrs.frozen(kw_only=True)
class Stdio(Generic[PipesT_co]):
    """A choice of standard streams for a task or exec process.

    Build one with `null`, `inherit`, `pipes`, `capture`, `log_file` or
    `binary_log` rather than directly. It is a plain value: the same `Stdio`
    can be used for many tasks; each gets its own FIFOs. Its type parameter
    says what the task's or process's `Task.pipes` is: `pipes` makes a
    ``Stdio[Pipes]``, the others a ``Stdio[None]``.
    """

    mode: Mode
    terminal: bool = False
    max_bytes: int | None = None
    input: bytes | None = None
    path: str | None = None
    args: tuple[tuple[str, str], ...] = ()
    fifo_dir: str | None = None

    def _log_uri(self) -> str:
        """The ``file://`` or ``binary://`` URI of a log mode, as Go's ``cio.LogURIGenerator`` writes it."""
        assert self.path is not None
        scheme = "file" if self.mode == "log_file" else "binary"
        uri = f"{scheme}://{urllib.parse.quote(self.path, safe=_PATH_SAFE)}"
        if self.args:
            uri += "?" + urllib.parse.urlencode(sorted(self.args))
        return uri

    def _check_local(self, client: Client) -> None:
        """Refuse FIFO stdio for a daemon reached over TCP, before anything is made.

        The FIFOs are made on this host and the shim opens them by path on
        the daemon's: that needs the daemon here, through its unix socket.

        Raises:
            pycontainerd.errors.InvalidArgument: FIFOs for a TCP client; names its address.
        """
        if self.mode not in _NO_FIFOS and client._transport.target.tcp:
            raise errors.InvalidArgument(
                f"stdio.{self.mode}() uses FIFOs, which need containerd on this host reached "
                f"through its unix socket; this client talks to {client.address!r} over TCP: "
                "use stdio.null(), stdio.log_file() or stdio.binary_log() (paths on the "
                "daemon's host)"
            )

    def _open(self, name: str, fifo_root: str | None = None) -> TaskIO:
        """Create the FIFOs (and open their ends) for a new process called `name`.

        They go in a new private directory under this stdio's `fifo_dir`,
        else `fifo_root` (the client's), else the default root.
        """
        if self.mode == "null":
            return TaskIO(self, "", "", "")
        if self.mode in _NO_FIFOS:
            uri = self._log_uri()
            return TaskIO(self, "", uri, "" if self.terminal else uri)
        directory = make_fifo_dir(self.fifo_dir or fifo_root)
        io = TaskIO(self, "", "", "", directory=directory)
        try:
            wants_stdin = self.mode in ("pipes", "inherit") or self.input is not None
            if wants_stdin:
                io.stdin_uri = mkfifo(directory, name, "stdin")
            io.stdout_uri = mkfifo(directory, name, "stdout")
            if not self.terminal:
                io.stderr_uri = mkfifo(directory, name, "stderr")
            io._open_ends()
        except BaseException:
            io.close()
            raise
        return io

    def _attach(self, stdin: str, stdout: str, stderr: str, *, started: bool = True) -> TaskIO:
        """Open the FIFOs of a process that exists (re-attach).

        Unless `started` is false (a created process: its shim may open them
        at start yet), a reader does not wait for a writer that is not there.
        """
        if self.mode in _NO_FIFOS:
            return TaskIO(self, "", "", "")
        io = TaskIO(
            self,
            stdin if is_fifo(stdin) else "",
            stdout if is_fifo(stdout) else "",
            stderr if is_fifo(stderr) else "",
        )
        try:
            io._open_ends()
        except BaseException:
            io.close()
            raise
        if started:
            io.end_outputs_without_writer()
        return io


# The modes whose streams the shim handles itself, with no FIFO of the client's.
_NO_FIFOS: Final = ("null", "log_file", "binary_log")

# What Go's url.URL.String() leaves unescaped in a path, besides letters, digits and "-._~".
_PATH_SAFE: Final = "/$&+,:;=@"


def _checked_path(path: str | os.PathLike[str], what: str) -> str:
    text = os.fspath(path)
    if not isinstance(text, str):
        raise errors.InvalidArgument(f"{what} must be a str path, not {text!r:.60}")
    if "\0" in text:
        raise errors.InvalidArgument(f"{what} {text!r:.60} contains a NUL")
    if not os.path.isabs(text):
        raise errors.InvalidArgument(f"{what} must be absolute, not {text!r:.60}")
    return os.path.normpath(text)


def _fifo_dir(fifo_dir: str | os.PathLike[str] | None) -> str | None:
    return None if fifo_dir is None else _checked_path(fifo_dir, "fifo_dir")


def null(*, terminal: bool = False) -> Stdio[None]:
    """No input; output discarded by the shim.

    Example:
        ```python
        task = await container.new_task(stdio=stdio.null())
        ```
    """
    return Stdio(mode="null", terminal=terminal)


def inherit(
    *, terminal: bool = False, fifo_dir: str | os.PathLike[str] | None = None
) -> Stdio[None]:
    """This process's own stdin, stdout and stderr, like ``ctr run``.

    Output is copied while `Task.wait` runs. With ``terminal=True`` the
    local terminal is not switched to raw mode.

    Args:
        terminal: give the process a pseudo-terminal (stderr merges into stdout).
        fifo_dir: make the FIFOs in a new private directory under this one
            (Go's ``cio.WithFIFODir``); see `pipes`.

    Raises:
        pycontainerd.errors.InvalidArgument: `fifo_dir` is not absolute.

    Example:
        ```python
        async with await container.new_task(stdio=stdio.inherit()) as task:
            await task.start()
            await task.wait()
        ```
    """
    return Stdio(mode="inherit", terminal=terminal, fifo_dir=_fifo_dir(fifo_dir))


def pipes(
    *, terminal: bool = False, fifo_dir: str | os.PathLike[str] | None = None
) -> Stdio[Pipes]:
    """Streams: ``task.pipes.stdin`` to write, ``task.pipes.stdout`` / ``.stderr`` to read.

    The task (or exec process) made with it is a ``Task[Pipes]``: its
    `Task.pipes` is a `Pipes`, typed as never ``None``. Closing
    ``task.pipes.stdin`` (``await task.pipes.stdin.aclose()`` or
    ``await task.close_stdin()``) gives the process end-of-file.

    Args:
        terminal: give the process a pseudo-terminal (stderr merges into stdout).
        fifo_dir: make the FIFOs in a new private directory under this one
            (Go's ``cio.WithFIFODir``), instead of under the client's
            ``fifo_dir`` or `FIFO_ROOT`. It is created (``0700``) if missing;
            an existing one must belong to this process's user and be
            writable by nobody else, or creating the task raises
            `pycontainerd.errors.UnsafeFifoDir`.

    Raises:
        pycontainerd.errors.InvalidArgument: `fifo_dir` is not absolute.

    Example:
        ```python
        async with await container.new_task(stdio=stdio.pipes()) as task:
            await task.start()
            await task.pipes.stdin.send(b"hello")
            await task.pipes.stdin.aclose()
            async for chunk in task.pipes.stdout:
                print(chunk)
        ```

        The FIFOs somewhere else than ``/run/containerd/fifo``:

        ```python
        task = await container.new_task(stdio=stdio.pipes(fifo_dir="/run/myapp/fifo"))
        ```
    """
    return Stdio(mode="pipes", terminal=terminal, fifo_dir=_fifo_dir(fifo_dir))


def capture(
    max_bytes: int | None = None,
    *,
    input: bytes | None = None,
    terminal: bool = False,
    fifo_dir: str | os.PathLike[str] | None = None,
) -> Stdio[None]:
    """Collect output as bytes (``task.captured_stdout``, ``task.captured_stderr``).

    Args:
        max_bytes: keep at most this many bytes of each stream; the rest is
            read and dropped (the process never blocks on a full pipe), and
            ``task.output_truncated`` becomes true. ``None``: keep all.
        input: bytes fed to the process's stdin, which is then closed.
        terminal: give the process a pseudo-terminal (stderr merges into stdout).
        fifo_dir: make the FIFOs in a new private directory under this one
            (Go's ``cio.WithFIFODir``); see `pipes`.

    Raises:
        ValueError: `max_bytes` is negative.
        pycontainerd.errors.InvalidArgument: `fifo_dir` is not absolute.

    Example:
        ```python
        async with await container.new_task(stdio=stdio.capture(input=b"hi")) as task:
            await task.start()
            await task.wait()
        print(task.captured_stdout)
        ```
    """
    if max_bytes is not None and max_bytes < 0:
        raise ValueError(f"max_bytes must be >= 0, not {max_bytes!r}")
    return Stdio(
        mode="capture",
        terminal=terminal,
        max_bytes=max_bytes,
        input=input,
        fifo_dir=_fifo_dir(fifo_dir),
    )


def log_file(path: str | os.PathLike[str], *, terminal: bool = False) -> Stdio[None]:
    """The shim appends stdout and stderr to the file at `path` (``file://`` URI).

    Like Go's ``cio.LogFile``: the shim creates the file (and its
    directories) if missing. containerd 1.6's runc shim writes both streams
    through one file descriptor and closes it when stdout ends: stderr
    output it has not copied by then is lost (the daemon logs "error
    copying stderr"). Use `pipes` or `capture` when stderr must be complete.

    Raises:
        pycontainerd.errors.InvalidArgument: `path` is not absolute (a `ValueError`).

    Example:
        ```python
        task = await container.new_task(stdio=stdio.log_file("/var/log/app.log"))
        ```
    """
    return Stdio(mode="log_file", terminal=terminal, path=_checked_path(path, "log_file path"))


def binary_log(
    path: str | os.PathLike[str],
    args: Mapping[str, str] | None = None,
    *,
    terminal: bool = False,
) -> Stdio[None]:
    """The shim runs the logging program at `path` and gives it the output (``binary://`` URI).

    Go's ``cio.BinaryIO`` (``ctr run --log-uri binary:///path?key=value``).
    The shim starts the program on the host for each process (the task's
    init process and each exec process) before that process runs: file
    descriptor 3 reads its stdout, 4 its stderr (with a terminal, the
    terminal's output comes on 3 and nothing on 4), and 5 is a pipe the program closes (or
    writes a byte to) once it is ready; the shim waits for that. Its
    environment holds only ``CONTAINER_ID`` (the container's id, or for an
    exec process the exec id) and ``CONTAINER_NAMESPACE``; its arguments are
    `args` as ``key value`` pairs, in no particular order (the shim reads
    them from a Go map). When the process is deleted the shim closes the
    pipes, sends the program SIGTERM and waits up to 12 seconds for it to
    exit. Nothing flows through this (the client's) process, and the
    program has no stdin to give the process.

    Args:
        path: the program, an absolute path on the daemon's host.
        args: passed to it as ``key value`` pairs; an empty value still
            comes as an (empty) argument.
        terminal: give the process a pseudo-terminal.

    Raises:
        pycontainerd.errors.InvalidArgument: `path` is not absolute, or a key
            is empty, or a key or value is not a string or holds a NUL.

    Example:
        ```python
        logger = stdio.binary_log("/usr/local/bin/my-logger", {"--dir": "/var/log/app"})
        async with await container.new_task(stdio=logger) as task:
            await task.start()
            await task.wait()
        ```
    """
    pairs = []
    for key, value in (args or {}).items():
        for text in (key, value):
            if not isinstance(text, str):
                raise errors.InvalidArgument(f"binary_log args must be strings: {text!r:.60}")
            if "\0" in text:
                raise errors.InvalidArgument(f"binary_log argument {text!r:.60} contains a NUL")
        if not key:
            raise errors.InvalidArgument("binary_log args cannot have an empty key")
        pairs.append((key, value))
    return Stdio(
        mode="binary_log",
        terminal=terminal,
        path=_checked_path(path, "binary_log path"),
        args=tuple(pairs),
    )
