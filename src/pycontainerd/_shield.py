"""Cleanup that finishes however the task is cancelled.

anyio's ``CancelScope(shield=True)`` holds off anyio's cancel scopes, but not
asyncio's own ``Task.cancel()``, which is what Ctrl-C under ``anyio.run``
sends: such a cancellation lands in whatever the shielded code awaits and
interrupts it there. `finish` runs a cleanup step under a shield, in a task
of its own on asyncio, so that a native cancellation of the caller never
reaches it; once the step has finished, the cancellation is raised, so the
caller still stops.

A daemon that dies under a cleanup (SIGKILL, a restart) would leave what the
step was removing: a `Removal` step that loses the connection is run again,
after a pause, until the daemon is back or `finish`'s time is up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import anyio

from . import errors

__all__ = ["Creation", "Removal", "finish"]

T = TypeVar("T")


async def finish(*steps: Callable[[], Awaitable[T]], timeout: float) -> T:
    """Run `steps` one after the other to their end, shielded from every cancellation.

    On asyncio each step runs in a task of its own, which a native
    cancellation of the caller does not reach: the step runs on to its end
    (an RPC it was in is not reset, so the daemon does not abandon the work
    halfway: a task delete cut so would leave its shim running), and the
    cancellation is raised once the last step has returned, failed or run out
    of time (its outcome is then the cancellation's context). `timeout`
    bounds them all.

    A `Removal` step that raises `errors.ConnectionError` (the daemon is
    gone, perhaps restarting) runs again after a pause (0.05 s doubling to
    1 s) until it gets through or `timeout` passes; the connection error is
    then raised rather than a `TimeoutError`. Such a step must be safe to
    run again.

    Returns:
        What the last step returned.

    Raises:
        TimeoutError: the steps did not finish in time (the rest are abandoned).
        pycontainerd.errors.ConnectionError: a `Removal` could not reach the
            daemon before the time was up.
    """
    landed: list[BaseException] = []  # native cancellations that arrived meanwhile
    lost: errors.ConnectionError | None = None
    try:
        with anyio.CancelScope(shield=True), anyio.fail_after(timeout) as bound:
            for step in steps:
                pause = _FIRST_PAUSE
                while True:
                    try:
                        result = await _to_its_end(step, bound, landed)
                        break
                    except errors.ConnectionError as exc:
                        if not isinstance(step, Removal) or isinstance(exc, errors.TLSError):
                            raise
                        lost = exc
                        await _pause(pause, bound, landed)
                        pause = min(pause * 2, _LAST_PAUSE)
    except TimeoutError:
        if lost is not None and bound.cancel_called:
            raise lost from None
        raise
    finally:
        if landed:
            raise landed[0]
    return result


_FIRST_PAUSE = 0.05
_LAST_PAUSE = 1.0


async def _to_its_end(
    step: Callable[[], Awaitable[T]], bound: anyio.CancelScope, landed: list[BaseException]
) -> T:
    """Await `step()`; a native cancellation (added to `landed`) does not interrupt it."""
    cancelled = anyio.get_cancelled_exc_class()
    if cancelled is not asyncio.CancelledError:
        return await step()  # no native cancellation outside asyncio: the shield is enough
    inner = asyncio.ensure_future(step())
    while True:
        try:
            return await asyncio.shield(inner)
        except asyncio.CancelledError as exc:
            if bound.cancel_called:  # our own time is up: abandon the step
                inner.cancel()
                inner.add_done_callback(_consume)
                raise
            if inner.cancelled():
                raise  # the step itself was cancelled, not us
            landed.append(exc)  # the step may have just ended: its outcome comes next


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned step's outcome, so that asyncio does not log it as lost."""
    if not task.cancelled():
        task.exception()


async def _pause(seconds: float, bound: anyio.CancelScope, landed: list[BaseException]) -> None:
    """Sleep before a retry, to its end (a native cancellation is added to `landed`)."""
    cancelled = anyio.get_cancelled_exc_class()
    end = anyio.current_time() + seconds
    while (left := end - anyio.current_time()) > 0:
        try:
            await anyio.sleep(left)
        except cancelled as exc:
            if bound.cancel_called:
                raise
            landed.append(exc)


class Creation(Generic[T]):
    """A create call for `finish`, which tells a rollback whether the object is its own.

    It records how the call ended. One that returned made the object. One
    the daemon refused (an `errors.RPCError`: ``AlreadyExists``, say) made
    nothing, even when a native cancellation arrived meanwhile (`finish` ran
    it to its end): the object of that name, if any, is someone else's. One
    whose answer is lost (the connection broke in flight, the deadline
    passed, or `finish` abandoned it) is unsure: the daemon may have made
    the object, or refused it because it existed already and died before
    saying so. `owned` settles that with `ours`, a look at the object the
    daemon has, when the caller gave one.

    Args:
        call: the create RPC.
        ours: for an unsure outcome, whether the object that exists is the
            one asked for (compared with the request; False if there is
            none). Without it an unsure object is taken for ours: right
            for a name of the SDK's own choosing (random), which no one
            else has.
    """

    def __init__(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        ours: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self._call = call
        self._ours = ours
        self.made = False
        self.unsure = False

    async def __call__(self) -> T:
        # Unsure from the start: a call that `finish` abandons ends (cancelled)
        # only after `finish` has raised, when the rollback has already asked.
        self.unsure = True
        try:
            result = await self._call()
        except errors.ConnectionError as exc:
            self.unsure = exc.in_flight
            raise
        except (errors.DeadlineExceeded, errors.Canceled):
            raise
        except errors.RPCError:
            self.unsure = False  # the daemon's answer: nothing made
            raise
        self.unsure = False
        self.made = True
        return result

    async def owned(self) -> bool:
        """Whether the object is this create's own, asking the daemon when unsure.

        Call it in the rollback's `Removal` step, which `finish` runs again
        if the daemon is away.
        """
        if self.made:
            return True
        if not self.unsure:
            return False
        return True if self._ours is None else await self._ours()


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
