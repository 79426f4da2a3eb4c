"""Exceptions raised by pycontainerd.

Every error the daemon returns is mapped to one class below, chosen by its
gRPC status code (the same mapping containerd's own ``errdefs`` package
uses). The original transport error is kept as ``__cause__``.

A daemon that cannot be reached (socket missing, connection refused, daemon
gone mid-call) raises `ConnectionError`: its own branch under `Unavailable`
(so ``except Unavailable`` retries cover it), also Python's builtin
`ConnectionError`, and it names the address tried. A TLS connection that
fails (the daemon's certificate is not trusted, it refused the client's)
raises `TLSError`, a `ConnectionError` too. A plain `Unavailable` is the
daemon's own answer (a locked ingest ref, say).

A `Client` given a malformed address raises `InvalidAddress`, and TLS
files that cannot be used `TLSConfigError`, as it is made: both are also
`ValueError`.

Registry failures (`pycontainerd.registry`) are also these classes where
one matches: a missing image is a `NotFound`, refused credentials
`Unauthenticated`, a 403 `PermissionDenied`, bad content `DataLoss`, an
unreachable registry `Unavailable`.

```text
ContainerdError
├── ClientClosedError        the Client was used after aclose()
├── ExitCodeError            a process run with check=True exited non-zero
├── InvalidAddress           (also ValueError) an address the Client cannot use
├── TLSConfigError           (also ValueError) TLS files that cannot be used
├── UnsafeFifoDir            (also PermissionError) a FIFO root another user could tamper with
└── RPCError                 the daemon answered with a non-OK status
    ├── NotFound
    ├── AlreadyExists
    ├── InvalidArgument      (also raised before any RPC for bad identifiers)
    │   └── InvalidArchive   a malformed or hostile image archive
    ├── FailedPrecondition
    │   ├── Conflict
    │   └── NotModified
    ├── Unavailable
    │   └── ConnectionError  the daemon cannot be reached (socket missing, daemon gone)
    │       └── TLSError     the TLS handshake failed (untrusted certificate, refused client)
    ├── OutOfRange
    ├── Unimplemented
    ├── DeadlineExceeded     (also a TimeoutError)
    ├── Canceled
    ├── PermissionDenied
    ├── ResourceExhausted
    │   └── MessageTooLarge  a request or reply over the daemon's gRPC message limit
    ├── Aborted
    ├── Internal
    ├── DataLoss
    ├── Unauthenticated
    └── Unknown
```

Example:
    ```python
    from pycontainerd import errors

    try:
        await client.namespaces.get("nope")
    except errors.NotFound as exc:
        print(exc.status, exc.method, exc)
    ```
"""

from __future__ import annotations

import builtins
import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._tasks import RunResult

__all__ = [
    "Aborted",
    "AlreadyExists",
    "Canceled",
    "ClientClosedError",
    "Conflict",
    "ConnectionError",
    "ContainerdError",
    "DataLoss",
    "DeadlineExceeded",
    "ExitCodeError",
    "FailedPrecondition",
    "Internal",
    "InvalidAddress",
    "InvalidArchive",
    "InvalidArgument",
    "MessageTooLarge",
    "NotFound",
    "NotModified",
    "OutOfRange",
    "PermissionDenied",
    "RPCError",
    "ResourceExhausted",
    "Status",
    "TLSConfigError",
    "TLSError",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "UnsafeFifoDir",
    "error_for_status",
]


class Status(enum.IntEnum):
    """gRPC status codes, as carried by `RPCError.status`."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class ContainerdError(Exception):
    """Root of every exception pycontainerd raises on purpose."""


class ClientClosedError(ContainerdError, RuntimeError):
    """A `Client` (or a view of it) was used after `Client.aclose()`."""


class InvalidAddress(ContainerdError, ValueError):
    """A `Client` was given an address it cannot use, before any connection.

    The address is malformed (no port, an unbracketed IPv6 address, an
    unknown scheme), or a TCP address came without a choice of TLS
    (``tls=pycontainerd.TLS(...)``, or ``tls=False`` for plain TCP), or TLS
    was asked for a unix socket.

    Attributes:
        address: the address as given (or as read from ``$CONTAINERD_ADDRESS``).
    """

    def __init__(self, message: str, *, address: str) -> None:
        super().__init__(message)
        self.address = address


class TLSConfigError(ContainerdError, ValueError):
    """The files of a `pycontainerd.TLS` cannot be used (raised as the `Client` is made).

    A file is missing or unreadable, holds no PEM certificate or key, or the
    key does not match the certificate; or a key was given without a
    certificate.

    Attributes:
        path: the file at fault, if one is.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class UnsafeFifoDir(ContainerdError, PermissionError):
    """The directory for a task's FIFOs is not safe to use (raised before any call to the daemon).

    A FIFO root (`pycontainerd.stdio.pipes`' ``fifo_dir``, the `Client`'s,
    or ``/run/containerd/fifo``) that exists must be a directory, not a
    symbolic link, owned by this process's user and writable by nobody
    else: another local user could otherwise replace the FIFOs and read or
    feed the process's streams.

    Attributes:
        path: the directory.
        reason: what is wrong with it.

    Example:
        ```python
        try:
            task = await container.new_task(stdio=stdio.pipes(fifo_dir="/tmp"))
        except errors.UnsafeFifoDir as exc:  # /tmp is world-writable
            print(exc.path, exc.reason)
        ```
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"FIFO directory {path!r:.200} {reason}")
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return str(self.args[0])


class ExitCodeError(ContainerdError):
    """A process run with ``check=True`` (`Client.run`, `Task.exec_run`) exited non-zero.

    Attributes:
        result: the `RunResult`, with the code and the captured output.
    """

    def __init__(self, result: RunResult) -> None:
        super().__init__(f"{list(result.args)!r} exited with code {result.code}")
        self.result = result

    @property
    def code(self) -> int:
        """The exit code."""
        return self.result.code


class RPCError(ContainerdError):
    """The daemon answered a call with a non-OK gRPC status.

    Attributes:
        status: the gRPC status code.
        method: the gRPC method path, e.g. ``/containerd.services.namespaces.v1.Namespaces/Get``,
            or ``None`` when the error was raised on the client side.
        message: the daemon's message without containerd's trailing error-kind
            suffix (``": not found"`` and the like).
    """

    status: Status = Status.UNKNOWN

    def __init__(self, message: str, *, method: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.method = method

    def __str__(self) -> str:
        return self.message


class NotFound(RPCError):
    """The object does not exist."""

    status = Status.NOT_FOUND


class AlreadyExists(RPCError):
    """An object with that identifier exists already."""

    status = Status.ALREADY_EXISTS


class InvalidArgument(RPCError, ValueError):
    """A request carried a bad value (also raised client-side, before any RPC)."""

    status = Status.INVALID_ARGUMENT


class InvalidArchive(InvalidArgument):
    """An image archive is malformed or hostile (raised client-side while importing)."""


class FailedPrecondition(RPCError):
    """The object is not in a state that allows the operation."""

    status = Status.FAILED_PRECONDITION


class Conflict(FailedPrecondition):
    """The operation conflicts with the object's current state."""


class NotModified(FailedPrecondition):
    """Nothing was changed (containerd's ``ErrNotModified``)."""


class Unavailable(RPCError):
    """The daemon (or a resource such as a locked ingest ref) is unavailable; retry later."""

    status = Status.UNAVAILABLE


class ConnectionError(Unavailable, builtins.ConnectionError):
    """The daemon could not be reached at `address`, or the connection broke mid-call.

    Raised for a missing socket, a refused connection or a daemon that went
    away. The same client works again once the daemon is back.

    Attributes:
        address: the address the client tried (socket path or ``host:port``).
        in_flight: whether the request may have reached the daemon: the
            connection broke during the call, so the daemon may have done
            what was asked (created the object, say) and died before
            answering. ``False`` when the call never got through (no daemon
            listening): nothing happened.
    """

    def __init__(
        self, message: str, *, address: str, method: str | None = None, in_flight: bool = False
    ) -> None:
        super().__init__(message, method=method)
        self.address = address
        self.in_flight = in_flight


class TLSError(ConnectionError):
    """The TLS connection to the daemon at `address` failed.

    The daemon's certificate is not signed by the client's CA or does not
    name the host, the daemon refused the client's certificate (or wanted
    one and got none), or the peer does not speak TLS at all. The
    `ssl.SSLError`, when there is one, is the ``__cause__``. Unlike a daemon
    that is down, this does not heal by retrying: fix the certificates.
    """


class OutOfRange(RPCError):
    """A value (such as an offset) lies outside the valid range."""

    status = Status.OUT_OF_RANGE


class Unimplemented(RPCError):
    """The daemon does not implement the call."""

    status = Status.UNIMPLEMENTED


class DeadlineExceeded(RPCError, TimeoutError):
    """The call's deadline passed before it completed."""

    status = Status.DEADLINE_EXCEEDED


class Canceled(RPCError):
    """The daemon reports that the call was cancelled."""

    status = Status.CANCELLED


class PermissionDenied(RPCError):
    """The caller may not perform the operation."""

    status = Status.PERMISSION_DENIED


class ResourceExhausted(RPCError):
    """A resource (space, quota, message size) is exhausted."""

    status = Status.RESOURCE_EXHAUSTED


class MessageTooLarge(ResourceExhausted):
    """A request or a reply is over the daemon's gRPC message limit (16 MiB unless configured).

    containerd refuses to read a request, or to send a reply, larger than
    the ``max_recv_message_size`` or ``max_send_message_size`` of its
    config's ``[grpc]`` section. A reply refused so may follow a call that
    took effect (an update whose result is too large to send back). The
    connection stays usable.

    Attributes:
        size: the message's size in bytes.
        limit: the daemon's limit in bytes.
        reply: ``True`` when the daemon's reply was too large, ``False`` for the request.

    Example:
        ```python
        try:
            info = await client.content.info(digest)
        except errors.MessageTooLarge as exc:
            print(f"{exc.size} bytes, over the daemon's {exc.limit}")
        ```
    """

    def __init__(
        self, message: str, *, size: int, limit: int, reply: bool, method: str | None = None
    ) -> None:
        super().__init__(message, method=method)
        self.size = size
        self.limit = limit
        self.reply = reply


class Aborted(RPCError):
    """The operation was aborted, typically by a concurrency conflict."""

    status = Status.ABORTED


class Internal(RPCError):
    """The daemon hit an internal error."""

    status = Status.INTERNAL


class DataLoss(RPCError):
    """Data was lost or corrupted (for example a digest mismatch)."""

    status = Status.DATA_LOSS


class Unauthenticated(RPCError):
    """The caller is not authenticated."""

    status = Status.UNAUTHENTICATED


class Unknown(RPCError):
    """An error without a more specific kind (containerd maps shim errors here)."""

    status = Status.UNKNOWN


_BY_STATUS: dict[Status, type[RPCError]] = {
    cls.status: cls
    for cls in (
        NotFound,
        AlreadyExists,
        InvalidArgument,
        FailedPrecondition,
        Unavailable,
        OutOfRange,
        Unimplemented,
        DeadlineExceeded,
        Canceled,
        PermissionDenied,
        ResourceExhausted,
        Aborted,
        Internal,
        DataLoss,
        Unauthenticated,
        Unknown,
    )
}

# containerd appends the error kind to messages ("container "x": not found").
_SUFFIXES = (
    ": not found",
    ": already exists",
    ": invalid argument",
    ": failed precondition",
    ": unavailable",
    ": not implemented",
    ": conflict",
    ": not modified",
)


def error_for_status(status: int, message: str | None, *, method: str | None = None) -> RPCError:
    """Build the exception for a gRPC status code and message.

    containerd's trailing error-kind suffix is removed from the message, and a
    failed precondition whose message says ``conflict`` or ``not modified``
    becomes `Conflict` or `NotModified`.

    Args:
        status: a gRPC status code (an `int` or `Status`).
        message: the status message from the daemon.
        method: the gRPC method path, for the error's `method` attribute.

    Returns:
        An instance of the matching `RPCError` subclass (`Unknown` for codes
        outside the gRPC range).

    Example:
        ```python
        >>> err = error_for_status(5, 'namespace "x": not found')
        >>> type(err).__name__, str(err)
        ('NotFound', 'namespace "x"')
        ```
    """
    try:
        code = Status(status)
    except ValueError:
        code = Status.UNKNOWN
    text = message or code.name.lower().replace("_", " ")
    cls = _BY_STATUS.get(code, Unknown)
    if code is Status.FAILED_PRECONDITION:
        if text.endswith(": conflict"):
            cls = Conflict
        elif text.endswith(": not modified"):
            cls = NotModified
    for suffix in _SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
            break
    return cls(text, method=method)
