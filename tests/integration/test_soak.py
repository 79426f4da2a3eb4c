"""A short run of the soak (``benchmarks/soak.py``): 20 s, every kind of operation, cancellations.

The full soak (30 minutes, slopes judged) is run by hand; this one checks that
after thousands of awaits cut at random points nothing is left: no object in
the namespace beyond the image, no lease, ingest, shim, FIFO directory, fd or
asyncio task, and that no operation failed other than by its cancellation.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from pycontainerd.testing import ContainerdDaemon

pytestmark = pytest.mark.anyio

SOAK = Path(__file__).parents[2] / "benchmarks" / "soak.py"


async def test_short_soak_leaves_nothing(
    containerd_daemon: ContainerdDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("soak", SOAK)
    assert spec is not None
    assert spec.loader is not None
    soak = importlib.util.module_from_spec(spec)
    sys.modules["soak"] = soak  # its dataclasses look their module up
    spec.loader.exec_module(soak)
    verdict = await soak.soak(
        containerd_daemon.address, duration=20, interval=5, daemon_pid=containerd_daemon.pid
    )
    assert verdict.ok, "\n".join(verdict.lines)
    out = capsys.readouterr().out
    assert "cancelled: {" in out
    done = next(line for line in verdict.lines if line.startswith("done: "))
    for kind in soak.KINDS:
        assert f"'{kind}'" in done, done  # every kind of operation ran to its end at least once
