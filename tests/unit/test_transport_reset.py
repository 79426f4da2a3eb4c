"""A stream the server resets with NO_ERROR after its OK status ends cleanly.

grpc-go (containerd) sends its trailers and then RST_STREAM(NO_ERROR) when the
client's half of a bidirectional stream is still open. grpclib reports that
reset as a `StreamTerminatedError` whose message the transport matches, so
this test, with a real HTTP/2 peer, fails if grpclib or h2 changes that message.
"""

from __future__ import annotations

import os

import anyio
import h2.config
import h2.connection
import h2.errors
import h2.events
import pytest
from anyio.abc import SocketStream
from betterproto.lib.google.protobuf import Any as AnyProto

import pycontainerd
from pycontainerd import errors
from pycontainerd._api import _rpc

pytestmark = pytest.mark.anyio

_MESSAGE = AnyProto(type_url="example/reply", value=b"x")


async def _serve(conn: SocketStream, status: str) -> None:
    """Answer one Streaming.Stream call: a reply, trailers, then RST_STREAM(NO_ERROR)."""
    h2c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    h2c.initiate_connection()
    await conn.send(h2c.data_to_send())
    answered = False
    while True:
        try:
            data = await conn.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return
        for event in h2c.receive_data(data):
            if isinstance(event, h2.events.DataReceived):
                h2c.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                if answered:
                    continue
                answered = True
                sid = event.stream_id
                body = bytes(_MESSAGE)
                h2c.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
                h2c.send_data(sid, b"\x00" + len(body).to_bytes(4, "big") + body)
                # grpclib drops what is unread when a reset comes: let the reply be read first.
                await conn.send(h2c.data_to_send())
                await anyio.sleep(0.1)
                h2c.send_headers(sid, [("grpc-status", status)], end_stream=True)
                h2c.reset_stream(sid, h2.errors.ErrorCodes.NO_ERROR)
        await conn.send(h2c.data_to_send())


async def _call_through_reset(tmp_path: os.PathLike[str], status: str) -> list[bytes | None]:
    path = f"{tmp_path}/h2.sock"
    listener = await anyio.create_unix_listener(path)
    replies: list[bytes | None] = []
    failure: Exception | None = None
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, lambda conn: _serve(conn, status))
        try:
            with anyio.fail_after(10):
                async with pycontainerd.Client(path) as client:
                    async with client._caller.stream(_rpc.Streaming.Stream) as call:
                        await call.send(AnyProto(type_url="example/request"))
                        reply = await call.recv()
                        replies.append(None if reply is None else reply.value)
                        await anyio.sleep(0.2)  # the trailers and the reset arrive
                        replies.append(await call.recv_raw())
        except Exception as exc:  # raised here, outside the server's task group
            failure = exc
        tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return replies


async def test_reset_with_no_error_after_ok_status_ends_the_stream(
    tmp_path: os.PathLike[str],
) -> None:
    assert await _call_through_reset(tmp_path, "0") == [b"x", None]


async def test_reset_after_an_error_status_raises_that_status(tmp_path: os.PathLike[str]) -> None:
    # The NO_ERROR reset must not hide the status the daemon sent before it.
    with pytest.raises(errors.NotFound):
        await _call_through_reset(tmp_path, "5")
