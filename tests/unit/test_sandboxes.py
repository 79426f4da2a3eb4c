"""Sandbox records: what the SDK sends (always a runtime message) and how replies decode."""

from __future__ import annotations

from datetime import UTC, datetime

import betterproto
from betterproto.lib.google.protobuf import Any as AnyProto

from pycontainerd import Extension, Runtime, Sandbox, _wire
from pycontainerd._api.containerd.services.sandbox.v1 import (
    ControllerCreateRequest,
    StoreCreateRequest,
    StoreUpdateRequest,
)
from pycontainerd._api.containerd.types import Sandbox as SandboxProto
from pycontainerd._api.containerd.types import SandboxRuntime
from pycontainerd._sandboxes import _record, _stamp

GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def test_a_record_always_carries_its_runtime_message() -> None:
    # containerd 1.7 and 2.x dereference sandbox.runtime unchecked: a request
    # without the message panics the daemon, so it is sent even when empty.
    record = _record(
        "pod",
        runtime="",
        runtime_options=None,
        spec=None,
        labels={},
        extensions={},
        sandboxer="",
    )
    for name, message in (
        ("containerd.services.sandbox.v1.StoreCreateRequest", StoreCreateRequest),
        ("containerd.services.sandbox.v1.StoreUpdateRequest", StoreUpdateRequest),
        ("containerd.services.sandbox.v1.ControllerCreateRequest", ControllerCreateRequest),
    ):
        sent = message().parse(_wire.encode(name, {"sandbox": record}))
        assert betterproto.serialized_on_wire(sent.sandbox)
        assert betterproto.serialized_on_wire(sent.sandbox.runtime)
        assert sent.sandbox.sandbox_id == "pod"
    # betterproto alone would leave the empty runtime out:
    assert bytes(SandboxProto(sandbox_id="pod", runtime=SandboxRuntime())) == b"\n\x03pod"


def test_a_record_encodes_what_betterproto_would() -> None:
    options = Extension(type_url="example.com/o", value=b"o")
    spec = Extension(type_url="example.com/spec", value=b"{}")
    note = Extension(type_url="example.com/n", value=b"n")
    record = _record(
        "pod",
        runtime="io.containerd.runc.v2",
        runtime_options=options,
        spec=spec,
        labels={"a": "1"},
        extensions={"note": note},
        sandboxer="shim",
    )
    data = _wire.encode("containerd.services.sandbox.v1.StoreCreateRequest", {"sandbox": record})
    expected = SandboxProto(
        sandbox_id="pod",
        runtime=SandboxRuntime(name="io.containerd.runc.v2", options=options._to_proto()),
        spec=spec._to_proto(),
        labels={"a": "1"},
        extensions={"note": note._to_proto()},
        sandboxer="shim",
    )
    assert StoreCreateRequest().parse(data) == StoreCreateRequest(sandbox=expected)


def test_replies_decode_go_zero_values_as_unset() -> None:
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    msg = SandboxProto(
        sandbox_id="pod",
        runtime=SandboxRuntime(name="r"),
        labels={"a": "1"},
        created_at=when,
        updated_at=GO_ZERO_TIME,
        extensions={"gone": AnyProto()},  # what a "removed" extension reads back as
        spec=AnyProto(),
    )
    sandbox = Sandbox._from_proto(SandboxProto().parse(bytes(msg)), None)
    assert sandbox == Sandbox(
        id="pod",
        runtime=Runtime(name="r"),
        labels={"a": "1"},
        created_at=when,
        extensions={"gone": Extension(type_url="")},
    )
    assert sandbox.spec is None
    assert (_stamp(GO_ZERO_TIME), _stamp(datetime(1970, 1, 1, tzinfo=UTC)), _stamp(when)) == (
        None,
        None,
        when,
    )
