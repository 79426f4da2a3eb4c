"""The single door to the daemon.

Everything that reaches containerd goes through `Transport` (one grpclib
channel per client) and a `Caller` (a transport bound to a namespace and,
optionally, a lease). This is the only module that imports grpclib, and it
uses grpclib's public client API alone: `Channel.request`, the stream's
``send_message``/``recv_message``/``end``/``cancel``, and a `CodecBase`.
It owns:

* address parsing (unix socket path, ``unix://`` URL, ``tcp://host:port``)
  and the choice of TLS that a TCP address needs,
* request metadata (``containerd-namespace``, ``containerd-lease``): grpclib
  replaces rather than merges per-call metadata, so it is built here whole,
* deadlines (a client-wide default with a per-call override),
* the mapping of every transport and gRPC failure to `pycontainerd.errors`,
* the fix for grpclib's missing ``Task.uncancel()`` (see `_restore_cancelling`),
* `Call`, the one way a facade drives a streaming RPC.

RPCs are named by the entries of the generated table `pycontainerd._api._rpc`,
which pair each path with its request and reply types for the type checker.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ipaddress
import os
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import (
    TYPE_CHECKING,
    Any,
    Final,
    Generic,
    Literal,
    NamedTuple,
    NoReturn,
    TypeVar,
    cast,
)

from grpclib.const import Cardinality, Status
from grpclib.encoding.base import CodecBase
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

from . import _compat, errors
from ._api._rpc import BidiStream, ClientStream, Rpc, ServerStream, Unary

if TYPE_CHECKING:
    # grpclib's client (with h2) and betterproto are imported on first use, by
    # the first call: `import pycontainerd` stays quick.
    import betterproto
    from grpclib.client import Channel, Stream

    from ._tls import TLS

# Checked and put in place as the transport loads: a dependency release whose
# private names changed fails `import pycontainerd` with the tested versions.
_compat.install()

__all__ = [
    "DEFAULT",
    "Call",
    "Caller",
    "Default",
    "Target",
    "Timeout",
    "Transport",
    "default_address",
    "parse_address",
]

DEFAULT_ADDRESS: Final = "/run/containerd/containerd.sock"

_Req = TypeVar("_Req", bound="betterproto.Message")
_Rep = TypeVar("_Rep", bound="betterproto.Message")
_T = TypeVar("_T")
# grpclib's message for a RST_STREAM whose code is NO_ERROR (h2 formats the code as 0);
# tests/unit/test_transport_reset.py fails if a release words it otherwise.
_NO_ERROR_RESET: Final = re.compile(r"reset by remote party, error_code: (0|ErrorCodes\.NO_ERROR)$")
# What a cancelled call leaves grpclib's stream context with.
_ABANDONED: Final = Exception("the call was cancelled by the caller")
_CARDINALITY: Final = {
    (False, False): Cardinality.UNARY_UNARY,
    (False, True): Cardinality.UNARY_STREAM,
    (True, False): Cardinality.STREAM_UNARY,
    (True, True): Cardinality.STREAM_STREAM,
}


class Default(enum.Enum):
    """Sentinel type for "use the client's default timeout"."""

    DEFAULT = "DEFAULT"


DEFAULT: Final = Default.DEFAULT
Timeout = float | None | Default


class Target(NamedTuple):
    """Where a transport connects: a unix socket `path`, or `host` and `port` over TCP."""

    host: str | None
    port: int | None
    path: str | None

    @property
    def tcp(self) -> bool:
        return self.path is None


# A host name: labels of letters, digits, "-" and "_", joined by single dots.
_HOSTNAME: Final = re.compile(
    r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?"
)
_SCHEMES: Final = ("unix", "tcp")


def parse_address(address: str) -> Target:
    """Where `address` points: a unix socket, or a TCP host and port.

    Accepts containerd's own syntax: a socket path (absolute, or relative
    starting with ``.``), a ``unix://`` URL, and ``tcp://host:port`` or
    ``host:port``, where host is a name, an IPv4 address or a bracketed
    IPv6 address (``[::1]:1234``).

    Raises:
        pycontainerd.errors.InvalidAddress: the address is empty, has another
            scheme, or its host or port is malformed; the message quotes it.
    """

    def bad(why: str) -> errors.InvalidAddress:
        return errors.InvalidAddress(f"containerd address {address!r}: {why}", address=address)

    if not address.strip():
        raise errors.InvalidAddress("empty containerd address", address=address)
    if "\x00" in address or address != address.strip():
        raise bad("holds whitespace or a NUL character")
    scheme, sep, rest = address.partition("://")
    if sep and scheme.lower() not in _SCHEMES:
        raise bad(f"unknown scheme {scheme + sep!r}; use unix:// (a socket) or tcp://")
    if sep and scheme.lower() == "unix":
        if not rest:
            raise bad("unix:// needs a socket path")
        return Target(None, None, rest)
    if not sep and address.startswith(("/", ".")):
        return Target(None, None, address)
    if not sep:
        rest = address
    if rest.startswith("["):
        inner, bracket, tail = rest[1:].partition("]")
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            raise bad(f"{inner!r} between brackets is not an IPv6 address") from None
        if not bracket or not tail.startswith(":"):
            raise bad("expected [IPv6]:port")
        host, port = inner, tail[1:]
    else:
        host, colon, port = rest.rpartition(":")
        if not colon:
            raise bad(
                "neither a socket path (absolute, ./relative, unix://path) nor host:port "
                "(tcp://host:port)"
            )
        if ":" in host:
            raise bad("an IPv6 address needs brackets: [::1]:1234")
        if not host:
            raise bad("no host before the port")
        if not _HOSTNAME.fullmatch(host):
            raise bad(f"{host!r} is not a host name or IP address")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise bad(f"{port!r} is not a port number (1-65535)")
    return Target(host, int(port), None)


def default_address() -> str:
    """The address a `Client` uses when none is given."""
    return os.environ.get("CONTAINERD_ADDRESS") or DEFAULT_ADDRESS


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


class _Codec(CodecBase):
    """grpclib's codec: betterproto messages, and bytes passed through both ways.

    Messages are serialised by betterproto, their large ``bytes`` fields
    appended raw (`pycontainerd._wire.encode_large`: betterproto copies them
    element by element).

    The SDK's calls send a message, or one a hot path serialised itself
    (`bytes`), and ask for replies as `bytes`: the `Call` that asked decodes
    them, or a reader takes the payload apart itself. The raw stubs of
    ``client.services`` ask for their reply types and get messages.
    """

    __content_subtype__ = "proto"

    def encode(self, message: Any, message_type: Any) -> bytes:
        if isinstance(message, bytes | bytearray | memoryview):
            return message  # type: ignore[return-value]  # grpclib only concatenates it
        from ._wire import encode_large  # imported once the first message is sent

        return encode_large(message)

    def decode(self, data: bytes, message_type: Any) -> Any:
        return data if message_type is bytes else message_type.FromString(data)


def _decode(rpc: Rpc[Any, _Rep], payload: bytes) -> _Rep:
    if rpc.empty_reply:  # nothing to read in it: every caller gets the same Empty
        empty = _EMPTY.get("reply")
        if empty is None:
            empty = _EMPTY["reply"] = rpc.reply_type()
        return cast("_Rep", empty)
    return rpc.reply_type.FromString(payload)


_EMPTY: dict[str, Any] = {}


class Transport:
    """One connection to containerd, shared by a client and all its views.

    grpclib connects lazily and reconnects on the next call after the
    connection was lost, so a daemon restart needs no new transport.

    Args:
        address: where the daemon is (see `parse_address`).
        timeout: the default deadline of unary calls.
        tls: for a TCP address, a `TLS` or ``False`` (plain TCP, asked for);
            ``None`` (or ``False``) for a socket.
        origin: where `address` came from, when not from the caller
            (``"$CONTAINERD_ADDRESS"``), for the error messages.

    Raises:
        pycontainerd.errors.InvalidAddress: the address is malformed, a TCP
            address came without a choice of TLS, or TLS for a socket.
        pycontainerd.errors.TLSConfigError: the TLS files cannot be used.
    """

    def __init__(
        self,
        address: str,
        *,
        timeout: float | None,
        tls: TLS | Literal[False] | None = None,
        origin: str | None = None,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.target = parse_address(address)
        #: The TLS settings of a TCP connection; None for a socket or plain TCP.
        self.tls: TLS | None = None
        self._ssl = self._context(tls, origin)
        #: The daemon's (major, minor) release, once a facade has asked (`Client._release`).
        self.release: tuple[int, int] | None = None
        self._channel: Channel | None = None
        self._closed = False

    def _context(
        self, tls: TLS | Literal[False] | None, origin: str | None
    ) -> ssl.SSLContext | None:
        """Check the choice of TLS for the address; the client context it asks for."""
        where = repr(self.address) + ("" if origin is None else f" (from {origin})")
        if tls is None or tls is False:
            if tls is None and self.target.tcp:
                raise errors.InvalidAddress(
                    f"containerd address {where} is TCP: pass tls=pycontainerd.TLS(ca=..., "
                    "cert=..., key=...) to verify the daemon, or tls=False for plain TCP "
                    "(unencrypted, and anyone who reaches the port controls the daemon)",
                    address=self.address,
                )
            return None
        from ._tls import TLS  # only a client that uses TLS pays for the module

        if not isinstance(tls, TLS):
            raise TypeError(f"tls= takes a pycontainerd.TLS, or False for plain TCP, not {tls!r}")
        if not self.target.tcp:
            raise errors.InvalidAddress(
                f"containerd address {where} is a unix socket: TLS (tls=) is for tcp:// addresses",
                address=self.address,
            )
        context = tls.context()
        self.tls = tls
        return context

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
            from grpclib.client import Channel
            from grpclib.config import Configuration

            host, port, path = self.target
            server_name = None if self.tls is None else self.tls.server_name
            self._channel = Channel(
                host,
                port,
                path=path,
                codec=_Codec(),
                ssl=self._ssl,
                config=Configuration(ssl_target_name_override=server_name),
            )
        return self._channel

    def close(self) -> None:
        self._closed = True
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def bind(self, namespace: str, lease: str | None = None) -> Caller:
        return Caller(self, namespace, lease)

    def deadline(self, timeout: Timeout) -> float | None:
        """Seconds until a call given `timeout` must end (the client's default for DEFAULT)."""
        return self.timeout if timeout is DEFAULT else timeout

    @contextlib.contextmanager
    def map_errors(self, method: str, expires: float | None = None) -> Iterator[None]:
        """Translate grpclib and socket failures inside the block into `pycontainerd.errors`.

        `expires` is the loop time at which the call's deadline passes, if it has one.
        """
        task = asyncio.current_task()
        before = task.cancelling() if task is not None else 0
        try:
            yield
        except Exception as exc:
            error = self.translate(exc, method, expires)
            if error is None:
                raise
            _restore_cancelling(task, before)
            raise error from exc

    def translate(
        self, exc: Exception, method: str, expires: float | None = None
    ) -> errors.ContainerdError | None:
        """The `pycontainerd.errors` exception for a grpclib or socket failure, else None.

        None for one of ours already (`errors.DeadlineExceeded` is a
        `TimeoutError` and `errors.ConnectionError` an `OSError` too).
        """
        if isinstance(exc, errors.ContainerdError):
            return None
        if (
            isinstance(exc, StreamTerminatedError)
            and expires is not None
            and asyncio.get_running_loop().time() >= expires
        ):
            # containerd 2.x (grpc-go 1.6x) resets a stream whose deadline has
            # passed, which can reach grpclib before its own timer fires.
            return errors.DeadlineExceeded(f"deadline exceeded calling {method}", method=method)
        if isinstance(exc, GRPCError):
            message = exc.message or ""
            if exc.status is Status.UNKNOWN and "context deadline exceeded" in message:
                return errors.DeadlineExceeded(message, method=method)
            if exc.status is Status.UNIMPLEMENTED:
                message = _unimplemented(method, message)
            if exc.status is Status.RESOURCE_EXHAUSTED and (over := _OVER_LIMIT.fullmatch(message)):
                return _too_large(method, over)
            return errors.error_for_status(exc.status.value, message, method=method)
        if isinstance(exc, TimeoutError):
            return errors.DeadlineExceeded(f"deadline exceeded calling {method}", method=method)
        if isinstance(exc, StreamTerminatedError):
            return errors.ConnectionError(
                f"connection to containerd at {self.address} was lost during {method}: "
                f"{exc}{self._plain_hint()}",
                address=self.address,
                method=method,
                in_flight=True,
            )
        if isinstance(exc, AttributeError) and type(exc.obj).__module__.startswith("grpclib."):
            # grpclib can hand out a connection that was lost as it opened (the
            # daemon accepted it and died): a stream on it fails with this.
            return errors.ConnectionError(
                f"connection to containerd at {self.address} was lost as it opened, "
                f"calling {method}",
                address=self.address,
                method=method,
            )
        if isinstance(exc, ProtocolError):
            return errors.Unknown(
                f"protocol error calling {method}: {exc}{self._plain_hint()}", method=method
            )
        if isinstance(exc, ssl.SSLError):
            return errors.TLSError(
                f"TLS connection to containerd at {self.address} failed: {self._tls_reason(exc)}",
                address=self.address,
                method=method,
            )
        if isinstance(exc, OSError):
            return errors.ConnectionError(
                f"cannot reach containerd at {self.address} ({exc.strerror or exc}); "
                "check that containerd is running and the address is right",
                address=self.address,
                method=method,
            )
        return None

    async def reraise(self, error: errors.ConnectionError) -> NoReturn:
        """Raise `error`, or the `errors.TLSError` that `explain` finds behind it."""
        explained = await self.explain(error)
        if explained is error:
            raise error
        raise explained from explained.__cause__

    async def explain(self, error: errors.ConnectionError) -> errors.ConnectionError:
        """`error`, or the `errors.TLSError` behind it when the daemon refuses our TLS client.

        Under TLS 1.3 a server checks the client's certificate after the
        client's side of the handshake is done, and answers a refusal (no
        certificate, or one its CA did not sign) with an alert. grpclib has
        sent its first frames by then; the server's reset fails that write,
        and the alert is never read: the call sees only a lost connection.
        So a lost TLS connection is probed, on this error path only: a
        connection of its own, with the same context, that writes nothing
        and reads the server's first bytes, or its alert. A daemon that
        accepts the client (or is gone) leaves `error` as it is.
        """
        if (
            self._ssl is None
            or isinstance(error, errors.TLSError)
            or not isinstance(error.__cause__, StreamTerminatedError)
        ):
            return error
        host, port, _ = self.target
        server_name = None if self.tls is None else self.tls.server_name
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=self._ssl, server_hostname=server_name or host
                )
                try:
                    await reader.read(1)
                finally:
                    writer.close()
        except ssl.SSLError as exc:
            tls_error = errors.TLSError(
                f"containerd at {self.address} ended the TLS connection during "
                f"{error.method}: {self._tls_reason(exc)}",
                address=self.address,
                method=error.method,
            )
            tls_error.__cause__ = exc
            return tls_error
        except (OSError, TimeoutError):
            pass
        return error

    def _tls_reason(self, exc: ssl.SSLError) -> str:
        """OpenSSL's account of a TLS failure, with what to check for the common ones."""
        reason = exc.reason or ""
        if isinstance(exc, ssl.SSLCertVerificationError):
            detail = exc.verify_message or reason
            if exc.verify_code == _X509_HOSTNAME_MISMATCH:
                return (
                    f"the daemon's certificate does not name the host ({detail}): its "
                    "subjectAltName must hold it (IP:... for an address), or set "
                    "TLS(server_name=) to a name it holds"
                )
            if exc.verify_code == _X509_EXPIRED:
                return f"the daemon's certificate has expired ({detail})"
            signer = "the system's CAs" if self.tls is None or self.tls.ca is None else "TLS(ca=)"
            return (
                f"the daemon's certificate is not signed by {signer} ({detail}); ca must be "
                "the CA that signed the daemon's tcp_tls_cert"
            )
        detail = reason or str(exc)
        if "ALERT" in reason and any(key in reason for key in _REFUSALS):
            if self.tls is not None and self.tls.cert is None:
                return (
                    "the daemon requires a client certificate (its tcp_tls_ca is set): "
                    f"pass TLS(cert=..., key=...) signed by that CA ({detail})"
                )
            return (
                "the daemon refused the client certificate: it must be signed by the "
                f"daemon's tcp_tls_ca, for client authentication ({detail})"
            )
        for key, hint in _TLS_HINTS:
            if key in reason:
                return f"{hint} ({detail})"
        return detail

    def _plain_hint(self) -> str:
        if self.target.tcp and self.tls is None:
            return " (plain TCP, tls=False: does the daemon's listener speak TLS?)"
        return ""


# How long `Transport.explain` waits for a daemon's first bytes, or its alert.
_PROBE_TIMEOUT: Final = 3.0
# OpenSSL's verify codes (X509_V_ERR_*) that call for their own advice.
_X509_EXPIRED: Final = 10
_X509_HOSTNAME_MISMATCH: Final = 62
# The alerts of a server that refuses the client's certificate, or wants one.
_REFUSALS: Final = (
    "BAD_CERTIFICATE",
    "CERTIFICATE_REQUIRED",
    "UNKNOWN_CA",
    "CERTIFICATE_UNKNOWN",
    "CERTIFICATE_EXPIRED",
    "UNSUPPORTED_CERTIFICATE",
)
# What the other failures mean, by OpenSSL's reason.
_TLS_HINTS: Final = (
    ("WRONG_VERSION_NUMBER", "the peer does not speak TLS (a plain TCP listener?)"),
    ("RECORD_LAYER_FAILURE", "the peer does not speak TLS (a plain TCP listener?)"),
    ("PACKET_LENGTH_TOO_LONG", "the peer does not speak TLS (a plain TCP listener?)"),
    ("NO_APPLICATION_PROTOCOL", "the peer does not serve gRPC over HTTP/2 (ALPN h2)"),
    ("PROTOCOL_VERSION", "the peer wants a TLS version this client does not offer"),
)


# The services and calls that older daemons lack, and the release that added them.
_ADDED_IN: Final = (
    ("/containerd.services.introspection.v1.Introspection/PluginInfo", "2.0"),
    ("/containerd.services.sandbox.v1.Controller/Metrics", "2.0"),
    ("/containerd.services.sandbox.v1.Controller/Update", "2.0"),
    ("/containerd.services.sandbox.v1.", "1.7"),
    ("/containerd.services.streaming.v1.", "1.7"),
    ("/containerd.services.transfer.v1.", "1.7"),
)


def _unimplemented(method: str, message: str) -> str:
    """The daemon's UNIMPLEMENTED message, saying which containerd has `method` if we know.

    Only when the daemon lacks the service or the method (gRPC's own "unknown
    service" and "unknown method" answers): other UNIMPLEMENTED answers come
    from a handler the daemon has, such as a stub ("method Platform not
    implemented") or a shim behind it, and a newer release would not help.
    """
    if message and not message.startswith(("unknown service", "unknown method")):
        return message
    for prefix, release in _ADDED_IN:
        if method.startswith(prefix):
            return f"{method} needs containerd {release} or newer ({message or 'unimplemented'})"
    return message


# grpc-go's words for a message over its limit, as containerd's server sends them (a
# streamed reply's without the "grpc: "):
# "trying to send" for its reply, "received" for the request.
_OVER_LIMIT: Final = re.compile(
    r"(?:grpc: )?(trying to send|received) message (?:after decompression )?larger than max "
    r"\((\d+) vs\. (\d+)\)"
)


def _too_large(method: str, over: re.Match[str]) -> errors.MessageTooLarge:
    """The error for grpc-go's refusal of a message over the daemon's limit, saying what to do."""
    reply = over[1] == "trying to send"
    size, limit = int(over[2]), int(over[3])
    if reply:
        message = (
            f"the daemon's reply to {method} is {size} bytes, over its limit of {limit} bytes "
            "(max_send_message_size in the [grpc] section of its config raises it); "
            "the call itself may have taken effect"
        )
    else:
        message = (
            f"the request to {method} is {size} bytes, over the daemon's limit of {limit} "
            "bytes (max_recv_message_size in the [grpc] section of its config raises it)"
        )
    return errors.MessageTooLarge(message, size=size, limit=limit, reply=reply, method=method)


def _expiry(seconds: float | None) -> float | None:
    """The earliest loop time at which the daemon may end a call given `seconds` from now.

    ``grpc-timeout`` carries the deadline truncated to its unit (whole
    seconds above 10 s, milliseconds above 10 ms, as grpclib encodes it), so
    the daemon's deadline can come that much before ours.
    """
    if seconds is None:
        return None
    unit = 1.0 if seconds > 10 else 1e-3 if seconds > 0.01 else 1e-6
    return asyncio.get_running_loop().time() + seconds - unit


class Caller:
    """A transport bound to a namespace (and a lease): what facades call through."""

    __slots__ = ("lease", "metadata", "namespace", "transport")

    def __init__(self, transport: Transport, namespace: str, lease: str | None) -> None:
        self.transport = transport
        self.namespace = namespace
        self.lease = lease
        md = [("containerd-namespace", namespace)]
        if lease is not None:
            md.append(("containerd-lease", lease))
        self.metadata: Final = tuple(md)

    def _open(self, rpc: Rpc[Any, Any], timeout: float | None) -> Stream[Any, bytes]:
        return self.transport.channel().request(
            rpc.path,
            _CARDINALITY[rpc.client_streaming, rpc.server_streaming],
            bytes,
            bytes,
            timeout=timeout,
            metadata=self.metadata,
        )

    async def unary(
        self, rpc: Unary[_Req, _Rep], request: _Req | bytes, *, timeout: Timeout = DEFAULT
    ) -> _Rep:
        """Make one unary call and return its reply.

        `request` is a message, or one a hot path serialised itself. The
        deadline (the client's default unless given) is sent as
        ``grpc-timeout`` and kept here too.
        """
        return _decode(rpc, await self.unary_raw(rpc, request, timeout=timeout))

    async def unary_raw(
        self, rpc: Unary[_Req, Any], request: _Req | bytes, *, timeout: Timeout = DEFAULT
    ) -> bytes:
        """`unary`, returning the reply serialised, for a reader that decodes it itself."""
        t = self.transport
        seconds = t.deadline(timeout)
        try:
            with t.map_errors(rpc.path, _expiry(seconds)):
                async with self._open(rpc, seconds) as stream:
                    await stream.send_message(request, end=True)
                    payload = await stream.recv_message()
                if payload is None:
                    raise GRPCError(Status.UNKNOWN, "the daemon sent no reply message")
        except errors.ConnectionError as exc:
            await t.reraise(exc)
        return payload

    @contextlib.asynccontextmanager
    async def stream(
        self,
        rpc: ServerStream[_Req, _Rep] | ClientStream[_Req, _Rep] | BidiStream[_Req, _Rep],
        *,
        timeout: Timeout = None,
    ) -> AsyncIterator[Call[_Req, _Rep]]:
        """Open a streaming call; leaving the block ends it (reading its status).

        Streams have no deadline unless one is given. Errors raised by the
        call's methods, and by the exit, are `pycontainerd.errors`. Leaving
        the block with an error or a cancellation resets the stream; leaving
        it otherwise (its end, a ``return``, a ``break``) waits for the
        call's status, so a block that stops reading while the daemon may
        still send calls `Call.cancel` first: replies nobody reads hold the
        connection's flow-control window, which every call of the client
        shares. Bidirectional calls should end their last message with
        ``send(..., end=True)``: containerd resets some streams
        (Content.Write) right after its last reply, and a half-open client
        side would lose that reply.
        """
        t = self.transport
        seconds = t.deadline(timeout)
        call = Call(self._open(rpc, seconds), rpc, t, _expiry(seconds))
        try:
            with call._errors():
                await call._enter()
        except errors.ConnectionError as exc:
            await t.reraise(exc)
        # The block's own errors pass through as they are: the call's steps
        # translate theirs, and a TimeoutError or OSError of the caller's is
        # none of the daemon's.
        try:
            yield call
        except BaseException as exc:
            with call._errors():
                await call._exit(exc)
            raise
        with call._errors():
            await call._exit(None)


class Call(Generic[_Req, _Rep]):
    """One streaming RPC in progress: messages out with `send`, replies in with `recv`.

    Made by `Caller.stream`. Every method raises `pycontainerd.errors`. A
    reader that wants a reply's serialised bytes (to decode only part of it,
    or to keep a large field without copying it) uses `recv_raw`.
    """

    __slots__ = ("_done", "_expires", "_rpc", "_stream", "_transport")

    def __init__(
        self,
        stream: Stream[Any, bytes],
        rpc: Rpc[_Req, _Rep],
        transport: Transport,
        expires: float | None,
    ):
        self._stream = stream
        self._rpc = rpc
        self._transport = transport
        self._expires = expires
        self._done = False

    def _errors(self) -> contextlib.AbstractContextManager[None]:
        return self._transport.map_errors(self._rpc.path, self._expires)

    async def _enter(self) -> None:
        await self._stream.__aenter__()

    async def _exit(self, exc: BaseException | None) -> None:
        """Leave grpclib's stream context once: it reads the status, or resets the stream.

        Given a `StreamTerminatedError` (the daemon reset the stream), grpclib
        raises the error status that came before the reset instead, if any.
        """
        if self._done:
            return
        self._done = True
        if exc is None:
            await self._stream.__aexit__(None, None, None)
        else:
            await self._stream.__aexit__(type(exc), exc, exc.__traceback__)

    async def send(self, message: _Req | bytes, *, end: bool = False) -> None:
        """Send one message (or one already serialised); `end` closes the sending half."""
        await self._call(self._stream.send_message(message, end=end))

    async def end(self) -> None:
        """Close the sending half without a message."""
        await self._call(self._stream.end())

    async def recv_raw(self) -> bytes | None:
        """The next reply, serialised; ``None`` when the daemon has ended the stream."""
        return await self._call(self._stream.recv_message())

    async def recv(self) -> _Rep | None:
        """The next reply; ``None`` when the daemon has ended the stream."""
        payload = await self.recv_raw()
        return None if payload is None else _decode(self._rpc, payload)

    async def finish(self) -> None:
        """Wait for the call's status (the sending half must be closed).

        Raises the daemon's error, if it sent one; afterwards the call is
        over, and leaving the ``async with`` block has nothing left to do.
        """
        with self._errors():
            await self._exit(None)

    async def cancel(self) -> None:
        """Reset the stream if it is still open: the daemon stops, and the call is over.

        Call it from the task that drives the call (a reader blocked in
        another task is not woken; cancel that task instead).

        It leaves grpclib's stream context as an error would, which resets
        the stream only when it is not closed already.
        """
        with self._errors():
            await self._exit(_ABANDONED)

    def __aiter__(self) -> Call[_Req, _Rep]:
        return self

    async def __anext__(self) -> _Rep:
        reply = await self.recv()
        if reply is None:
            raise StopAsyncIteration
        return reply

    async def _call(self, step: Awaitable[_T]) -> _T:
        """Await one step of the call, its failures translated."""
        if self._done:
            step.close()  # type: ignore[attr-defined]  # a coroutine, never started
            raise errors.FailedPrecondition(f"the call to {self._rpc.path} has ended")
        try:
            with self._errors():
                try:
                    return await step
                except StreamTerminatedError as exc:
                    # containerd answers some calls (Content.Write refusing a locked
                    # ref) with an error status and then resets the stream while the
                    # client half is open: grpclib raises that status on exit.
                    await self._exit(exc)
                    if _NO_ERROR_RESET.search(str(exc)):
                        # grpc-go resets with NO_ERROR after its (OK) status when the
                        # client half is still open: the daemon has ended the call.
                        return None  # type: ignore[return-value]  # the end: recv's None
                    raise
        except errors.ConnectionError as exc:
            await self._transport.reraise(exc)
