"""The base of every service facade (``client.containers``, ``client.content``, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._client import Client
    from ._transport import Caller

__all__ = ["Facade"]


class Facade:
    """A view of one containerd service, made from the client alone and doing no I/O.

    A new service facade subclasses this and calls ``self._caller.unary(...)``
    (or ``.stream(...)``) with entries of the generated RPC table; the
    caller carries the client's namespace and lease.
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    @property
    def _caller(self) -> Caller:
        return self._client._caller
