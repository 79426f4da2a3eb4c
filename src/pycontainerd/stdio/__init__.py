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

Each takes ``terminal=True`` to give the process a pseudo-terminal (stderr is
then merged into stdout).

FIFOs are created in a private ``0700`` directory (under
``/run/containerd/fifo`` when writable, else a private temp dir), opened
non-blocking before the task is created, read and written with
`anyio.wait_readable` / `anyio.wait_writable` (no threads), and removed when
the task or process is deleted, on failure and on cancellation too. A read
before the shim has opened the FIFO (it does so for an exec process only
when starting it) waits for it, as containerd's Go ``cio`` does.

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
from typing import TYPE_CHECKING, Generic, Literal

import attrs
from anyio.abc import ByteReceiveStream, ByteSendStream

from ._io import FIFO_ROOT, TaskIO, is_fifo, make_fifo_dir, mkfifo
from ._streams import FifoReceiveStream, FifoSendStream

__all__ = [
    "FIFO_ROOT",
    "FifoReceiveStream",
    "FifoSendStream",
    "Pipes",
    "Stdio",
    "capture",
    "inherit",
    "log_file",
    "null",
    "pipes",
]

Mode = Literal["null", "inherit", "pipes", "capture", "log_file"]


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

    PipesT_co = TypeVar("PipesT_co", bound=Pipes | None, default=Pipes | None, covariant=True)
else:  # the default (PEP 696) matters to type checkers only
    from typing import TypeVar

    PipesT_co = TypeVar("PipesT_co", covariant=True)


@attrs.frozen(kw_only=True)
class Stdio(Generic[PipesT_co]):
    """A choice of standard streams for a task or exec process.

    Build one with `null`, `inherit`, `pipes`, `capture` or `log_file`
    rather than directly. It is a plain value: the same `Stdio` can be used
    for many tasks; each gets its own FIFOs. Its type parameter says what
    the task's or process's `Task.pipes` is: `pipes` makes a
    ``Stdio[Pipes]``, the others a ``Stdio[None]``.
    """

    mode: Mode
    terminal: bool = False
    max_bytes: int | None = None
    input: bytes | None = None
    path: str | None = None

    def _open(self, name: str) -> TaskIO:
        """Create the FIFOs (and open their ends) for a new process called `name`."""
        if self.mode == "null":
            return TaskIO(self, "", "", "")
        if self.mode == "log_file":
            assert self.path is not None
            uri = "file://" + self.path
            return TaskIO(self, "", uri, "" if self.terminal else uri)
        directory = make_fifo_dir()
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
        if self.mode in ("null", "log_file"):
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


def null(*, terminal: bool = False) -> Stdio[None]:
    """No input; output discarded by the shim.

    Example:
        ```python
        task = await container.new_task(stdio=stdio.null())
        ```
    """
    return Stdio(mode="null", terminal=terminal)


def inherit(*, terminal: bool = False) -> Stdio[None]:
    """This process's own stdin, stdout and stderr, like ``ctr run``.

    Output is copied while `Task.wait` runs. With ``terminal=True`` the
    local terminal is not switched to raw mode.

    Example:
        ```python
        async with await container.new_task(stdio=stdio.inherit()) as task:
            await task.start()
            await task.wait()
        ```
    """
    return Stdio(mode="inherit", terminal=terminal)


def pipes(*, terminal: bool = False) -> Stdio[Pipes]:
    """Streams: ``task.pipes.stdin`` to write, ``task.pipes.stdout`` / ``.stderr`` to read.

    The task (or exec process) made with it is a ``Task[Pipes]``: its
    `Task.pipes` is a `Pipes`, typed as never ``None``. Closing
    ``task.pipes.stdin`` (``await task.pipes.stdin.aclose()`` or
    ``await task.close_stdin()``) gives the process end-of-file.

    Example:
        ```python
        async with await container.new_task(stdio=stdio.pipes()) as task:
            await task.start()
            await task.pipes.stdin.send(b"hello")
            await task.pipes.stdin.aclose()
            async for chunk in task.pipes.stdout:
                print(chunk)
        ```
    """
    return Stdio(mode="pipes", terminal=terminal)


def capture(
    max_bytes: int | None = None, *, input: bytes | None = None, terminal: bool = False
) -> Stdio[None]:
    """Collect output as bytes (``task.captured_stdout``, ``task.captured_stderr``).

    Args:
        max_bytes: keep at most this many bytes of each stream; the rest is
            read and dropped (the process never blocks on a full pipe), and
            ``task.output_truncated`` becomes true. ``None``: keep all.
        input: bytes fed to the process's stdin, which is then closed.
        terminal: give the process a pseudo-terminal (stderr merges into stdout).

    Raises:
        ValueError: `max_bytes` is negative.

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
    return Stdio(mode="capture", terminal=terminal, max_bytes=max_bytes, input=input)


def log_file(path: str | os.PathLike[str], *, terminal: bool = False) -> Stdio[None]:
    """The shim appends stdout and stderr to the file at `path` (``file://`` URI).

    containerd 1.6's runc shim writes both streams through one file
    descriptor and closes it when stdout ends: stderr output it has not
    copied by then is lost (the daemon logs "error copying stderr"). Use
    `pipes` or `capture` when stderr must be complete.

    Raises:
        ValueError: `path` is not absolute.

    Example:
        ```python
        task = await container.new_task(stdio=stdio.log_file("/var/log/app.log"))
        ```
    """
    text = os.fspath(path)
    if not os.path.isabs(text):
        raise ValueError(f"log_file path must be absolute, not {text!r}")
    return Stdio(mode="log_file", terminal=terminal, path=text)
