"""The client's limits are containerd's: what it refuses, the daemon refuses too.

Each limit is checked on both sides of it against the daemon through the raw
stubs (no client-side check), then through the SDK, which refuses the same
value before any RPC with `errors.InvalidArgument`.
"""

from __future__ import annotations

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
