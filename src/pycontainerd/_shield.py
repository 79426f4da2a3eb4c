"""Cleanup that finishes however the task is cancelled.

anyio's ``CancelScope(shield=True)`` holds off anyio's cancel scopes, but not
asyncio's own ``Task.cancel()``, which is what Ctrl-C under ``anyio.run``
sends: such a cancellation lands in whatever the shielded code awaits and
interrupts it there. `finish` runs a cleanup step under a shield and, when a
native cancellation interrupts it, runs the (idempotent) step again; once the
step has finished, the cancellation is raised, so the caller still stops.
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

    Returns:
        What the last step returned.

    Raises:
        TimeoutError: the steps did not finish in time (the rest are abandoned).
    """
    interrupted: BaseException | None = None
    cancelled = anyio.get_cancelled_exc_class()
    try:
        with anyio.CancelScope(shield=True), anyio.fail_after(timeout) as bound:
            for step in steps:
                while True:
                    try:
                        result = await step()
                        break
                    except cancelled as exc:
                        if bound.cancel_called:
                            raise  # our own time is up: fail_after turns it into TimeoutError
                        interrupted = exc
    finally:
        if interrupted is not None:
            raise interrupted
    return result


class Creation(Generic[T]):
    """A create call for `finish`: a repeat that finds its own first try's object succeeds.

    A native cancellation can interrupt a create after the daemon made the
    object; `finish` then sends it again, and the daemon answers
    ``AlreadyExists``, which on a repeat means "made" (the result is then
    ``None``). On the first try it means the name belongs to someone else and
    is raised. `interrupted` tells a caller that is rolling back whether the
    object may exist although the call did not return.
    """

    def __init__(self, call: Callable[[], Awaitable[T]]) -> None:
        self._call = call
        self.tries = 0

    @property
    def interrupted(self) -> bool:
        """Whether a try was cut short (so the object may exist)."""
        return self.tries > 1

    async def __call__(self) -> T | None:
        self.tries += 1
        try:
            return await self._call()
        except errors.AlreadyExists:
            if self.tries == 1:
                raise
            return None


class Removal(Generic[T]):
    """A delete call for `finish`: ``NotFound`` on a repeat means its first try got through."""

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
