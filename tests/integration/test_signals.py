"""A container's task gets the signals forward_signals forwards."""

from __future__ import annotations

import os
import signal

import anyio
import pytest

from pycontainerd import forward_signals


@pytest.mark.anyio
async def test_container_trapping_sigusr1_exits_42(host_container: object) -> None:
    from pycontainerd import stdio

    make = host_container
    before = signal.getsignal(signal.SIGUSR1)
    container = await make(  # type: ignore[operator]
        ["sh", "-c", 'trap "exit 42" USR1; echo ready; while true; do sleep 0.05; done']
    )
    try:
        async with await container.new_task(stdio=stdio.pipes()) as task:
            await task.start()
            assert task.stdout is not None
            with anyio.fail_after(20):
                seen = b""
                while b"ready" not in seen:
                    seen += await task.stdout.receive()
                async with forward_signals(task):
                    os.kill(os.getpid(), signal.SIGUSR1)
                    status = await task.wait()
            assert status.code == 42
        assert signal.getsignal(signal.SIGUSR1) == before
    finally:
        await container.delete()
