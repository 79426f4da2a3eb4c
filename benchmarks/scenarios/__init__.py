"""Benchmark scenarios: each module defines ``SCENARIO = Scenario(...)``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pycontainerd
from pycontainerd.testing import ContainerdDaemon

SdkRun = Callable[[pycontainerd.Client, int], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Scenario:
    """One benchmark scenario.

    name: as in the Go reference's README (S1, S2raw, ...).
    sdk: runs n operations through the SDK and returns its figures (at least
        the keys in `figures` that apply, e.g. ``per_op_ms``).
    go: the reference's arguments (``{n}`` is replaced), or None.
    others: further references (e.g. ``ctr``): label -> function(daemon, n) -> figures.
    setup: runs once before the rounds (e.g. builds a test image).
    figures: the keys to report, in order.
    path: gives directories the daemon needs first on its PATH, which its
        shims and runc inherit (e.g. a CRIU that works on this kernel).
    """

    name: str
    description: str
    namespace: str
    default_n: int
    sdk: SdkRun
    figures: list[str]
    go: list[str] | None = None
    others: dict[str, Callable[[ContainerdDaemon, int], dict[str, Any]]] = field(
        default_factory=dict
    )
    setup: Callable[[pycontainerd.Client], Awaitable[None]] | None = None
    path: Callable[[], list[Path]] | None = None
