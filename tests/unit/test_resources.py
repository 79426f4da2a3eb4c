"""The async-resource base the SDK's resources (client, tasks, registry repositories) share."""

from __future__ import annotations

import pytest

from pycontainerd._abc import AsyncResource

pytestmark = pytest.mark.anyio


class Closing(AsyncResource):
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1
        if self.error is not None:
            raise self.error


async def test_entering_gives_the_resource_and_leaving_closes_it() -> None:
    resource = Closing()
    async with resource as entered:
        assert entered is resource
        assert not resource.closed
    assert resource.closed == 1


async def test_a_failing_close_raises_after_a_clean_body() -> None:
    resource = Closing(OSError("close failed"))
    with pytest.raises(OSError, match="close failed"):
        async with resource:
            pass


async def test_the_bodys_exception_wins_over_a_failing_close() -> None:
    resource = Closing(OSError("close failed"))
    with pytest.raises(KeyError, match="body"):
        async with resource:
            raise KeyError("body")
    assert resource.closed == 1


async def test_a_close_interrupted_by_a_base_exception_is_not_hidden() -> None:
    resource = Closing(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        async with resource:
            raise KeyError("body")
