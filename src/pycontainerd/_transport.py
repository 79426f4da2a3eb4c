"""The single door to the daemon.

Everything that reaches containerd goes through `Transport` (one grpclib
channel per client) and a `Caller` (a transport bound to a namespace and,
optionally, a lease). This module owns:

* address parsing (unix socket path, ``unix://`` URL, ``host:port``),
* request metadata (``containerd-namespace``, ``containerd-lease``): grpclib
  replaces rather than merges per-call metadata, so it is built here whole,
* deadlines (a client-wide default with a per-call override),
* the mapping of every transport and gRPC failure to `pycontainerd.errors`,
* the fix for grpclib's missing ``Task.uncancel()`` (see `_restore_cancelling`),
* speed-ups under grpclib, each checked against h2 itself in
  ``tests/test_transport_wire.py``: coalesced writes, unary calls on streams
  run beside h2 and grpclib (`_UnaryStream`), received DATA and HEADERS
  frames taken past h2's frame machinery (`_Protocol`), a call's HEADERS
  sent without it (`_H2Connection`), header blocks decoded once
  (`_Decoder`), and a message's DATA frames sent in one batch (`_Stream`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import struct
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, Final, TypeVar, cast

import betterproto
from betterproto.lib.google.protobuf import Empty
from grpclib.client import Channel, Handler, Stream
from grpclib.const import Cardinality, Status
from grpclib.encoding.base import GRPC_CONTENT_TYPE
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError
from grpclib.metadata import USER_AGENT, decode_grpc_message, encode_timeout
from grpclib.protocol import Buffer, Connection, H2Protocol
from grpclib.protocol import Stream as ProtocolStream
from grpclib.utils import Wrapper
from h2.connection import (
    AllowedStreamIDs,
    ConnectionInputs,
    ConnectionState,
    H2Connection,
    _decode_headers,
)
from h2.errors import ErrorCodes
from h2.events import WindowUpdated
from h2.exceptions import ProtocolError as H2ProtocolError
from h2.exceptions import TooManyStreamsError
from h2.stream import StreamInputs, StreamState
from h2.windows import WindowManager
from hpack import Decoder
from hpack.exceptions import HPACKError
from hpack.hpack import encode_integer

from . import errors
from ._codec import FastProtoCodec, encode

__all__ = [
    "DEFAULT",
    "Caller",
    "Default",
    "Timeout",
    "Transport",
    "ViewBuffer",
    "divert",
    "parse_address",
    "recv_message",
    "send_parts",
    "wait_on",
]

DEFAULT_ADDRESS: Final = "/run/containerd/containerd.sock"

# HTTP/2 frame header: 24-bit length (as 16 + 8 bits), type, flags, stream id.
_FRAME_HEADER: Final = struct.Struct(">HBBBL")
_STREAM_ID_MASK: Final = 0x7FFFFFFF
_DATA: Final = 0x0
_HEADERS: Final = 0x1
_RST_STREAM: Final = 0x3
_PING: Final = 0x6
_WINDOW_UPDATE: Final = 0x8
_CONTINUATION: Final = 0x9
_TAKEN: Final = frozenset((_HEADERS, _PING, _WINDOW_UPDATE))  # see `_Protocol._take`
_ACK: Final = 0x1
_MAX_WINDOW: Final = 2**31 - 1
_END_STREAM: Final = 0x1
_END_HEADERS: Final = 0x4
_PADDED: Final = 0x8
_PRIORITY: Final = 0x20
_NOT_PLAIN: Final = _END_STREAM | _PADDED
_PADDED_OR_PRIORITY: Final = _PADDED | _PRIORITY
# Unary streams kept after their call was cancelled, so that frames the
# daemon sent before it saw the reset are still recognised (and dropped).
_ABANDONED_KEPT: Final = 1024
# gRPC message prefix: compressed flag, length.
_PREFIX: Final = struct.Struct(">?L")


def _frame_header(length: int, kind: int, flags: int, stream_id: int) -> bytes:
    """The 9-byte header of an HTTP/2 frame whose payload is `length` bytes."""
    return _FRAME_HEADER.pack(length >> 8, length & 0xFF, kind, flags, stream_id)


_EMPTY: Final = Empty()
_Req = TypeVar("_Req", bound=betterproto.Message)
_Rep = TypeVar("_Rep", bound=betterproto.Message)


class Default(enum.Enum):
    """Sentinel type for "use the client's default timeout"."""

    DEFAULT = "DEFAULT"


DEFAULT: Final = Default.DEFAULT
Timeout = float | None | Default


def parse_address(address: str) -> tuple[str | None, int | None, str | None]:
    """Split an address into ``(host, port, path)`` for grpclib's `Channel`.

    Accepts a socket path (``/run/containerd/containerd.sock``), a
    ``unix://`` URL, ``host:port`` or ``tcp://host:port``.

    Raises:
        ValueError: the address is empty or its port is not a number.
    """
    if not address:
        raise ValueError("empty containerd address")
    if address.startswith("unix://"):
        return None, None, address[len("unix://") :]
    if address.startswith("/") or address.startswith("."):
        return None, None, address
    rest = address.removeprefix("tcp://")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"containerd address {address!r} is neither a socket path nor host:port")
    return host.strip("[]") or "localhost", int(port), None


def _restore_cancelling(task: asyncio.Task[Any] | None, before: int) -> None:
    """Undo the cancellation requests grpclib made on `task` to wake it up.

    grpclib wakes a task blocked on a stream (reset, error trailers, deadline)
    by calling ``task.cancel()`` and then raises its own error in place of
    the ``CancelledError``. It never calls ``task.uncancel()``, so on Python
    >= 3.11 the task's cancellation count stays raised: an anyio task group or
    ``asyncio.timeout`` then takes the task for cancelled and turns the next
    checkpoint into a stray ``CancelledError``. Called only where grpclib's
    error was caught, so the extra requests are grpclib's own.
    """
    if task is not None:
        while task.cancelling() > before:
            task.uncancel()


class _Decoder(Decoder):
    """h2's HPACK decoder, remembering the header blocks that only name table entries.

    Once a connection is warm, grpc-go sends a reply's headers and its
    trailers as one or two indexed fields, a byte each. Decoding such a block
    changes neither table, so its result holds until a block that may change
    the dynamic table (a literal, a size update) is decoded: the cache is
    emptied then. Every block h2 decodes comes through here, so the cache
    follows the table exactly.
    """

    _cache: dict[bytes, list[Any]]
    _CACHE_SIZE: Final = 64

    def decode(self, data: bytes, raw: bool = False) -> Any:
        if raw:
            found = self._cache.get(data)
            if found is not None:
                return list(found)
        headers = super().decode(data, raw)
        # Bytes of 0x80..0xFE are each a whole indexed field (0xFF starts a longer index).
        if data and min(data) >= 0x80 and 0xFF not in data:
            if raw and len(self._cache) < self._CACHE_SIZE:
                self._cache[data] = list(headers)
        else:
            self._cache.clear()
        return headers


class _H2Connection(H2Connection):
    """h2's connection, opening a call's stream without HPACK state or frame objects.

    grpclib opens every call with ``send_headers`` on a new stream, where h2
    builds, checks and serialises frame objects and runs its stateful HPACK
    encoder. Here the same checks and state transitions are made, and the
    header block is written as literals without indexing (RFC 7541, 6.2.2): such a block
    depends on the headers alone (each field is encoded once and kept) and
    leaves the daemon's decoder table as it was, so h2's encoder stays right
    for whatever still goes through it. A block that needs more than one
    frame, priorities, a pending table size update or an existing stream
    take h2's own path.
    """

    _fields: dict[tuple[str, str], bytes]
    _FIELDS_KEPT: Final = 1024

    def send_headers(
        self,
        stream_id: int,
        headers: Any,
        end_stream: bool = False,
        priority_weight: int | None = None,
        priority_depends_on: int | None = None,
        priority_exclusive: bool | None = None,
    ) -> None:
        if (
            stream_id in self.streams
            or priority_weight is not None
            or priority_depends_on is not None
            or priority_exclusive is not None
            or self.encoder.header_table.resized
            or self.state_machine.state is not ConnectionState.CLIENT_OPEN
        ):
            super().send_headers(
                stream_id,
                headers,
                end_stream,
                priority_weight,
                priority_depends_on,
                priority_exclusive,
            )
            return
        block = self._literal_block(headers)
        if len(block) > self.max_outbound_frame_size:
            super().send_headers(stream_id, headers, end_stream)
            return
        limit = self.remote_settings.max_concurrent_streams
        opened = self.open_outbound_streams
        if opened + 1 > limit:
            raise TooManyStreamsError(f"Max outbound streams is {limit}, {opened} open")
        self.state_machine.process_input(ConnectionInputs.SEND_HEADERS)
        stream = self._get_or_create_stream(stream_id, AllowedStreamIDs.ODD)
        stream.state_machine.process_input(StreamInputs.SEND_HEADERS)
        flags = _END_HEADERS
        if end_stream:
            stream.state_machine.process_input(StreamInputs.SEND_END_STREAM)
            flags |= _END_STREAM
        for name, value in headers:
            if name == ":authority":
                stream._authority = value.encode()
            elif name == ":method":
                stream.request_method = value.encode()
        size = len(block)
        self._data_to_send += _frame_header(size, _HEADERS, flags, stream_id) + block

    def _literal_block(self, headers: list[tuple[str, str]]) -> bytes:
        fields = self._fields
        parts = []
        for header in headers:
            field = fields.get(header)
            if field is None:
                if len(fields) >= self._FIELDS_KEPT:
                    fields.clear()
                name, value = header[0].encode(), header[1].encode()
                # Literal header field without indexing, new name (RFC 7541, 6.2.2).
                field = fields[header] = b"".join(
                    (
                        b"\x00",
                        encode_integer(len(name), 7),
                        name,
                        encode_integer(len(value), 7),
                        value,
                    )
                )
            parts.append(field)
        return b"".join(parts)


def _adopt(h2: H2Connection) -> None:
    """Give a configured h2 connection the faster `send_headers` and HPACK decoder.

    grpclib makes and configures the connection (and h2 its decoder) inline,
    so their classes are switched in place, their state kept.
    """
    h2.__class__ = _H2Connection
    h2._fields = {}  # type: ignore[attr-defined]
    h2.decoder.__class__ = _Decoder
    h2.decoder._cache = {}  # type: ignore[attr-defined]


class _CoalescingTransport:
    """Sends the bytes written during one turn of the event loop in a single syscall.

    grpclib writes the HEADERS and DATA frames of a request (and its flow
    control updates) separately, each a ``send()`` that wakes the daemon; on a
    unary call that is most of the client's cost. Writes are held until the
    callbacks that were ready when the first one came have run.

    The read that brings a reply usually brings a PING too (grpc-go's
    bandwidth estimator pings on every request it receives), ahead of the
    reply. Its answer is held one turn longer (`write_soon`): the reply's
    caller wakes in the turn after the read, and its next request then leaves
    with the answer in one ``send()``, where answering at once cost a send
    and a daemon wake-up per call.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(data)

    def write_soon(self, data: bytes) -> None:
        """`write`, but sent a loop turn later, with whatever is written meanwhile."""
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._schedule_flush)
        self._pending.append(data)

    def _schedule_flush(self) -> None:
        asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _UnaryStream:
    """One unary call's HTTP/2 stream, run by `_Protocol` beside h2 and grpclib.

    A unary call sends one small request and reads one reply: h2's stream
    objects and grpclib's stream, events and buffers cost more CPU than the
    daemon spends on most calls. `_Protocol.open_unary` opens the stream
    with the next stream id h2 would use, and every frame of it is taken
    before h2 sees the bytes (h2 never knows the stream), with the
    connection's flow control charged and credited in h2's own window
    manager. `done` resolves when the reply ended, was reset or the
    connection went.
    """

    __slots__ = ("data", "done", "error", "headers", "id", "trailers", "unacked")

    def __init__(self, stream_id: int, done: asyncio.Future[None]) -> None:
        self.id = stream_id
        self.done = done
        self.headers: list[tuple[str, str]] | None = None
        self.trailers: list[tuple[str, str]] | None = None
        self.data: list[bytes] = []
        self.unacked = 0  # stream window credit not yet given back
        self.error: StreamTerminatedError | None = None

    def fail(self, reason: str) -> None:
        if self.error is None and self.trailers is None:
            self.error = StreamTerminatedError(reason)
        if not self.done.done():
            self.done.set_result(None)


class _Stream(ProtocolStream):
    """grpclib's HTTP/2 stream, sending a message's DATA frames in one batch.

    grpclib hands h2 one 16 KiB frame at a time (h2 builds, checks and copies
    each, and each is a transport write), then ends the stream with an empty
    frame of its own: most of the client's CPU when writing a blob, and a
    good part of a small call's. While the stream and the connection are
    open this sends as much as the flow-control windows allow as a run of
    plain DATA frames built here, charging h2's outbound windows and making
    the end-of-stream transition as h2 itself would, with END_STREAM on the
    last frame. In any other state grpclib's own path runs (and raises).
    """

    async def send_data(self, data: bytes, end_stream: bool = False) -> None:
        await self.send_parts([data], end_stream)

    async def send_parts(
        self, parts: Sequence[bytes | memoryview], end_stream: bool = False
    ) -> None:
        """`send_data` of the bytes of `parts`, one after another, copied once."""
        assert self.id is not None
        h2 = self._h2_connection
        pos, end = 0, sum(len(part) for part in parts)
        while pos < end or end_stream:
            await self.connection.write_ready.wait()
            stream = h2.streams.get(self.id)
            if (
                stream is None
                or stream.state_machine.state is not StreamState.OPEN
                or h2.state_machine.state is not ConnectionState.CLIENT_OPEN
            ):
                await super().send_data(b"".join(_slices(parts, pos, end)), end_stream)
                return
            window = min(h2.outbound_flow_control_window, stream.outbound_flow_control_window)
            if window <= 0 and pos < end:
                self.window_updated.clear()
                await self.window_updated.wait()
                continue
            stop = pos + min(window, end - pos)
            size = stop - pos
            ending = end_stream and stop == end
            if ending:
                stream.state_machine.process_input(StreamInputs.SEND_END_STREAM)
            frames = _data_frames(self.id, parts, pos, stop, h2.max_outbound_frame_size, ending)
            h2.outbound_flow_control_window -= size
            stream.outbound_flow_control_window -= size
            self._transport.write(b"".join([h2.data_to_send(), *frames]))
            pos = stop
            self.data_sent += size
            self.connection.data_sent += size
            self.connection.data_send_process()
            if ending:
                return


def _data_frames(
    stream_id: int,
    parts: Sequence[bytes | memoryview],
    start: int,
    stop: int,
    frame: int,
    end_stream: bool,
) -> list[bytes | memoryview]:
    """DATA frames of at most `frame` bytes carrying bytes `start:stop` of `parts`.

    With `end_stream` the last frame carries END_STREAM; with no bytes to
    carry, that is one empty frame.
    """
    out: list[bytes | memoryview] = []
    starts = range(start, stop, frame) or range(start, start + 1)
    last = starts[-1]
    for begin in starts:
        n = min(frame, stop - begin)
        flags = _END_STREAM if end_stream and begin == last else 0
        out.append(_frame_header(n, _DATA, flags, stream_id))
        out += _slices(parts, begin, begin + n)
    return out


def _slices(parts: Sequence[bytes | memoryview], start: int, stop: int) -> list[memoryview]:
    """Views of the bytes `start:stop` of `parts` taken end to end."""
    found = []
    offset = 0
    for part in parts:
        size = len(part)
        if offset + size > start:
            found.append(memoryview(part)[max(start - offset, 0) : stop - offset])
        offset += size
        if offset >= stop:
            break
    return found


def _unpadded(payload: memoryview) -> memoryview | None:
    """A PADDED frame's payload without its pad length and padding; None if they overrun it."""
    if not payload or payload[0] >= len(payload):
        return None
    return payload[1 : len(payload) - payload[0]]


class _Connection(Connection):
    """grpclib's connection state, making `_Stream`s."""

    def create_stream(
        self, *, stream_id: int | None = None, wrapper: Wrapper | None = None
    ) -> ProtocolStream:
        return _Stream(
            self, self._connection, self._transport, stream_id=stream_id, wrapper=wrapper
        )


class _Protocol(H2Protocol):
    """grpclib's HTTP/2 protocol, with writes coalesced and a fast path for DATA frames.

    h2 turns every received frame into events through its frame parser and
    its connection and stream state machines: ~20 us per frame, and containerd
    (grpc-go) sends at most 16 KiB per DATA frame, so a 64 MiB blob is 4096 of
    them and an event burst one per event. `data_received` cuts the bytes into
    frames itself and hands a DATA frame straight to its grpclib stream's
    buffer when h2 would do nothing but count it: the connection is open, the
    stream is open with its response headers in, the frame has no padding and
    does not end the stream, and it fits both flow-control windows (charged
    here exactly as h2 charges them, so h2's window updates stay right). The
    DATA frames of one stream that arrive in one read become one buffer entry,
    so the reader acknowledges and joins them once. Every other frame (and any
    DATA frame that fails a check) goes to h2 whole and in order; a partial
    frame at the end of a read waits for the next one.

    It also runs the unary calls' `_UnaryStream`s (`open_unary`): their
    frames are taken in the same pass, after the frames before them went to
    h2, so the shared HPACK decoder sees every header block in order.
    """

    _tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._writer = _CoalescingTransport(transport)  # type: ignore[arg-type]
        super().connection_made(self._writer)  # type: ignore[arg-type]
        self._h2 = self.connection._connection
        # grpclib builds its Connection inline; only its stream factory changes.
        self.connection.__class__ = _Connection
        _adopt(self._h2)
        self._unary: dict[int, _UnaryStream] = {}
        # Cancelled unary streams whose late frames are still to be dropped
        # (insertion-ordered: the oldest are forgotten first).
        self._abandoned: dict[int, None] = {}
        # A unary stream's header block awaiting CONTINUATION frames:
        # (stream id, fragments, END_STREAM).
        self._block: tuple[int, list[bytes], bool] | None = None

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self._end_unary("Connection lost")

    def _end_unary(self, reason: str) -> None:
        """Fail every open unary stream: the connection is gone or going."""
        streams = list(self._unary.values())
        self._unary.clear()
        self._abandoned.clear()
        for stream in streams:
            stream.fail(reason)

    def open_unary(self, headers: list[tuple[str, str]], message: bytes) -> _UnaryStream | None:
        """Send a unary request on a new `_UnaryStream`; None to leave the call to grpclib.

        Only the plain case is taken: an open connection, a header block of
        one frame, a request within both send windows, a stream to spare.
        """
        h2 = self._h2
        if (
            h2.state_machine.state is not ConnectionState.CLIENT_OPEN
            or self.connection.is_closing()
            or h2.encoder.header_table.resized
        ):
            return None
        block = h2._literal_block(headers)  # type: ignore[attr-defined]
        size = len(message)
        remote = h2.remote_settings
        if (
            len(block) > h2.max_outbound_frame_size
            or size > h2.outbound_flow_control_window
            or size > remote.initial_window_size
            or len(self._unary) + len(h2.streams) >= remote.max_concurrent_streams
        ):
            return None
        stream_id = h2.get_next_available_stream_id()
        h2.highest_outbound_stream_id = stream_id  # h2 opens its next stream after it
        h2.outbound_flow_control_window -= size
        frames = _data_frames(stream_id, [message], 0, size, h2.max_outbound_frame_size, True)
        self._writer.write(
            b"".join(
                [
                    h2.data_to_send(),
                    _frame_header(len(block), _HEADERS, _END_HEADERS, stream_id),
                    block,
                    *frames,
                ]
            )
        )
        stream = _UnaryStream(stream_id, asyncio.get_running_loop().create_future())
        self._unary[stream_id] = stream
        return stream

    def abandon(self, stream: _UnaryStream) -> None:
        """Reset a unary stream whose caller stopped waiting (nothing if it ended)."""
        if self._unary.pop(stream.id, None) is None:
            return
        if not self.connection.is_closing():
            self._writer.write(
                _frame_header(4, _RST_STREAM, 0, stream.id) + ErrorCodes.CANCEL.to_bytes(4)
            )
        self._abandoned[stream.id] = None
        if len(self._abandoned) > _ABANDONED_KEPT:
            del self._abandoned[next(iter(self._abandoned))]

    def _unary_frame(self, kind: int, flags: int, stream_id: int, payload: memoryview) -> bool:
        """Take a frame of a unary stream (or of the header block in progress).

        False when it ended the connection (a protocol, flow-control or
        compression error, as h2 would find it).
        """
        if self._block is not None and (kind != _CONTINUATION or stream_id != self._block[0]):
            return self._protocol_error(ErrorCodes.PROTOCOL_ERROR)
        if len(payload) > self._h2.max_inbound_frame_size:
            return self._protocol_error(ErrorCodes.FRAME_SIZE_ERROR)
        stream = self._unary.get(stream_id)
        if kind == _DATA:
            return self._unary_data(stream, stream_id, flags, payload)
        if kind == _HEADERS or kind == _CONTINUATION:
            return self._unary_headers(stream, stream_id, kind, flags, payload)
        if kind == _RST_STREAM:
            if len(payload) != 4:
                return self._protocol_error(ErrorCodes.FRAME_SIZE_ERROR)
            self._finish(stream_id)
            if stream is not None:
                code = int.from_bytes(payload)
                stream.fail(f"Stream reset by remote party, error_code: {code}")
        # WINDOW_UPDATE and PRIORITY change nothing for a stream that sent
        # all it had; frames of unknown types are ignored (RFC 9113, 4.1).
        return True

    def _unary_data(
        self, stream: _UnaryStream | None, stream_id: int, flags: int, payload: memoryview
    ) -> bool:
        size = len(payload)
        conn_window = self._h2._inbound_flow_control_window_manager
        if size > conn_window.current_window_size:
            return self._protocol_error(ErrorCodes.FLOW_CONTROL_ERROR)
        conn_window.window_consumed(size)
        # The reply is kept whole: what arrives counts as read at once.
        updates = []
        increment = conn_window.process_bytes(size)
        if increment:
            updates.append(_frame_header(4, _WINDOW_UPDATE, 0, 0) + increment.to_bytes(4))
        if flags & _PADDED:
            unpadded = _unpadded(payload)
            if unpadded is None:
                return self._protocol_error(ErrorCodes.PROTOCOL_ERROR)
            payload = unpadded
        if stream is not None:
            if payload:
                stream.data.append(bytes(payload))
            stream.unacked += size
            if (
                not flags & _END_STREAM
                and stream.unacked * 2 >= self._h2.local_settings.initial_window_size
            ):
                updates.append(
                    _frame_header(4, _WINDOW_UPDATE, 0, stream_id) + stream.unacked.to_bytes(4)
                )
                stream.unacked = 0
        if updates:
            self._writer.write(b"".join(updates))
        if flags & _END_STREAM:
            self._finish(stream_id)
        return True

    def _unary_headers(
        self,
        stream: _UnaryStream | None,
        stream_id: int,
        kind: int,
        flags: int,
        payload: memoryview,
    ) -> bool:
        if kind == _HEADERS:
            if flags & _PADDED:
                unpadded = _unpadded(payload)
                if unpadded is None:
                    return self._protocol_error(ErrorCodes.PROTOCOL_ERROR)
                payload = unpadded
            if flags & _PRIORITY:
                payload = payload[5:]
            fragments = [bytes(payload)]
            end_stream = bool(flags & _END_STREAM)
        else:
            if self._block is None:
                return self._protocol_error(ErrorCodes.PROTOCOL_ERROR)
            _, fragments, end_stream = self._block
            fragments.append(bytes(payload))
        if not flags & _END_HEADERS:
            self._block = (stream_id, fragments, end_stream)
            return True
        self._block = None
        # Every block is decoded, a dropped stream's too: the table is shared.
        try:
            raw = self._h2.decoder.decode(b"".join(fragments), raw=True)
        except HPACKError:
            return self._protocol_error(ErrorCodes.COMPRESSION_ERROR)
        if stream is not None:
            # gRPC headers are ASCII (grpc-message is percent-encoded); latin-1
            # reads ASCII alike and cannot fail on a stray byte.
            headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in raw]
            if stream.headers is None:
                stream.headers = headers
            else:
                stream.trailers = headers
        if end_stream:
            self._finish(stream_id)
        return True

    def _finish(self, stream_id: int) -> None:
        """The stream ended: forget it, wake its caller."""
        self._abandoned.pop(stream_id, None)
        stream = self._unary.pop(stream_id, None)
        if stream is not None and not stream.done.done():
            stream.done.set_result(None)

    def _protocol_error(self, code: ErrorCodes) -> bool:
        """End the connection as h2 and grpclib would on a bad frame; False."""
        self._h2._terminate_connection(code)
        self.connection.flush()
        self.processor.close("Protocol error")
        self._end_unary("Protocol error")
        return False

    def data_received(self, data: bytes) -> None:
        if self._tail:
            data = self._tail + data
            self._tail = b""
        view = memoryview(data)
        end = len(data)
        pos = start = 0  # data[start:pos] are whole frames h2 has not seen yet
        conn_window = self._h2._inbound_flow_control_window_manager
        run_id = 0  # the stream whose DATA payloads `run` gathers
        run: list[memoryview] = []
        # run_id's inbound window while the fast path may take its frames;
        # None when not, or not checked since h2 last saw frames.
        run_window: WindowManager | None = None
        max_size = 0
        while end - pos >= _FRAME_HEADER.size:
            high, low, kind, flags, stream_id = _FRAME_HEADER.unpack_from(data, pos)
            length = high << 8 | low
            stop = pos + _FRAME_HEADER.size + length
            if stop > end:
                break
            stream_id &= _STREAM_ID_MASK
            if self._block is not None or stream_id in self._unary or stream_id in self._abandoned:
                self._deliver(run_id, run)
                run_window = None
                if start < pos and not self._to_h2(view[start:pos]):
                    return
                if not self._unary_frame(
                    kind, flags, stream_id, view[pos + _FRAME_HEADER.size : stop]
                ):
                    return
                start = pos = stop
                continue
            if kind in _TAKEN and length <= self._h2.max_inbound_frame_size:
                # Everything before it first, in order: trailers end the stream.
                self._deliver(run_id, run)
                run_window = None
                if start < pos and not self._to_h2(view[start:pos]):
                    return
                start = pos
                if self._take(kind, flags, stream_id, view[pos + _FRAME_HEADER.size : stop]):
                    start = stop
                    if self._h2.state_machine.state is ConnectionState.CLOSED:
                        return
            elif kind == _DATA and length and not flags & _NOT_PLAIN:
                if start < pos:
                    self._deliver(run_id, run)
                    if not self._to_h2(view[start:pos]):
                        return
                    start = pos
                    run_window = None
                if stream_id != run_id or run_window is None:
                    self._deliver(run_id, run)
                    run_id = stream_id
                    run_window = self._receiving_window(stream_id)
                    max_size = self._h2.max_inbound_frame_size
                if (
                    run_window is not None
                    and length <= max_size
                    and length <= conn_window.current_window_size
                    and length <= run_window.current_window_size
                ):
                    conn_window.current_window_size -= length
                    run_window.current_window_size -= length
                    run.append(view[pos + _FRAME_HEADER.size : stop])
                    start = stop
            pos = stop
        self._deliver(run_id, run)
        if start < pos:
            self._to_h2(view[start:pos])
        if pos < end:
            self._tail = data[pos:]

    def _take(self, kind: int, flags: int, stream_id: int, payload: memoryview) -> bool:
        """Handle a HEADERS, PING or connection WINDOW_UPDATE frame as h2 and grpclib would.

        False leaves the frame to h2: whatever is not the plain, valid case
        (padding, priority, continued header blocks, a PING ack, a window
        update for a stream or out of range, a connection not open) is h2's
        to handle or to refuse.
        """
        h2 = self._h2
        if h2.state_machine.state is not ConnectionState.CLIENT_OPEN:
            return False
        if kind == _HEADERS:
            if not flags & _END_HEADERS or flags & _PADDED_OR_PRIORITY:
                return False
            return self._receive_headers(stream_id, bytes(payload), bool(flags & _END_STREAM))
        if kind == _PING:
            if flags or stream_id or len(payload) != 8:
                return False
            # The answer h2 would queue (grpclib ignores the event), sent with
            # the next request if one comes soon (see `write_soon`).
            self._writer.write_soon(_frame_header(8, _PING, _ACK, 0) + payload)
            return True
        if stream_id or len(payload) != 4:  # a WINDOW_UPDATE
            return False
        increment = int.from_bytes(payload) & _STREAM_ID_MASK
        window = h2.outbound_flow_control_window + increment
        if not increment or window > _MAX_WINDOW:
            return False
        h2.outbound_flow_control_window = window
        self.processor.process(WindowUpdated(stream_id=0, delta=increment))
        return True

    def _receive_headers(self, stream_id: int, block: bytes, end_stream: bool) -> bool:
        """Take a one-frame header block on an open call as h2 would; False to leave it to h2.

        The block is decoded by h2's decoder and the stream's state advanced
        by h2's own stream (which makes the events); only the frame parsing
        and dispatch, and their logging work, are skipped. A bad block ends
        the connection as h2 and grpclib would.
        """
        h2 = self._h2
        if h2.incoming_buffer._headers_buffer or stream_id not in self.processor.streams:
            return False
        stream = h2.streams.get(stream_id)
        if stream is None:
            return False
        state = stream.state_machine.state
        if state is not StreamState.OPEN and state is not StreamState.HALF_CLOSED_LOCAL:
            return False
        try:
            headers = _decode_headers(h2.decoder, block)
            h2.state_machine.process_input(ConnectionInputs.RECV_HEADERS)
            _, events = stream.receive_headers(headers, end_stream, h2.config.header_encoding)
        except H2ProtocolError as exc:
            self._protocol_error(exc.error_code)
            return True
        for event in events:
            self.processor.process(event)
        return True

    def _to_h2(self, frames: memoryview) -> bool:
        """Hand whole frames to h2 (grpclib's own path); False once the connection is closed."""
        super().data_received(bytes(frames))
        if self._h2.state_machine.state is ConnectionState.CLOSED:
            # A GOAWAY, or an error h2 found: no unary stream gets its reply now.
            self._end_unary("Connection closed")
            return False
        return True

    def _receiving_window(self, stream_id: int) -> WindowManager | None:
        """The stream's inbound window if h2 would only count its plain DATA frames, else None."""
        h2 = self._h2
        if (
            h2.state_machine.state is not ConnectionState.CLIENT_OPEN
            or h2.incoming_buffer._headers_buffer  # a header block awaits CONTINUATION frames
            or stream_id not in self.processor.streams
        ):
            return None
        stream = h2.streams.get(stream_id)
        if stream is None:
            return None
        state = stream.state_machine.state
        if (
            (state is not StreamState.OPEN and state is not StreamState.HALF_CLOSED_LOCAL)
            or not stream.state_machine.headers_received
            or stream._expected_content_length is not None
        ):
            return None
        return stream._inbound_window_manager

    def _deliver(self, stream_id: int, run: list[memoryview]) -> None:
        """Queue the gathered payloads of one stream as one entry of its grpclib buffer."""
        if not run:
            return
        stream = self.processor.streams[stream_id]
        buffer = stream.buffer
        if isinstance(buffer, ViewBuffer):
            size = sum(len(view) for view in run)
            buffer.add_views(run.copy(), size)
            run.clear()
        else:
            payload = b"".join(run)
            run.clear()
            size = len(payload)
            buffer.add(payload, size)
        stream.data_received += size
        self.connection.data_received += size
        self.connection.last_data_received = time.monotonic()


class _Channel(Channel):
    def _protocol_factory(self) -> H2Protocol:
        return _Protocol(Handler(), self._config, self._h2_config)


class Transport:
    """One connection to containerd, shared by a client and all its views.

    grpclib connects lazily and reconnects on the next call after the
    connection was lost, so a daemon restart needs no new transport.
    """

    def __init__(self, address: str, *, timeout: float | None) -> None:
        self.address = address
        self.timeout = timeout
        self._host, self._port, self._path = parse_address(address)
        self._channel: Channel | None = None  # a _Channel once connected
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def channel(self) -> Channel:
        """The grpclib channel, created on first use (it needs a running loop)."""
        if self._closed:
            raise errors.ClientClosedError(
                f"the client for {self.address} is closed; create a new Client"
            )
        if self._channel is None:
            self._channel = _Channel(
                self._host, self._port, path=self._path, codec=FastProtoCodec()
            )
        return self._channel

    def close(self) -> None:
        self._closed = True
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def bind(self, namespace: str, lease: str | None = None) -> Caller:
        return Caller(self, namespace, lease)

    def _deadline(self, timeout: Timeout) -> float | None:
        return self.timeout if timeout is DEFAULT else timeout

    @contextlib.contextmanager
    def map_errors(self, method: str) -> Iterator[None]:
        """Translate grpclib and socket failures inside the block into `pycontainerd.errors`."""
        task = asyncio.current_task()
        before = task.cancelling() if task is not None else 0
        try:
            yield
        except GRPCError as exc:
            _restore_cancelling(task, before)
            message = exc.message or ""
            if exc.status.value == errors.Status.UNKNOWN and "context deadline exceeded" in message:
                raise errors.DeadlineExceeded(message, method=method) from exc
            raise errors.error_for_status(exc.status.value, message, method=method) from exc
        except TimeoutError as exc:
            _restore_cancelling(task, before)
            raise errors.DeadlineExceeded(
                f"deadline exceeded calling {method}", method=method
            ) from exc
        except StreamTerminatedError as exc:
            _restore_cancelling(task, before)
            raise errors.ConnectionError(
                f"connection to containerd at {self.address} was lost during {method}: {exc}",
                address=self.address,
                method=method,
            ) from exc
        except ProtocolError as exc:
            _restore_cancelling(task, before)
            raise errors.Unknown(f"protocol error calling {method}: {exc}", method=method) from exc
        except OSError as exc:
            _restore_cancelling(task, before)
            raise errors.ConnectionError(
                f"cannot reach containerd at {self.address} ({exc.strerror or exc}); "
                "check that containerd is running and the address is right",
                address=self.address,
                method=method,
            ) from exc


class Caller:
    """A transport bound to a namespace (and a lease): what facades call through."""

    __slots__ = ("_metadata", "lease", "namespace", "transport")

    def __init__(self, transport: Transport, namespace: str, lease: str | None) -> None:
        self.transport = transport
        self.namespace = namespace
        self.lease = lease
        md = [("containerd-namespace", namespace)]
        if lease is not None:
            md.append(("containerd-lease", lease))
        self._metadata = tuple(md)

    async def unary(
        self,
        method: str,
        request: betterproto.Message | bytes,
        reply_type: type[_Rep],
        *,
        timeout: Timeout = DEFAULT,
    ) -> _Rep:
        """Make one unary call and return its reply.

        `request` is a message, or one already serialised (hot paths encode
        some requests themselves).

        Unary calls skip grpclib's client-side `Stream` (its per-call
        wrappers, metadata multidicts and event dispatch cost more than the
        call itself) and, on a warm connection, h2's and grpclib's HTTP/2
        streams too; see `_unary_call`. The deadline is both sent
        (``grpc-timeout``) and kept here with ``asyncio.timeout``.
        """
        t = self.transport
        deadline = t._deadline(timeout)
        with t.map_errors(method):
            channel = t.channel()
            headers = [
                (":method", "POST"),
                (":scheme", channel._scheme),
                (":path", method),
                (":authority", channel._authority),
            ]
            if deadline is not None:
                headers.append(("grpc-timeout", encode_timeout(deadline)))
            headers += self._unary_headers()
            if deadline is None:
                return await _unary_call(channel, headers, request, reply_type)
            async with asyncio.timeout(deadline):
                return await _unary_call(channel, headers, request, reply_type)

    def _unary_headers(self) -> list[tuple[str, str]]:
        return [
            ("te", "trailers"),
            ("content-type", GRPC_CONTENT_TYPE),
            ("user-agent", USER_AGENT),
            *self._metadata,
        ]

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        cardinality: Cardinality,
        request_type: type[_Req],
        reply_type: type[_Rep],
        *,
        timeout: Timeout = None,
    ) -> AsyncIterator[Stream[_Req, _Rep]]:
        """Open a streaming call; errors raised inside the block are mapped too.

        Streams have no deadline unless one is given. Bidirectional calls must
        end their last message with ``send_message(..., end=True)``: containerd
        resets some streams (Content.Write) right after its last reply, and a
        half-open client side would lose that reply.
        """
        t = self.transport
        with t.map_errors(method):
            async with t.channel().request(
                method,
                cardinality,
                request_type,
                reply_type,
                timeout=t._deadline(timeout),
                metadata=self._metadata,
            ) as stream:
                yield stream


async def send_parts(
    stream: Stream[Any, Any], parts: Sequence[bytes | memoryview], *, end: bool = False
) -> None:
    """Send one message, serialised as `parts` end to end, on a client-streaming call.

    grpclib's `Stream.send_message` encodes the message and then prefixes it,
    two copies of a 1 MiB content chunk before the DATA frames are built;
    here prefix and parts go into the frames in one copy. The stream's
    bookkeeping is grpclib's own (no listeners are dispatched to: the SDK
    registers none).
    """
    if not stream._send_request_done:
        await stream.send_request()
    if stream._end_done:
        raise ProtocolError("Stream is ended")
    http2 = stream._stream
    size = sum(len(part) for part in parts)
    framed = [_PREFIX.pack(0, size), *parts]
    with stream._wrapper:
        if isinstance(http2, _Stream):
            await http2.send_parts(framed, end_stream=end)
        else:
            await http2.send_data(b"".join(framed), end_stream=end)
        stream._send_message_done = True
        stream._messages_sent += 1
        http2.connection.messages_sent += 1
        http2.connection.last_message_sent = time.monotonic()
        if end:
            stream._end_done = True


class ViewBuffer(Buffer):
    """A stream's receive buffer that takes the received DATA payloads as views.

    grpclib's buffer joins what arrives into messages (a copy) for the
    reader to decode (with more copies). A reader that parses the stream
    itself installs a subclass (`divert`) and gets the payloads of each
    read as `add_views` calls, uncopied, in order. This base joins them.
    """

    def add_views(self, views: list[memoryview], ack_size: int) -> None:
        self.add(b"".join(views), ack_size)


_ViewB = TypeVar("_ViewB", bound=ViewBuffer)


async def divert(
    stream: Stream[Any, Any], make: Callable[[Callable[[int], None]], _ViewB]
) -> _ViewB:
    """Open `stream`'s HTTP/2 stream and give it the buffer `make(ack)`.

    `ack` gives flow-control credit back for bytes taken out of the buffer.
    Call before the request is sent: no reply can have arrived yet.
    """
    await stream.send_request()
    http2 = stream._stream
    old = http2.buffer
    if old._unacked.qsize():
        raise ProtocolError("data arrived before the buffer was diverted")
    buffer = make(old._ack_callback)
    http2.buffer = buffer
    return buffer


async def wait_on(stream: Stream[Any, Any], event: asyncio.Event) -> None:
    """Wait for `event` as grpclib waits on `stream`: a reset or lost connection raises.

    (grpclib then raises `StreamTerminatedError`, which `map_errors` maps.)
    """
    with stream._wrapper:
        await event.wait()


class _Termination:
    """Stands in for grpclib's call wrapper on the HTTP/2 stream of a unary call.

    grpclib tells a stream's wrapper when the stream dies (reset by the
    daemon, connection lost); its own wrapper then cancels the calling task.
    This one records the error and wakes whatever the call waits on, so the
    call raises it without any task cancellation.
    """

    __slots__ = ("error", "stream")

    def __init__(self) -> None:
        self.error: StreamTerminatedError | None = None
        self.stream: ProtocolStream | None = None

    def cancel(self, error: StreamTerminatedError) -> None:
        self.error = error
        if self.stream is not None:
            self.stream.headers_received.set()
            self.stream.trailers_received.set()
            self.stream.buffer.eof()


# gRPC's mapping of HTTP statuses to gRPC codes, for replies that are not gRPC at all.
_HTTP_STATUS: Final = {
    "400": Status.INTERNAL,
    "401": Status.UNAUTHENTICATED,
    "403": Status.PERMISSION_DENIED,
    "404": Status.UNIMPLEMENTED,
    "429": Status.UNAVAILABLE,
    "502": Status.UNAVAILABLE,
    "503": Status.UNAVAILABLE,
    "504": Status.UNAVAILABLE,
}


def _raise_for_status(headers: list[tuple[str, str]] | None) -> bool:
    """Raise the `GRPCError` a header block carries; True if it carried an OK status."""
    if headers is None:
        return False
    found = dict(headers)
    http_status = found.get(":status")
    if http_status is not None and http_status != "200":
        raise GRPCError(
            _HTTP_STATUS.get(http_status, Status.UNKNOWN), f"Received :status = {http_status!r}"
        )
    code = found.get("grpc-status")
    if code is None:
        return False
    try:
        status = Status(int(code))
    except ValueError:
        raise GRPCError(Status.UNKNOWN, f"Invalid grpc-status: {code!r}") from None
    if status is not Status.OK:
        message = found.get("grpc-message")
        raise GRPCError(status, decode_grpc_message(message) if message is not None else None)
    return True


async def _recv(stream: ProtocolStream, termination: _Termination, size: int) -> bytes:
    """`size` bytes of the reply, or ``b""`` when the stream ended before any."""
    try:
        return await stream.recv_data(size)
    except AssertionError:  # grpclib's buffer: the stream ended inside a message
        if termination.error is not None:
            raise termination.error from None
        raise GRPCError(Status.INTERNAL, "the reply message was cut short") from None


async def _unary_call(
    channel: Channel,
    headers: list[tuple[str, str]],
    request: betterproto.Message | bytes,
    reply_type: type[_Rep],
) -> _Rep:
    """Send `request` on a new HTTP/2 stream and read the one reply and its status.

    The call runs on a `_UnaryStream` when the connection can take it, else
    on grpclib's stream (`_stream_unary_call`). Raises grpclib's `GRPCError`
    or `StreamTerminatedError` (mapped by the caller). A call given up
    before its reply ended (cancelled, timed out) resets its stream.
    """
    protocol = await channel.__connect__()
    payload = request if isinstance(request, bytes) else encode(request)
    message = _PREFIX.pack(0, len(payload)) + payload
    await protocol.connection.write_ready.wait()
    stream = protocol.open_unary(headers, message) if isinstance(protocol, _Protocol) else None
    if stream is None:
        return await _stream_unary_call(protocol, headers, message, reply_type)
    try:
        await stream.done
    except BaseException:
        cast(_Protocol, protocol).abandon(stream)
        raise
    if _raise_for_status(stream.headers):  # a trailers-only reply: no message
        raise GRPCError(Status.UNKNOWN, "the daemon sent no reply message")
    if stream.error is not None:
        raise stream.error
    data = stream.data
    if not data:
        _raise_for_status(stream.trailers)
        raise GRPCError(Status.UNKNOWN, "the daemon sent no reply message")
    if len(data[0]) < _PREFIX.size:
        data = [b"".join(data)]
        if len(data[0]) < _PREFIX.size:
            raise GRPCError(Status.INTERNAL, "the reply message was cut short")
    compressed, size = _PREFIX.unpack_from(data[0])
    if compressed:
        raise GRPCError(Status.INTERNAL, "compressed replies are not supported")
    data[0] = data[0][_PREFIX.size :]
    body = data[0] if len(data) == 1 else b"".join(data)
    if len(body) < size:
        raise GRPCError(Status.INTERNAL, "the reply message was cut short")
    _raise_for_status(stream.trailers)
    if reply_type is Empty:  # nothing to read in it: not decoded (~10 us)
        return cast(_Rep, _EMPTY)
    return reply_type.FromString(body[:size] if len(body) > size else body)


async def _stream_unary_call(
    protocol: H2Protocol,
    headers: list[tuple[str, str]],
    message: bytes,
    reply_type: type[_Rep],
) -> _Rep:
    """`_unary_call` on grpclib's HTTP/2 stream, driven directly (no client `Stream`).

    Whatever ends the call early, cancellation included, resets the stream
    if it is still open and releases it, without awaiting.
    """
    termination = _Termination()
    stream = protocol.processor.connection.create_stream(wrapper=termination)  # type: ignore[arg-type]
    termination.stream = stream
    release = await stream.send_request(headers, _processor=protocol.processor)
    finished = False
    try:
        await stream.send_data(message, end_stream=True)
        await stream.headers_received.wait()
        if _raise_for_status(stream.headers):  # a trailers-only reply: no message
            raise GRPCError(Status.UNKNOWN, "the daemon sent no reply message")
        prefix = await _recv(stream, termination, _PREFIX.size)
        if prefix:
            compressed, size = _PREFIX.unpack(prefix)
            if compressed:
                raise GRPCError(Status.INTERNAL, "compressed replies are not supported")
            data = await _recv(stream, termination, size)
            await stream.trailers_received.wait()
            if termination.error is None:
                _raise_for_status(stream.trailers)
                finished = True
                if reply_type is Empty:
                    return cast(_Rep, _EMPTY)
                return reply_type.FromString(data)
        _raise_for_status(stream.trailers)
        if termination.error is not None:
            raise termination.error
        raise GRPCError(Status.UNKNOWN, "the daemon sent no reply message")
    finally:
        if not finished and stream.closable:
            stream.reset_nowait(ErrorCodes.CANCEL)
        release()


def default_address() -> str:
    """The address a `Client` uses when none is given."""
    return os.environ.get("CONTAINERD_ADDRESS") or DEFAULT_ADDRESS


async def recv_message(stream: Stream[Any, _Rep]) -> _Rep | None:
    """Receive one message from `stream`, keeping an error the daemon sent before a reset.

    containerd answers some streaming calls (Content.Write refusing a locked
    ref or an existing blob) with a trailers-only error and then resets the
    stream (RST_STREAM NO_ERROR) while the client half is still open.
    grpclib's ``recv_message`` then raises ``StreamTerminatedError`` and the
    status in the headers is lost, unless asked for, as grpclib itself does
    when the stream's context exits. Use inside `Transport.map_errors`.
    """
    try:
        return await stream.recv_message()
    except StreamTerminatedError:
        stream._maybe_raise()  # raises the GRPCError the headers carry, if any
        raise
