"""anyio byte streams over FIFO file descriptors (non-blocking, no threads)."""

from __future__ import annotations

import os
import select
from collections.abc import Awaitable, Callable

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream

__all__ = ["FifoReceiveStream", "FifoSendStream"]

CHUNK = 1 << 16


def _close_fd(fd: int) -> None:
    anyio.notify_closing(fd)
    try:
        os.close(fd)
    except OSError:
        pass


def _discard_fd(fd: int) -> None:
    """Close `fd` from a finalizer: no event loop to notify, and no task waits on it."""
    try:
        os.close(fd)
    except OSError:
        pass


def _poll_now(fd: int) -> int:
    """The poll events of `fd` at this moment (0 if none)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    ready = poller.poll(0)
    return ready[0][1] if ready else 0


class FifoReceiveStream(ByteReceiveStream):
    """The read end of a FIFO the task writes to (its stdout or stderr).

    Reading waits with `anyio.wait_readable` and reads with `os.read`; the
    stream ends when every writer (the shim) has closed the FIFO. Until a
    writer has opened it (the shim opens an exec process's FIFOs only when
    it starts the process), reading waits for one, as containerd's Go
    ``cio`` does.
    """

    def __init__(self, fd: int, name: str) -> None:
        self._fd: int | None = fd
        self._name = name
        self._eof = False
        # What owns the FIFO (a TaskIO): kept alive while this stream is, so its
        # finalizer cannot close the fd under a reader that still holds the stream.
        self._owner: object = None

    @property
    def eof(self) -> bool:
        """Whether the writer closed the FIFO and everything was read."""
        return self._eof

    async def receive(self, max_bytes: int = CHUNK) -> bytes:
        """Read up to `max_bytes` bytes; waits until some arrive.

        Raises:
            anyio.EndOfStream: the task closed its end and all data was read.
            anyio.ClosedResourceError: this stream was closed.
        """
        while True:
            if self._fd is None:
                raise anyio.ClosedResourceError
            if self._eof:
                raise anyio.EndOfStream
            try:
                data = os.read(self._fd, max_bytes)
            except BlockingIOError:
                await anyio.wait_readable(self._fd)
                continue
            if not data:
                # No writer now. Linux reports POLLHUP on a FIFO's read end only once
                # a writer has opened it since the read end was opened (a reader
                # opened while one is open sees it): without it, none came yet.
                events = _poll_now(self._fd)
                if events & select.POLLIN:
                    continue  # a writer came, wrote and maybe left since the read
                if not events & select.POLLHUP:
                    await anyio.wait_readable(self._fd)  # until one writes or leaves
                    continue
                self._eof = True
                raise anyio.EndOfStream
            await anyio.lowlevel.checkpoint()
            return data

    def _end_without_writer(self) -> None:
        """Make end-of-file final even if no writer ever opens the FIFO.

        For a process that will not open it (its start failed, or it was
        gone before this end was opened): opening and closing a write end
        looks like a writer that came and went, so a waiting `receive` wakes
        up and, once what was written is read, ends. No change while a real
        writer has it open.
        """
        if self._fd is None:
            return
        # O_NONBLOCK never waits: there is a reader (this one). The /proc link is
        # this very FIFO even if its path was replaced; the path is the fallback.
        for path in (f"/proc/self/fd/{self._fd}", self._name):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                continue
            os.close(fd)
            return

    async def aclose(self) -> None:
        """Close the read end (idempotent)."""
        self.close()
        await anyio.lowlevel.checkpoint()

    def close(self) -> None:
        """Close the read end without waiting (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            _close_fd(fd)

    def _discard(self) -> None:
        """Close the fd from a finalizer (nothing can be waiting on it)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            _discard_fd(fd)

    def __repr__(self) -> str:
        return f"<FifoReceiveStream {self._name} {'closed' if self._fd is None else 'open'}>"


class FifoSendStream(ByteSendStream):
    """The write end of the task's stdin FIFO.

    Closing it (``aclose``) also asks the shim to close its own end, so the
    process reads end-of-file after every byte sent.
    """

    def __init__(
        self, fd: int, name: str, on_close: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self._fd: int | None = fd
        self._name = name
        self._on_close = on_close
        self._owner: object = None  # as FifoReceiveStream's

    async def send(self, item: bytes) -> None:
        """Write all of `item`, waiting whenever the FIFO is full.

        Raises:
            anyio.ClosedResourceError: the stream was closed.
            anyio.BrokenResourceError: the FIFO has no reader any more.
        """
        view = memoryview(item)
        while view:
            if self._fd is None:
                raise anyio.ClosedResourceError
            try:
                n = os.write(self._fd, view[:CHUNK])
            except BlockingIOError:
                await anyio.wait_writable(self._fd)
                continue
            except BrokenPipeError as exc:
                raise anyio.BrokenResourceError from exc
            view = view[n:]
        await anyio.lowlevel.checkpoint()

    def close_fd(self) -> None:
        """Close the write end without telling the shim (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            _close_fd(fd)

    def _discard(self) -> None:
        """Close the fd from a finalizer (nothing can be waiting on it)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            _discard_fd(fd)

    async def aclose(self) -> None:
        """Close the write end: the process then reads end-of-file (idempotent)."""
        was_open = self._fd is not None
        self.close_fd()
        if was_open and self._on_close is not None:
            await self._on_close()
        await anyio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        return f"<FifoSendStream {self._name} {'closed' if self._fd is None else 'open'}>"


class NoInput(ByteSendStream):
    """The stdin of a process that has no stdin FIFO (re-attached to one made without).

    Sending fails as writing to a pipe nobody reads does; closing does nothing.
    """

    async def send(self, item: bytes) -> None:
        """Raise `anyio.BrokenResourceError`: nothing reads this process's stdin."""
        await anyio.lowlevel.checkpoint()
        raise anyio.BrokenResourceError("the process has no stdin pipe")

    async def aclose(self) -> None:
        """Do nothing (idempotent)."""
        await anyio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        return "<NoInput>"


class NoOutput(ByteReceiveStream):
    """An output a process does not have (stderr with a terminal): at end-of-file at once."""

    async def receive(self, max_bytes: int = CHUNK) -> bytes:
        """Raise `anyio.EndOfStream`: nothing is ever written here."""
        await anyio.lowlevel.checkpoint()
        raise anyio.EndOfStream

    async def aclose(self) -> None:
        """Do nothing (idempotent)."""
        await anyio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        return "<NoOutput>"
