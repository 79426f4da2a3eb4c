"""The client's limits are containerd's: what it refuses, the daemon refuses too.

Each limit is checked on both sides of it against the daemon through the raw
stubs (no client-side check), then through the SDK, which refuses the same
value before any RPC with `errors.InvalidArgument`.
"""

from __future__ import annotations

import anyio
import pytest
from betterproto.lib.google.protobuf import Any as AnyProto
from grpclib import GRPCError, Status

import pycontainerd
from pycontainerd import errors, oci
from pycontainerd._api.containerd.services.containers.v1 import (
    Container,
    ContainerRuntime,
    CreateContainerRequest,
    DeleteContainerRequest,
)
from pycontainerd._identifiers import MAX_LABEL_SIZE, MAX_LENGTH
from pycontainerd.testing import inventory

pytestmark = pytest.mark.anyio

_SPEC_TYPE = "types.containerd.io/opencontainers/runtime-spec/1/Spec"


async def _raw_create(client: pycontainerd.Client, id: str, labels: dict[str, str]) -> Status:
    request = CreateContainerRequest(
        container=Container(
            id=id,
            labels=labels,
            runtime=ContainerRuntime(name="io.containerd.runc.v2"),
            spec=AnyProto(type_url=_SPEC_TYPE, value=b"{}"),
        )
    )
    try:
        await client.services.containers.create(request)
    except GRPCError as exc:
        return exc.status
    await client.services.containers.delete(DeleteContainerRequest(id=id))
    return Status.OK


async def test_label_size_limit_is_containerds(containerd_client: pycontainerd.Client) -> None:
    at_limit = {"k": "v" * (MAX_LABEL_SIZE - 1)}
    over = {"k": "v" * MAX_LABEL_SIZE}
    assert await _raw_create(containerd_client, "at-limit", at_limit) is Status.OK
    assert await _raw_create(containerd_client, "over", over) is Status.INVALID_ARGUMENT
    spec = oci.Spec(process=oci.Process(args=["true"]))
    await containerd_client.containers.create("at-limit", spec=spec, labels=at_limit)
    await containerd_client.containers.delete("at-limit")
    with pytest.raises(
        errors.InvalidArgument, match=f"over containerd's limit of {MAX_LABEL_SIZE}"
    ):
        await containerd_client.containers.create("over", spec=spec, labels=over)
    assert (await inventory(containerd_client)).empty


async def test_an_empty_label_key_is_refused_by_the_daemon_too(
    containerd_client: pycontainerd.Client,
) -> None:
    # containerd refuses it, but as UNKNOWN (its store's "key required"): the
    # client says what is wrong instead.
    assert await _raw_create(containerd_client, "empty-key", {"": "x"}) is not Status.OK
    with pytest.raises(errors.InvalidArgument, match="must not be empty"):
        await containerd_client.containers.create("empty-key", spec={}, labels={"": "x"})
    assert (await inventory(containerd_client)).empty


async def test_identifier_length_limit_is_containerds(
    containerd_client: pycontainerd.Client,
) -> None:
    assert await _raw_create(containerd_client, "a" * MAX_LENGTH, {}) is Status.OK
    assert (
        await _raw_create(containerd_client, "a" * (MAX_LENGTH + 1), {}) is Status.INVALID_ARGUMENT
    )
    with pytest.raises(errors.InvalidArgument, match=f"longer than {MAX_LENGTH}"):
        await containerd_client.containers.create("a" * (MAX_LENGTH + 1), spec={})
    assert (await inventory(containerd_client)).empty


async def test_a_spec_that_is_not_an_object_is_stored_by_the_daemon(
    containerd_client: pycontainerd.Client,
) -> None:
    """Why the client checks: containerd stores any bytes as the spec."""
    request = CreateContainerRequest(
        container=Container(
            id="array-spec",
            runtime=ContainerRuntime(name="io.containerd.runc.v2"),
            spec=AnyProto(type_url=_SPEC_TYPE, value=b"[]"),
        )
    )
    await containerd_client.services.containers.create(request)
    assert (await containerd_client.containers.get("array-spec")).spec_json == b"[]"
    await containerd_client.containers.delete("array-spec")
    with pytest.raises(errors.InvalidArgument, match="not an object"):
        await containerd_client.containers.create("array-spec", spec=b"[]")
    assert (await inventory(containerd_client)).empty


# containerd's default gRPC message limit, both ways (its config's [grpc] section).
_MESSAGE_LIMIT = 16 << 20


def _labels(prefix: str, total: int) -> dict[str, str]:
    """Labels of containerd's largest size (key and value), `total` bytes or a little more."""
    count = total // MAX_LABEL_SIZE + 1
    return {f"{prefix}{i:05}": "v" * (MAX_LABEL_SIZE - 10) for i in range(count)}


async def _answers_meanwhile(client: pycontainerd.Client, call: object) -> errors.MessageTooLarge:
    """Await `call` (bounded) beside another call on the same connection; its error.

    Both end (neither hangs), and the connection serves a call after them.
    """
    versions: list[str] = []

    async def other_call() -> None:
        versions.append((await client.version()).version)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(other_call)
            with pytest.raises(errors.MessageTooLarge) as info:
                await call  # type: ignore[misc]
        assert versions == [(await client.version()).version]
    return info.value


async def test_a_reply_over_the_message_limit_is_a_typed_error(
    containerd_client: pycontainerd.Client,
) -> None:
    # A blob's labels can grow past what the daemon may send back, update by
    # update (each request under the limit): its Info reply is then refused.
    async with containerd_client.leases.lease() as client:  # the blobs outlive no lease
        big = await client.content.write("big-labels", b"labels", labels={"keep": "1"})
        small = await client.content.write("small", b"small")
        await client.content.update(big, labels=_labels("a", _MESSAGE_LIMIT // 2))
        with pytest.raises(errors.MessageTooLarge) as update:
            await client.content.update(big, labels=_labels("b", _MESSAGE_LIMIT // 2))
        # The update took effect; only its reply, the whole Info, was too large.
        assert update.value.reply
        assert "may have taken effect" in str(update.value)
        error = await _answers_meanwhile(client, client.content.info(big))
        assert error.reply
        assert error.limit == _MESSAGE_LIMIT
        assert error.size > _MESSAGE_LIMIT
        assert error.method == "/containerd.services.content.v1.Content/Info"
        assert f"over its limit of {_MESSAGE_LIMIT} bytes" in str(error)
        assert "max_send_message_size in the [grpc] section" in str(error)
        assert isinstance(error, errors.ResourceExhausted)
        assert isinstance(error.__cause__, GRPCError)
        # A streamed listing meets the same limit for its one large message.
        await _answers_meanwhile(client, client.content.list())
        # The connection serves on: the small blob, and the large one's labels removed.
        assert (await client.content.info(small)).size == 5
        await client.content.update(big, labels={"keep": "1"}, replace_labels=True)
        assert (await client.content.info(big)).labels == {"keep": "1"}
        await client.content.delete(big)
        await client.content.delete(small)
    assert (await inventory(containerd_client)).empty


async def test_a_request_over_the_message_limit_is_a_typed_error(
    containerd_client: pycontainerd.Client,
) -> None:
    client = containerd_client
    spec = {"process": {"args": ["true"]}, "annotations": {"big": "x" * _MESSAGE_LIMIT}}
    error = await _answers_meanwhile(client, client.containers.create("too-big", spec=spec))
    assert not error.reply
    assert error.limit == _MESSAGE_LIMIT
    assert error.size > _MESSAGE_LIMIT
    assert "max_recv_message_size in the [grpc] section" in str(error)
    assert f"over the daemon's limit of {_MESSAGE_LIMIT} bytes" in str(error)
    assert (await inventory(client)).empty
    # A container the daemon cannot send back: reading it, by name or in a
    # listing (streamed too), is refused; the connection serves on.
    half = {"process": {"args": ["true"]}, "annotations": {"big": "x" * (_MESSAGE_LIMIT // 2)}}
    await client.containers.create("large", spec=half)
    with pytest.raises(errors.MessageTooLarge):
        await client.containers.update("large", labels=_labels("l", _MESSAGE_LIMIT // 2))
    error = await _answers_meanwhile(client, client.containers.get("large"))
    assert error.method == "/containerd.services.containers.v1.Containers/Get"
    await _answers_meanwhile(client, client.containers.list())
    # Deleting it by default reads it first (for its snapshot), which fails the same way.
    await client.containers.delete("large", cleanup_snapshot=False)
    assert (await inventory(client)).empty
