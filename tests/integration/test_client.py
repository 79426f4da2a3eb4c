"""Client, transport and namespaces against a real containerd."""

from __future__ import annotations

import inspect
import os
import random
import uuid
from pathlib import Path

import anyio
import pytest
from betterproto.lib.google.protobuf import Any

import pycontainerd
from pycontainerd import _transport, errors, events
from pycontainerd._api import _rpc
from pycontainerd._api.containerd.services.containers.v1 import (
    Container,
    ContainerRuntime,
    CreateContainerRequest,
)
from pycontainerd._api.containerd.services.events.v1 import SubscribeRequest
from pycontainerd.testing import ContainerdDaemon

pytestmark = pytest.mark.anyio


async def _wait_for_an_event(client: pycontainerd.Client, *, timeout: float | None) -> None:
    """A call that blocks: nobody publishes in the test's namespace."""
    filters = [f"namespace=={client.namespace}"]
    async with client._caller.stream(_rpc.Events.Subscribe, timeout=timeout) as stream:
        await stream.send(SubscribeRequest(filters=filters), end=True)
        await stream.recv()


async def test_version_and_server(
    containerd_client: pycontainerd.Client, containerd_daemon: ContainerdDaemon
) -> None:
    version = await containerd_client.version()
    # The daemon reports the version its binary prints.
    assert version.version == containerd_daemon.version
    server = await containerd_client.server()
    uuid.UUID(server.uuid)


async def test_plugins_filtered(containerd_client: pycontainerd.Client) -> None:
    everything = await containerd_client.plugins()
    snapshotters = await containerd_client.plugins("type==io.containerd.snapshotter.v1")
    assert {p.type for p in snapshotters} == {"io.containerd.snapshotter.v1"}
    assert len(snapshotters) < len(everything)
    overlay = next(p for p in snapshotters if p.id == "overlayfs")
    assert overlay.ok
    assert "root" in overlay.exports
    # The CRI plugin is disabled by the private daemon's config.
    assert not [p for p in everything if p.id == "cri"]


async def test_namespace_lifecycle(containerd_client: pycontainerd.Client) -> None:
    name = f"ns-{uuid.uuid4().hex[:8]}"
    created = await containerd_client.namespaces.create(name, labels={"a": "1", "b": "2"})
    assert created.name == name
    assert created.labels == {"a": "1", "b": "2"}
    assert name in {n.name for n in await containerd_client.namespaces.list()}

    updated = await containerd_client.namespaces.update(
        name, labels={"a": "9", "b": None, "c": "3"}
    )
    assert updated.labels == {"a": "9", "c": "3"}
    assert (await containerd_client.namespaces.get(name)).labels == {"a": "9", "c": "3"}

    with pytest.raises(errors.AlreadyExists):
        await containerd_client.namespaces.create(name)
    await containerd_client.namespaces.delete(name)
    assert name not in {n.name for n in await containerd_client.namespaces.list()}
    with pytest.raises(errors.NotFound) as info:
        await containerd_client.namespaces.get(name)
    assert name in str(info.value)
    assert info.value.method == "/containerd.services.namespaces.v1.Namespaces/Get"


async def test_namespace_list_carries_labels(containerd_client: pycontainerd.Client) -> None:
    name = f"ns-{uuid.uuid4().hex[:8]}"
    await containerd_client.namespaces.create(name, labels={"pick": "me"})
    try:
        found = {n.name: n for n in await containerd_client.namespaces.list()}
        assert found[name].labels == {"pick": "me"}
        assert found[containerd_client.namespace].labels == {}
    finally:
        await containerd_client.namespaces.delete(name)


async def test_deleting_non_empty_namespace_fails(containerd_client: pycontainerd.Client) -> None:
    # A bare container record keeps the namespace non-empty (raw call: this
    # test must not depend on the containers facade).
    container = Container(
        id="keep",
        runtime=ContainerRuntime(name="io.containerd.runc.v2"),
        spec=Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/Spec", value=b"{}"),
    )
    await containerd_client._caller.unary(
        _rpc.Containers.Create,
        CreateContainerRequest(container=container),
    )
    with pytest.raises(errors.FailedPrecondition):
        await containerd_client.namespaces.delete(containerd_client.namespace)
    assert await containerd_client.namespaces.get(containerd_client.namespace)


async def test_200_concurrent_calls(containerd_client: pycontainerd.Client) -> None:
    results: list[str] = []

    async def one() -> None:
        results.append((await containerd_client.version()).version)

    async with anyio.create_task_group() as tg:
        for _ in range(200):
            tg.start_soon(one)
    assert len(results) == 200
    assert len(set(results)) == 1


async def test_unary_calls_cancelled_midway_leave_the_connection_healthy(
    containerd_client: pycontainerd.Client,
) -> None:
    """Unary calls on a warm connection run on the transport's own streams: cancelled ones reset."""
    client = containerd_client
    await client.version()  # the connection is open: the next calls take the unary streams
    rng = random.Random(7)
    finished = 0

    async def one() -> None:
        nonlocal finished
        with anyio.move_on_after(rng.choice([0, 1e-5, 1e-4, 1e-3, 1.0])):
            await client.version()
            finished += 1

    async with anyio.create_task_group() as tg:
        for _ in range(300):
            tg.start_soon(one)
    assert 0 < finished < 300  # some ran to the end, some were cut off
    protocol = client._transport.channel()._protocol
    assert protocol is not None
    assert protocol.processor.streams == {}  # none left open
    assert (await client.version()).version
    assert protocol is client._transport.channel()._protocol  # the same connection


async def test_unary_deadline_maps_to_deadline_exceeded(
    containerd_client: pycontainerd.Client,
) -> None:
    await containerd_client.version()
    with pytest.raises(errors.DeadlineExceeded):
        await containerd_client.version(timeout=1e-6)
    assert (await containerd_client.version()).version


async def test_cancelled_call_leaves_client_usable(containerd_client: pycontainerd.Client) -> None:
    with anyio.move_on_after(0.2) as scope:
        await _wait_for_an_event(containerd_client, timeout=None)
    assert scope.cancelled_caught
    assert (await containerd_client.version()).version


async def test_deadline_maps_to_deadline_exceeded(containerd_client: pycontainerd.Client) -> None:
    with pytest.raises(errors.DeadlineExceeded) as info:
        await _wait_for_an_event(containerd_client, timeout=0.05)
    assert isinstance(info.value, TimeoutError)
    # translated once: the cause is grpclib's or asyncio's error, not one of ours
    assert not isinstance(info.value.__cause__, errors.ContainerdError)
    assert (await containerd_client.version()).version


@pytest.mark.parametrize("raised", [TimeoutError("mine"), OSError(5, "mine")])
async def test_a_streams_block_raises_its_own_errors_unchanged(
    containerd_client: pycontainerd.Client, raised: Exception
) -> None:
    # Under a lease: unreferenced content may be collected at any moment otherwise.
    async with containerd_client.leases.lease() as leased:
        digest = await leased.content.write("own-errors", b"some bytes")

        async def read_and_fail() -> None:
            async with leased.content.reader(digest) as reader:
                async for _ in reader:
                    raise raised

        with pytest.raises(type(raised)) as info:
            await read_and_fail()
        assert info.value is raised


@pytest.mark.parametrize("fixed", [True, False], ids=["with-fix", "without-fix"])
async def test_grpclib_self_cancellation_is_undone(
    containerd_client: pycontainerd.Client, monkeypatch: pytest.MonkeyPatch, fixed: bool
) -> None:
    """grpclib cancels its own task to raise a deadline; the transport must uncancel it.

    Without the fix, a cancel scope entered around the failed call leaks a
    CancelledError when it later times out, and the code after it never runs.
    The daemon sometimes answers the deadline itself before grpclib's timer
    fires (then no self-cancellation happens), so the scenario runs several
    times; the ``without-fix`` case proves the test detects the bug.
    """
    if not fixed:
        monkeypatch.setattr(_transport, "_restore_cancelling", lambda task, before: None)
    rounds = 6
    reached: list[int] = []
    await containerd_client.version()  # connect first: the deadline must hit the blocked read

    async def worker(i: int) -> None:
        with anyio.move_on_after(0.25):
            with pytest.raises(errors.DeadlineExceeded):
                await _wait_for_an_event(containerd_client, timeout=0.05)
            await anyio.sleep(5)
        reached.append(i)

    for i in range(rounds):  # one after another, so the rounds race independently
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker, i)
    if fixed:
        assert sorted(reached) == list(range(rounds))
    else:
        assert len(reached) < rounds


async def test_calls_after_aclose_fail_clearly(containerd_daemon: ContainerdDaemon) -> None:
    client = pycontainerd.Client(containerd_daemon.address)
    assert (await client.version()).version
    view = client.with_namespace("other")
    await client.aclose()
    await client.aclose()  # idempotent
    assert client.closed
    assert view.closed
    for target in (client, view):
        with pytest.raises(errors.ClientClosedError, match="closed"):
            await target.version()
    with pytest.raises(errors.ClientClosedError):
        async with client:
            pass


async def test_with_namespace_shares_connection(containerd_client: pycontainerd.Client) -> None:
    view = containerd_client.with_namespace("elsewhere")
    assert view.namespace == "elsewhere"
    assert view.address == containerd_client.address
    assert view._transport is containerd_client._transport
    assert containerd_client.namespace != "elsewhere"


async def test_daemon_stop_raises_unavailable_then_recovers() -> None:
    with ContainerdDaemon() as daemon:
        async with pycontainerd.Client(daemon.address) as client:
            assert (await client.version()).version
            daemon._terminate()
            with anyio.fail_after(10):
                with pytest.raises(errors.ConnectionError) as info:
                    await client.version()
            assert isinstance(info.value, errors.Unavailable)
            assert info.value.address == daemon.address
            assert daemon.address in str(info.value)
            daemon.start()
            assert (await client.version()).version


def _public_classes() -> list[type]:
    modules = [pycontainerd, pycontainerd.events, pycontainerd.registry, pycontainerd.stdio]
    found = []
    for module in modules:
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and obj not in found:
                found.append(obj)
    return found


# Waits: no deadline unless given one; past it the process is killed.
_WAITS_WITH_TIMEOUT = {"Client.run", "Task.exec_run"}


def test_timeout_means_one_thing_everywhere() -> None:
    # Every public `timeout=` is a per-call deadline defaulting to the
    # client's (pycontainerd.DEFAULT); only waits default to None. Durations
    # of other kinds have other names (Task.stop(grace=...)).
    seen = set()
    for cls in _public_classes():
        for attr, member in vars(cls).items():
            if attr.startswith("_") or not callable(member):
                continue
            params = inspect.signature(member).parameters
            if "timeout" not in params:
                continue
            where = f"{cls.__name__}.{attr}"
            seen.add(where)
            default = params["timeout"].default
            if where in _WAITS_WITH_TIMEOUT:
                assert default is None, where
            else:
                assert default is pycontainerd.DEFAULT, where
    assert {"Client.version", "Diff.apply", "Diff.compare", "Events.publish"} <= seen
    assert _WAITS_WITH_TIMEOUT <= seen
    assert "timeout" not in inspect.signature(pycontainerd.Task.stop).parameters


async def test_timeout_default_is_the_clients_and_none_is_no_deadline(
    containerd_daemon: ContainerdDaemon, containerd_client: pycontainerd.Client
) -> None:
    missing = pycontainerd.Descriptor(
        media_type="application/vnd.oci.image.layer.v1.tar", digest="sha256:" + "0" * 64, size=1
    )
    mounts = [pycontainerd.Mount(type="bind", source="/nonexistent", options=("rbind",))]
    async with pycontainerd.Client(
        containerd_daemon.address, namespace=containerd_client.namespace, timeout=1e-6
    ) as hasty:
        assert hasty.timeout == 1e-6
        calls = {
            "version": lambda **kw: hasty.version(**kw),
            "plugins": lambda **kw: hasty.plugins(**kw),
            "publish": lambda **kw: hasty.events.publish(
                "/test/deadline", events.ContainerDelete(id="x"), **kw
            ),
            "diff.apply": lambda **kw: hasty.diff.apply(missing, mounts, **kw),
        }
        for name, call in calls.items():
            with pytest.raises(errors.DeadlineExceeded):  # the client's 1 µs
                await call()
            with pytest.raises(errors.DeadlineExceeded):
                await call(timeout=pycontainerd.DEFAULT)
            try:  # no deadline: the call reaches the daemon and gets its answer
                await call(timeout=None)
            except errors.NotFound:
                assert name == "diff.apply"  # the blob does not exist
            try:
                await call(timeout=30)  # a number overrides the client's
            except errors.NotFound:
                assert name == "diff.apply"


async def test_services_stubs_carry_the_views_namespace(
    containerd_client: pycontainerd.Client,
) -> None:
    from betterproto.lib.google.protobuf import Empty
    from grpclib import GRPCError, Status

    from pycontainerd.services import containers, health, leases, snapshots, version

    services = containerd_client.services
    reply = await services.version.version(Empty())
    assert isinstance(reply, version.VersionResponse)
    assert reply.version == (await containerd_client.version()).version
    await containerd_client.containers.create("mine", spec={})
    other = containerd_client.with_namespace(containerd_client.namespace + "-other").services
    listed = await services.containers.list(containers.ListContainersRequest())
    assert isinstance(listed, containers.ListContainersResponse)
    assert [c.id for c in listed.containers] == ["mine"]
    assert (await other.containers.list(containers.ListContainersRequest())).containers == []
    with pytest.raises(GRPCError) as info:  # raw: grpclib's own error, not mapped
        await other.containers.get(containers.GetContainerRequest(id="mine"))
    assert info.value.status is Status.NOT_FOUND
    await containerd_client.containers.delete("mine")
    checked = await services.health.check(health.HealthCheckRequest())
    assert checked.status is health.HealthCheckResponseServingStatus.SERVING

    # A view's lease goes with its stubs' calls too: what they make, the lease holds.
    async with containerd_client.leases.lease() as leased:
        assert leased.lease is not None
        await leased.services.snapshots.prepare(
            snapshots.PrepareSnapshotRequest(snapshotter="overlayfs", key="raw-leased")
        )
        held = await leased.services.leases.list_resources(
            leases.ListResourcesRequest(id=leased.lease)
        )
        assert [(r.id, r.type) for r in held.resources] == [("raw-leased", "snapshots/overlayfs")]
        await leased.snapshots().remove("raw-leased")


async def test_is_serving(containerd_client: pycontainerd.Client) -> None:
    assert await containerd_client.is_serving() is True
    assert await containerd_client.is_serving(timeout=None) is True


async def test_is_serving_waits_for_a_daemon_to_appear(
    containerd_daemon: ContainerdDaemon, tmp_path: Path
) -> None:
    # As Go's IsServing (wait for ready): an address that cannot be reached yet
    # is retried until the daemon answers there, or the timeout runs out.
    later = tmp_path / "later.sock"
    async with pycontainerd.Client(str(later)) as client:
        with pytest.raises(errors.DeadlineExceeded, match="health check") as info:
            await client.is_serving(timeout=0.3)
        assert isinstance(info.value.__cause__, errors.ConnectionError)
        assert str(later) in str(info.value.__cause__)

        async def appear() -> None:
            await anyio.sleep(0.3)  # the first tries find no socket
            later.symlink_to(containerd_daemon.address)

        async with anyio.create_task_group() as tg:
            tg.start_soon(appear)
            with anyio.fail_after(60):
                assert await client.is_serving(timeout=None) is True
        assert later.is_symlink()


async def test_server_reports_the_daemon_as_its_release_does(
    containerd_client: pycontainerd.Client, containerd_daemon: ContainerdDaemon
) -> None:
    server = await containerd_client.server()
    assert server.version == containerd_daemon.version
    assert server.uuid == (await containerd_client.server()).uuid
    assert all(isinstance(d, pycontainerd.Deprecation) and d.id for d in server.deprecations)
    if containerd_daemon.version_info >= (1, 7, 0):
        assert server.pid == containerd_daemon.pid
        assert server.pidns == os.stat(f"/proc/{server.pid}/ns/pid").st_ino
    else:  # 1.6 reports neither
        assert (server.pid, server.pidns, server.deprecations) == (None, None, ())


async def test_runtime_info_needs_containerd_2(
    containerd_client: pycontainerd.Client, containerd_daemon: ContainerdDaemon
) -> None:
    if containerd_daemon.version_info < (2, 0, 0):
        with pytest.raises(errors.Unimplemented, match=r"needs containerd 2\.0 or newer"):
            await containerd_client.runtime_info()
        return
    info = await containerd_client.runtime_info()
    # The shim describes itself (it comes with the daemon) and the runc it drives.
    assert (info.name, info.version) == ("io.containerd.runc.v2", containerd_daemon.version)
    runc = await anyio.run_process(["runc", "--version"])
    runc_version = info.features["annotations"]["org.opencontainers.runc.version"]
    assert f"runc version {runc_version}" in runc.stdout.decode()
    assert info.features["ociVersionMin"].startswith("1.")
    assert "bind" in info.features["mountOptions"]
    with pytest.raises(errors.ContainerdError):
        await containerd_client.runtime_info("io.containerd.nonexistent.v1")
