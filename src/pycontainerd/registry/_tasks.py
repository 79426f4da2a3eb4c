"""Running transfers concurrently, with plain exceptions for the caller."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
from anyio.abc import TaskGroup

__all__ = ["task_group"]


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found.extend(_leaves(exc))
        else:
            found.append(exc)
    return found


@contextlib.asynccontextmanager
async def task_group() -> AsyncIterator[TaskGroup]:
    """An anyio task group that re-raises its first failure as itself, not in a group.

    The first failing transfer cancels the others; what they raise on the
    way out (cancellation) is noise for the caller, who wants to catch
    `AuthenticationError` or `DigestError` directly.
    """
    try:
        async with anyio.create_task_group() as tg:
            yield tg
    except BaseExceptionGroup as group:
        cancelled = anyio.get_cancelled_exc_class()
        leaves = _leaves(group)
        real = [e for e in leaves if not isinstance(e, cancelled)]
        raise (real or leaves)[0] from None
