from __future__ import annotations

import pytest
from _taskutil import fifo_dirs, runtime_stock

import pycontainerd
from pycontainerd import errors, testing

pytestmark = pytest.mark.anyio


async def test_run_exit_code_and_output(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    before = runtime_stock(await testing.inventory(containerd_client))
    dirs = fifo_dirs()
    result = await containerd_client.run(
        busybox_image, ["sh", "-c", "echo out; echo err >&2; exit 7"]
    )
    assert result.code == 7
    assert result.returncode == 7
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"
    assert result.args == ("sh", "-c", "echo out; echo err >&2; exit 7")
    assert result.exited_at is not None
    assert runtime_stock(await testing.inventory(containerd_client)) == before
    assert fifo_dirs() == dirs


async def test_run_by_name_with_stdin_env_and_mount(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image, tmp_path
) -> None:
    (tmp_path / "hello.txt").write_text("from the host")
    result = await containerd_client.run(
        "docker.io/library/busybox:latest",
        ["sh", "-c", "cat /data/hello.txt; echo; echo $WHO; cat"],
        env={"WHO": "me"},
        stdin=b"piped in",
        mounts=[f"type=bind,src={tmp_path},dst=/data,options=rbind:ro"],
        check=True,
    )
    assert result.stdout == b"from the host\nme\npiped in"


async def test_run_check_timeout_and_keep(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    with pytest.raises(errors.ExitCodeError) as info:
        await containerd_client.run(busybox_image, ["sh", "-c", "exit 3"], check=True)
    assert info.value.code == 3
    with pytest.raises(errors.DeadlineExceeded) as deadline:  # as any timeout=
        await containerd_client.run(busybox_image, ["sleep", "1000"], timeout=0.5)
    assert isinstance(deadline.value, TimeoutError)
    assert await containerd_client.containers.list() == []
    result = await containerd_client.run(busybox_image, ["true"], id="kept", remove=False)
    assert result.code == 0
    assert [c.id for c in await containerd_client.containers.list()] == ["kept"]
    assert await containerd_client.tasks.list() == []
    await containerd_client.containers.delete("kept")


async def test_run_image_default_command_and_terminal(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    config = await busybox_image.config()
    script = "[ -t 0 ] && [ -t 1 ] && echo on-a-tty >&2"
    result = await containerd_client.run(busybox_image, ["sh", "-c", script], terminal=True)
    assert result.code == 0
    assert result.stdout == b"on-a-tty\r\n"  # stderr goes to the terminal too
    assert result.stderr == b""
    if config.cmd:  # the image's own command runs when no args are given
        assert (await containerd_client.run(busybox_image, stdin=b"")).code == 0


async def test_run_missing_binary(
    containerd_client: pycontainerd.Client, busybox_image: pycontainerd.Image
) -> None:
    before = runtime_stock(await testing.inventory(containerd_client))
    with pytest.raises(errors.RPCError, match="nope"):
        await containerd_client.run(busybox_image, ["/nope"])
    assert runtime_stock(await testing.inventory(containerd_client)) == before


async def test_run_with_a_spec_and_no_image(
    containerd_client: pycontainerd.Client, busybox_rootfs
) -> None:
    from _taskutil import host_spec

    spec = host_spec(
        busybox_rootfs, ["false"], namespace=containerd_client.namespace, container_id="x"
    )
    result = await containerd_client.run(
        spec=spec, args=["sh", "-c", "echo $A; cat"], env=["A=1"], stdin=b"in"
    )
    assert (result.code, result.stdout) == (0, b"1\nin")
    assert await containerd_client.containers.list() == []
    with pytest.raises(errors.InvalidArgument, match="image or a spec"):
        await containerd_client.run(args=["true"])
