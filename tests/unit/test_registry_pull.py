"""Pull scheduling, without a registry or a daemon."""

from __future__ import annotations

import anyio
import pytest

from pycontainerd import Descriptor
from pycontainerd._oci import OCI_LAYER

pytestmark = pytest.mark.anyio


async def test_layer_downloads_take_turns_bottom_up() -> None:
    from pycontainerd.registry._pull import _Turns

    mib = 1 << 20
    sizes = [20 * mib, 100, 200, 30 * mib, 5 * mib]  # two small layers, a repeated one
    layers = [
        Descriptor(media_type=OCI_LAYER, digest=f"sha256:{n}", size=size)
        for n, size in enumerate(sizes)
    ]
    layers.append(layers[1])
    stored = {d.digest: anyio.Event() for d in layers}
    turns = _Turns(layers, stored, lookahead=8 * mib, stall=3600)
    started: list[str] = []

    async def start(turns: _Turns, digest: str) -> None:
        await turns.wait(digest)
        started.append(digest)

    def store(digest: str) -> None:
        stored[digest].set()
        turns.moved(digest)

    with anyio.fail_after(10):
        await start(turns, "sha256:config")  # not a layer: never waits
        async with anyio.create_task_group() as tg:
            for d in reversed(layers[:-1]):  # one download per digest, as a pull has
                tg.start_soon(start, turns, d.digest)
            await anyio.wait_all_tasks_blocked()
            assert started == ["sha256:config", "sha256:0"]  # 20 MiB to go below the rest
            turns.moved("sha256:0", 10 * mib)
            await anyio.wait_all_tasks_blocked()
            assert started == ["sha256:config", "sha256:0"]  # still 10 MiB below
            turns.moved("sha256:0", 13 * mib)  # 7 MiB left: the small ones and layer 3 start
            await anyio.wait_all_tasks_blocked()
            assert started == ["sha256:config", *(f"sha256:{n}" for n in range(4))]
            for n in range(3):
                store(f"sha256:{n}")
            await anyio.wait_all_tasks_blocked()
            assert len(started) == 5  # layer 3's 30 MiB are below layer 4
            turns.moved("sha256:3", 25 * mib)
        assert started[-1] == "sha256:4"
        assert turns.pending_below("sha256:4") == 5 * mib

        # When the lowest download makes no progress for the stall time, the next starts.
        started.clear()
        stored = {d.digest: anyio.Event() for d in layers}
        stalled = _Turns(layers, stored, lookahead=0, stall=0.01)
        await start(stalled, "sha256:0")
        await start(stalled, "sha256:1")
        assert started == ["sha256:0", "sha256:1"]
