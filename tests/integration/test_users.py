"""Named users and groups resolved from the image, a full exec process, exec with a terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
from _taskutil import HostContainer, build_users_image, fifo_dirs

import pycontainerd
from pycontainerd import errors, oci, stdio

pytestmark = pytest.mark.anyio


@pytest.fixture
async def users_image(
    containerd_client: pycontainerd.Client, busybox_rootfs: Path, tmp_path: Path
) -> pycontainerd.Image:
    return await build_users_image(containerd_client, busybox_rootfs, tmp_path)


async def _output(container: pycontainerd.Container) -> str:
    async with await container.new_task(stdio=stdio.capture()) as task:
        await task.start()
        status = await task.wait()
    assert status.code == 0, task.captured_stdout
    return task.captured_stdout.decode()


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        # a name: uid and gid from /etc/passwd, supplementary groups from /etc/group
        ("app", "uid=1234(app) gid=5678(apps) groups=4321(extra),5678(apps)"),
        # a lone uid takes its primary group from /etc/passwd (Go's WithUserID)
        ("1001", "uid=1001(bob) gid=100(users) groups=100(users),4321(extra)"),
        # name:group, and the user's supplementary groups still
        ("app:audio", "uid=1234(app) gid=29(audio) groups=29(audio),4321(extra)"),
        ("1001:29", "uid=1001(bob) gid=29(audio) groups=29(audio),100(users),4321(extra)"),
        # a uid the image does not list: gid 0 (Go's WithUserID)
        ("4242", "uid=4242 gid=0(root) groups=0(root)"),
    ],
)
async def test_create_user_resolved_from_the_image(
    containerd_client: pycontainerd.Client,
    users_image: pycontainerd.Image,
    user: str,
    expected: str,
) -> None:
    container = await containerd_client.containers.create(
        "who", image=users_image, args=["id"], user=user
    )
    assert await _output(container) == expected + "\n"
    await container.delete()


async def test_create_args_env_cwd_replace_the_image_process(
    containerd_client: pycontainerd.Client, users_image: pycontainerd.Image
) -> None:
    container = await containerd_client.containers.create(
        "over",
        image=users_image,
        args=["sh", "-c", 'echo "$GREETING $PATH $(pwd) $(id -u)"'],
        env={"GREETING": "hi"},
        cwd="/etc",
        user="bob",
    )
    assert container.spec.process is not None
    # args replace the whole command line (WithProcessArgs), env adds to the image's
    assert container.spec.process.args[0] == "sh"
    assert container.spec.process.env == ("PATH=/bin", "GREETING=hi")
    assert await _output(container) == "hi /bin /etc 1001\n"
    await container.delete()
    # The same on a spec given by hand: the overrides are applied after it.
    spec = oci.Spec.from_image(
        await users_image.config(), namespace=containerd_client.namespace, id="own"
    )
    container = await containerd_client.containers.create(
        "over", image=users_image, spec=spec.to_json(), args=["id", "-g"], user="app"
    )
    assert await _output(container) == "5678\n"
    await container.delete()


async def test_create_refuses_unknown_users_and_bad_values_leaving_nothing(
    containerd_client: pycontainerd.Client, users_image: pycontainerd.Image
) -> None:
    bad: list[tuple[dict[str, object], type[Exception], str]] = [
        ({"user": "ghost"}, errors.InvalidArgument, "no user 'ghost'"),
        ({"user": "app:nogroup"}, errors.InvalidArgument, "no group 'nogroup'"),
        ({"user": "a:b:c"}, errors.InvalidArgument, "'a:b:c'"),
        ({"env": {"A": "x\0y"}}, errors.InvalidArgument, "NUL"),
        ({"args": ["echo", "a\0b"]}, errors.InvalidArgument, "NUL"),
        ({"cwd": "/tmp\0x"}, errors.InvalidArgument, "NUL"),
        ({"cwd": "tmp"}, ValueError, "absolute"),
        ({"args": []}, ValueError, "args"),
    ]
    for kwargs, kind, match in bad:
        with pytest.raises(kind, match=match):
            await containerd_client.containers.create(
                "bad",
                image=users_image,
                **kwargs,  # type: ignore[arg-type]
            )
    assert await containerd_client.containers.list() == []
    snapshots = [s.name for s in await containerd_client.snapshots().list()]
    assert "bad" not in snapshots


async def test_run_resolves_numeric_uid_group_from_the_image(
    containerd_client: pycontainerd.Client, users_image: pycontainerd.Image
) -> None:
    result = await containerd_client.run(users_image, ["id"], user=1001)
    assert result.stdout == b"uid=1001(bob) gid=100(users) groups=100(users),4321(extra)\n"
    # With a spec of one's own, the user is still resolved against the image.
    spec = oci.Spec.from_image(
        await users_image.config(), namespace=containerd_client.namespace, id="own"
    )
    result = await containerd_client.run(users_image, ["id", "-G"], spec=spec, user="app")
    assert result.stdout == b"5678 4321\n"


async def test_exec_user_names_resolved_from_the_image(
    containerd_client: pycontainerd.Client, users_image: pycontainerd.Image
) -> None:
    container = await containerd_client.containers.create("sleeper", image=users_image)
    async with await container.new_task() as task:
        await task.start()
        result = await task.exec_run(["id"], user="app")
        assert result.stdout == b"uid=1234(app) gid=5678(apps) groups=4321(extra),5678(apps)\n"
        result = await task.exec_run(["id"], user=1001)
        assert result.stdout == b"uid=1001(bob) gid=100(users) groups=100(users),4321(extra)\n"
        result = await task.exec_run(["id"], user="bob:apps")
        assert (
            result.stdout
            == b"uid=1001(bob) gid=5678(apps) groups=100(users),4321(extra),5678(apps)\n"
        )
        # A task loaded afresh knows its container's image too.
        loaded = await containerd_client.tasks.get("sleeper")
        assert (await loaded.exec_run(["id", "-u"], user="app")).stdout == b"1234\n"
        with pytest.raises(errors.InvalidArgument, match="no user 'ghost'"):
            await task.exec(["id"], user="ghost")
        assert len(await task.pids()) == 1  # nothing reached the shim
    await container.delete()


async def test_exec_user_without_image_resolved_from_the_spec_root(
    host_container: HostContainer,
) -> None:
    # The host rootfs lists only root (as Go reads the spec's root path).
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        await task.start()
        assert (await task.exec_run(["id", "-u"], user="root")).stdout == b"0\n"
        with pytest.raises(errors.InvalidArgument, match="no user 'app'"):
            await task.exec(["id"], user="app")
    await c.delete()


def _full_process(**changes: object) -> oci.Process:
    caps = ("CAP_KILL", "CAP_SETUID")
    fields: dict[str, object] = {
        "args": (
            "sh",
            "-c",
            "id; pwd; echo $MARK; ulimit -n;"
            " grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status",
        ),
        "env": ("PATH=/bin", "MARK=full"),
        "cwd": "/tmp",
        "user": oci.User(uid=1234, gid=5678, additional_gids=(5678, 29)),
        "capabilities": oci.Capabilities(bounding=caps, effective=caps, permitted=caps),
        "rlimits": (oci.Rlimit(type="RLIMIT_NOFILE", soft=64, hard=64),),
        "no_new_privileges": True,
    }
    fields.update(changes)
    return oci.Process(**fields)  # type: ignore[arg-type]


async def test_exec_full_process(
    containerd_client: pycontainerd.Client, users_image: pycontainerd.Image
) -> None:
    container = await containerd_client.containers.create("full", image=users_image)
    async with await container.new_task() as task:
        await task.start()
        async with await task.exec(process=_full_process(), stdio=stdio.capture()) as proc:
            assert (await proc.wait()).code == 0
            assert proc.args == _full_process().args
        lines = proc.captured_stdout.decode().splitlines()
        assert lines[:4] == [
            "uid=1234(app) gid=5678(apps) groups=29(audio),5678(apps)",
            "/tmp",
            "full",
            "64",
        ]
        # CAP_KILL (5) and CAP_SETUID (7) only; no_new_privileges set
        assert lines[4:] == [
            "CapEff:\t0000000000000000",  # a non-root uid loses its effective set
            "CapBnd:\t00000000000000a0",
            "NoNewPrivs:\t1",
        ]
        root = _full_process(user=oci.User(uid=0, gid=0), no_new_privileges=False)
        result = await task.exec(process=root, stdio=stdio.capture())
        async with result:
            await result.wait()
        assert result.captured_stdout.decode().splitlines()[4:] == [
            "CapEff:\t00000000000000a0",
            "CapBnd:\t00000000000000a0",
            "NoNewPrivs:\t0",
        ]
    await container.delete()


async def test_exec_full_process_apparmor_profile_reaches_the_runtime(
    containerd_client: pycontainerd.Client, users_image: pycontainerd.Image
) -> None:
    container = await containerd_client.containers.create("armor", image=users_image)
    async with await container.new_task() as task:
        await task.start()
        process = _full_process(apparmor_profile="pycontainerd-test-profile")
        # runc tries to switch to the profile, which no kernel here has loaded
        # (or AppArmor is off): the field reached the runtime, the exec fails.
        with pytest.raises(errors.RPCError, match="apparmor failed to apply profile"):
            await task.exec(process=process)
        assert len(await task.pids()) == 1
    await container.delete()


async def test_exec_process_mixed_with_convenience_arguments_is_refused(
    host_container: HostContainer,
) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        await task.start()
        before = fifo_dirs()
        process = _full_process()
        for extra in ({"env": {"A": "1"}}, {"user": "root"}, {"cwd": "/"}, {"terminal": True}):
            (name,) = extra
            with pytest.raises(TypeError, match=f"process= was given with {name}="):
                await task.exec(process=process, **extra)  # type: ignore[call-overload]
        with pytest.raises(TypeError, match="with args=, cwd="):
            await task.exec(["id"], process=process, cwd="/")  # type: ignore[call-overload]
        with pytest.raises(TypeError, match="needs args"):
            await task.exec()  # type: ignore[call-overload]
        # The process is checked as a spec's is, before any call.
        for bad, match in [
            ({"env": ("A=x\0y",)}, "NUL"),
            ({"env": ("=x",)}, "NAME=value"),
            ({"args": ("echo", "a\0b")}, "NUL"),
            ({"args": ()}, "args"),
            ({"cwd": "tmp"}, "absolute"),
            ({"cwd": "/tmp\0"}, "NUL"),
        ]:
            with pytest.raises(ValueError, match=match):
                await task.exec(process=_full_process(**bad))
        assert len(await task.pids()) == 1  # nothing reached the shim
        assert fifo_dirs() == before
    await c.delete()


async def test_exec_with_a_terminal_sees_its_resize(host_container: HostContainer) -> None:
    c = await host_container(["sleep", "1000"])
    async with await c.new_task() as task:
        await task.start()
        async with await task.exec(
            ["sh", "-c", "tty; read go; stty size"], stdio=stdio.pipes(terminal=True)
        ) as proc:
            assert proc.stderr is None  # a terminal merges stderr into stdout
            out = bytearray()
            # The terminal echoes what stdin sends, so "go" is sent only after
            # the tty line is out; otherwise its echo may come first.
            while b"\n" not in out:
                out.extend(await proc.stdout.receive())
            assert out.startswith(b"/dev/pts/")
            await proc.resize(123, 45)
            await proc.stdin.send(b"go\n")
            async for chunk in proc.stdout:
                out.extend(chunk)
            assert (await proc.wait()).code == 0
        lines = out.replace(b"\r", b"").splitlines()
        assert lines[-1] == b"45 123"
        # A full process with a terminal and a console size starts at that size.
        process = oci.Process(
            args=("stty", "size"),
            env=("PATH=/bin",),
            terminal=True,
            console_size=oci.ConsoleSize(width=77, height=22),
        )
        async with await task.exec(process=process, stdio=stdio.capture()) as sized:
            assert (await sized.wait()).code == 0
        assert sized.captured_stdout.replace(b"\r", b"") == b"22 77\n"
    await c.delete()
