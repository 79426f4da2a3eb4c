"""pyctr driven as a subprocess against the test daemon."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest
from _taskutil import USERS_IMAGE, build_users_image

import pycontainerd
from pycontainerd import events
from pycontainerd.testing import ContainerdDaemon, inventory

SRC = str(Path(__file__).resolve().parents[2] / "src")
PYCACHE = os.path.expanduser("~/.cache/pycontainerd/pyctr-pycache")

Pyctr = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]

pytestmark = pytest.mark.anyio


def pyctr_env(daemon: ContainerdDaemon, namespace: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    # Each pyctr is a new interpreter: with the bytecode cached (outside the
    # tree) it does not compile the SDK again, which tripled its start-up.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    env["CONTAINERD_ADDRESS"] = daemon.address
    if namespace is not None:
        env["CONTAINERD_NAMESPACE"] = namespace
    else:
        env.pop("CONTAINERD_NAMESPACE", None)
    return env


@pytest.fixture
def pyctr(containerd_daemon: ContainerdDaemon, containerd_client: pycontainerd.Client) -> Pyctr:
    """Run ``python -m pycontainerd ARGS`` in the test's namespace (via the environment)."""

    async def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        with anyio.fail_after(120):
            result = await anyio.run_process(
                [sys.executable, "-m", "pycontainerd", *args],
                env=pyctr_env(containerd_daemon, containerd_client.namespace),
                input=None if input is None else input.encode(),
                check=False,
            )
        return subprocess.CompletedProcess(
            result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
        )

    return run


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


async def test_version(pyctr: Pyctr, containerd_daemon: ContainerdDaemon) -> None:
    text = ok(await pyctr("version"))
    assert "Server:" in text
    assert f"Version:  {containerd_daemon.version}" in text
    data = json.loads(ok(await pyctr("version", "--format", "json")))
    assert data["server"]["version"] == containerd_daemon.version
    assert data["server"]["uuid"]


async def test_info(pyctr: Pyctr, containerd_daemon: ContainerdDaemon) -> None:
    text = ok(await pyctr("info"))
    assert f"Version:   {containerd_daemon.version}" in text
    data = json.loads(ok(await pyctr("info", "--format", "json")))
    assert data["version"] == containerd_daemon.version
    assert isinstance(data["deprecations"], list)
    if containerd_daemon.version_info >= (1, 7, 0):
        assert data["pid"] == containerd_daemon.pid
        assert f"PID:       {containerd_daemon.pid}" in text
    else:  # 1.6 does not report its pid
        assert data["pid"] is None
        assert "PID:       -" in text


async def test_plugins(pyctr: Pyctr) -> None:
    lines = ok(await pyctr("plugins", "ls")).splitlines()
    assert lines[0].split() == ["TYPE", "ID", "PLATFORMS", "STATUS"]
    # aligned: every row has the ID column where the header has it
    col = lines[0].index("ID")
    assert all(line[col - 1] == " " and line[col] != " " for line in lines[1:])
    data = json.loads(
        ok(await pyctr("plugins", "ls", "--format", "json", "type==io.containerd.snapshotter.v1"))
    )
    assert {p["type"] for p in data} == {"io.containerd.snapshotter.v1"}
    assert "overlayfs" in {p["id"] for p in data}
    quiet = ok(await pyctr("plugins", "ls", "-q")).split()
    assert "io.containerd.snapshotter.v1.overlayfs" in quiet


async def test_namespaces(pyctr: Pyctr, containerd_client: pycontainerd.Client) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    ok(await pyctr("namespaces", "create", name, "team=ci", "tier=1"))
    try:
        table = ok(await pyctr("ns", "ls"))
        assert any(line.split() == [name, "team=ci,tier=1"] for line in table.splitlines())
        assert ok(await pyctr("ns", "label", name, "tier=", "x=y")).strip() == "team=ci,x=y"
        data = json.loads(ok(await pyctr("ns", "ls", "--format", "json")))
        assert {"name": name, "labels": {"team": "ci", "x": "y"}} in data
        assert name in ok(await pyctr("ns", "ls", "-q")).split()
        err = one_line_error(await pyctr("ns", "create", name))
        assert "already exists" in err
    finally:
        ok(await pyctr("ns", "rm", name))
    err = one_line_error(await pyctr("ns", "rm", name))
    assert err.startswith("pyctr: not found:")
    assert name in err


async def test_global_options_before_or_after_command(
    pyctr: Pyctr, containerd_daemon: ContainerdDaemon
) -> None:
    assert "Server:" in ok(await pyctr("-a", containerd_daemon.address, "version"))
    assert "Server:" in ok(
        await pyctr("version", "--address", containerd_daemon.address, "--timeout", "5")
    )


async def test_errors_are_one_line(pyctr: Pyctr) -> None:
    r = await pyctr("ns", "ls", "--bogus")
    assert r.returncode == 2
    assert "--bogus" in one_line_error(r)
    r = await pyctr("-a", "/nonexistent/containerd.sock", "version")
    assert r.returncode == 1
    assert "/nonexistent/containerd.sock" in one_line_error(r)
    r = await pyctr("events", "topic==/tasks/exit")
    assert "invalid filter" in one_line_error(r)
    r = await pyctr("-n", "bad/namespace", "version")
    assert "bad/namespace" in one_line_error(r)
    r = await pyctr("--timeout", "soon", "version")
    assert r.returncode == 2
    assert "soon" in one_line_error(r)
    assert (await pyctr()).returncode == 2  # no command: usage, non-zero


class Lines:
    """Read a subprocess's stdout line by line."""

    def __init__(self, stream: anyio.abc.ByteReceiveStream) -> None:
        self._stream = stream
        self._buffer = b""

    async def next(self) -> str:
        while b"\n" not in self._buffer:
            self._buffer += await self._stream.receive()
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()


async def test_events_prints_one_line_per_event(
    containerd_daemon: ContainerdDaemon, containerd_client: pycontainerd.Client
) -> None:
    client = containerd_client
    env = pyctr_env(containerd_daemon, client.namespace)
    for fmt in ("text", "json"):
        command = [
            sys.executable,
            "-m",
            "pycontainerd",
            "events",
            "--format",
            fmt,
            'topic~="^/cli/"',
        ]
        async with await anyio.open_process(command, env=env) as proc:
            assert proc.stdout is not None
            lines = Lines(proc.stdout)
            with anyio.fail_after(60):
                # publish warm-up events until the CLI prints one: it is subscribed then
                async with anyio.create_task_group() as tg:

                    async def warm_up() -> None:
                        while True:
                            await client.events.publish(
                                "/cli/warmup", events.ContainerDelete(id="w")
                            )
                            await anyio.sleep(0.1)

                    tg.start_soon(warm_up)
                    assert "/cli/warmup" in await lines.next()
                    tg.cancel_scope.cancel()
                await client.events.publish(
                    "/cli/one", events.TaskExit(container_id="c1", exit_status=3)
                )
                await client.events.publish("/cli/two", events.ContainerDelete(id="c2"))
                got = []
                while not got or "/cli/two" not in got[-1]:
                    line = await lines.next()
                    if "/cli/warmup" not in line:
                        got.append(line)
                proc.send_signal(signal.SIGINT)  # Ctrl-C ends it
                code = await proc.wait()
        assert code == 130
        assert len(got) == 2
        if fmt == "json":
            first = json.loads(got[0])
            assert first["topic"] == "/cli/one"
            assert first["type"] == "TaskExit"
            assert first["event"]["exit_status"] == 3
            assert first["namespace"] == client.namespace
            assert json.loads(got[1])["event"] == {"id": "c2"}
        else:
            assert f" {client.namespace} /cli/one TaskExit " in got[0]
            assert '"container_id":"c1"' in got[0]
            assert "/cli/two ContainerDelete" in got[1]


async def test_events_count_and_bad_count(pyctr: Pyctr) -> None:
    r = await pyctr("events", "--count", "0")
    assert r.returncode == 2
    assert "--count" in one_line_error(r)


async def test_events_without_a_probe(
    containerd_daemon: ContainerdDaemon, containerd_client: pycontainerd.Client
) -> None:
    from pycontainerd.services import events as raw

    client = containerd_client
    command = [*PYCTR, "events", "--no-probe", "--count", "1", "--format", "json", 'topic=="/np/x"']
    # Every envelope of the namespace, probes included, as another consumer sees them.
    watch = client.services.events.subscribe(
        raw.SubscribeRequest(filters=[events.filters.namespace(client.namespace)])
    )
    seen: list[str] = []
    live, done = anyio.Event(), anyio.Event()
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:

            async def watcher() -> None:
                async for envelope in watch:
                    seen.append(envelope.topic)
                    live.set()  # it delivers: pyctr's subscribing is seen from now on
                    if envelope.topic == "/np/done":
                        done.set()
                        return

            async def publish() -> None:
                while True:
                    await client.events.publish("/np/x", events.TaskOOM(container_id="x"))
                    await anyio.sleep(0.05)

            tg.start_soon(watcher)
            tg.start_soon(publish)
            await live.wait()
            result = await anyio.run_process(
                command, env=pyctr_env(containerd_daemon, client.namespace), check=False
            )
            await client.events.publish("/np/done", events.TaskOOM(container_id="d"))
            await done.wait()
            tg.cancel_scope.cancel()
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["topic"] == "/np/x"
    assert "/np/x" in seen
    assert [t for t in seen if t.startswith(events.PROBE_PREFIX)] == []


IMAGE = "docker.io/library/busybox:latest"


async def test_run_rm_returns_exit_code_and_output(
    pyctr: Pyctr, busybox_image: pycontainerd.Image, containerd_client: pycontainerd.Client
) -> None:
    r = await pyctr("run", "--rm", IMAGE, "r1", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert r.returncode == 7
    assert r.stdout == "out\n"
    assert r.stderr == "err\n"
    stock = await inventory(containerd_client)
    assert stock.containers == ()
    assert stock.tasks == ()
    # stdin is attached too, and the env/cwd/user/label/mount options apply
    r = await pyctr(
        "run",
        "--rm",
        "--env",
        "GREETING=hi",
        "--cwd",
        "/tmp",
        "--user",
        "1:1",
        "--mount",
        "type=bind,src=/etc,dst=/hostetc,options=rbind:ro",
        IMAGE,
        "r2",
        "sh",
        "-c",
        'read line; echo "$GREETING $line $(pwd) $(id -u) $(test -e /hostetc/hostname && echo mounted)"',
        input="there\n",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hi there /tmp 1 mounted\n"


def run_in_pty(command: list[str], env: dict[str, str], size: tuple[int, int]) -> tuple[bytes, int]:
    """Run `command` with a pseudo-terminal of `size` (rows, columns) as its stdio."""
    # subprocess forks and execs in C: safe in this multi-threaded process,
    # where pty.fork() would run Python code in the child.
    master, slave = pty.openpty()  # a new pty is 0x0, as under `script` or a CI runner
    if size != (0, 0):
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
    proc = subprocess.Popen(
        command, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
    )
    os.close(slave)
    output = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: every writer of the pty is gone
            break
        if not data:
            break
        output += data
    code = proc.wait(60)
    os.close(master)
    return output, code


PYCTR = [sys.executable, "-m", "pycontainerd"]
UNKNOWN_SIZE = b"warning: the terminal's size is unknown (0x0)"


async def test_run_tty_under_a_pty(
    containerd_daemon: ContainerdDaemon,
    busybox_image: pycontainerd.Image,
    containerd_client: pycontainerd.Client,
) -> None:
    env = pyctr_env(containerd_daemon, containerd_client.namespace)
    command = [*PYCTR, "run", "--rm", "-t", IMAGE, "tty1", "sh", "-c", "tty; stty size; exit 3"]
    output, code = await anyio.to_thread.run_sync(run_in_pty, command, env, (30, 90))
    assert code == 3, output
    assert b"/dev/pts/" in output
    assert b"30 90" in output
    assert UNKNOWN_SIZE not in output


async def test_tty_of_unknown_size_warns_and_carries_on(
    pyctr: Pyctr,
    containerd_daemon: ContainerdDaemon,
    busybox_image: pycontainerd.Image,
    containerd_client: pycontainerd.Client,
) -> None:
    # As ctr: a terminal of 0x0 (under `script`, some CI runners) gets a warning,
    # the process runs with a terminal, and its exit code is pyctr's.
    env = pyctr_env(containerd_daemon, containerd_client.namespace)
    command = [*PYCTR, "run", "--rm", "-t", IMAGE, "tty0", "sh", "-c", "tty; exit 3"]
    output, code = await anyio.to_thread.run_sync(run_in_pty, command, env, (0, 0))
    assert code == 3, output
    assert b"/dev/pts/" in output
    assert output.count(UNKNOWN_SIZE) == 1
    assert b"must be positive" not in output
    # tasks exec -t alike
    ok(await pyctr("c", "create", IMAGE, "tty-exec", "sleep", "1000"))
    ok(await pyctr("t", "start", "-d", "tty-exec"))
    command = [*PYCTR, "t", "exec", "-t", "--exec-id", "e0", "tty-exec", "sh", "-c", "tty; exit 4"]
    output, code = await anyio.to_thread.run_sync(run_in_pty, command, env, (0, 0))
    assert code == 4, output
    assert b"/dev/pts/" in output
    assert output.count(UNKNOWN_SIZE) == 1
    ok(await pyctr("t", "rm", "-f", "tty-exec"))
    ok(await pyctr("c", "rm", "tty-exec"))
    stock = await inventory(containerd_client)
    assert (stock.containers, stock.tasks) == ((), ())


async def test_ctrl_c_during_run_reaches_the_container(
    containerd_daemon: ContainerdDaemon,
    busybox_image: pycontainerd.Image,
    containerd_client: pycontainerd.Client,
) -> None:
    env = pyctr_env(containerd_daemon, containerd_client.namespace)
    script = 'trap "echo got-int; exit 7" INT; echo ready; while true; do sleep 0.05; done'
    command = [
        sys.executable,
        "-m",
        "pycontainerd",
        "run",
        "--rm",
        IMAGE,
        "sig1",
        "sh",
        "-c",
        script,
    ]
    async with await anyio.open_process(command, env=env) as proc:
        assert proc.stdout is not None
        lines = Lines(proc.stdout)
        with anyio.fail_after(60):
            assert await lines.next() == "ready"
            proc.send_signal(signal.SIGINT)
            assert await lines.next() == "got-int"
            code = await proc.wait()
    assert code == 7
    assert (await inventory(containerd_client)).containers == ()


async def test_images_commands(
    pyctr: Pyctr, busybox_image: pycontainerd.Image, busybox_rootfs: Path, tmp_path: Path
) -> None:
    table = ok(await pyctr("images", "ls")).splitlines()
    assert table[0].split()[:4] == ["REF", "TYPE", "DIGEST", "SIZE"]
    assert table[1].startswith(IMAGE + " ")
    [record] = json.loads(ok(await pyctr("images", "ls", "--format", "json")))
    assert record["name"] == IMAGE
    assert record["platforms"] == ["linux/amd64"]
    assert record["size"] > 0
    archive = tmp_path / "busybox.tar"
    ok(await pyctr("images", "export", str(archive), IMAGE))
    assert archive.stat().st_size > 0
    assert ok(await pyctr("images", "rm", IMAGE)).strip() == IMAGE
    assert ok(await pyctr("images", "ls", "-q")) == ""
    imported = ok(await pyctr("images", "import", "--no-unpack", str(archive)))
    assert imported.split()[0] == IMAGE
    # --local: in this process (on 2.x the daemon imports otherwise, as ctr 2.x does)
    ok(await pyctr("images", "rm", "--sync", IMAGE))
    again = ok(await pyctr("images", "import", "--local", str(archive)))
    assert again.split() == imported.split()
    built = ok(
        await pyctr(
            "i",
            "build",
            "--cmd",
            "sh",
            "--cmd=-c",
            "--cmd",
            "echo built",
            "--unpack",
            "example.com/built:1",
            str(busybox_rootfs),
        )
    )
    assert built.startswith("example.com/built:1 sha256:")
    r = await pyctr("run", "--rm", "example.com/built:1", "b1")
    assert (r.returncode, r.stdout) == (0, "built\n")
    assert sorted(ok(await pyctr("images", "ls", "-q")).split()) == [
        "docker.io/library/busybox:latest",
        "example.com/built:1",
    ]


async def test_containers_and_tasks_commands(
    pyctr: Pyctr, busybox_image: pycontainerd.Image, containerd_client: pycontainerd.Client
) -> None:
    assert (
        ok(await pyctr("c", "create", "--label", "a=1", IMAGE, "c1", "sleep", "1000")).strip()
        == "c1"
    )
    assert ok(await pyctr("c", "ls")).splitlines()[1].split() == [
        "c1",
        IMAGE,
        "io.containerd.runc.v2",
    ]
    info = json.loads(ok(await pyctr("c", "info", "c1")))
    assert info["labels"] == {"a": "1"}
    assert info["spec"]["process"]["args"] == ["sleep", "1000"]
    assert json.loads(ok(await pyctr("c", "info", "--spec", "c1")))["process"]["args"] == [
        "sleep",
        "1000",
    ]
    assert ok(await pyctr("c", "label", "c1", "a=", "b=2")).strip() == "b=2"
    assert [c["id"] for c in json.loads(ok(await pyctr("c", "ls", "--format", "json")))] == ["c1"]
    pid = int(ok(await pyctr("t", "start", "-d", "c1")))
    [listed] = json.loads(ok(await pyctr("t", "ls", "--format", "json")))
    assert (listed["container_id"], listed["pid"], listed["state"]) == ("c1", pid, "RUNNING")
    assert str(pid) in ok(await pyctr("t", "ps", "c1"))
    ok(await pyctr("t", "pause", "c1"))
    assert ok(await pyctr("t", "ls")).splitlines()[1].split() == ["c1", str(pid), "PAUSED"]
    ok(await pyctr("t", "resume", "c1"))
    r = await pyctr("t", "exec", "--exec-id", "e1", "c1", "sh", "-c", "echo in-exec; exit 5")
    assert (r.returncode, r.stdout) == (5, "in-exec\n")
    # An exec process signalled by its exec id: its exit code is the signal's.
    results: list[subprocess.CompletedProcess[str]] = []

    async def exec_sleep() -> None:
        results.append(await pyctr("t", "exec", "--exec-id", "e2", "c1", "sleep", "1000"))

    async with (
        containerd_client.events.subscribe(events.filters.topic("/tasks/exec-started")) as started,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(exec_sleep)
        with anyio.fail_after(60):
            assert (await anext(started)).event.exec_id == "e2"
        ok(await pyctr("t", "kill", "--exec-id", "e2", "-s", "KILL", "c1"))
    assert results[0].returncode == 128 + 9
    text = ok(await pyctr("t", "metrics", "c1", "--format", "json"))
    metrics = json.loads(text)
    assert list(metrics) == [
        "container_id",
        "timestamp",
        "type_url",
        "pids",
        "memory_usage",
        "memory_limit",
        "cpu_usage_ns",
        "data",
    ]
    assert metrics["container_id"] == "c1"
    assert metrics["pids"] >= 1
    assert metrics["type_url"].endswith(("cgroups.v1.Metrics", "cgroups.v2.Metrics"))
    # the cgroup's figures as JSON, under protobuf's field names (no Python repr)
    assert metrics["data"]["pids"]["current"] == metrics["pids"]
    assert "Metrics(" not in text
    # a running task is not deleted without -f, and the hint says so
    r = await pyctr("t", "rm", "c1")
    assert r.returncode == 1
    line = one_line_error(r)
    assert "task c1 is running" in line
    assert "-f" in line
    assert "force=True" not in line
    assert "MEMORY" in ok(await pyctr("t", "metrics", "c1"))
    ok(await pyctr("t", "kill", "--signal", "KILL", "c1"))
    task = await containerd_client.tasks.get("c1")
    assert (await task.wait()).code == 137
    assert ok(await pyctr("t", "rm", "c1")).split() == ["c1", "137"]
    assert ok(await pyctr("c", "rm", "c1")).strip() == "c1"
    stock = await inventory(containerd_client)
    assert (stock.containers, stock.tasks) == ((), ())
    # tasks start attached: the task's exit code becomes pyctr's
    ok(await pyctr("c", "create", IMAGE, "c2", "sh", "-c", "echo attached; exit 4"))
    r = await pyctr("t", "start", "c2")
    assert (r.returncode, r.stdout) == (4, "attached\n")
    ok(await pyctr("c", "rm", "c2"))


async def test_run_and_exec_user_names_from_the_image(
    pyctr: Pyctr, containerd_client: pycontainerd.Client, busybox_rootfs: Path, tmp_path: Path
) -> None:
    await build_users_image(containerd_client, busybox_rootfs, tmp_path)
    r = await pyctr("run", "--rm", "--user", "app", USERS_IMAGE, "u1", "id")
    assert ok(r) == "uid=1234(app) gid=5678(apps) groups=4321(extra),5678(apps)\n"
    # a lone uid takes its group from the image's /etc/passwd, as ctr's does
    assert ok(await pyctr("run", "--rm", "-u", "1001", USERS_IMAGE, "u2", "id", "-g")) == "100\n"
    assert "no user 'ghost'" in one_line_error(
        await pyctr("run", "--rm", "--user", "ghost", USERS_IMAGE, "u3", "id")
    )
    ok(await pyctr("c", "create", USERS_IMAGE, "u4"))
    ok(await pyctr("t", "start", "-d", "u4"))
    r = await pyctr("t", "exec", "--exec-id", "e1", "--user", "bob", "u4", "id")
    assert ok(r) == "uid=1001(bob) gid=100(users) groups=100(users),4321(extra)\n"
    r = await pyctr("t", "exec", "--exec-id", "e2", "-u", "1234", "u4", "id", "-g")
    assert ok(r) == "5678\n"
    r = await pyctr("t", "exec", "--exec-id", "e3", "-u", "bob:nogroup", "u4", "id")
    assert "no group 'nogroup'" in one_line_error(r)
    ok(await pyctr("t", "rm", "-f", "u4"))
    ok(await pyctr("c", "rm", "u4"))
    stock = await inventory(containerd_client)
    assert (stock.containers, stock.tasks) == ((), ())


async def test_content_snapshots_and_leases_commands(
    pyctr: Pyctr, containerd_client: pycontainerd.Client
) -> None:
    blob = b"pyctr content test\n"
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    assert ok(await pyctr("content", "ingest", "ref1", input=blob.decode())).strip() == digest
    assert ok(await pyctr("content", "get", digest)) == blob.decode()
    assert digest in ok(await pyctr("content", "ls", "-q")).split()
    [info] = json.loads(ok(await pyctr("content", "ls", "--format", "json")))
    assert (info["digest"], info["size"]) == (digest, len(blob))
    assert ok(await pyctr("content", "rm", digest)).strip() == digest

    mounts = ok(await pyctr("snapshots", "prepare", "--target", "/mnt", "s1"))
    assert mounts.startswith("mount -t ")
    assert " /mnt" in mounts
    assert ok(await pyctr("snapshots", "ls")).splitlines()[1].split() == ["s1", "-", "active"]
    assert json.loads(ok(await pyctr("snapshots", "mounts", "--format", "json", "/mnt", "s1")))
    usage = json.loads(ok(await pyctr("snapshots", "usage", "--format", "json")))
    assert [u["key"] for u in usage] == ["s1"]
    assert ok(await pyctr("snapshots", "rm", "s1")).strip() == "s1"

    assert (
        ok(await pyctr("leases", "create", "--id", "l1", "--expires", "3600", "k=v")).strip()
        == "l1"
    )
    [lease] = json.loads(ok(await pyctr("leases", "ls", "--format", "json")))
    assert (lease["id"], lease["labels"]) == (
        "l1",
        {"k": "v", "containerd.io/gc.expire": lease["labels"]["containerd.io/gc.expire"]},
    )
    assert ok(await pyctr("leases", "rm", "l1")).strip() == "l1"
    assert (await inventory(containerd_client)).empty


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("c", "info", "nope"), "not found"),
        (("t", "kill", "nope"), "not found"),
        (("images", "rm", "example.com/nope:1"), "not found"),
        (("content", "get", "sha256:" + "0" * 64), "not found"),
        (("t", "kill", "--signal", "SIGNOPE", "x"), "SIGNOPE"),
        (("snapshots", "rm", "nope"), "not found"),
        (("run", "--rm", "example.com/nope:1", "x"), "not found"),
        (("c", "create", "--mount", "type=bind,bogus", IMAGE, "x"), "bogus"),
    ],
)
async def test_missing_objects_and_bad_values_are_one_line(
    pyctr: Pyctr, args: tuple[str, ...], needle: str
) -> None:
    r = await pyctr(*args)
    assert r.returncode == 1
    assert needle in one_line_error(r)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("t", "kill", "--all", "--exec-id", "e", "x"), "--all and --exec-id"),
        (("run", "--rm", "-d", IMAGE, "x"), "--rm and --detach"),
        (("t", "exec", "--exec-id", "e", "x"), "needs a command"),
        (("--plaintext", "--tls-ca", "ca.pem", "version"), "--plaintext and --tls-*"),
    ],
)
async def test_bad_combinations_of_options_exit_2(
    pyctr: Pyctr, args: tuple[str, ...], needle: str
) -> None:
    r = await pyctr(*args)
    assert r.returncode == 2
    assert needle in one_line_error(r)


async def test_usage_shows_the_command_of_run_as_optional(pyctr: Pyctr) -> None:
    for args in (("run",), ("c", "create")):
        usage = ok(await pyctr(*args, "--help")).splitlines()[0]
        assert usage.endswith(" IMAGE ID [COMMAND [ARG...]]"), usage
    r = await pyctr("run")
    assert r.returncode == 2
    assert one_line_error(r).endswith("required: IMAGE, ID (see 'pyctr run --help')")


async def test_a_timeout_reads_once(pyctr: Pyctr) -> None:
    r = await pyctr("--timeout", "0.000001", "version")
    assert r.returncode == 1
    line = one_line_error(r)
    assert line.startswith("pyctr: deadline exceeded calling /containerd.services.version.v1.")
    assert line.count("deadline exceeded") == 1
    assert "--timeout" in line


async def test_run_detach_and_net_host(
    pyctr: Pyctr, busybox_image: pycontainerd.Image, containerd_client: pycontainerd.Client
) -> None:
    host_lines = len((await anyio.Path("/proc/net/dev").read_text()).splitlines())
    r = await pyctr(
        "run", "--rm", "--net-host", IMAGE, "n1", "sh", "-c", "cat /proc/net/dev | wc -l"
    )
    assert (r.returncode, r.stdout.strip()) == (0, str(host_lines))
    assert ok(await pyctr("run", "-d", IMAGE, "d1", "sleep", "1000")).strip() == "d1"
    [status] = await containerd_client.tasks.list()
    assert (status.container_id, status.state.value) == ("d1", "running")
    assert "--rm and --detach" in one_line_error(await pyctr("run", "-d", "--rm", IMAGE, "d2"))
    ok(await pyctr("t", "rm", "--force", "d1"))
    ok(await pyctr("c", "rm", "d1"))


async def test_images_push_and_pull(
    pyctr: Pyctr, busybox_image: pycontainerd.Image, registry: Any
) -> None:
    remote = f"{registry.host}/cli/busybox:1"
    pushed = ok(await pyctr("images", "push", remote, IMAGE))
    assert pushed.split() == [remote, busybox_image.target.digest]
    pulled = ok(await pyctr("images", "pull", remote))
    assert pulled.split() == [remote, busybox_image.target.digest]
    r = await pyctr("run", "--rm", remote, "p1", "echo", "pulled")
    assert (r.returncode, r.stdout) == (0, "pulled\n")
    # --local: the in-process path (on 2.x the daemon pulls and pushes otherwise).
    ok(await pyctr("images", "rm", "--sync", remote))
    assert ok(await pyctr("images", "pull", "--local", remote)).split() == pulled.split()
    assert ok(await pyctr("images", "push", "--local", remote)).split() == pushed.split()
    err = one_line_error(await pyctr("images", "pull", f"{registry.host}/cli/missing:1"))
    assert "missing" in err
    assert err.startswith("pyctr: not found:")  # a registry.NotFoundError is an errors.NotFound


async def test_sandboxes(
    pyctr: Pyctr, containerd_client: pycontainerd.Client, containerd_daemon: ContainerdDaemon
) -> None:
    if containerd_daemon.version_info < (1, 7, 0):
        err = one_line_error(await pyctr("sandboxes", "ls"))
        assert "needs containerd 1.7 or newer" in err
        return
    await containerd_client.sandboxes.create("sb-cli", labels={"app": "web"})
    [listed] = json.loads(ok(await pyctr("sandboxes", "ls", "--format", "json")))
    assert (listed["id"], listed["labels"]) == ("sb-cli", {"app": "web"})
    assert ok(await pyctr("sb", "ls", "-q", "labels.app==web")).split() == ["sb-cli"]
    assert ok(await pyctr("sandboxes", "rm", "sb-cli")).strip() == "sb-cli"
    assert await containerd_client.sandboxes.list() == []
    assert "not found" in one_line_error(await pyctr("sandboxes", "rm", "sb-cli"))
