from __future__ import annotations

import contextlib
import uuid
from typing import Any

import anyio
import attrs
import pytest

import pycontainerd
from pycontainerd import errors, events
from pycontainerd._api import _rpc
from pycontainerd._api.containerd.services.events.v1 import PublishRequest
from pycontainerd.events import filters
from pycontainerd.testing import ContainerdDaemon

pytestmark = pytest.mark.anyio


async def next_envelope(stream: events.EventStream[Any]) -> Any:
    with anyio.fail_after(10):
        return await stream.receive()


async def test_publish_and_receive_typed_event(containerd_client: pycontainerd.Client) -> None:
    client = containerd_client
    async with client.events.subscribe(filters.topic_matches("^/test/")) as stream:
        await client.events.publish(
            "/test/exit", events.TaskExit(container_id="web", exit_status=3)
        )
        env = await next_envelope(stream)
    assert env.topic == "/test/exit"
    assert env.namespace == client.namespace
    assert env.event == events.TaskExit(container_id="web", exit_status=3)
    assert env.timestamp is not None
    assert env.timestamp.tzinfo is not None


async def test_publish_generated_message_and_unknown(
    containerd_client: pycontainerd.Client,
) -> None:
    from pycontainerd._api.containerd.events import ContainerDelete

    client = containerd_client
    async with client.events.subscribe(filters.topic_matches("^/test/")) as stream:
        await client.events.publish("/test/raw", ContainerDelete(id="x"))
        await client.events.publish(
            "/test/unknown", events.Unknown(type_url="example.Foo", value=b"abc")
        )
        first = await next_envelope(stream)
        second = await next_envelope(stream)
    assert first.event == events.ContainerDelete(id="x")
    assert second.event == events.Unknown(type_url="example.Foo", value=b"abc")


async def test_publish_rejects_bad_topic_and_payload(
    containerd_client: pycontainerd.Client,
) -> None:
    with pytest.raises(errors.InvalidArgument, match="'tasks/exit'"):
        await containerd_client.events.publish("tasks/exit", events.TaskOOM(container_id="c"))
    with pytest.raises(errors.InvalidArgument, match="'/a//b'"):
        await containerd_client.events.publish("/a//b", events.TaskOOM(container_id="c"))
    with pytest.raises(TypeError):
        await containerd_client.events.publish("/a", "not an event")  # type: ignore[arg-type]


async def test_entered_stream_is_live(containerd_client: pycontainerd.Client) -> None:
    """An event published right after __aenter__ returns is delivered (no sleeps)."""
    client = containerd_client
    for i in range(5):
        async with client.events.subscribe(filters.topic(f"/live/n{i}")) as stream:
            await client.events.publish(f"/live/n{i}", events.ContainerDelete(id=f"c{i}"))
            env = await next_envelope(stream)
            assert env.event == events.ContainerDelete(id=f"c{i}")


async def test_probes_are_not_delivered(containerd_client: pycontainerd.Client) -> None:
    client = containerd_client
    async with client.events.subscribe() as outer:
        # another subscription's probes travel on the bus but never surface
        async with client.events.subscribe(filters.topic("/nothing")):
            pass
        await client.events.publish("/probe-check/done", events.ContainerDelete(id="d"))
        env = await next_envelope(outer)
    assert env.topic == "/probe-check/done"


async def test_filters_are_ored_and_selectors_anded(containerd_client: pycontainerd.Client) -> None:
    client = containerd_client
    async with client.events.subscribe(
        filters.topic("/f/a"),
        filters.topic("/f/b") & filters.field("event.id", "keep"),
    ) as stream:
        await client.events.publish("/f/a", events.ContainerDelete(id="one"))
        await client.events.publish("/f/b", events.ContainerDelete(id="drop"))
        await client.events.publish("/f/c", events.ContainerDelete(id="keep"))
        await client.events.publish("/f/b", events.ContainerDelete(id="keep"))
        await client.events.publish("/f/end", events.ContainerDelete(id="x"))
        await client.events.publish("/f/a", events.ContainerDelete(id="two"))
        got = [(await next_envelope(stream)) for _ in range(3)]
    assert [(e.topic, e.event.id) for e in got] == [
        ("/f/a", "one"),
        ("/f/b", "keep"),
        ("/f/a", "two"),
    ]


async def test_raw_filter_strings_pass_through(containerd_client: pycontainerd.Client) -> None:
    client = containerd_client
    async with client.events.subscribe('topic~="^/raw/",event.id!="skip"') as stream:
        await client.events.publish("/raw/x", events.ContainerDelete(id="skip"))
        await client.events.publish("/raw/y", events.ContainerDelete(id="take"))
        env = await next_envelope(stream)
    assert env.topic == "/raw/y"


async def test_invalid_filter_raises_before_any_call(
    containerd_client: pycontainerd.Client,
) -> None:
    with pytest.raises(errors.InvalidArgument, match="topic==/tasks/exit"):
        containerd_client.events.subscribe("topic==/tasks/exit")


async def test_daemon_rejected_filter_is_invalid_argument(
    containerd_client: pycontainerd.Client,
) -> None:
    # bypass the client-side check: the daemon's own refusal maps to InvalidArgument too
    stream = events.EventStream(
        containerd_client._caller, ["topic==/x"], reconnect=False, buffer=10
    )
    with pytest.raises(errors.InvalidArgument, match="failed parsing subscription filters"):
        async with stream:
            pass


async def test_namespace_scoping(
    containerd_client: pycontainerd.Client, containerd_namespace: str
) -> None:
    client = containerd_client
    other_ns = f"other-{uuid.uuid4().hex[:8]}"
    other = client.with_namespace(other_ns)
    async with (
        client.events.subscribe(filters.topic_matches("^/scope/")) as mine,
        client.events.subscribe(filters.topic_matches("^/scope/"), all_namespaces=True) as every,
    ):
        assert all(f.startswith(f'namespace=="{client.namespace}",') for f in mine.filters)
        await other.events.publish("/scope/elsewhere", events.ContainerDelete(id="a"))
        await client.events.publish("/scope/here", events.ContainerDelete(id="b"))
        seen_mine = await next_envelope(mine)
        seen_every = [await next_envelope(every), await next_envelope(every)]
    assert (seen_mine.namespace, seen_mine.topic) == (client.namespace, "/scope/here")
    assert [(e.namespace, e.topic) for e in seen_every] == [
        (other_ns, "/scope/elsewhere"),
        (client.namespace, "/scope/here"),
    ]


async def test_all_namespaces_without_filters_gets_everything(
    containerd_client: pycontainerd.Client,
) -> None:
    client = containerd_client
    other = client.with_namespace(f"any-{uuid.uuid4().hex[:8]}")
    async with client.events.subscribe(all_namespaces=True) as stream:
        assert stream.filters[0] == ""
        await other.events.publish("/anything/at-all", events.ContainerDelete(id="z"))
        while (env := await next_envelope(stream)).topic != "/anything/at-all":
            pass  # other tests' daemon activity may come first
    assert env.namespace == other.namespace


async def test_namespace_events_from_real_calls(containerd_client: pycontainerd.Client) -> None:
    client = containerd_client
    name = f"evns-{uuid.uuid4().hex[:8]}"
    async with client.events.subscribe(
        filters.topic_matches("^/namespaces/") & filters.field("event.name", name),
        all_namespaces=True,
    ) as stream:
        await client.namespaces.create(name, labels={"a": "1"})
        await client.namespaces.update(name, labels={"a": "2"})
        await client.namespaces.delete(name)
        got = [await next_envelope(stream) for _ in range(3)]
    assert [e.event for e in got] == [
        events.NamespaceCreate(name=name, labels={"a": "1"}),
        events.NamespaceUpdate(name=name, labels={"a": "2"}),
        events.NamespaceDelete(name=name),
    ]
    assert [e.topic for e in got] == [
        "/namespaces/create",
        "/namespaces/update",
        "/namespaces/delete",
    ]


async def test_snapshot_and_content_events_as_each_release_sends_them(
    containerd_client: pycontainerd.Client, containerd_daemon: ContainerdDaemon
) -> None:
    client = containerd_client
    async with (
        client.leases.lease() as leased,
        client.events.subscribe(filters.topic_matches("^/(snapshot|content)/")) as stream,
    ):
        await leased.snapshots().prepare("ev-snap")
        digest = await leased.content.write("ev-blob", b"event blob")
        await leased.snapshots().remove("ev-snap")
        want = 3 if containerd_daemon.version_info >= (2, 0, 0) else 2
        got = [await next_envelope(stream) for _ in range(want)]
    snapshotter = "overlayfs" if containerd_daemon.version_info >= (1, 7, 0) else ""
    expected: list[events.Event] = [
        events.SnapshotPrepare(key="ev-snap", snapshotter=snapshotter),
        events.SnapshotRemove(key="ev-snap", snapshotter=snapshotter),
    ]
    if containerd_daemon.version_info >= (2, 0, 0):  # 2.0 publishes content creation
        expected.insert(1, events.ContentCreate(digest=digest, size=len(b"event blob")))
    assert [e.event for e in got] == expected


async def test_container_and_image_events_from_raw_calls(
    containerd_client: pycontainerd.Client,
) -> None:
    from betterproto.lib.google.protobuf import Any as ProtoAny

    from pycontainerd._api.containerd.services.containers.v1 import (
        Container,
        ContainerRuntime,
        CreateContainerRequest,
        DeleteContainerRequest,
    )
    from pycontainerd._api.containerd.services.images.v1 import (
        CreateImageRequest,
        DeleteImageRequest,
        Image,
    )
    from pycontainerd._api.containerd.types import Descriptor

    client = containerd_client
    c = client._caller
    async with client.events.subscribe(
        filters.topic_matches("^/containers/"), filters.topic_matches("^/images/")
    ) as stream:
        await c.unary(
            _rpc.Containers.Create,
            CreateContainerRequest(
                container=Container(
                    id="ev-c1",
                    image="example.com/img:1",
                    runtime=ContainerRuntime(name="io.containerd.runc.v2"),
                    spec=ProtoAny(
                        type_url="types.containerd.io/opencontainers/runtime-spec/1/Spec",
                        value=b"{}",
                    ),
                )
            ),
        )
        await c.unary(
            _rpc.Containers.Delete,
            DeleteContainerRequest(id="ev-c1"),
        )
        await c.unary(
            _rpc.Images.Create,
            CreateImageRequest(
                image=Image(
                    name="example.com/img:1",
                    labels={"l": "v"},
                    target=Descriptor(
                        media_type="application/vnd.oci.image.manifest.v1+json",
                        digest="sha256:" + "0" * 64,
                        size=1,
                    ),
                )
            ),
        )
        await c.unary(
            _rpc.Images.Delete,
            DeleteImageRequest(name="example.com/img:1", sync=True),
        )
        got = [await next_envelope(stream) for _ in range(4)]
    assert [e.event for e in got] == [
        events.ContainerCreate(
            id="ev-c1",
            image="example.com/img:1",
            runtime=events.ContainerRuntime(name="io.containerd.runc.v2"),
        ),
        events.ContainerDelete(id="ev-c1"),
        events.ImageCreate(name="example.com/img:1", labels={"l": "v"}),
        events.ImageDelete(name="example.com/img:1"),
    ]


async def test_slow_consumer_overflows_after_buffered_events(
    containerd_client: pycontainerd.Client,
) -> None:
    client = containerd_client
    async with client.events.subscribe(filters.topic_matches("^/burst/"), buffer=4) as stream:
        for i in range(6):
            await client.events.publish(f"/burst/n{i}", events.ContainerDelete(id=f"c{i}"))
        # wait (without consuming) until the reader has hit the full buffer and ended;
        # the reader gives no signal to wait on but the closing of its send side
        with anyio.fail_after(10):
            while stream._recv.statistics().open_send_streams:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        received = [await next_envelope(stream) for _ in range(4)]
        with pytest.raises(events.Overflow) as info:
            await next_envelope(stream)
        assert info.value.buffer == 4
        # the stream stays failed
        with pytest.raises(events.Overflow):
            await stream.receive()
    assert [e.event.id for e in received] == ["c0", "c1", "c2", "c3"]


async def test_exceptions_in_body_are_not_wrapped(containerd_client: pycontainerd.Client) -> None:
    with pytest.raises(KeyError):
        async with containerd_client.events.subscribe():
            raise KeyError("mine")


async def test_stream_cannot_be_reentered_or_iterated_before_enter(
    containerd_client: pycontainerd.Client,
) -> None:
    stream = containerd_client.events.subscribe()
    with pytest.raises(RuntimeError, match="async with"):
        await stream.receive()
    async with stream:
        pass
    with pytest.raises(RuntimeError, match="only once"):
        async with stream:
            pass
    with pytest.raises(ValueError, match="buffer"):
        containerd_client.events.subscribe(buffer=0)


async def test_cancel_while_waiting(containerd_client: pycontainerd.Client) -> None:
    async with containerd_client.events.subscribe(filters.topic("/never")) as stream:
        with anyio.move_on_after(0.2) as scope:
            await stream.receive()
        assert scope.cancelled_caught
    # the subscription is gone: iterating after exit ends the iteration
    with pytest.raises(anyio.EndOfStream):
        await stream.receive()


async def test_connection_loss_without_reconnect_raises(
    containerd_daemon: ContainerdDaemon, containerd_client: pycontainerd.Client
) -> None:
    client = containerd_client
    async with client.events.subscribe(filters.topic_matches("^/loss/")) as stream:
        await client.events.publish("/loss/before", events.ContainerDelete(id="a"))
        assert (await next_envelope(stream)).topic == "/loss/before"
        try:
            await anyio.to_thread.run_sync(containerd_daemon.restart)
            with pytest.raises(errors.ConnectionError):
                await next_envelope(stream)
        finally:
            if not containerd_daemon.running:
                containerd_daemon.start()


async def test_reconnect_survives_daemon_restart(
    containerd_daemon: ContainerdDaemon, containerd_client: pycontainerd.Client
) -> None:
    client = containerd_client
    async with client.events.subscribe(filters.topic_matches("^/re/"), reconnect=True) as stream:
        await client.events.publish("/re/before", events.ContainerDelete(id="a"))
        assert (await next_envelope(stream)).topic == "/re/before"
        try:
            await anyio.to_thread.run_sync(containerd_daemon.restart)
        finally:
            if not containerd_daemon.running:
                containerd_daemon.start()
        with anyio.fail_after(30):
            marker = await stream.receive()
        assert isinstance(marker, events.Resync)
        assert marker.reason
        await client.events.publish("/re/after", events.ContainerDelete(id="b"))
        await client.events.publish("/re/after2", events.ContainerDelete(id="c"))
        after = [await next_envelope(stream), await next_envelope(stream)]
    assert [e.topic for e in after] == ["/re/after", "/re/after2"]


async def test_publish_request_type_matches_generated(
    containerd_client: pycontainerd.Client,
) -> None:
    # Any values decoded from the wire carry no google prefix (pitfall 3)
    req = PublishRequest(topic="/t", event=events._types.encode(events.TaskOOM(container_id="c")))
    assert req.event.type_url == "containerd.events.TaskOOM"


async def test_task_lifecycle_events_in_order_exactly_once(
    containerd_client: pycontainerd.Client, host_container: Any
) -> None:
    client = containerd_client
    container = await host_container(["sh", "-c", "exit 3"])
    cid = container.id
    async with client.events.subscribe(
        filters.topic_matches("^/tasks/") & filters.field("event.container_id", cid),
        filters.topic("/lifecycle/end"),
    ) as stream:
        task = await container.new_task()
        await task.start()
        status = await task.wait()
        await task.delete()
        await client.events.publish("/lifecycle/end", events.ContainerDelete(id=cid))
        got = []
        while (env := await next_envelope(stream)).topic != "/lifecycle/end":
            got.append(env)
    await container.delete()
    assert status.code == 3
    assert [e.topic for e in got] == [
        "/tasks/create",
        "/tasks/start",
        "/tasks/exit",
        "/tasks/delete",
    ]
    create, start, exit_, delete = (e.event for e in got)
    assert isinstance(create, events.TaskCreate)
    assert create.container_id == cid
    assert create.pid > 0
    assert start == events.TaskStart(container_id=cid, pid=create.pid)
    assert isinstance(exit_, events.TaskExit)
    assert (exit_.container_id, exit_.id, exit_.pid, exit_.exit_status) == (cid, cid, create.pid, 3)
    assert exit_.exited_at is not None
    assert isinstance(delete, events.TaskDelete)
    assert (delete.container_id, delete.pid, delete.exit_status) == (cid, create.pid, 3)


async def test_task_exit_fires_for_exec_processes_with_their_exec_id(
    containerd_client: pycontainerd.Client, host_container: Any
) -> None:
    client = containerd_client
    container = await host_container(["sleep", "1000"])
    cid = container.id
    async with await container.new_task() as task:
        await task.start()
        async with client.events.subscribe(
            filters.topic("/tasks/exit") & filters.field("event.container_id", cid)
        ) as stream:
            async with await task.exec(["sh", "-c", "exit 5"], id="quick") as proc:
                status = await proc.wait()
            exit_ = (await next_envelope(stream)).event
    await container.delete()
    assert status.code == 5
    assert isinstance(exit_, events.TaskExit)
    # The exec id, not the container's, and the exec'd process's own pid.
    assert (exit_.container_id, exit_.id, exit_.pid, exit_.exit_status) == (
        cid,
        "quick",
        proc.pid,
        5,
    )
    assert exit_.exited_at == status.exited_at


async def test_cancelling_around_the_stream_leaves_cleanly(
    containerd_client: pycontainerd.Client,
) -> None:
    with anyio.move_on_after(0.3) as scope:
        async with containerd_client.events.subscribe(filters.topic("/never")) as stream:
            await stream.receive()
    assert scope.cancelled_caught
    # the client still works, and a new subscription is live at once
    async with containerd_client.events.subscribe(filters.topic("/after")) as stream:
        await containerd_client.events.publish("/after", events.ContainerDelete(id="x"))
        assert (await next_envelope(stream)).topic == "/after"


async def test_idle_subscribers_never_stall_the_client(
    containerd_client: pycontainerd.Client,
) -> None:
    """Subscribers that stop reading hold none of the connection's flow-control window (#15).

    Every call of a client shares one HTTP/2 connection, and the daemon's
    event DATA that nobody reads fills its window: in grpclib a stream may
    hold up to 4 MiB, the whole connection 4 MiB too, so two overflowed
    streams left open were enough to freeze every call. Here two
    subscribers overflow their small buffers at once and a third has room
    for every envelope; none reads until the flood (several windows' worth)
    is over, and the client answers throughout.
    """
    client = containerd_client
    workers, per_worker = 10, 5_000
    n = workers * per_worker
    pad = "x" * 200
    topic = "/flood/idle"
    assert n * len(pad) > 2 * 4 * 2**20  # each envelope carries the pad: twice the window

    async def publish(worker: int) -> None:
        for i in range(per_worker):
            with anyio.fail_after(30):
                await client.events.publish(topic, events.ContainerDelete(id=f"{worker}-{i}-{pad}"))
            if i % 500 == 0:
                with anyio.fail_after(30):
                    await client.version()

    async with contextlib.AsyncExitStack() as stack:
        small = [
            await stack.enter_async_context(client.events.subscribe(filters.topic(topic), buffer=8))
            for _ in range(2)
        ]
        large = await stack.enter_async_context(
            client.events.subscribe(filters.topic(topic), buffer=n)
        )
        async with anyio.create_task_group() as tg:
            for worker in range(workers):
                tg.start_soon(publish, worker)
        with anyio.fail_after(30):
            await client.version()
        # the large buffer cost memory only: every envelope is there, in order
        received = [await next_envelope(large) for _ in range(n)]
        numbers = [tuple(map(int, e.event.id.split("-")[:2])) for e in received]
        for worker in range(workers):
            assert [i for w, i in numbers if w == worker] == list(range(per_worker))
        for stream in small:
            for _ in range(8):
                await next_envelope(stream)
            with pytest.raises(events.Overflow):
                await next_envelope(stream)


class RawWatcher:
    """Another consumer of the bus (as ``ctr events`` is): the raw stub, no probe filtering."""

    def __init__(self, client: pycontainerd.Client) -> None:
        from pycontainerd.services import events as raw

        request = raw.SubscribeRequest(filters=[filters.namespace(client.namespace)])
        self._client = client
        self._stream = client.services.events.subscribe(request).__aiter__()

    async def until(self, topic: str) -> list[Any]:
        """Every envelope up to the first on `topic` (included)."""
        seen = []
        with anyio.fail_after(30):
            while not seen or seen[-1].topic != topic:
                seen.append(await self._stream.__anext__())
        return seen

    async def start(self) -> None:
        """Publish warm-up events until the raw stream delivers one: it is live then."""
        async with anyio.create_task_group() as tg:

            async def warm_up() -> None:
                while True:
                    await self._client.events.publish(
                        "/watch/warm", events.TaskOOM(container_id="w")
                    )
                    await anyio.sleep(0.05)

            tg.start_soon(warm_up)
            await self.until("/watch/warm")
            tg.cancel_scope.cancel()

    async def aclose(self) -> None:
        await self._stream.aclose()  # type: ignore[attr-defined]


async def test_probes_are_identifiable_by_other_consumers_and_can_be_left_out(
    containerd_client: pycontainerd.Client,
) -> None:
    import re

    client = containerd_client
    watcher = RawWatcher(client)
    try:
        await watcher.start()
        async with client.events.subscribe(filters.topic("/probed/nothing")):
            pass
        await client.events.publish("/probed/done", events.TaskOOM(container_id="d"))
        seen = await watcher.until("/probed/done")
        probes = [e for e in seen if e.topic.startswith(events.PROBE_PREFIX)]
        assert probes  # at least one per entry, a few more if the daemon is slow
        for probe in probes:
            assert re.fullmatch(r"/pycontainerd/probe/[0-9a-f]{32}", probe.topic)
            assert probe.namespace == client.namespace
            assert probe.event.type_url == "google.protobuf.Empty"
            assert probe.event.value == b""
        assert len({p.topic for p in probes}) == 1  # one session: one token

        # Opted out: nothing is published; the stream still gets what follows
        # once the daemon has registered it (published until it arrives).
        async with client.events.subscribe(filters.topic("/unprobed/x"), probe=False) as stream:
            got = await publish_until_received(client, stream, "/unprobed/x")
        assert got.topic == "/unprobed/x"
        await client.events.publish("/unprobed/done", events.TaskOOM(container_id="d"))
        seen = await watcher.until("/unprobed/done")
        assert [e.topic for e in seen if e.topic.startswith(events.PROBE_PREFIX)] == []
        assert "/unprobed/x" in {e.topic for e in seen}
    finally:
        await watcher.aclose()


async def publish_until_received(
    client: pycontainerd.Client, stream: events.EventStream[Any], topic: str
) -> Any:
    """Publish on `topic` until `stream` delivers something (a stream without probes)."""
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:

            async def publish() -> None:
                while True:
                    await client.events.publish(topic, events.TaskOOM(container_id="x"))
                    await anyio.sleep(0.05)

            tg.start_soon(publish)
            got = await stream.receive()
            tg.cancel_scope.cancel()
    return got


async def test_reconnect_without_probes_still_resyncs(
    containerd_daemon: ContainerdDaemon, containerd_client: pycontainerd.Client
) -> None:
    client = containerd_client
    async with client.events.subscribe(
        filters.topic_matches("^/re-np/"), reconnect=True, probe=False
    ) as stream:
        assert (await publish_until_received(client, stream, "/re-np/before")).topic == (
            "/re-np/before"
        )
        try:
            await anyio.to_thread.run_sync(containerd_daemon.restart)
        finally:
            if not containerd_daemon.running:
                containerd_daemon.start()
        with anyio.fail_after(30):
            while not isinstance(marker := await stream.receive(), events.Resync):
                assert marker.topic == "/re-np/before"  # sent before the restart
        assert marker.reason
        got = await publish_until_received(client, stream, "/re-np/after")
    assert got.topic == "/re-np/after"


async def test_forward_keeps_the_envelopes_namespace_and_timestamp(
    containerd_client: pycontainerd.Client,
) -> None:
    from datetime import UTC, datetime

    client = containerd_client
    when = datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)
    sent = events.Envelope(
        timestamp=when,
        namespace="elsewhere",  # need not exist, nor be the client's
        topic="/forwarded/one",
        event=events.TaskExit(container_id="c", exit_status=7),
    )
    async with client.events.subscribe(
        filters.topic_matches("^/forwarded/"), all_namespaces=True
    ) as stream:
        await client.events.forward(sent)
        got = await next_envelope(stream)
        assert got == sent
        # Relaying a received envelope keeps the daemon's timestamp of the original.
        await client.events.publish("/forwarded/original", events.TaskOOM(container_id="o"))
        original = await next_envelope(stream)
        await client.events.forward(attrs.evolve(original, topic="/forwarded/relayed"))
        relayed = await next_envelope(stream)
    assert relayed.topic == "/forwarded/relayed"
    assert (relayed.timestamp, relayed.namespace, relayed.event) == (
        original.timestamp,
        client.namespace,
        events.TaskOOM(container_id="o"),
    )
