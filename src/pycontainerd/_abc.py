"""Shapes several modules share (private)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["JSONable"]


class JSONable(Protocol):
    """Anything with a ``to_json()``, such as `pycontainerd.oci.Spec`."""

    def to_json(self) -> bytes | str:
        """The object as a JSON document."""
        ...
