"""The transport's own HTTP/2 pieces, against h2 playing the daemon.

`_transport._Protocol` takes plain DATA frames past h2: what a server sends
is cut into arbitrary socket reads and fed both to it and to grpclib's own
`H2Protocol`; the streams must receive the same bytes and trailers, and h2's
flow-control windows must end in the same state. `_transport._unary_call`
drives a unary call without grpclib's client stream: every way a reply can
end (OK, trailers-only error, reset, HTTP error, cut short, cancelled) is
played here, where the daemon cannot be made to misbehave. (Every daemon test
goes through both as well.)
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from betterproto.lib.google.protobuf import Empty
from grpclib.client import Handler
from grpclib.config import Configuration
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError
from grpclib.protocol import H2Protocol, Stream
from h2.config import H2Configuration
from h2.connection import ConnectionState, H2Connection
from h2.errors import ErrorCodes
from h2.events import DataReceived, PingAckReceived, RequestReceived, StreamReset
from h2.exceptions import TooManyStreamsError
from h2.settings import SettingCodes
from hyperframe.frame import DataFrame
from hypothesis import given, settings
from hypothesis import strategies as st

from pycontainerd import _transport
from pycontainerd._api.containerd.services.version.v1 import VersionResponse

_REQUEST = [
    (":method", "POST"),
    (":scheme", "http"),
    (":path", "/containerd.services.content.v1.Content/Read"),
    (":authority", "localhost"),
    ("te", "trailers"),
    ("content-type", "application/grpc"),
]


class _Wire:
    """A transport that keeps what the protocol writes."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.writes = 0
        self.closed = False
        self._wrote = asyncio.Event()

    def write(self, data: bytes) -> None:
        self.written += data
        self.writes += 1
        self._wrote.set()

    async def wait(self) -> None:
        """Until something was written, and what the ready tasks write next.

        The coalescing transport writes a loop turn later; a task started
        meanwhile (a call) writes in a turn of its own.
        """
        await self._wrote.wait()
        for _ in range(3):
            await asyncio.sleep(0)
        self._wrote.clear()

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def take(self) -> bytes:
        data = bytes(self.written)
        self.written.clear()
        return data


def _client_h2_config() -> H2Configuration:
    # grpclib's Channel configures h2 this way.
    return H2Configuration(
        client_side=True,
        header_encoding="ascii",
        validate_inbound_headers=False,
        validate_outbound_headers=False,
        normalize_inbound_headers=False,
        normalize_outbound_headers=False,
    )


class _Peer:
    """A client protocol wired to an h2 server, with some streams opened."""

    def __init__(self, protocol: H2Protocol, streams: int) -> None:
        self.protocol = protocol
        self.wire = _Wire()
        protocol.connection_made(self.wire)  # type: ignore[arg-type]
        self.server = H2Connection(H2Configuration(client_side=False))
        self.server.initiate_connection()
        self.streams: list[Stream] = []
        self._streams = streams

    async def open(self) -> None:
        for _ in range(self._streams):
            stream = self.protocol.connection.create_stream()
            await stream.send_request(_REQUEST, _processor=self.protocol.processor)
            self.streams.append(stream)
        await self.wire.wait()
        events = self.server.receive_data(self.wire.take())
        opened = [e.stream_id for e in events if isinstance(e, RequestReceived)]
        assert opened == [s.id for s in self.streams]
        for stream_id in opened:
            self.server.send_headers(
                stream_id, [(":status", "200"), ("content-type", "application/grpc")]
            )

    def feed(self, data: bytes, cuts: list[int]) -> None:
        pos = 0
        for size in cuts:
            if pos >= len(data):
                break
            self.protocol.data_received(data[pos : pos + size])
            pos += size
        if pos < len(data):
            self.protocol.data_received(data[pos:])

    def windows(self) -> tuple[int, ...]:
        h2 = self.protocol.connection._connection
        conn = h2._inbound_flow_control_window_manager
        found = [conn.current_window_size, conn._bytes_processed]
        for stream in self.streams:
            manager = h2.streams[stream.id]._inbound_window_manager
            found += [manager.current_window_size, manager._bytes_processed]
        return tuple(found)


def _protocols() -> list[H2Protocol]:
    return [
        _transport._Protocol(Handler(), Configuration().__for_client__(), _client_h2_config()),
        H2Protocol(Handler(), Configuration().__for_client__(), _client_h2_config()),
    ]


def _server_bytes(peer: _Peer, payloads: list[tuple[int, bytes, int]]) -> bytes:
    """Send each (stream index, payload, padding) as DATA, then trailers on every stream."""
    for index, payload, padding in payloads:
        stream_id = peer.streams[index].id
        peer.server.send_data(stream_id, payload, pad_length=padding or None)
    for stream in peer.streams:
        peer.server.send_headers(stream.id, [("grpc-status", "0")], end_stream=True)
    return peer.server.data_to_send()


async def _received(peer: _Peer, payloads: list[tuple[int, bytes, int]]) -> list[bytes]:
    out = []
    for index, stream in enumerate(peer.streams):
        size = sum(len(p) for i, p, _ in payloads if i == index)
        out.append(await stream.recv_data(size))
        assert await stream.recv_data(1) == b""  # the stream ended
        assert await stream.recv_trailers() == [("grpc-status", "0")]
    return out


# No empty DATA frames: grpclib's buffer takes one for the end of the stream,
# and the fast path leaves them to h2 and grpclib as they are.
_payloads = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.binary(min_size=1, max_size=40_000),
        st.sampled_from([0, 0, 0, 7]),
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(payloads=_payloads, cuts=st.lists(st.integers(1, 30_000), max_size=30))
def test_fast_path_receives_what_h2_receives(
    payloads: list[tuple[int, bytes, int]], cuts: list[int]
) -> None:
    async def scenario() -> list[tuple[list[bytes], tuple[int, ...]]]:
        results = []
        for protocol in _protocols():
            peer = _Peer(protocol, streams=3)
            await peer.open()
            peer.feed(_server_bytes(peer, payloads), cuts)
            received = await _received(peer, payloads)
            results.append((received, peer.windows()))
        return results

    (fast, fast_windows), (reference, reference_windows) = asyncio.run(scenario())
    assert fast == reference
    assert fast == [b"".join(p for i, p, _ in payloads if i == n) for n in range(3)]
    assert fast_windows == reference_windows


def test_frames_of_one_read_reach_the_stream_as_one_chunk() -> None:
    async def scenario() -> None:
        peer = _Peer(_protocols()[0], streams=1)
        await peer.open()
        [stream] = peer.streams
        for _ in range(8):
            peer.server.send_data(stream.id, b"x" * 16384)
        peer.protocol.data_received(peer.server.data_to_send())
        assert stream.buffer._unacked.qsize() == 1
        assert await stream.recv_data(8 * 16384) == b"x" * 8 * 16384

    asyncio.run(scenario())


@pytest.mark.parametrize("protocol_index", [0, 1])
def test_a_frame_over_the_window_is_a_flow_control_error(protocol_index: int) -> None:
    async def scenario() -> None:
        peer = _Peer(_protocols()[protocol_index], streams=1)
        await peer.open()
        [stream] = peer.streams
        peer.protocol.data_received(peer.server.data_to_send())  # settings and headers
        h2 = peer.protocol.connection._connection
        window = h2.streams[stream.id]._inbound_window_manager.current_window_size
        frame = DataFrame(stream.id)
        frame.data = b"y" * 16384
        for _ in range(window // 16384 + 1):
            peer.protocol.data_received(frame.serialize())
        # h2 saw the overflow and ended the connection with FLOW_CONTROL_ERROR.
        assert h2.state_machine.state is ConnectionState.CLOSED
        assert peer.wire.closed

    asyncio.run(scenario())


class _Channel:
    """What `_unary_call` needs of a grpclib channel: a connected protocol."""

    def __init__(self, protocol: H2Protocol) -> None:
        self.protocol = protocol

    async def __connect__(self) -> H2Protocol:
        return self.protocol


async def _handshake(peer: _Peer) -> None:
    """Exchange the SETTINGS frames (and their acknowledgements)."""
    peer.protocol.data_received(peer.server.data_to_send())
    await peer.wire.wait()
    peer.server.receive_data(peer.wire.take())


async def _start_call(
    peer: _Peer, reply_type: type[Any] = VersionResponse, message: Any = None
) -> tuple[asyncio.Task[Any], int]:
    """Start a call (Version by default) through the fast protocol; return it and its stream id."""
    headers = [*_REQUEST, ("containerd-namespace", "t")]
    call = asyncio.create_task(
        _transport._unary_call(_Channel(peer.protocol), headers, message or Empty(), reply_type)  # type: ignore[arg-type]
    )
    await peer.wire.wait()
    events = peer.server.receive_data(peer.wire.take())
    [stream_id] = [e.stream_id for e in events if isinstance(e, RequestReceived)]
    assert any(isinstance(e, DataReceived) and e.stream_ended for e in events)
    return call, stream_id


async def _warm(peer: _Peer) -> None:
    """Bring the connection where unary calls run on `_UnaryStream`s: open, one call made.

    h2 opens the connection with the first HEADERS it sends, so the first
    call on a connection runs on grpclib's stream.
    """
    await _handshake(peer)
    call, stream_id = await _start_call(peer)
    assert stream_id in peer.protocol.processor.streams  # grpclib's stream
    _respond_ok(peer.server, stream_id)
    peer.protocol.data_received(peer.server.data_to_send())
    assert await call == VersionResponse(version="1.6.20")


async def _open_peer(unary_stream: bool) -> _Peer:
    """A peer whose next call runs on a `_UnaryStream`, or on grpclib's stream."""
    peer = _Peer(_protocols()[0], streams=0)
    if unary_stream:
        await _warm(peer)
    return peer


def _path_of(peer: _Peer, stream_id: int) -> bool:
    """Whether the call on `stream_id` runs on a `_UnaryStream` (else on grpclib's stream)."""
    protocol = peer.protocol
    assert isinstance(protocol, _transport._Protocol)
    unary = stream_id in protocol._unary
    assert unary != (stream_id in protocol.processor.streams)
    return unary


def _reply(message: bytes) -> bytes:
    return _transport._PREFIX.pack(0, len(message)) + message


_OK_HEADERS = [(":status", "200"), ("content-type", "application/grpc")]


async def _play(
    respond: Any, reply_type: type[Any] = VersionResponse, *, unary_stream: bool = False
) -> tuple[Any, _Peer]:
    """Run one call against `respond(server, stream_id)`; return its result or error."""
    peer = await _open_peer(unary_stream)
    call, stream_id = await _start_call(peer, reply_type)
    assert _path_of(peer, stream_id) is unary_stream
    respond(peer.server, stream_id)
    peer.protocol.data_received(peer.server.data_to_send())
    try:
        result: Any = await call
    except Exception as exc:
        result = exc
    assert peer.protocol.processor.streams == {}  # released, whatever happened
    assert peer.protocol._unary == {}  # type: ignore[attr-defined]
    return result, peer


# Every unary call test runs on both paths: a `_UnaryStream` and grpclib's stream.
_paths = pytest.mark.parametrize("unary_stream", [True, False], ids=["unary-stream", "grpclib"])


def _respond_ok(server: H2Connection, stream_id: int) -> None:
    server.send_headers(stream_id, _OK_HEADERS)
    server.send_data(stream_id, _reply(bytes(VersionResponse(version="1.6.20"))))
    server.send_headers(stream_id, [("grpc-status", "0")], end_stream=True)


@_paths
def test_unary_call_returns_the_reply(unary_stream: bool) -> None:
    reply = bytes(VersionResponse(version="1.6.20", revision="r"))

    def respond(server: H2Connection, stream_id: int) -> None:
        server.send_headers(stream_id, _OK_HEADERS)
        server.send_data(stream_id, _reply(reply))
        server.send_headers(stream_id, [("grpc-status", "0")], end_stream=True)

    result, _ = asyncio.run(_play(respond, unary_stream=unary_stream))
    assert result == VersionResponse(version="1.6.20", revision="r")


def test_a_ping_answer_leaves_with_the_next_request() -> None:
    """grpc-go pings on every request; the answer rides on the caller's next request."""

    async def scenario() -> None:
        peer = _Peer(_protocols()[0], streams=0)
        await _handshake(peer)
        channel = _Channel(peer.protocol)
        headers = [*_REQUEST, ("containerd-namespace", "t")]

        async def two_calls() -> Any:
            await _transport._unary_call(channel, headers, Empty(), VersionResponse)  # type: ignore[arg-type]
            return await _transport._unary_call(channel, headers, Empty(), VersionResponse)  # type: ignore[arg-type]

        calls = asyncio.create_task(two_calls())
        await peer.wire.wait()
        [first] = [
            e.stream_id
            for e in peer.server.receive_data(peer.wire.take())
            if isinstance(e, RequestReceived)
        ]
        peer.server.ping(b"12345678")
        _respond_ok(peer.server, first)
        writes = peer.wire.writes
        peer.protocol.data_received(peer.server.data_to_send())
        await peer.wire.wait()
        assert peer.wire.writes == writes + 1
        events = peer.server.receive_data(peer.wire.take())
        assert [e.ping_data for e in events if isinstance(e, PingAckReceived)] == [b"12345678"]
        [second] = [e.stream_id for e in events if isinstance(e, RequestReceived)]
        _respond_ok(peer.server, second)
        peer.protocol.data_received(peer.server.data_to_send())
        assert await calls == VersionResponse(version="1.6.20")

    asyncio.run(scenario())


@_paths
def test_unary_call_with_an_empty_reply(unary_stream: bool) -> None:
    def respond(server: H2Connection, stream_id: int) -> None:
        server.send_headers(stream_id, _OK_HEADERS)
        server.send_data(stream_id, _reply(b""))
        server.send_headers(stream_id, [("grpc-status", "0")], end_stream=True)

    result, _ = asyncio.run(_play(respond, Empty, unary_stream=unary_stream))
    assert result == Empty()


@pytest.mark.parametrize(
    ("respond", "expected"),
    [
        pytest.param(
            lambda server, sid: server.send_headers(
                sid,
                [*_OK_HEADERS, ("grpc-status", "5"), ("grpc-message", "no%20such%20thing")],
                end_stream=True,
            ),
            (Status.NOT_FOUND, "no such thing"),
            id="trailers-only-error",
        ),
        pytest.param(
            lambda server, sid: (
                server.send_headers(sid, [*_OK_HEADERS, ("grpc-status", "9")]),
                server.reset_stream(sid, ErrorCodes.NO_ERROR),
            ),
            (Status.FAILED_PRECONDITION, None),
            id="error-then-reset",
        ),
        pytest.param(
            lambda server, sid: (
                server.send_headers(sid, _OK_HEADERS),
                server.send_data(sid, _reply(b"")),
                server.send_headers(sid, [("grpc-status", "14")], end_stream=True),
            ),
            (Status.UNAVAILABLE, None),
            id="error-in-trailers",
        ),
        pytest.param(
            lambda server, sid: server.send_headers(sid, [(":status", "503")], end_stream=True),
            (Status.UNAVAILABLE, "Received :status = '503'"),
            id="http-error",
        ),
        pytest.param(
            lambda server, sid: (
                server.send_headers(sid, _OK_HEADERS),
                server.send_data(sid, _reply(b"abcdef")[:-2], end_stream=True),
            ),
            (Status.INTERNAL, "the reply message was cut short"),
            id="cut-short",
        ),
        pytest.param(
            lambda server, sid: (
                server.send_headers(sid, _OK_HEADERS),
                server.send_data(sid, b"\0\0\0", end_stream=True),
            ),
            (Status.INTERNAL, "the reply message was cut short"),
            id="cut-short-in-the-prefix",
        ),
        pytest.param(
            lambda server, sid: server.send_headers(
                sid, [*_OK_HEADERS, ("grpc-status", "0")], end_stream=True
            ),
            (Status.UNKNOWN, "the daemon sent no reply message"),
            id="no-message",
        ),
    ],
)
@_paths
def test_unary_call_raises_what_the_reply_says(
    respond: Any, expected: tuple[Status, Any], unary_stream: bool
) -> None:
    result, _ = asyncio.run(_play(respond, unary_stream=unary_stream))
    assert isinstance(result, GRPCError)
    assert (result.status, result.message) == expected


@_paths
def test_unary_call_reset_before_any_status_is_a_terminated_stream(unary_stream: bool) -> None:
    def respond(server: H2Connection, stream_id: int) -> None:
        server.send_headers(stream_id, _OK_HEADERS)
        server.reset_stream(stream_id, ErrorCodes.INTERNAL_ERROR)

    result, _ = asyncio.run(_play(respond, unary_stream=unary_stream))
    assert isinstance(result, StreamTerminatedError)
    assert str(result) == "Stream reset by remote party, error_code: 2"


@_paths
def test_cancelled_unary_call_resets_its_stream(unary_stream: bool) -> None:
    async def scenario() -> None:
        peer = await _open_peer(unary_stream)
        call, stream_id = await _start_call(peer)
        peer.server.send_headers(stream_id, _OK_HEADERS)
        peer.protocol.data_received(peer.server.data_to_send())
        if not unary_stream:
            await peer.wire.wait()  # the client's SETTINGS ACK
            peer.server.receive_data(peer.wire.take())
        await asyncio.sleep(0)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert peer.protocol.processor.streams == {}
        assert peer.protocol._unary == {}  # type: ignore[attr-defined]
        await peer.wire.wait()
        events = peer.server.receive_data(peer.wire.take())
        assert [(type(e), e.error_code) for e in events if isinstance(e, StreamReset)] == [
            (StreamReset, ErrorCodes.CANCEL)
        ]

    asyncio.run(scenario())


async def _send_through(
    protocol: H2Protocol, payload: bytes, cuts: list[int] | None = None
) -> tuple[bytes, tuple[int, int]]:
    """Send `payload` (and the end of the stream) to the h2 server, which acknowledges as it reads.

    With `cuts`, the payload is handed over as parts cut at those offsets (`send_parts`).
    """
    peer = _Peer(protocol, streams=1)
    await peer.open()
    peer.protocol.data_received(peer.server.data_to_send())  # settings, headers
    [stream] = peer.streams
    assert stream.id is not None
    if cuts is None:
        sending = asyncio.create_task(stream.send_data(payload, end_stream=True))
    else:
        assert isinstance(stream, _transport._Stream)
        bounds = [0, *sorted(cuts), len(payload)]
        parts = [memoryview(payload)[a:b] for a, b in itertools.pairwise(bounds)]
        sending = asyncio.create_task(stream.send_parts(parts, end_stream=True))
    received = bytearray()
    ended = False
    async with asyncio.timeout(10):
        while not ended:
            await peer.wire.wait()
            for event in peer.server.receive_data(peer.wire.take()):
                if isinstance(event, DataReceived):
                    received += event.data
                    peer.server.acknowledge_received_data(event.flow_controlled_length, stream.id)
                    ended = event.stream_ended is not None
            peer.protocol.data_received(peer.server.data_to_send())
        await sending
    h2 = peer.protocol.connection._connection
    windows = (h2.outbound_flow_control_window, h2.streams[stream.id].outbound_flow_control_window)
    return bytes(received), windows


@pytest.mark.parametrize("size", [0, 1, 16384, 65535, 200_003])
def test_batched_send_delivers_the_bytes_within_the_windows(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)

    async def scenario() -> None:
        fast, reference = [await _send_through(p, payload) for p in _protocols()]
        # The server's window (64 KiB) is smaller than the payload: sending had
        # to wait for its updates, and both end with the same windows.
        assert fast == reference
        assert fast[0] == payload

    asyncio.run(scenario())


@settings(max_examples=30, deadline=None)
@given(
    size=st.integers(0, 150_000),
    cuts=st.lists(st.integers(0, 150_000), max_size=6),
)
def test_parts_are_sent_as_the_bytes_they_make_up(size: int, cuts: list[int]) -> None:
    payload = bytes(range(256)) * (size // 256) + b"y" * (size % 256)
    cuts = [min(c, size) for c in cuts]  # empty parts included

    async def scenario() -> None:
        received, _ = await _send_through(_protocols()[0], payload, cuts)
        assert received == payload

    asyncio.run(scenario())


# Header blocks: the server's encoder indexes, Huffman-codes and (when its
# table is resized) evicts, so replies reach the client as literals, indexed
# fields and size updates in every mix.
_values = st.text(alphabet="abcxyz019-%", max_size=40)
_replies = st.lists(
    st.tuples(
        st.lists(st.tuples(st.sampled_from(["x-a", "x-b", "grpc-x"]), _values), max_size=3),
        st.sampled_from(["0", "0", "5", "13"]),
        _values,
        st.booleans(),  # trailers only
        st.sampled_from([None, None, None, 0, 64, 4096]),  # resize the server's table first
    ),
    min_size=1,
    max_size=10,
)


async def _header_blocks(
    protocol: H2Protocol, replies: list[Any], cuts: list[int]
) -> list[tuple[Any, Any, bytes]]:
    """Play each reply on a call of its own; what each call's stream received."""
    peer = _Peer(protocol, streams=0)
    seen = []
    for metadata, code, message, trailers_only, table_size in replies:
        stream = protocol.connection.create_stream()
        release = await stream.send_request(_REQUEST, _processor=protocol.processor)
        await peer.wire.wait()
        [opened] = [
            e.stream_id
            for e in peer.server.receive_data(peer.wire.take())
            if isinstance(e, RequestReceived)
        ]
        if table_size is not None:
            peer.server.encoder.header_table_size = table_size
        trailers = [("grpc-status", code), ("grpc-message", message)]
        if trailers_only:
            peer.server.send_headers(opened, [*_OK_HEADERS, *trailers], end_stream=True)
        else:
            peer.server.send_headers(opened, [*_OK_HEADERS, *metadata])
            peer.server.send_data(opened, _reply(b"m"))
            peer.server.send_headers(opened, trailers, end_stream=True)
        peer.feed(peer.server.data_to_send(), cuts)
        async with asyncio.timeout(5):
            data = await stream.recv_data(6 if not trailers_only else 1)
            assert await stream.recv_data(1) == b""
        seen.append((stream.headers, stream.trailers, data))
        release()
    return seen


@settings(max_examples=60, deadline=None)
@given(replies=_replies, cuts=st.lists(st.integers(1, 60), max_size=20))
def test_header_blocks_reach_the_streams_as_through_h2(replies: list[Any], cuts: list[int]) -> None:
    async def scenario() -> list[list[tuple[Any, Any, bytes]]]:
        return [await _header_blocks(p, replies, cuts) for p in _protocols()]

    fast, reference = asyncio.run(scenario())
    assert fast == reference
    for (headers, trailers, data), (metadata, code, message, trailers_only, _) in zip(
        fast, replies, strict=True
    ):
        expected = [("grpc-status", code), ("grpc-message", message)]
        if trailers_only:
            assert (headers, trailers, data) == ([*_OK_HEADERS, *expected], None, b"")
        else:
            assert (headers, trailers, data) == ([*_OK_HEADERS, *metadata], expected, _reply(b"m"))


@pytest.mark.parametrize("protocol_index", [0, 1])
def test_a_bad_header_block_ends_the_connection(protocol_index: int) -> None:
    async def scenario() -> None:
        protocol = _protocols()[protocol_index]
        peer = _Peer(protocol, streams=0)
        termination = _transport._Termination()
        stream = protocol.connection.create_stream(wrapper=termination)  # type: ignore[arg-type]
        await stream.send_request(_REQUEST, _processor=protocol.processor)
        await peer.wire.wait()
        peer.server.receive_data(peer.wire.take())
        peer.server.send_headers(stream.id, _OK_HEADERS)
        protocol.data_received(peer.server.data_to_send())
        # An indexed field naming a table entry that does not exist.
        protocol.data_received(
            _transport._FRAME_HEADER.pack(0, 1, 0x1, 0x4 | 0x1, stream.id) + b"\xfe"
        )
        assert protocol.connection._connection.state_machine.state is ConnectionState.CLOSED
        assert peer.wire.closed
        assert isinstance(termination.error, StreamTerminatedError)

    asyncio.run(scenario())


def _connected(fast: bool, max_streams: int | None = None) -> tuple[H2Connection, H2Connection]:
    client = H2Connection(_client_h2_config())
    client.initiate_connection()
    if fast:
        _transport._adopt(client)
    server = H2Connection(H2Configuration(client_side=False))
    server.initiate_connection()
    if max_streams is not None:
        server.update_settings({SettingCodes.MAX_CONCURRENT_STREAMS: max_streams})
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())
    return client, server


@settings(max_examples=40, deadline=None)
@given(
    extra=st.lists(
        st.tuples(
            st.sampled_from(["containerd-namespace", "containerd-lease", "grpc-timeout", "x-y"]),
            st.text(alphabet="abcé-9", max_size=20) | st.just("v" * 12_000),
        ),
        max_size=4,
    ),
    end_stream=st.booleans(),
)
def test_request_headers_reach_the_server_as_h2_sends_them(
    extra: list[tuple[str, str]], end_stream: bool
) -> None:
    headers = [*_REQUEST, *extra]
    results = []
    for fast in (True, False):
        client, server = _connected(fast)
        seen = []
        for _ in range(3):  # fields encoded once are sent again as they were
            stream_id = client.get_next_available_stream_id()
            client.send_headers(stream_id, headers, end_stream=end_stream)
            [request] = [
                e
                for e in server.receive_data(client.data_to_send())
                if isinstance(e, RequestReceived)
            ]
            stream = client.streams[stream_id]
            seen.append(
                (request.headers, request.stream_ended is not None, stream.state_machine.state)
            )
        results.append(seen)
    fast_seen, reference_seen = results
    assert fast_seen == reference_seen
    encoded = [(n.encode(), v.encode()) for n, v in headers]
    assert [s[0] for s in fast_seen] == [encoded] * 3


@pytest.mark.parametrize("fast", [True, False])
def test_streams_past_the_servers_limit_are_refused(fast: bool) -> None:
    client, _ = _connected(fast, max_streams=2)
    for _ in range(2):
        client.send_headers(client.get_next_available_stream_id(), _REQUEST)
    with pytest.raises(TooManyStreamsError):
        client.send_headers(client.get_next_available_stream_id(), _REQUEST)


async def _control(protocol: H2Protocol, frames: bytes) -> tuple[Any, ...]:
    """Feed control frames after the handshake; what the client answered and its state."""
    peer = _Peer(protocol, streams=1)
    await peer.open()
    protocol.data_received(peer.server.data_to_send())
    await peer.wire.wait()
    peer.server.receive_data(peer.wire.take())
    h2 = protocol.connection._connection
    before = h2.outbound_flow_control_window
    [stream] = peer.streams
    stream.window_updated.clear()
    protocol.data_received(frames)
    await asyncio.sleep(0.01)  # the coalesced writes
    answers = [
        (type(e).__name__, getattr(e, "ping_data", None), getattr(e, "error_code", None))
        for e in peer.server.receive_data(peer.wire.take())
    ]
    return (
        answers,
        h2.outbound_flow_control_window - before,
        stream.window_updated.is_set(),
        h2.state_machine.state,
    )


def _frame(kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    return _transport._FRAME_HEADER.pack(0, len(payload), kind, flags, stream_id) + payload


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param(_frame(0x6, 0, 0, b"12345678"), id="ping"),
        pytest.param(_frame(0x6, 0, 0, b"a" * 8) + _frame(0x6, 0, 0, b"b" * 8), id="two-pings"),
        pytest.param(_frame(0x6, 0x1, 0, b"12345678"), id="ping-ack"),
        pytest.param(_frame(0x6, 0, 0, b"1234"), id="short-ping"),
        pytest.param(_frame(0x8, 0, 0, (1000).to_bytes(4)), id="window-update"),
        pytest.param(_frame(0x8, 0, 0, (0).to_bytes(4)), id="zero-window-update"),
        pytest.param(_frame(0x8, 0, 0, (2**31 - 1).to_bytes(4)), id="window-overflow"),
        pytest.param(_frame(0x8, 0, 1, (1000).to_bytes(4)), id="stream-window-update"),
    ],
)
def test_control_frames_are_answered_as_h2_answers_them(frames: bytes) -> None:
    async def scenario() -> list[tuple[Any, ...]]:
        return [await _control(p, frames) for p in _protocols()]

    fast, reference = asyncio.run(scenario())
    assert fast == reference


# -- unary calls on `_UnaryStream`s: what h2 would have checked and done ----------


def test_unary_stream_takes_a_reply_larger_than_its_windows() -> None:
    body = bytes(VersionResponse(version="v" * (5 << 20)))  # past both 4 MiB windows

    async def scenario() -> None:
        peer = await _open_peer(True)
        call, sid = await _start_call(peer)
        assert _path_of(peer, sid)
        server = peer.server
        server.send_headers(sid, _OK_HEADERS)
        data = _reply(body)
        pos = 0
        async with asyncio.timeout(10):
            while pos < len(data):
                while n := min(
                    server.local_flow_control_window(sid),
                    server.max_outbound_frame_size,
                    len(data) - pos,
                ):
                    server.send_data(sid, data[pos : pos + n])
                    pos += n
                peer.protocol.data_received(server.data_to_send())
                if pos < len(data):  # the client's window updates let the rest through
                    await peer.wire.wait()
                    server.receive_data(peer.wire.take())
        server.send_headers(sid, [("grpc-status", "0")], end_stream=True)
        peer.protocol.data_received(server.data_to_send())
        assert await call == VersionResponse(version="v" * (5 << 20))

    asyncio.run(scenario())


def test_frames_after_a_cancelled_unary_call_are_dropped() -> None:
    async def scenario() -> None:
        peer = await _open_peer(True)
        protocol = peer.protocol
        assert isinstance(protocol, _transport._Protocol)
        call, sid = await _start_call(peer)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await peer.wire.wait()
        assert peer.wire.take() == _frame(0x3, 0, sid, ErrorCodes.CANCEL.to_bytes(4))
        # The daemon answered before it saw the reset; the trailers add an
        # entry to the HPACK table that the next call's trailers refer to.
        peer.server.send_headers(sid, _OK_HEADERS)
        peer.server.send_data(sid, _reply(b""))
        peer.server.send_headers(
            sid, [("grpc-status", "0"), ("grpc-message", "late")], end_stream=True
        )
        late = peer.server.data_to_send()
        assert sid in protocol._abandoned
        protocol.data_received(late)
        assert protocol._abandoned == {}  # its END_STREAM came: forgotten
        assert protocol._h2.state_machine.state is ConnectionState.CLIENT_OPEN
        call, sid = await _start_call(peer)
        assert _path_of(peer, sid)
        peer.server.send_headers(
            sid, [*_OK_HEADERS, ("grpc-status", "5"), ("grpc-message", "late")], end_stream=True
        )
        protocol.data_received(peer.server.data_to_send())
        with pytest.raises(GRPCError) as caught:
            await call
        assert (caught.value.status, caught.value.message) == (Status.NOT_FOUND, "late")

    asyncio.run(scenario())


def test_abandoned_streams_are_remembered_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_transport, "_ABANDONED_KEPT", 2)

    async def scenario() -> None:
        peer = await _open_peer(True)
        ids = []
        for _ in range(3):
            call, sid = await _start_call(peer)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            ids.append(sid)
        assert list(peer.protocol._abandoned) == ids[1:]  # type: ignore[attr-defined]

    asyncio.run(scenario())


@_paths
def test_unary_call_reads_a_header_block_of_several_frames(unary_stream: bool) -> None:
    message = "m" * 40_000  # over one 16 KiB frame, Huffman-coded or not

    def respond(server: H2Connection, stream_id: int) -> None:
        server.send_headers(
            stream_id,
            [*_OK_HEADERS, ("grpc-status", "5"), ("grpc-message", message)],
            end_stream=True,
        )

    result, _ = asyncio.run(_play(respond, unary_stream=unary_stream))
    assert isinstance(result, GRPCError)
    assert (result.status, result.message) == (Status.NOT_FOUND, message)


def test_unary_stream_reads_padded_and_prioritised_frames() -> None:
    async def scenario() -> None:
        peer = await _open_peer(True)
        call, sid = await _start_call(peer)
        encoder = peer.server.encoder  # h2 sends neither: the frames are built here
        reply = _reply(bytes(VersionResponse(version="padded")))
        peer.protocol.data_received(
            _frame(0x1, 0x4 | 0x8, sid, b"\x03" + encoder.encode(_OK_HEADERS) + b"\0" * 3)
            + _frame(0x0, 0x8, sid, b"\x05" + reply[:3] + b"\0" * 5)  # the prefix, split
            + _frame(0x0, 0x0, sid, reply[3:])
            + _frame(0x2, 0x0, sid, b"\0\0\0\0\x0f")  # PRIORITY: nothing to do
            + _frame(0x8, 0x0, sid, (100).to_bytes(4))  # a stream WINDOW_UPDATE: likewise
            + _frame(
                0x1, 0x4 | 0x20 | 0x1, sid, b"\0\0\0\0\x0f" + encoder.encode([("grpc-status", "0")])
            )
        )
        assert await call == VersionResponse(version="padded")

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(lambda sid: _frame(0x0, 0x8, sid, b"\x09abc"), id="padding-past-the-frame"),
        pytest.param(lambda sid: _frame(0x9, 0x4, sid, b"\x88"), id="continuation-of-nothing"),
        pytest.param(lambda sid: _frame(0x3, 0x0, sid, b"\0\0"), id="short-reset"),
        pytest.param(lambda sid: _frame(0x1, 0x4, sid, b"\xff\xff\xff\x7f"), id="bad-hpack"),
    ],
)
def test_a_bad_frame_on_a_unary_stream_ends_the_connection(frame: Any) -> None:
    async def scenario() -> None:
        peer = await _open_peer(True)
        call, sid = await _start_call(peer)
        peer.protocol.data_received(frame(sid))
        with pytest.raises(StreamTerminatedError):
            await call
        assert peer.protocol._h2.state_machine.state is ConnectionState.CLOSED  # type: ignore[attr-defined]
        assert peer.wire.closed
        events = peer.server.receive_data(peer.wire.take())
        assert [type(e).__name__ for e in events][-1] == "ConnectionTerminated"

    asyncio.run(scenario())


def test_a_unary_reply_over_the_connection_window_ends_the_connection() -> None:
    async def scenario() -> None:
        peer = await _open_peer(True)
        protocol = peer.protocol
        assert isinstance(protocol, _transport._Protocol)
        call, sid = await _start_call(peer)
        window = protocol._h2._inbound_flow_control_window_manager
        window.current_window_size = 10  # as if the daemon had sent all but 10 bytes
        protocol.data_received(
            _frame(0x1, 0x4, sid, peer.server.encoder.encode(_OK_HEADERS))
            + _frame(0x0, 0x0, sid, b"x" * 100)
        )
        with pytest.raises(StreamTerminatedError):
            await call
        events = peer.server.receive_data(peer.wire.take())
        [ended] = [e for e in events if type(e).__name__ == "ConnectionTerminated"]
        assert ended.error_code == ErrorCodes.FLOW_CONTROL_ERROR  # type: ignore[attr-defined]

    asyncio.run(scenario())


def test_unary_and_grpclib_streams_share_the_connection() -> None:
    async def scenario() -> None:
        peer = await _open_peer(True)
        server = peer.server
        call, sid = await _start_call(peer)
        assert _path_of(peer, sid)
        other = peer.protocol.connection.create_stream()  # a streaming call opens meanwhile
        await other.send_request(_REQUEST, _processor=peer.protocol.processor)
        await peer.wire.wait()
        [other_id] = [
            e.stream_id
            for e in server.receive_data(peer.wire.take())
            if isinstance(e, RequestReceived)
        ]
        assert other_id == sid + 2
        server.send_headers(other_id, _OK_HEADERS)
        server.send_headers(sid, _OK_HEADERS)
        server.send_data(other_id, b"abc")
        server.send_data(sid, _reply(bytes(VersionResponse(version="u"))))
        server.send_headers(sid, [("grpc-status", "0")], end_stream=True)
        server.send_headers(other_id, [("grpc-status", "0")], end_stream=True)
        peer.protocol.data_received(server.data_to_send())
        assert await call == VersionResponse(version="u")
        assert await other.recv_data(3) == b"abc"
        call, sid = await _start_call(peer)
        assert sid == other_id + 2
        _respond_ok(server, sid)
        peer.protocol.data_received(server.data_to_send())
        assert await call == VersionResponse(version="1.6.20")

    asyncio.run(scenario())


@pytest.mark.parametrize("how", ["lost", "goaway"])
def test_pending_unary_calls_fail_when_the_connection_ends(how: str) -> None:
    async def scenario() -> None:
        peer = await _open_peer(True)
        call, sid = await _start_call(peer)
        assert _path_of(peer, sid)
        if how == "lost":
            peer.protocol.connection_lost(None)
        else:
            peer.server.close_connection()
            peer.protocol.data_received(peer.server.data_to_send())
        with pytest.raises(StreamTerminatedError):
            await call
        assert peer.protocol._unary == {}  # type: ignore[attr-defined]

    asyncio.run(scenario())


def test_a_request_over_the_send_window_runs_on_grpclib_stream() -> None:
    request = VersionResponse(version="r" * 100_000)  # past the server's 64 KiB window

    async def scenario() -> None:
        peer = await _open_peer(True)
        server = peer.server
        headers = [*_REQUEST, ("containerd-namespace", "t")]
        call = asyncio.create_task(
            _transport._unary_call(_Channel(peer.protocol), headers, request, VersionResponse)  # type: ignore[arg-type]
        )
        received = bytearray()
        sid = 0
        async with asyncio.timeout(10):
            while not received or len(received) < len(_reply(bytes(request))):
                await peer.wire.wait()
                for event in server.receive_data(peer.wire.take()):
                    if isinstance(event, RequestReceived):
                        sid = event.stream_id
                        assert not _path_of(peer, sid)
                    elif isinstance(event, DataReceived):
                        received += event.data
                        server.acknowledge_received_data(event.flow_controlled_length, sid)
                peer.protocol.data_received(server.data_to_send())
        assert bytes(received) == _reply(bytes(request))
        _respond_ok(server, sid)
        peer.protocol.data_received(server.data_to_send())
        assert await call == VersionResponse(version="1.6.20")

    asyncio.run(scenario())
