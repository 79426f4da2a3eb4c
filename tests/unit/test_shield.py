"""`pycontainerd._shield.finish`: cleanup steps run to their end, however the caller is stopped."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from pycontainerd import errors
from pycontainerd._shield import Creation, Removal, finish

pytestmark = pytest.mark.anyio


async def test_a_native_cancellation_never_reaches_the_step() -> None:
    # A step cut by Task.cancel() would reset its RPC, and the daemon abandon
    # the work halfway (a task delete so cut leaves the shim running).
    started, release = anyio.Event(), anyio.Event()
    outcome: list[str] = []

    async def step() -> str:
        started.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            outcome.append("step cancelled")
            raise
        outcome.append("step done")
        return "made"

    creation = Creation(step)
    caller = asyncio.ensure_future(finish(creation, timeout=10))
    await started.wait()
    caller.cancel()
    await asyncio.sleep(0.01)
    caller.cancel()  # twice: Ctrl-C pressed again
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert outcome == ["step done"]
    assert creation.made  # the rollback knows the object exists


async def test_a_step_that_ends_as_the_cancellation_arrives_keeps_its_outcome() -> None:
    async def step() -> str:
        return "made"

    creation = Creation(step)
    caller = asyncio.ensure_future(finish(creation, timeout=10))
    await asyncio.sleep(0)  # the step is done, the caller not yet resumed
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert creation.made


async def test_a_refusal_as_the_cancellation_arrives_made_nothing() -> None:
    # AlreadyExists under a Ctrl-C: the object of that name is another's, and
    # the rollback must leave it.
    started, release = anyio.Event(), anyio.Event()

    async def step() -> None:
        started.set()
        await release.wait()
        raise errors.AlreadyExists("taken")

    creation = Creation(step)
    caller = asyncio.ensure_future(finish(creation, timeout=10))
    await started.wait()
    caller.cancel()
    await asyncio.sleep(0.01)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert not creation.made
    assert not creation.unsure
    assert not await creation.owned()


@pytest.mark.parametrize("there", ["ours", "anothers"])
async def test_a_lost_answer_is_settled_by_looking(there: str) -> None:
    looked: list[int] = []

    async def ours() -> bool:
        looked.append(1)
        return there == "ours"

    async def create() -> None:
        raise errors.ConnectionError("lost", address="/x", in_flight=True)

    creation = Creation(create, ours=ours)
    with pytest.raises(errors.ConnectionError):
        await finish(creation, timeout=10)
    assert creation.unsure
    assert await creation.owned() is (there == "ours")
    assert looked == [1]


async def test_an_abandoned_create_is_unsure() -> None:
    async def create() -> None:
        await anyio.sleep(10)

    creation = Creation(create)
    with pytest.raises(TimeoutError):
        await finish(creation, timeout=0.05)
    assert creation.unsure
    assert await creation.owned()  # no look given: a name of the SDK's own choosing


async def test_a_removal_waits_for_the_daemon_to_come_back() -> None:
    tries: list[int] = []

    async def delete() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise errors.ConnectionError("down", address="/x", in_flight=len(tries) == 2)
        raise errors.NotFound("gone")  # the second try got through before the connection broke

    assert await finish(Removal(delete), timeout=10) is None
    assert len(tries) == 3


async def test_a_removal_that_never_gets_through_raises_the_connection_error() -> None:
    async def delete() -> None:
        raise errors.ConnectionError("down", address="/x")

    with pytest.raises(errors.ConnectionError, match="down"):
        await finish(Removal(delete), timeout=0.3)


async def test_a_create_is_not_repeated_after_a_lost_connection() -> None:
    tries: list[int] = []

    async def create() -> None:
        tries.append(1)
        raise errors.ConnectionError("lost", address="/x", in_flight=True)

    creation = Creation(create)
    with pytest.raises(errors.ConnectionError):
        await finish(creation, timeout=10)
    assert tries == [1]
    assert creation.unsure  # the daemon may have made it
    refused = Creation(lambda: _raise(errors.ConnectionError("no daemon", address="/x")))
    with pytest.raises(errors.ConnectionError):
        await finish(refused, timeout=10)
    assert not refused.unsure  # nothing was sent: nothing to roll back
    assert not await refused.owned()


async def _raise(exc: Exception) -> None:
    raise exc
