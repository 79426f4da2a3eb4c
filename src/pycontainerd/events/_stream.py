"""The event stream (``client.events.subscribe``) and publishing."""

from __future__ import annotations

import contextlib
import itertools
import sys
import uuid
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, Self, TypeVar, overload

import anyio
import anyio.lowlevel
import attrs
import betterproto
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from betterproto.lib.google.protobuf import Any as ProtoAny

from .. import _identifiers, errors
from .._api import _rpc
from .._api.containerd.services.events.v1 import ForwardRequest, PublishRequest, SubscribeRequest
from .._api.containerd.types import Envelope as EnvelopeProto
from .._facade import Facade
from .._transport import DEFAULT, Caller, Timeout
from . import filters as _filters
from ._types import Envelope, Event, encode

if TYPE_CHECKING:
    from .._transport import Call

__all__ = ["DEFAULT_BUFFER", "EventStream", "Events", "Overflow", "Resync"]


PROBE_PREFIX: Final = "/pycontainerd/probe/"
"""Topic prefix of the SDK's liveness probes, which every stream swallows.

Entering `EventStream` publishes ``/pycontainerd/probe/<32 hex digits>``
(a ``google.protobuf.Empty`` event, in the client's namespace) until its own
subscription delivers it: one probe per entry and per reconnection, a few
more while the daemon is slow to answer. Other consumers (``ctr events``, Go
programs) see them; they can drop every topic that starts with this prefix.
"""

DEFAULT_BUFFER: Final = 1024
"""Envelopes a stream holds for a consumer that has fallen behind, by default."""

# Probe re-publication delays while waiting for the subscription to go live,
# and the reconnect backoff.
_PROBE_DELAYS: Final = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
_BACKOFF_FIRST: Final = 0.1
_BACKOFF_MAX: Final = 5.0
# receive() takes buffered envelopes without yielding, but yields every this many.
_YIELD_EVERY: Final = 64

T = TypeVar("T")


class Overflow(errors.ContainerdError):
    """The consumer fell behind: the stream's buffer filled up and events were lost.

    Raised by the stream's iteration once the events received before the
    overflow have been consumed; the subscription ended when the buffer
    overflowed (the daemon sends it nothing more), and every
    further iteration raises it again. Enter a new subscription (and
    reconcile, e.g. list tasks) to go on.

    Attributes:
        buffer: the size of the buffer that overflowed.
    """

    def __init__(self, message: str, *, buffer: int) -> None:
        super().__init__(message)
        self.buffer = buffer


@attrs.frozen(kw_only=True)
class Resync:
    """Marker of a ``reconnect=True`` stream: the subscription was re-established.

    Events published while the stream was down are lost; when this marker
    arrives, the stream is live again, so reconcile now (list tasks,
    containers, ...) and then keep consuming. Envelopes are never repeated
    across a reconnection.

    Attributes:
        reason: why the previous subscription ended.
        attempts: how many subscriptions were tried until one went live.
    """

    reason: str
    attempts: int = 1


@attrs.frozen
class _End:
    error: BaseException


class _Session:
    """One subscription attempt's shared state."""

    def __init__(self, token: str, *, attempts: int, reason: str) -> None:
        self.topic = PROBE_PREFIX + token
        self.attempts = attempts
        self.reason = reason
        self.live = False
        self.probe_scope = anyio.CancelScope()
        self.error: BaseException | None = None


class EventStream(Generic[T]):
    """A live subscription to the daemon's events (from `Events.subscribe`).

    Use it as an async context manager, then iterate. Entering blocks until
    the subscription is live (an event published after it returns is
    delivered); leaving cancels the subscription and does not block.

    A task inside the context reads the gRPC stream into a bounded buffer of
    `buffer` envelopes, whether or not the consumer iterates. If the
    consumer falls so far behind that the buffer fills, the subscription
    stops (its gRPC stream is reset at once) and iteration raises
    `Overflow` after the buffered envelopes (nothing is dropped silently).
    Either way the stream never holds back the client's other calls, which
    share its connection: the buffer bounds memory, and a large one costs
    memory only.

    With ``reconnect=True``, losing the connection (daemon restart) does not
    end the stream: it resubscribes with exponential backoff (0.1 s up to
    5 s, forever) and, once live again, yields one `Resync` marker before
    the envelopes that follow. Otherwise the connection error is raised by
    iteration, after the buffered envelopes.

    Example:
        ```python
        async with client.events.subscribe(filters.topic("/tasks/exit")) as stream:
            async for envelope in stream:
                print(envelope.namespace, envelope.event)
        ```
    """

    def __init__(
        self,
        caller: Caller,
        filters: list[str],
        *,
        reconnect: bool,
        buffer: int,
        probe: bool = True,
    ) -> None:
        self._caller = caller
        self._filters = filters
        self._reconnect = reconnect
        self._buffer = buffer
        self._probing = probe
        self._state: Literal["new", "open", "closed"] = "new"
        self._tg: TaskGroup | None = None
        # One slot more than the buffer: room for the final _End marker.
        send, recv = anyio.create_memory_object_stream[Any](buffer + 1)
        self._send: MemoryObjectSendStream[Any] = send
        self._recv: MemoryObjectReceiveStream[Any] = recv
        self._task_status: TaskStatus[None] | None = None
        self._startup_error: BaseException | None = None
        self._error: BaseException | None = None
        self._fast = 0

    @property
    def filters(self) -> tuple[str, ...]:
        """The filters sent to the daemon (namespace scoping included)."""
        return tuple(self._filters)

    @property
    def buffer(self) -> int:
        """How many undelivered envelopes the stream holds before it overflows."""
        return self._buffer

    async def __aenter__(self) -> Self:
        if self._state != "new":
            raise RuntimeError("an EventStream can be entered only once; subscribe again")
        self._state = "open"
        tg = self._tg = anyio.create_task_group()
        await tg.__aenter__()
        try:
            await tg.start(self._run)
        except BaseException:
            # Only cancellation gets here: _run reports its errors instead of raising.
            self._close()
            await tg.__aexit__(*sys.exc_info())
            raise
        if self._startup_error is not None:
            self._close()
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)
            raise self._startup_error
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        tg = self._tg
        if tg is None or self._state == "closed":
            return None
        self._close()
        tg.cancel_scope.cancel()
        # Pass on a cancellation (the scope must see it) but not the
        # consumer's own exceptions: the task group would wrap them.
        if isinstance(exc, anyio.get_cancelled_exc_class()):
            return await tg.__aexit__(exc_type, exc, tb)
        await tg.__aexit__(None, None, None)
        return None

    def _close(self) -> None:
        self._state = "closed"
        self._send.close()
        self._recv.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def receive(self) -> T:
        """The next envelope (or `Resync`), waiting for it.

        Raises:
            anyio.EndOfStream: the stream's context has ended.
            Overflow: the consumer fell behind and events were lost.
            pycontainerd.errors.ConnectionError: the connection was lost
                (``reconnect=False``).
        """
        if self._error is not None:
            raise self._error
        if self._state == "new":
            raise RuntimeError("enter the EventStream with 'async with' before iterating it")
        try:
            # Hand over what is buffered without a round trip through the event
            # loop, but still yield (and see cancellation) every few items.
            self._fast += 1
            if self._fast < _YIELD_EVERY:
                try:
                    item = self._recv.receive_nowait()
                except anyio.WouldBlock:
                    self._fast = 0
                    item = await self._recv.receive()
            else:
                self._fast = 0
                item = await self._recv.receive()
        except (anyio.ClosedResourceError, anyio.EndOfStream):
            raise anyio.EndOfStream from None
        if isinstance(item, _End):
            self._error = item.error
            raise item.error
        return item  # type: ignore[no-any-return]

    # --- the reader task ---------------------------------------------------

    def _push(self, item: Envelope | Resync) -> int:
        """Buffer an item and return how many are buffered now.

        On overflow, end the stream with `Overflow` instead and return 0.
        """
        used = self._send.statistics().current_buffer_used
        if used >= self._buffer:
            self._finish(
                Overflow(
                    f"the event stream's buffer of {self._buffer} envelopes is full: the "
                    "consumer fell behind and events were lost; subscribe again and reconcile",
                    buffer=self._buffer,
                )
            )
            return 0
        self._send.send_nowait(item)
        # handed straight to a waiting consumer, or buffered
        return used + 1

    def _finish(self, error: BaseException) -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._send.send_nowait(_End(error))
        self._send.close()

    async def _run(self, *, task_status: TaskStatus[None]) -> None:
        """Subscribe, and resubscribe on connection loss when asked to. Never raises."""
        self._task_status = task_status
        attempts = 0
        delay = _BACKOFF_FIRST
        reason = ""
        while True:
            attempts += 1
            session = _Session(uuid.uuid4().hex, attempts=attempts, reason=reason)
            outcome: BaseException | object
            try:
                outcome = await self._session(session)
            except Exception as exc:  # a bug must reach the consumer, not the task group
                outcome = exc
            if outcome is _OVERFLOWED:
                return  # _push has ended the stream
            assert isinstance(outcome, BaseException)
            if self._task_status is not None:  # never went live: fail __aenter__
                self._startup_error = outcome
                self._started()
                return
            if not (self._reconnect and _reconnectable(outcome)):
                self._finish(outcome)
                return
            if session.live:
                attempts, delay, reason = 0, _BACKOFF_FIRST, str(outcome)
            await anyio.sleep(delay)
            delay = min(delay * 2, _BACKOFF_MAX)

    async def _session(self, session: _Session) -> BaseException | object:
        """Run one subscription until it ends; return why (an error or `_OVERFLOWED`)."""
        assert self._tg is not None
        probe = [_filters.topic(session.topic)] if self._probing else []
        request = SubscribeRequest(filters=[*self._filters, *probe])
        pending: list[Envelope] = []
        try:
            with anyio.CancelScope() as scope:
                async with self._caller.stream(_rpc.Events.Subscribe) as stream:
                    await stream.send(request, end=True)
                    if self._probing:
                        self._tg.start_soon(self._probe, session, scope)
                    else:
                        # No acknowledgement to wait for: live once the request is out.
                        session.live = True
                        if not self._went_live(session, pending):
                            return await _reset(stream)
                    while (data := await stream.recv_raw()) is not None:
                        msg = Envelope._from_wire(data)
                        if msg.topic.startswith(PROBE_PREFIX):
                            if not session.live and msg.topic == session.topic:
                                session.live = True
                                session.probe_scope.cancel()
                                if not self._went_live(session, pending):
                                    break
                            continue
                        if not session.live:
                            pending.append(msg)
                            continue
                        used = self._push(msg)
                        if not used:
                            break
                        if used * 2 > self._buffer:
                            await self._let_consumer_catch_up()
                    else:
                        return errors.Unavailable(
                            "the daemon ended the event subscription",
                            method=_rpc.Events.Subscribe.path,
                        )
                    return await _reset(stream)
            # Only the probe task cancels this scope: publishing the probe failed.
            assert session.error is not None
            return session.error
        except errors.ContainerdError as exc:
            return _subscription_error(exc)
        finally:
            session.probe_scope.cancel()

    async def _let_consumer_catch_up(self) -> None:
        """Yield while the consumer is draining a buffer that is over half full.

        A batch of messages is handed over without awaiting, so a consumer
        that keeps up on average could still see the buffer fill during a
        burst. Stop waiting as soon as a yield brings no progress: a consumer
        that is busy elsewhere gets the documented overflow, never a stall.
        """
        stats = self._send.statistics
        used = stats().current_buffer_used
        while used * 2 > self._buffer:
            await anyio.lowlevel.checkpoint()
            now = stats().current_buffer_used
            if now >= used:
                return
            used = now

    def _went_live(self, session: _Session, pending: list[Envelope]) -> bool:
        if self._task_status is not None:
            self._started()
        elif not self._push(Resync(reason=session.reason, attempts=session.attempts)):
            return False
        for envelope in pending:
            if not self._push(envelope):
                return False
        pending.clear()
        return True

    def _started(self) -> None:
        status, self._task_status = self._task_status, None
        if status is not None:
            status.started()

    async def _probe(self, session: _Session, session_scope: anyio.CancelScope) -> None:
        """Publish the session's probe until the subscription delivers it. Never raises."""
        with session.probe_scope:
            for delay in itertools.chain(_PROBE_DELAYS, itertools.repeat(_PROBE_DELAYS[-1])):
                await anyio.sleep(delay)
                try:
                    await self._caller.unary(
                        _rpc.Events.Publish, PublishRequest(topic=session.topic, event=_PROBE_EVENT)
                    )
                except errors.ContainerdError as exc:
                    if not session.live:
                        session.error = exc
                        session_scope.cancel()
                    return


_PROBE_EVENT: Final = ProtoAny(type_url="google.protobuf.Empty", value=b"")
_OVERFLOWED: Final = object()


async def _reset(stream: Call[Any, Any]) -> object:
    """End an overflowed subscription's stream; `_OVERFLOWED`.

    A reset, rather than leaving the block normally, which would wait for a
    status the daemon never sends while its DATA, no longer read, filled the
    connection's flow-control window that every call of the client shares.
    Whatever the reset raises (the connection was lost meanwhile), the stream
    has ended with `Overflow`.
    """
    with contextlib.suppress(errors.ContainerdError):
        await stream.cancel()
    return _OVERFLOWED


def _reconnectable(error: BaseException) -> bool:
    return isinstance(error, errors.Unavailable | errors.Canceled)


def _subscription_error(exc: errors.ContainerdError) -> BaseException:
    # containerd 1.6 reports a filter it cannot parse as UNKNOWN.
    if isinstance(exc, errors.Unknown) and "failed parsing subscription filters" in str(exc):
        error = errors.InvalidArgument(str(exc), method=_rpc.Events.Subscribe.path)
        error.__cause__ = exc
        return error
    return exc


class Events(Facade):
    """The daemon's event bus (``client.events``): subscribe and publish.

    Example:
        ```python
        from pycontainerd import events
        from pycontainerd.events import filters

        async with client.events.subscribe(filters.topic("/tasks/exit")) as stream:
            async for envelope in stream:
                if isinstance(envelope.event, events.TaskExit):  # typed as any event
                    print(envelope.event.container_id, envelope.event.exit_status)
        ```
    """

    @overload
    def subscribe(
        self,
        *filters: str,
        all_namespaces: bool = ...,
        reconnect: Literal[False] = ...,
        buffer: int = ...,
        probe: bool = ...,
    ) -> EventStream[Envelope]: ...

    @overload
    def subscribe(
        self,
        *filters: str,
        all_namespaces: bool = ...,
        reconnect: Literal[True],
        buffer: int = ...,
        probe: bool = ...,
    ) -> EventStream[Envelope | Resync]: ...

    @overload
    def subscribe(
        self,
        *filters: str,
        all_namespaces: bool = ...,
        reconnect: bool,
        buffer: int = ...,
        probe: bool = ...,
    ) -> EventStream[Envelope] | EventStream[Envelope | Resync]: ...

    def subscribe(
        self,
        *filters: str,
        all_namespaces: bool = False,
        reconnect: bool = False,
        buffer: int = DEFAULT_BUFFER,
        probe: bool = True,
    ) -> EventStream[Envelope] | EventStream[Envelope | Resync]:
        """A stream of the events that match any of `filters` (all events when none).

        Filters follow containerd's syntax (see `pycontainerd.events.filters`):
        several filters are ORed, the comma-separated selectors inside one
        filter are ANDed. Unless `all_namespaces` is true, each filter is
        narrowed to the client's namespace.

        Args:
            *filters: filter expressions, e.g. ``filters.topic("/tasks/exit")``
                or ``'topic~="^/containers/"'``.
            all_namespaces: deliver events of every namespace.
            reconnect: survive daemon restarts: resubscribe with backoff and
                yield one `Resync` marker each time the stream is live again.
            buffer: how many envelopes may wait for the consumer before the
                stream overflows (`Overflow`). It bounds the stream's memory
                (about ``buffer`` envelopes); the stream is read into it
                whatever the consumer does, so no size of buffer stalls the
                client's other calls.
            probe: publish a probe event (topic under `PROBE_PREFIX`) on
                entering and on each reconnection, and wait until the
                subscription delivers it. containerd does not acknowledge a
                subscription, so this is how entering knows the stream is
                live. With ``probe=False`` nothing is published, which other
                consumers (``ctr events``) then never see, at a cost: entering
                returns once the request is sent, before the daemon has
                registered the subscription, so events published just after
                (by this program too) may be missed, and an error of the
                subscription (containerd 1.6 refuses some filters only then)
                is raised by the iteration instead of by entering. With
                `reconnect`, each `Resync` comes as early, so a reconcile
                right after it can miss what changes in that window.

        Raises:
            pycontainerd.errors.InvalidArgument: a filter does not parse
                (raised here, before any call).
            ValueError: `buffer` is not a positive integer.

        Example:
            ```python
            async with client.events.subscribe(reconnect=True) as stream:
                async for item in stream:
                    if isinstance(item, events.Resync):
                        await reconcile()
                    else:
                        await handle(item)
            ```
        """
        if isinstance(buffer, bool) or not isinstance(buffer, int) or buffer < 1:
            raise ValueError(f"buffer must be a positive number of envelopes, not {buffer!r}")
        checked = [_filters.validate(f) for f in filters] or [""]  # "" matches everything
        if not all_namespaces:
            scope = _filters.namespace(self._client.namespace)
            checked = [_filters.all_of(scope, f) for f in checked]
        stream: EventStream[Any] = EventStream(
            self._client._caller, checked, reconnect=reconnect, buffer=buffer, probe=probe
        )
        return stream

    async def publish(
        self,
        topic: str,
        event: Event | betterproto.Message,
        *,
        timeout: Timeout = DEFAULT,
    ) -> None:
        """Publish `event` on `topic` in the client's namespace.

        Args:
            topic: a path of identifiers, e.g. ``/myapp/deployed``.
            event: a typed event (`TaskExit`, ...), an `Unknown` carrying
                any type URL and payload, or a generated protobuf message.
            timeout: deadline in seconds (default: the client's).

        Raises:
            pycontainerd.errors.InvalidArgument: the topic is malformed.
            TypeError: `event` cannot be encoded.

        Example:
            ```python
            await client.events.publish(
                "/myapp/exit", events.TaskExit(container_id="web", exit_status=3)
            )
            ```
        """
        _validate_topic(topic)
        payload = encode(event)
        await self._client._caller.unary(
            _rpc.Events.Publish, PublishRequest(topic=topic, event=payload), timeout=timeout
        )

    async def forward(self, envelope: Envelope, *, timeout: Timeout = DEFAULT) -> None:
        """Relay `envelope` as it is, with its own namespace, topic and timestamp.

        What containerd's shims do to hand their events to the daemon (the
        Forward call): unlike `publish`, which stamps the event with the
        client's namespace and the time of publishing, the daemon delivers
        the envelope unchanged (its timestamp to the microsecond, as
        envelopes are decoded). Its event is encoded as `publish` encodes
        one: a typed event, an `Unknown` or a generated protobuf message.

        Args:
            envelope: the envelope to relay, e.g. one received from another
                daemon's stream.
            timeout: deadline in seconds (default: the client's).

        Raises:
            pycontainerd.errors.InvalidArgument: the namespace or topic is
                malformed, or the timestamp is missing or naive (raised here,
                before any call).
            TypeError: the event cannot be encoded.

        Example:
            ```python
            async with (
                pycontainerd.Client("/run/relay/containerd.sock") as relay,
                client.events.subscribe(all_namespaces=True) as stream,
            ):
                async for envelope in stream:
                    await relay.events.forward(envelope)  # same namespace and timestamp
            ```
        """
        _identifiers.validate(envelope.namespace, "namespace")
        _validate_topic(envelope.topic)
        when = envelope.timestamp
        if when is None or when.tzinfo is None:
            raise errors.InvalidArgument(
                f"cannot forward an event on {envelope.topic!r} with timestamp {when!r}: "
                "an envelope needs an aware datetime (containerd refuses an unset one)"
            )
        message = EnvelopeProto(
            timestamp=when,
            namespace=envelope.namespace,
            topic=envelope.topic,
            event=encode(envelope.event),
        )
        await self._client._caller.unary(
            _rpc.Events.Forward, ForwardRequest(envelope=message), timeout=timeout
        )


def _validate_topic(topic: str) -> None:
    if not isinstance(topic, str) or not topic.startswith("/") or len(topic) < 2:
        raise errors.InvalidArgument(
            f"invalid event topic {topic!r}: a topic is '/' followed by identifiers "
            "separated by '/', e.g. '/myapp/deployed'"
        )
    for part in topic[1:].split("/"):
        try:
            _identifiers.validate(part, "topic component")
        except errors.InvalidArgument as exc:
            raise errors.InvalidArgument(f"invalid event topic {topic!r}: {exc}") from None
