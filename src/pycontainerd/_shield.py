"""Cleanup that finishes however the task is cancelled.

anyio's ``CancelScope(shield=True)`` holds off anyio's cancel scopes, but not
asyncio's own ``Task.cancel()``, which is what Ctrl-C under ``anyio.run``
sends: such a cancellation lands in whatever the shielded code awaits and
interrupts it there. `finish` runs a cleanup step under a shield and, when a
native cancellation interrupts it, runs the (idempotent) step again; once the
step has finished, the cancellation is raised, so the caller still stops.

A daemon that dies under a cleanup (SIGKILL, a restart) would leave what the
step was removing: a `Removal` step that loses the connection is run again,
after a pause, until the daemon is back or `finish`'s time is up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import anyio

from . import errors

__all__ = ["Creation", "Removal", "finish"]

T = TypeVar("T")


async def finish(*steps: Callable[[], Awaitable[T]], timeout: float) -> T:
    """Run `steps` one after the other to their end, shielded from every cancellation.

    Each step must be safe to run again after an interruption (an RPC whose
    repeat is harmless, a close): one that a native cancellation cut short
    runs again, and the cancellation is raised once the last step has
    returned, failed or run out of time (its outcome is then the
    cancellation's context). `timeout` bounds them all.

    A `Removal` step that raises `errors.ConnectionError` (the daemon is
    gone, perhaps restarting) runs again after a pause (0.05 s doubling to
    1 s) until it gets through or `timeout` passes; the connection error is
    then raised rather than a `TimeoutError`.

    Returns:
        What the last step returned.

    Raises:
        TimeoutError: the steps did not finish in time (the rest are abandoned).
        pycontainerd.errors.ConnectionError: a `Removal` could not reach the
            daemon before the time was up.
    """
    interrupted: BaseException | None = None
    lost: errors.ConnectionError | None = None
    cancelled = anyio.get_cancelled_exc_class()
    try:
        with anyio.CancelScope(shield=True), anyio.fail_after(timeout) as bound:
            for step in steps:
                pause = _FIRST_PAUSE
                while True:
                    try:
                        result = await step()
                        break
                    except cancelled as exc:
                        if bound.cancel_called:
                            raise  # our own time is up: fail_after turns it into TimeoutError
                        interrupted = exc
                    except errors.ConnectionError as exc:
                        if not isinstance(step, Removal) or isinstance(exc, errors.TLSError):
                            raise
                        lost = exc
                        interrupted = await _pause(pause, bound) or interrupted
                        pause = min(pause * 2, _LAST_PAUSE)
    except TimeoutError:
        if lost is not None and bound.cancel_called:
            raise lost from None
        raise
    finally:
        if interrupted is not None:
            raise interrupted
    return result


_FIRST_PAUSE = 0.05
_LAST_PAUSE = 1.0


async def _pause(seconds: float, bound: anyio.CancelScope) -> BaseException | None:
    """Sleep before a retry, to its end; the native cancellation that landed meanwhile."""
    cancelled = anyio.get_cancelled_exc_class()
    interrupted: BaseException | None = None
    end = anyio.current_time() + seconds
    while (left := end - anyio.current_time()) > 0:
        try:
            await anyio.sleep(left)
        except cancelled as exc:
            if bound.cancel_called:
                raise
            interrupted = exc
    return interrupted


class Creation(Generic[T]):
    """A create call for `finish`: a repeat that finds its own first try's object succeeds.

    A native cancellation can interrupt a create after the daemon made the
    object; `finish` then sends it again, and the daemon answers
    ``AlreadyExists``, which on a repeat means "made" (the result is then
    ``None``). On the first try it means the name belongs to someone else and
    is raised. `interrupted` tells a caller that is rolling back whether the
    object may exist although the call did not return: a try was cut short,
    or lost its connection in flight (the daemon may have made the object
    and died before answering). A lost connection is raised, not retried.
    """

    def __init__(self, call: Callable[[], Awaitable[T]]) -> None:
        self._call = call
        self.tries = 0
        self._lost = False

    @property
    def interrupted(self) -> bool:
        """Whether a try was cut short or lost its answer (so the object may exist)."""
        return self.tries > 1 or self._lost

    async def __call__(self) -> T | None:
        self.tries += 1
        try:
            return await self._call()
        except errors.AlreadyExists:
            if self.tries == 1:
                raise
            return None
        except errors.ConnectionError as exc:
            self._lost = self._lost or exc.in_flight
            raise


class Removal(Generic[T]):
    """A delete call for `finish`: ``NotFound`` on a repeat means its first try got through.

    `finish` repeats a removal that lost its connection until the daemon is
    back (within its time): the call must be safe to repeat.
    """

    def __init__(self, call: Callable[[], Awaitable[T]]) -> None:
        self._call = call
        self.tries = 0

    async def __call__(self) -> T | None:
        self.tries += 1
        try:
            return await self._call()
        except errors.NotFound:
            if self.tries == 1:
                raise
            return None
