"""One transfer: the streams it needs (over the streaming service), then the Transfer call.

containerd's transfer service finds the streams a request names by their id:
the client opens each one (``Streaming.Stream``, first message a
``StreamInit`` with the id, answered once the daemon has registered it)
before it sends ``Transfer``, and serves it while the call runs: progress
events come in, credential requests are answered, archive bytes flow under
the small window protocol of ``containerd.types.transfer`` (``Data`` one
way, ``WindowUpdate`` the other).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
from betterproto.lib.google.protobuf import Any as AnyProto

from .. import errors
from .._api import _rpc
from .._api.containerd.services.streaming.v1 import StreamInit
from .._api.containerd.services.transfer.v1 import TransferOptions, TransferRequest
from .._api.containerd.types.transfer import AuthRequest, AuthResponse, Data, WindowUpdate
from .._api.containerd.types.transfer import Progress as _Progress
from .._convert import is_set
from .._descriptors import Descriptor
from .._shield import Removal, finish
from .._tar import TarEnd
from .._transport import Call
from ..registry._tasks import task_group
from ._objects import Destination, Progress, Source, packed

if TYPE_CHECKING:
    from .._client import Client

__all__ = ["Session", "run"]

ProgressCallback = Callable[[Progress], Awaitable[None] | None]

_DATA = "containerd.types.transfer.Data"
_WINDOW = "containerd.types.transfer.WindowUpdate"
_AUTH_RESPONSE = "containerd.types.transfer.AuthResponse"
# The daemon grants this much at a time when it receives (core/transfer/streaming).
_WINDOW_SIZE = 64 * 1024
_MAX_DATA = 32 * 1024
_CLEANUP_TIMEOUT = 10.0
_LEASE_EXPIRY = 24 * 3600.0  # as the daemon's own transfer lease


def _stream_id(prefix: str) -> str:
    return f"{prefix}-{time.time_ns()}-{secrets.token_urlsafe(6)}"


def _type_name(message: AnyProto) -> str:
    # The daemon marshals with or without the type.googleapis.com/ prefix.
    return message.type_url.rpartition("/")[2]


class Session:
    """The streams of one transfer, served in a task group while the call runs."""

    def __init__(self, client: Client, stack: contextlib.AsyncExitStack, tg: anyio.abc.TaskGroup):
        self._client = client
        self._stack = stack
        self._tg = tg
        self._calls: list[Call[Any, Any]] = []
        self._helpers: list[anyio.CancelScope] = []

    async def _open(
        self, prefix: str, serve: Callable[[Call[Any, Any]], Awaitable[None]], *, to_the_end: bool
    ) -> str:
        """Open and register a stream; `serve` runs on it while the transfer does.

        A stream `to_the_end` is served until the daemon ends it (progress,
        exported bytes); the others are stopped once the call returns.
        """
        sid = _stream_id(prefix)
        call = await self._stack.enter_async_context(
            self._client._caller.stream(_rpc.Streaming.Stream)
        )
        self._calls.append(call)
        init = StreamInit(id=sid)
        await call.send(packed("containerd.services.streaming.v1.StreamInit", bytes(init)))
        if await call.recv() is None:  # the daemon answers once the id is registered
            raise errors.Unavailable(f"the daemon closed transfer stream {sid} at once")
        scope = anyio.CancelScope()
        if not to_the_end:
            self._helpers.append(scope)

        async def run() -> None:
            with scope:
                await serve(call)

        self._tg.start_soon(run)
        return sid

    async def report_progress(self, callback: ProgressCallback) -> str:
        async def serve(call: Call[Any, Any]) -> None:
            # Nothing goes this way. Closed, grpc-go ends the stream with its
            # status alone; open, it resets the stream after it, and a reset
            # drops the events that grpclib had not yet handed out.
            await call.end()
            async for message in call:
                if _type_name(message) != "containerd.types.transfer.Progress":
                    continue
                event = _Progress().parse(message.value)
                update = Progress(
                    event=event.event,
                    name=event.name,
                    parents=tuple(event.parents),
                    progress=event.progress,
                    total=event.total,
                    descriptor=Descriptor._from_proto(event.desc) if is_set(event.desc) else None,
                )
                result = callback(update)
                if result is not None:
                    await result

        return await self._open("progress", serve, to_the_end=True)

    async def serve_credentials(self, answer: Callable[[str], Awaitable[AuthResponse]]) -> str:
        async def serve(call: Call[Any, Any]) -> None:
            async for message in call:
                request = AuthRequest().parse(message.value)
                response = await answer(request.host)
                await call.send(packed(_AUTH_RESPONSE, bytes(response)))

        return await self._open("creds", serve, to_the_end=False)

    async def send_bytes(self, chunks: AsyncIterable[bytes]) -> str:
        async def serve(call: Call[Any, Any]) -> None:
            window = 0
            async for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    while window <= 0:
                        update = await call.recv()
                        if update is None:
                            return  # the daemon stopped reading: the call reports why
                        if _type_name(update) == _WINDOW:
                            window += WindowUpdate().parse(update.value).update
                    size = min(len(view), window, _MAX_DATA)
                    await call.send(packed(_DATA, bytes(Data(data=bytes(view[:size])))))
                    view = view[size:]
                    window -= size
            await call.end()  # end of the archive

        return await self._open("import", serve, to_the_end=False)

    async def receive_archive(
        self, sink: str | os.PathLike[str] | Callable[[bytes], Awaitable[None] | None]
    ) -> str:
        """A stream the daemon writes a tar archive to; served until the archive ends.

        The daemon never closes an export stream, and its last bytes may
        arrive after the Transfer reply: the tar's own end (two zero blocks)
        says when everything is here.
        """

        async def serve(call: Call[Any, Any]) -> None:
            async with contextlib.AsyncExitStack() as files:
                write: Callable[[bytes], Awaitable[object] | None]
                if isinstance(sink, str | os.PathLike):
                    write = (
                        await files.enter_async_context(await anyio.open_file(sink, "wb"))
                    ).write
                else:
                    write = sink
                end = TarEnd()
                window = 0
                while not end.ended:
                    if window < _WINDOW_SIZE:
                        await call.send(packed(_WINDOW, bytes(WindowUpdate(update=_WINDOW_SIZE))))
                        window += _WINDOW_SIZE
                    message = await call.recv()
                    if message is None:
                        raise errors.DataLoss(
                            "the daemon ended the export stream inside the archive"
                        )
                    if _type_name(message) != _DATA:
                        continue
                    data = Data().parse(message.value).data
                    window -= len(data)
                    end.feed(data)
                    result = write(data)
                    if result is not None:
                        await result

        return await self._open("export", serve, to_the_end=True)

    def stop_helpers(self) -> None:
        """The call returned: stop serving the streams that only help it."""
        for scope in self._helpers:
            scope.cancel()

    async def close(self) -> None:
        """Reset every stream the daemon has not ended (its context's exit then has nothing to do)."""
        for call in self._calls:
            await call.cancel()


async def run(
    client: Client,
    source: Source,
    destination: Destination,
    *,
    progress: ProgressCallback | None = None,
) -> None:
    """Implementation of `Client.transfer` (see there)."""
    if client.lease is None:
        # Without one of ours the daemon takes a lease of its own, and one left by
        # a daemon that died mid-transfer keeps what it fetched for a day. Ours is
        # deleted on the way out, whatever happened (a daemon restart included).
        async with client.leases.lease(expires_in=_LEASE_EXPIRY) as leased:
            try:
                await _run(leased, source, destination, progress=progress)
            except BaseException:
                lease = leased.lease
                assert lease is not None
                with contextlib.suppress(TimeoutError, errors.ContainerdError):
                    await finish(
                        Removal(lambda: _abort_ingests(client, lease)), timeout=_CLEANUP_TIMEOUT
                    )
                raise
        return
    await _run(client, source, destination, progress=progress)


async def _abort_ingests(client: Client, lease: str) -> None:
    """Abort the ingests the daemon left under our `lease` when a transfer ended short.

    They are the blobs it was writing: an import's ``tar-<member>``
    (containerd's importer never aborts them), a pull's partial layers.
    The collector would take them once the lease is gone, some time later;
    aborted here, they are gone when the transfer's error is raised. The
    lease names them, so another client's ingests are never touched.
    """
    for resource in await client.leases.resources(lease):
        if resource.type == "ingests":
            await client.content._abort_settled(resource.id)


async def _run(
    client: Client,
    source: Source,
    destination: Destination,
    *,
    progress: ProgressCallback | None,
) -> None:
    async with contextlib.AsyncExitStack() as streams:
        # The streams outlive the task group that serves them: on the way out
        # their servers end first (or are cancelled), then the streams reset.
        async with task_group() as tg:
            session = Session(client, streams, tg)
            options = TransferOptions()
            if progress is not None:
                options.progress_stream = await session.report_progress(progress)
            request = TransferRequest(
                source=await source._to_any(session),
                destination=await destination._to_any(session),
                options=options,
            )
            await client._caller.unary(_rpc.Transfer.Transfer, request, timeout=None)
            session.stop_helpers()
        with contextlib.suppress(TimeoutError):
            await finish(session.close, timeout=_CLEANUP_TIMEOUT)
