"""Unit tests: every gRPC status maps to its exception class and keeps the cause."""

from __future__ import annotations

import asyncio

import pytest
from grpclib.const import Status as GrpcStatus
from grpclib.exceptions import GRPCError, StreamTerminatedError

from pycontainerd import errors
from pycontainerd._transport import Transport

EXPECTED: dict[GrpcStatus, type[errors.RPCError]] = {
    GrpcStatus.CANCELLED: errors.Canceled,
    GrpcStatus.UNKNOWN: errors.Unknown,
    GrpcStatus.INVALID_ARGUMENT: errors.InvalidArgument,
    GrpcStatus.DEADLINE_EXCEEDED: errors.DeadlineExceeded,
    GrpcStatus.NOT_FOUND: errors.NotFound,
    GrpcStatus.ALREADY_EXISTS: errors.AlreadyExists,
    GrpcStatus.PERMISSION_DENIED: errors.PermissionDenied,
    GrpcStatus.RESOURCE_EXHAUSTED: errors.ResourceExhausted,
    GrpcStatus.FAILED_PRECONDITION: errors.FailedPrecondition,
    GrpcStatus.ABORTED: errors.Aborted,
    GrpcStatus.OUT_OF_RANGE: errors.OutOfRange,
    GrpcStatus.UNIMPLEMENTED: errors.Unimplemented,
    GrpcStatus.INTERNAL: errors.Internal,
    GrpcStatus.UNAVAILABLE: errors.Unavailable,
    GrpcStatus.DATA_LOSS: errors.DataLoss,
    GrpcStatus.UNAUTHENTICATED: errors.Unauthenticated,
}


def test_every_non_ok_status_is_covered() -> None:
    assert set(EXPECTED) == set(GrpcStatus) - {GrpcStatus.OK}


def _raise_through(
    transport: Transport, exc: BaseException, *, expires_in: float | None = None
) -> errors.RPCError:
    async def run() -> errors.RPCError:
        loop = asyncio.get_running_loop()
        expires = None if expires_in is None else loop.time() + expires_in
        with pytest.raises(errors.RPCError) as info:
            with transport.map_errors("/svc/Method", expires):
                raise exc
        return info.value

    return asyncio.run(run())


@pytest.mark.parametrize(("status", "cls"), EXPECTED.items(), ids=lambda v: getattr(v, "name", ""))
def test_status_maps_to_class_and_keeps_cause(
    status: GrpcStatus, cls: type[errors.RPCError]
) -> None:
    cause = GRPCError(status, "thing: some detail")
    err = _raise_through(Transport("/nonexistent.sock", timeout=None), cause)
    assert type(err) is cls
    assert err.status.value == status.value
    assert err.method == "/svc/Method"
    assert err.__cause__ is cause
    assert str(err) == "thing: some detail"


@pytest.mark.parametrize(
    ("message", "cls", "text"),
    [
        ('namespace "x": not found', errors.NotFound, 'namespace "x"'),
        ("content sha256:ab: already exists", errors.AlreadyExists, "content sha256:ab"),
        ("ns: failed precondition", errors.FailedPrecondition, "ns"),
        ("update lease: conflict", errors.Conflict, "update lease"),
        ("label: not modified", errors.NotModified, "label"),
    ],
)
def test_containerd_suffix_is_dropped(message: str, cls: type[errors.RPCError], text: str) -> None:
    code = {
        errors.NotFound: 5,
        errors.AlreadyExists: 6,
        errors.FailedPrecondition: 9,
        errors.Conflict: 9,
        errors.NotModified: 9,
    }[cls]
    err = errors.error_for_status(code, message)
    assert type(err) is cls
    assert str(err) == text


def test_unknown_context_deadline_is_deadline_exceeded() -> None:
    cause = GRPCError(GrpcStatus.UNKNOWN, "context deadline exceeded")
    err = _raise_through(Transport("/x.sock", timeout=None), cause)
    assert type(err) is errors.DeadlineExceeded
    assert isinstance(err, TimeoutError)


def test_local_timeout_is_deadline_exceeded() -> None:
    cause = TimeoutError("Deadline exceeded")
    err = _raise_through(Transport("/x.sock", timeout=None), cause)
    assert type(err) is errors.DeadlineExceeded
    assert err.__cause__ is cause


@pytest.mark.parametrize(
    "cause", [FileNotFoundError(2, "No such file"), StreamTerminatedError("Connection lost")]
)
def test_transport_failures_name_the_address(cause: Exception) -> None:
    err = _raise_through(Transport("/run/x/y.sock", timeout=None), cause)
    assert isinstance(err, errors.ConnectionError)
    assert isinstance(err, errors.Unavailable)
    assert err.address == "/run/x/y.sock"
    assert "/run/x/y.sock" in str(err)
    assert err.__cause__ is cause


def test_reset_after_the_deadline_is_deadline_exceeded() -> None:
    # containerd 2.x resets a stream whose deadline has passed; before the
    # deadline, a reset is a lost connection.
    cause = StreamTerminatedError("Stream reset by remote party, error_code: 8")
    late = _raise_through(Transport("/x.sock", timeout=None), cause, expires_in=-0.001)
    assert type(late) is errors.DeadlineExceeded
    assert late.__cause__ is cause
    early = _raise_through(Transport("/x.sock", timeout=None), cause, expires_in=60)
    assert type(early) is errors.ConnectionError


def test_codes_outside_grpc_range_are_unknown() -> None:
    assert type(errors.error_for_status(99, "odd")) is errors.Unknown


def test_connection_error_is_its_own_branch_under_unavailable() -> None:
    # Connection failures are an Unavailable (retry later) and an OSError
    # ConnectionError, but the daemon's own UNAVAILABLE status is not one.
    assert issubclass(errors.ConnectionError, errors.Unavailable)
    assert issubclass(errors.ConnectionError, errors.RPCError)
    assert issubclass(errors.ConnectionError, errors.ContainerdError)
    assert issubclass(errors.ConnectionError, ConnectionError)  # the builtin
    assert issubclass(errors.ConnectionError, OSError)
    assert errors.ConnectionError.status is errors.Status.UNAVAILABLE
    err = errors.ConnectionError("cannot reach containerd at /x.sock", address="/x.sock")
    assert (err.address, err.method, str(err)) == (
        "/x.sock",
        None,
        "cannot reach containerd at /x.sock",
    )
    plain = errors.error_for_status(errors.Status.UNAVAILABLE, "ingest ref locked: unavailable")
    assert type(plain) is errors.Unavailable
    assert not isinstance(plain, errors.ConnectionError)


def _docstring_tree() -> list[tuple[str, str]]:
    """(child, parent) pairs drawn by the tree in the module docstring of `errors`."""
    assert errors.__doc__ is not None
    tree = errors.__doc__.split("```text\n", 1)[1].split("```", 1)[0]
    pairs: list[tuple[str, str]] = []
    stack: list[tuple[int, str]] = []
    for line in tree.splitlines():
        name_at = next(i for i, ch in enumerate(line) if ch.isalpha())
        name = line[name_at:].split()[0]
        while stack and stack[-1][0] >= name_at:
            stack.pop()
        if stack:
            pairs.append((name, stack[-1][1]))
        stack.append((name_at, name))
    return pairs


def test_docstring_tree_matches_the_classes() -> None:
    pairs = _docstring_tree()
    drawn = {child for child, _ in pairs} | {parent for _, parent in pairs}
    for child, parent in pairs:
        assert issubclass(getattr(errors, child), getattr(errors, parent)), (child, parent)
    exported = {
        name
        for name in errors.__all__
        if isinstance(getattr(errors, name), type)
        and issubclass(getattr(errors, name), errors.ContainerdError)
    }
    assert drawn == exported
    assert ("ConnectionError", "Unavailable") in pairs


def test_unimplemented_names_the_release_that_added_the_call() -> None:
    async def run(method: str) -> errors.RPCError:
        with pytest.raises(errors.Unimplemented) as info:
            with Transport("/x.sock", timeout=None).map_errors(method):
                raise GRPCError(GrpcStatus.UNIMPLEMENTED, "unknown service")
        return info.value

    newer = asyncio.run(run("/containerd.services.transfer.v1.Transfer/Transfer"))
    assert "needs containerd 1.7 or newer (unknown service)" in str(newer)
    other = asyncio.run(run("/containerd.services.tasks.v1.Tasks/Create"))
    assert str(other) == "unknown service"


def test_unimplemented_by_a_handler_the_daemon_has_names_no_release() -> None:
    async def run(method: str, message: str) -> str:
        with pytest.raises(errors.Unimplemented) as info:
            with Transport("/x.sock", timeout=None).map_errors(method):
                raise GRPCError(GrpcStatus.UNIMPLEMENTED, message)
        return str(info.value)

    platform = "/containerd.services.sandbox.v1.Controller/Platform"
    # containerd 1.7 and 2.1 have the Controller service, but no Platform handler
    assert asyncio.run(run(platform, "method Platform not implemented")) == (
        "method Platform not implemented"
    )
    # 1.7 lacks Controller.Metrics, which 2.0 added
    metrics = "/containerd.services.sandbox.v1.Controller/Metrics"
    message = "unknown method Metrics for service containerd.services.sandbox.v1.Controller"
    assert asyncio.run(run(metrics, message)) == (
        f"{metrics} needs containerd 2.0 or newer ({message})"
    )
    store = "/containerd.services.sandbox.v1.Store/List"
    assert asyncio.run(run(store, "")) == f"{store} needs containerd 1.7 or newer (unimplemented)"
