from __future__ import annotations

import signal
import uuid
from pathlib import Path

import anyio
import pytest

import pycontainerd
from pycontainerd import errors, stdio

from _taskutil import fifo_dirs, host_spec, make_busybox_rootfs, open_fds

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_busybox_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")


@pytest.fixture
def make_container(containerd_client: pycontainerd.Client, rootfs: Path):
    async def make(args: list[str], *, terminal: bool = False, **kw) -> pycontainerd.Container:
        cid = kw.pop("id", None) or f"c-{uuid.uuid4().hex[:10]}"
        spec = host_spec(
            rootfs, args, namespace=containerd_client.namespace, container_id=cid, terminal=terminal
        )
        return await containerd_client.containers.create(cid, spec=spec, **kw)

    return make


async def test_exit_code_and_output(make_container) -> None:
    c = await make_container(["sh", "-c", "echo out; echo err >&2; exit 7"])
    async with await c.new_task(stdio=stdio.capture()) as task:
        await task.start()
        status = await task.wait()
        assert status.code == 7
        assert status.exited_at is not None
        assert task.captured_stdout == b"out\n"
        assert task.captured_stderr == b"err\n"
        deleted = await task.delete()
        assert deleted.code == 7
    await c.delete()
