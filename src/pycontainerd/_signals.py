"""Signal names and numbers, and forwarding this process's signals to a task."""

from __future__ import annotations

import asyncio
import logging
import os
import signal as _signal
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, Final, Protocol, Self, runtime_checkable

import anyio
from anyio.abc import TaskGroup

from . import errors
from ._identifiers import shown

__all__ = ["SignalTarget", "forward_signals", "parse_signal"]

_log = logging.getLogger("pycontainerd.signals")

_RTMIN: Final = int(_signal.SIGRTMIN)
_RTMAX: Final = int(_signal.SIGRTMAX)
_VALID: Final = frozenset(int(s) for s in _signal.valid_signals())

# Never forwarded (as containerd's ctr): the child-exit, broken-pipe and
# urgent-data signals concern this process only.
_NOT_FORWARDED: Final = frozenset({_signal.SIGCHLD, _signal.SIGPIPE, _signal.SIGURG})
# Cannot be caught at all.
_UNCATCHABLE: Final = frozenset({_signal.SIGKILL, _signal.SIGSTOP})
# Synchronous fault signals: a Python-level handler would make a real fault
# loop forever, so they keep their own handling.
_FAULTS: Final = frozenset({_signal.SIGSEGV, _signal.SIGBUS, _signal.SIGFPE, _signal.SIGILL})

_PSEUDO: dict[int, _signal.Signals] = {}


def _rt_name(number: int) -> str:
    """``SIGRTMIN+n`` for the lower half of the real-time range, ``SIGRTMAX-n`` above (as ``kill -l``)."""
    if number == _RTMIN:
        return "SIGRTMIN"
    if number == _RTMAX:
        return "SIGRTMAX"
    if number - _RTMIN <= (_RTMAX - _RTMIN) // 2:
        return f"SIGRTMIN+{number - _RTMIN}"
    return f"SIGRTMAX-{_RTMAX - number}"


def _member(number: int) -> _signal.Signals:
    """The `signal.Signals` for `number`, real-time signals included.

    Python's enum only names SIGRTMIN and SIGRTMAX; the signals between them
    get a cached pseudo-member (an instance of `signal.Signals` named
    ``SIGRTMIN+3`` and so on) that behaves as the number everywhere.
    """
    try:
        return _signal.Signals(number)
    except ValueError:
        pass
    member = _PSEUDO.get(number)
    if member is None:
        member = int.__new__(_signal.Signals, number)
        member._name_ = _rt_name(number)
        member._value_ = number
        _PSEUDO[number] = member
    return member


def parse_signal(value: str | int) -> _signal.Signals:
    """A signal from its name or number.

    Accepts names with or without the ``SIG`` prefix in any case
    (``"SIGTERM"``, ``"term"``), numbers as `int` or decimal string
    (``15``, ``"15"``) and real-time signals as ``"SIGRTMIN+3"`` or
    ``"RTMAX-1"``. Real-time signals come back as `signal.Signals` values
    too, named ``SIGRTMIN+n`` / ``SIGRTMAX-n`` as ``kill -l`` names them.

    Raises:
        ValueError: `value` names no signal of this system (the message quotes it).

    Example:
        ```python
        >>> parse_signal("term")
        <Signals.SIGTERM: 15>
        >>> parse_signal("SIGRTMIN+3").name
        'SIGRTMIN+3'
        ```
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"not a signal: {shown(value)}")
    if isinstance(value, int):
        if int(value) in _VALID:
            return _member(int(value))
        raise ValueError(f"not a signal number of this system: {shown(value)}")
    text = value
    if text.isascii() and text.isdigit():
        number = int(text)
        if number in _VALID:
            return _member(number)
        raise ValueError(f"not a signal number of this system: {shown(value)}")
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    member = _signal.Signals.__members__.get(name)
    if member is not None:
        return member
    rt = _parse_rt(name)
    if rt is not None and rt in _VALID:
        return _member(rt)
    raise ValueError(f"unknown signal {shown(value)}")


def _parse_rt(name: str) -> int | None:
    for base_name, base, sign in (("SIGRTMIN", _RTMIN, 1), ("SIGRTMAX", _RTMAX, -1)):
        if not name.startswith(base_name):
            continue
        rest = name[len(base_name) :]
        op = "+" if sign > 0 else "-"
        if not rest.startswith(op):
            return None
        digits = rest[1:]
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 3:
            return None
        number = base + sign * int(digits)
        return number if _RTMIN <= number <= _RTMAX else None
    return None


@runtime_checkable
class SignalTarget(Protocol):
    """What `forward_signals` forwards to: anything with an async ``kill(signal)``.

    `pycontainerd` tasks and exec processes qualify. An optional async
    ``resize(columns, rows)`` receives terminal size changes (SIGWINCH), and
    an optional ``terminal`` attribute says whether the target has a
    terminal.
    """

    def kill(self, signal: _signal.Signals, /) -> Awaitable[Any]:
        """Send `signal`."""
        ...


def _terminal_size() -> os.terminal_size | None:
    """This process's terminal size; ``None`` if it has none or one of unknown size (0x0)."""
    for fd in (0, 1, 2):
        try:
            size = os.get_terminal_size(fd)
        except OSError:
            continue
        return size if size.columns and size.lines else None
    return None


class forward_signals:
    """Forward the signals this process receives to a task or process while the block runs.

    By default every signal that can be caught is forwarded, except SIGCHLD,
    SIGPIPE and SIGURG (as containerd's ``ctr``), and except the synchronous
    fault signals SIGSEGV, SIGBUS, SIGFPE and SIGILL (a Python handler would
    make a real fault spin). SIGWINCH becomes ``resize(columns, rows)`` with
    this process's terminal size when the target has a terminal (and the size
    is known: a terminal of 0x0 is left alone). Signals are
    forwarded in the order they arrive. Once the target has exited
    (``kill`` raises `pycontainerd.errors.NotFound`) forwarding stops
    quietly; other errors are logged (logger ``pycontainerd.signals``) and
    forwarding goes on.

    Handlers are installed with the event loop's ``add_signal_handler``
    (asyncio, main thread only); when the block ends, the previous handlers
    (Python-level or the loop's own) are restored. Entering does not block;
    leaving waits up to a second for signals already received to be
    forwarded.

    Args:
        target: a `pycontainerd` task or process, or any object with an
            async ``kill(signal)``.
        signals: the signals to forward (anything `parse_signal` accepts);
            the default set when ``None``.
        terminal: whether SIGWINCH should resize the target's terminal;
            by default the target's ``terminal`` attribute, else false.

    Raises:
        ValueError: a signal cannot be caught (SIGKILL, SIGSTOP) or is unknown.
        RuntimeError: not running on asyncio's main thread.

    Example:
        ```python
        async with await container.new_task(stdio=stdio.inherit()) as task:
            await task.start()
            async with pycontainerd.forward_signals(task):
                status = await task.wait()
        ```
    """

    def __init__(
        self,
        target: SignalTarget,
        signals: Iterable[str | int] | None = None,
        *,
        terminal: bool | None = None,
    ) -> None:
        if not callable(getattr(target, "kill", None)):
            raise TypeError(f"cannot forward signals to {target!r}: it has no kill() method")
        self._target = target
        self._terminal = bool(getattr(target, "terminal", False)) if terminal is None else terminal
        if signals is None:
            chosen = {
                _member(n) for n in _VALID if n not in _NOT_FORWARDED | _UNCATCHABLE | _FAULTS
            }
        else:
            chosen = set()
            for s in signals:
                sig = parse_signal(s)
                if sig in _UNCATCHABLE:
                    raise ValueError(f"{sig.name} cannot be caught, so it cannot be forwarded")
                chosen.add(sig)
        self._signals = sorted(chosen)
        self._send, self._recv = anyio.create_memory_object_stream[_signal.Signals](256)
        self._tg: TaskGroup | None = None
        self._restore: list[Callable[[], None]] = []
        self._stopped = False
        self._entered = False
        self._drained = anyio.Event()

    @property
    def signals(self) -> tuple[_signal.Signals, ...]:
        """The signals this forwarder handles."""
        return tuple(self._signals)

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("forward_signals can be entered only once")
        self._entered = True
        loop = asyncio.get_running_loop()
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        tg.start_soon(self._forward)
        try:
            for sig in self._signals:
                self._install(loop, sig)
        except BaseException:
            self._uninstall()
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)
            self._tg = None
            raise
        return self

    def _install(self, loop: asyncio.AbstractEventLoop, sig: _signal.Signals) -> None:
        python_handler = _signal.getsignal(sig)
        loop_handlers: dict[int, asyncio.Handle] = getattr(loop, "_signal_handlers", {})
        loop_handle = loop_handlers.get(int(sig))
        try:
            loop.add_signal_handler(sig, self._on_signal, sig)
        except ValueError as exc:
            raise RuntimeError(
                f"cannot handle {sig.name}: forward_signals needs asyncio's main thread ({exc})"
            ) from exc

        def restore() -> None:
            loop.remove_signal_handler(sig)
            if loop_handle is not None and not loop_handle.cancelled():
                cb = getattr(loop_handle, "_callback")  # noqa: B009 - asyncio keeps it private
                args = getattr(loop_handle, "_args")  # noqa: B009
                loop.add_signal_handler(sig, cb, *args)
            elif python_handler is not None:
                _signal.signal(sig, python_handler)

        self._restore.append(restore)

    def _uninstall(self) -> None:
        while self._restore:
            restore = self._restore.pop()
            try:
                restore()
            except Exception:  # pragma: no cover - restoring must go on for the others
                _log.exception("could not restore a signal handler")

    def _on_signal(self, sig: _signal.Signals) -> None:
        try:
            self._send.send_nowait(sig)
        except anyio.WouldBlock:
            _log.warning("dropping %s: too many signals waiting to be forwarded", sig.name)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    async def _forward(self) -> None:
        async with self._recv:
            async for sig in self._recv:
                if self._stopped:
                    continue
                try:
                    await self._deliver(sig)
                except errors.NotFound:
                    self._stopped = True  # the target exited: nothing left to signal
                except Exception:
                    _log.exception("could not forward %s", sig.name)
        self._drained.set()

    async def _deliver(self, sig: _signal.Signals) -> None:
        if sig == _signal.SIGWINCH and self._terminal:
            resize = getattr(self._target, "resize", None)
            size = _terminal_size()
            if resize is not None and size is not None:
                await resize(size.columns, size.lines)
            return
        await self._target.kill(sig)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        tg, self._tg = self._tg, None
        self._uninstall()
        self._send.close()
        if tg is None:
            return None
        if not isinstance(exc, anyio.get_cancelled_exc_class()):
            # let signals already received reach the target, bounded
            with anyio.move_on_after(1.0):
                await self._drained.wait()
        tg.cancel_scope.cancel()
        if isinstance(exc, anyio.get_cancelled_exc_class()):
            return await tg.__aexit__(exc_type, exc, tb)
        await tg.__aexit__(None, None, None)
        return None
