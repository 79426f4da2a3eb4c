"""pyctr driven as a subprocess against the test daemon."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import anyio.abc
import pytest

import pycontainerd
from pycontainerd import events
from pycontainerd.testing import ContainerdDaemon

SRC = str(Path(__file__).resolve().parents[1] / "src")

Pyctr = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]

pytestmark = pytest.mark.anyio


def pyctr_env(daemon: ContainerdDaemon, namespace: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
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


async def test_version(pyctr: Pyctr) -> None:
    text = ok(await pyctr("version"))
    assert "Server:" in text
    assert "1.6" in text
    data = json.loads(ok(await pyctr("version", "--format", "json")))
    assert data["server"]["version"].startswith("1.")
    assert data["server"]["uuid"]


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
    assert "--count" in one_line_error(await pyctr("events", "--count", "0"))
