"""Shapes several modules share (private): async resources and JSON-serialisable objects."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Protocol, Self

__all__ = ["AsyncResource", "JSONable"]


class JSONable(Protocol):
    """Anything with a ``to_json()``, such as `pycontainerd.oci.Spec`."""

    def to_json(self) -> bytes | str:
        """The object as a JSON document."""
        ...


class AsyncResource(ABC):
    """Something to close, used as an async context manager: leaving it is `aclose`.

    As ``anyio.abc.AsyncResource``, with one difference: when the body of the
    ``async with`` raised, a failure of `aclose` does not replace that
    exception (the body's error says what went wrong; the cleanup's would
    hide it). Cancellation and other ``BaseException``s from `aclose` still
    propagate. Subclasses say in their docstring which half can block.
    """

    __slots__ = ()

    @abstractmethod
    async def aclose(self) -> None:
        """Release the resource."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.aclose()
        except Exception:
            if exc is None:
                raise
