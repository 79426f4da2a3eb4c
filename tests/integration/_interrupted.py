"""A user's script, as the README writes one, that Ctrl-C interrupts at a chosen call.

Run by test_interrupts.py in a subprocess: ``python _interrupted.py FLOW PATH``.
Right before the first unary call whose method ends with PATH, the script
sends itself SIGINT; asyncio's runner (under ``anyio.run``) turns that into
a native ``Task.cancel()`` of the main task, which lands inside the call.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import anyio

import pycontainerd
from pycontainerd import _transport, stdio

FLOW, AT = sys.argv[1], sys.argv[2]
IMAGE = "docker.io/library/busybox:latest"

original = _transport.Caller.unary_raw
fired = False


async def unary_raw(self: _transport.Caller, rpc: Any, request: Any, **kw: Any) -> bytes:
    global fired
    if not fired and rpc.path.endswith(AT):
        fired = True
        print(f"interrupting at {rpc.path}", file=sys.stderr, flush=True)
        signal.raise_signal(signal.SIGINT)
    return await original(self, rpc, request, **kw)


_transport.Caller.unary_raw = unary_raw  # type: ignore[method-assign]


async def main() -> None:
    async with pycontainerd.Client(
        os.environ["ADDRESS"], namespace=os.environ["NAMESPACE"]
    ) as client:
        image = await client.images.get(IMAGE)
        # Two seconds: an interrupt at Tasks/Wait still meets a running task,
        # and the points after it (the deletes) come without a long wait.
        if FLOW == "run":
            await client.run(image, ["sleep", "2"])
        elif FLOW == "lease":
            async with client.leases.lease() as leased:
                await leased.content.write("interrupted", b"some bytes")
                await anyio.sleep(2)
        else:
            container = await client.containers.create("demo", image=image)
            try:
                async with await container.new_task(stdio=stdio.pipes()) as task:
                    await task.start()
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(task.wait)
                        await anyio.sleep(0.2)
                        tg.cancel_scope.cancel()  # then leave: teardown kills and deletes
            finally:
                await container.delete()
        print("not interrupted", file=sys.stderr)


anyio.run(main)
