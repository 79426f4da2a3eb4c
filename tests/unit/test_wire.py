"""The one wire codec (`pycontainerd._wire`) against betterproto, and on bad input.

Every decoder and encoder is checked differentially: what betterproto
serialises decodes to the same values, and what the codec writes parses
back in betterproto to the same message. Random bytes, truncated messages
and unknown fields raise `WireError` (or decode), never `IndexError`,
`struct.error` or a hang.
"""

from __future__ import annotations

import copy
import datetime as dt
import pickle
from collections.abc import Callable
from typing import Any

import attrs
import betterproto
import pytest
from betterproto.lib.google.protobuf import Any as AnyProto
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycontainerd import _wire, errors, events
from pycontainerd._api import _registry, _schemas
from pycontainerd._api.containerd.services.containers.v1 import (
    Container as ContainerProto,
)
from pycontainerd._api.containerd.services.containers.v1 import (
    ContainerRuntime,
    CreateContainerRequest,
    ListContainersRequest,
    ListContainersResponse,
)
from pycontainerd._api.containerd.services.content.v1 import (
    ReadContentRequest,
    ReadContentResponse,
    WriteAction,
    WriteContentRequest,
    WriteContentResponse,
)
from pycontainerd._api.containerd.services.tasks.v1 import KillRequest, ResizePtyRequest
from pycontainerd._api.containerd.types import Envelope as ProtoEnvelope
from pycontainerd._containers import (
    _WIRE_FIELDS,
    SPEC_TYPE,
    Container,
    Extension,
    Runtime,
    _listed,
    decode_containers,
    decode_fields,
    encode_create,
)
from pycontainerd._convert import timestamp as proto_timestamp
from pycontainerd._descriptors import Mount
from pycontainerd.events._types import EVENTS, decode, decode_event
from pycontainerd.events._types import encode as encode_event

text = st.text(max_size=60)
blob = st.binary(max_size=200)
uint32 = st.integers(0, 2**32 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)
offsets = st.integers(0, 2**63 - 1)
stamps = st.datetimes(
    min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(dt.UTC)
)
anys = st.builds(AnyProto, type_url=text, value=blob)
ALL_MESSAGES = sorted(_schemas.MESSAGES)


# --- varints and the gRPC prefix ------------------------------------------------


@given(st.integers(0, 2**64 - 1), st.binary(max_size=3))
def test_varint_decoding_matches_the_encoding(value: int, after: bytes) -> None:
    encoded = bytearray()
    rest = value
    while rest > 0x7F:
        encoded.append(rest & 0x7F | 0x80)
        rest >>= 7
    encoded.append(rest)
    assert _wire.varint(value) == bytes(encoded)
    data = b"\x00" + bytes(encoded) + after
    assert _wire.read_varint(data, 1) == (value, 1 + len(encoded))
    with pytest.raises(_wire.WireError):
        _wire.read_varint(data[: len(encoded)], 1)  # cut short


def test_varint_edges() -> None:
    assert _wire.varint(-1) == b"\xff" * 9 + b"\x01"  # int64 -1: ten bytes
    assert _wire.read_varint(_wire.varint(-1), 0) == (2**64 - 1, 10)
    with pytest.raises(_wire.WireError, match="too long"):
        _wire.read_varint(b"\xff" * 11, 0)
    with pytest.raises(_wire.WireError):
        _wire.read_varint(b"", 0)


@given(
    st.sampled_from([b"", b"\x08\x96\x01", b"\x11" + bytes(8), b"\x1a\x02hi", b"\x25" + bytes(4)])
)
def test_field_header(field: bytes) -> None:
    if not field:
        with pytest.raises(_wire.WireError):
            _wire.field_header(field, 0)
        return
    key, value, pos = _wire.field_header(field, 0)
    assert {0: 150, 1: 8, 2: 2, 5: 4}[key & 7] == value
    assert pos == (3 if key & 7 == 0 else 2 if key & 7 == 2 else 1)
    with pytest.raises(_wire.WireError, match="wire type"):
        _wire.field_header(b"\x0b", 0)


# --- generic decoding: any message, any input -------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ALL_MESSAGES), st.binary(max_size=80))
def test_random_bytes_decode_or_raise_wire_error(message: str, data: bytes) -> None:
    try:
        got = _wire.decode(_wire.decoder(message), data)
    except _wire.WireError:
        return
    assert isinstance(got, dict)


def _sample(message: str, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Field values for `message` as the generic decoder gives them (sub-messages: dicts)."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for f in _wire.fields(message):
        if f.kind == "message":
            if depth > 2 or f.type_name == "google.protobuf.Timestamp":
                continue
            value: st.SearchStrategy[Any] = _sample(f.type_name, depth + 1)
        elif f.kind == "map":
            key, val = _wire.fields(f.type_name)
            if "message" in (key.kind, val.kind):
                continue
            value = st.dictionaries(_scalar(key.kind), _scalar(val.kind), max_size=2)
        else:
            value = _scalar(f.kind)
        fields[f.name] = st.lists(value, max_size=3) if f.repeated else value
    return st.fixed_dictionaries({}, optional=fields)


def _scalar(kind: str) -> st.SearchStrategy[Any]:
    return {
        "string": text,
        "bytes": blob,
        "bool": st.booleans(),
        "uint32": uint32,
        "uint64": st.integers(0, 2**64 - 1),
        "int32": st.integers(-(2**31), 2**31 - 1),
        "int64": int64,
        "sint32": st.integers(-(2**31), 2**31 - 1),
        "sint64": int64,
        "enum": st.integers(0, 3),
        "fixed32": uint32,
        "fixed64": st.integers(0, 2**64 - 1),
        "sfixed32": st.integers(-(2**31), 2**31 - 1),
        "sfixed64": int64,
        "double": st.floats(allow_nan=False),
        "float": st.just(1.5),
    }[kind]


def _proto_of(message: str) -> type[betterproto.Message]:
    return _registry.MESSAGES[message]


def _normal(message: str, values: dict[str, Any]) -> dict[str, Any]:
    """`values` without zero scalars and empty lists (what proto3 does not send)."""
    out = {}
    for f in _wire.fields(message):
        if f.name not in values:
            continue
        value = values[f.name]
        if value is None or ((f.repeated or f.kind != "message") and not value):
            continue
        if f.kind == "message" and not f.repeated:
            value = _normal(f.type_name, value) if isinstance(value, dict) else value
        elif f.kind == "message":
            value = [_normal(f.type_name, v) for v in value]
        out[f.name] = list(value) if f.repeated else value
    return out


_MESSAGES_WITH_CLASSES = [m for m in ALL_MESSAGES if m in _registry.MESSAGES]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_message_round_trips_through_betterproto(data: st.DataObject) -> None:
    """The codec's encoding parses in betterproto; betterproto's decodes to the same values."""
    message = data.draw(st.sampled_from(_MESSAGES_WITH_CLASSES))
    values = data.draw(_sample(message))
    wire = _wire.encode(message, values)
    proto = _proto_of(message)().parse(wire)
    again = bytes(proto)
    assert _normal(message, _wire.decode(_wire.decoder(message), again)) == _normal(message, values)
    assert _wire.decode(_wire.decoder(message), wire) == _wire.decode(_wire.decoder(message), again)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_truncated_messages_raise_wire_error_or_decode(data: st.DataObject) -> None:
    message = data.draw(st.sampled_from(_MESSAGES_WITH_CLASSES))
    wire = _wire.encode(message, data.draw(_sample(message)))
    plan = _wire.decoder(message)
    for end in range(len(wire)):
        try:
            _wire.decode(plan, wire[:end])
        except _wire.WireError:
            pass


_UNKNOWN_FIELDS = [
    b"\xf8\x07\x96\x01",  # field 127, varint
    b"\xf9\x07" + bytes(8),  # fixed64
    b"\xfa\x07\x03abc",  # length-delimited
    b"\xfd\x07" + bytes(4),  # fixed32
]


@given(st.sampled_from(_MESSAGES_WITH_CLASSES), st.data())
def test_unknown_fields_are_skipped(message: str, data: st.DataObject) -> None:
    wire = _wire.encode(message, data.draw(_sample(message)))
    extra = b"".join(data.draw(st.lists(st.sampled_from(_UNKNOWN_FIELDS), max_size=4)))
    plan = _wire.decoder(message)
    assert _wire.decode(plan, extra + wire + extra) == _wire.decode(plan, wire)


def test_uint64_stays_unsigned(monkeypatch: pytest.MonkeyPatch) -> None:
    # No containerd message has a uint64 today; a synthetic schema stands in.
    monkeypatch.setitem(
        _schemas.MESSAGES,
        "test.Sizes",
        (("size", 1, 0, "uint64", False, ""), ("delta", 2, 0, "int64", False, "")),
    )
    _wire.fields.cache_clear()
    try:
        wire = _wire.encode("test.Sizes", {"size": 2**64 - 1, "delta": -5})
        got = _wire.decode(_wire.decoder("test.Sizes"), wire)
        assert got == {"size": 2**64 - 1, "delta": -5}
        assert _wire.decode(_wire.decoder("test.Sizes"), b"\x08" + _wire.varint(2**63)) == {
            "size": 2**63
        }
    finally:
        _wire.fields.cache_clear()


@given(stamps)
def test_timestamps_match_betterproto(when: dt.datetime) -> None:
    from betterproto.lib.google.protobuf import Timestamp

    delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    seconds = delta.days * 86400 + delta.seconds
    wire = bytes(Timestamp(seconds=seconds, nanos=delta.microseconds * 1000 + 999))
    assert _wire.timestamp(wire, 0, len(wire)) == when
    assert _wire.timestamp(b"", 0, 0) is None
    with pytest.raises(_wire.WireError):
        _wire.timestamp(b"\x10\xff\xff\xff\xff\x0f", 0, 6)  # nanos out of range
    with pytest.raises(_wire.WireError):
        _wire.timestamp(b"\x08" + b"\xff" * 8 + b"\x7f", 0, 10)  # beyond datetime


@given(text, blob, st.lists(st.sampled_from(_UNKNOWN_FIELDS), max_size=2))
def test_any_span_matches_betterproto(type_url: str, value: bytes, extra: list[bytes]) -> None:
    wire = b"".join(extra) + bytes(AnyProto(type_url=type_url, value=value))
    url, start, stop = _wire.any_span(wire, 0, len(wire))
    assert (url, wire[start:stop]) == (type_url, value)


@given(st.binary(max_size=40))
def test_any_span_on_random_bytes_raises_wire_error_only(data: bytes) -> None:
    try:
        _wire.any_span(data, 0, len(data))
    except _wire.WireError:
        pass


# --- scalars and large bytes: encoders ------------------------------------------------


@given(container_id=text, exec_id=text, signal=uint32, all=st.booleans())
def test_encode_scalars_strings_unsigned_and_bools(
    container_id: str, exec_id: str, signal: int, all: bool
) -> None:
    fields = {"container_id": container_id, "exec_id": exec_id, "signal": signal, "all": all}
    assert _wire.encode_scalars(KillRequest, **fields) == bytes(KillRequest(**fields))


@given(digest=text, offset=int64, size=int64)
def test_encode_scalars_signed_64_bit_integers(digest: str, offset: int, size: int) -> None:
    fields = {"digest": digest, "offset": offset, "size": size}
    assert _wire.encode_scalars(ReadContentRequest, **fields) == bytes(ReadContentRequest(**fields))


@given(width=uint32, height=uint32)
def test_encode_scalars_leaves_out_defaults(width: int, height: int) -> None:
    wire = _wire.encode_scalars(ResizePtyRequest, container_id="c", width=width, height=height)
    assert wire == bytes(ResizePtyRequest(container_id="c", width=width, height=height))
    assert _wire.encode_scalars(ResizePtyRequest) == b""


def test_encode_scalars_refuses_unknown_and_repeated_fields() -> None:
    with pytest.raises(TypeError, match="'containerid'"):
        _wire.encode_scalars(KillRequest, containerid="c")
    with pytest.raises(TypeError, match="'filters'"):
        _wire.encode_scalars(ListContainersRequest, filters=["id==x"])


@settings(max_examples=50)
@given(
    size=st.sampled_from([0, 1, 32 * 1024 - 1, 32 * 1024, 1 << 20]),
    ref=st.text(max_size=20),
    offset=st.integers(min_value=0, max_value=1 << 40),
    labels=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)
def test_encode_large_parses_back_to_the_same_message(
    size: int, ref: str, offset: int, labels: dict[str, str]
) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    msg = WriteContentRequest(
        action=WriteAction.WRITE, ref=ref, offset=offset, data=data, labels=labels
    )
    wire = _wire.encode_large(msg)
    assert WriteContentRequest().parse(wire) == msg
    assert msg.data == data  # the message itself is left as it was
    if size < 32 * 1024:
        assert wire == bytes(msg)


# --- content -----------------------------------------------------------------------------


@given(offsets, st.binary(max_size=5000), st.lists(st.sampled_from(_UNKNOWN_FIELDS), max_size=2))
def test_read_content_chunk_matches_betterproto(
    offset: int, data: bytes, extra: list[bytes]
) -> None:
    wire = b"".join(extra) + bytes(ReadContentResponse(offset=offset, data=data))
    got_offset, view = _wire.read_content_chunk(wire)
    assert (got_offset, bytes(view)) == (offset, data)
    assert isinstance(view, memoryview)
    if data:
        assert view.obj is wire  # a view of the message, not a copy


@given(
    offsets,
    offsets,
    st.sampled_from(["", "sha256:" + "ab" * 32]),
    st.sampled_from(list(WriteAction)),
    st.none() | stamps,
)
def test_write_content_response_matches_betterproto(
    offset: int, total: int, digest: str, action: WriteAction, when: dt.datetime | None
) -> None:
    proto = WriteContentResponse(action=action, offset=offset, total=total, digest=digest)
    if when is not None:
        proto.started_at = when
        proto.updated_at = when
    got = _wire.write_content_response(bytes(proto))
    assert got == {
        "action": action,
        "started_at": when,
        "updated_at": when,
        "offset": offset,
        "total": total,
        "digest": digest,
    }


def test_malformed_content_messages_raise_wire_error() -> None:
    with pytest.raises(_wire.WireError):
        _wire.write_content_response(b"\x20")  # offset's key, no value
    with pytest.raises(_wire.WireError):
        _wire.read_content_chunk(b"\x12\x05ab")  # data past the end
    with pytest.raises(_wire.WireError):
        _wire.read_content_chunk(b"\x0b")  # wire type 3 (groups) is not protobuf 3


@given(
    offsets,
    st.binary(max_size=3000),
    text,
    st.dictionaries(text, text, max_size=2),
    st.sampled_from(list(WriteAction)),
)
def test_write_content_request_parses_in_betterproto(
    offset: int, data: bytes, ref: str, labels: dict[str, str], action: WriteAction
) -> None:
    joined = _wire.write_content_request(
        memoryview(data), action=action, ref=ref, offset=offset, labels=labels
    )
    expected = WriteContentRequest(action=action, ref=ref, offset=offset, data=data, labels=labels)
    assert WriteContentRequest().parse(joined) == expected


# --- events ---------------------------------------------------------------------------------


def _event_values(cls: type[Any]) -> st.SearchStrategy[Any]:
    """Any value of an event class, built from its schema."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for f in _wire.fields(cls.TYPE_URL):
        if f.kind == "map":
            fields[f.name] = st.dictionaries(text, text, max_size=3)
        elif f.type_name == "google.protobuf.Timestamp":
            fields[f.name] = st.none() | stamps
        elif f.type_name == "google.protobuf.Any":
            fields[f.name] = st.none() | st.builds(events.Unknown, type_url=text, value=blob)
        elif f.type_name == "containerd.types.Mount":
            mount = st.builds(
                Mount, type=text, source=text, target=text, options=st.lists(text, max_size=2)
            )
            fields[f.name] = st.lists(mount, max_size=2)
        elif f.kind == "message":
            [inner] = [c for c in EVENTS if c.TYPE_URL == f.type_name]
            fields[f.name] = st.none() | _event_values(inner)
        else:
            fields[f.name] = _scalar(f.kind)
    return st.builds(cls, **fields)


def _from_betterproto(cls: type[Any], msg: Any) -> Any:
    """The event value of a betterproto message, converted field by field (the reference)."""
    values: dict[str, Any] = {}
    for f in _wire.fields(cls.TYPE_URL):
        v = getattr(msg, f.name)
        if f.type_name == "google.protobuf.Timestamp":
            v = proto_timestamp(v)
        elif f.type_name == "google.protobuf.Any":
            v = (
                events.Unknown(type_url=v.type_url, value=bytes(v.value))
                if betterproto.serialized_on_wire(v)
                else None
            )
        elif f.type_name == "containerd.types.Mount":
            v = tuple(Mount._from_proto(m) for m in v)
        elif f.kind == "message":
            [inner] = [c for c in EVENTS if c.TYPE_URL == f.type_name]
            v = _from_betterproto(inner, v) if betterproto.serialized_on_wire(v) else None
        elif f.kind == "map":
            v = dict(v)
        values[f.name] = v
    return cls(**values)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EVENTS).flatmap(_event_values))
def test_every_event_decodes_and_encodes_like_betterproto(event: Any) -> None:
    cls = type(event)
    any_ = encode_event(event)
    assert any_.type_url == cls.TYPE_URL
    proto = _registry.MESSAGES[cls.TYPE_URL]().parse(any_.value)
    assert _from_betterproto(cls, proto) == event  # our encoding, read by betterproto
    assert decode_event(cls.TYPE_URL, bytes(proto)) == event  # betterproto's, read by us
    assert decode(any_) == event
    any_.type_url = "type.googleapis.com/" + any_.type_url
    assert decode(any_) == event


def test_typed_events_round_trip_through_any() -> None:
    when = dt.datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=dt.UTC)
    values: list[Any] = [
        events.TaskExit(container_id="c", id="c", pid=7, exit_status=3, exited_at=when),
        events.TaskDelete(container_id="c", pid=7, exit_status=137),
        events.TaskCreate(
            container_id="c",
            bundle="/b",
            rootfs=(Mount(type="overlay", source="overlay", options=("ro",)),),
            io=events.TaskIO(stdout="/fifo/out", terminal=True),
            pid=9,
        ),
        events.TaskStart(container_id="c", pid=9),
        events.TaskOOM(container_id="c"),
        events.TaskExecAdded(container_id="c", exec_id="e"),
        events.TaskExecStarted(container_id="c", exec_id="e", pid=3),
        events.TaskPaused(container_id="c"),
        events.TaskResumed(container_id="c"),
        events.TaskCheckpointed(container_id="c", checkpoint="sha256:00"),
        events.ContainerCreate(
            id="c",
            image="img",
            runtime=events.ContainerRuntime(
                name="io.containerd.runc.v2",
                options=events.Unknown(type_url="x.Opts", value=b"\x08\x01"),
            ),
        ),
        events.ContainerUpdate(id="c", labels={"a": "b"}, snapshot_key="k"),
        events.ContainerDelete(id="c"),
        events.ImageCreate(name="docker.io/library/busybox:latest", labels={"x": "y"}),
        events.ImageUpdate(name="i"),
        events.ImageDelete(name="i"),
        events.ContentDelete(digest="sha256:ab"),
        events.NamespaceCreate(name="n", labels={"k": "v"}),
        events.NamespaceUpdate(name="n"),
        events.NamespaceDelete(name="n"),
        events.SnapshotPrepare(key="k", parent="p"),
        events.SnapshotCommit(key="k", name="n"),
        events.SnapshotRemove(key="k"),
        events.Unknown(type_url="example.com.Thing", value=b"\x01\x02"),
    ]
    for value in values:
        assert decode(encode_event(value)) == value
    # type URLs with the google prefix are understood too
    exit_any = encode_event(values[0])
    exit_any.type_url = "type.googleapis.com/" + exit_any.type_url
    assert decode(exit_any) == values[0]
    assert events.TaskExit(container_id="c").exited_at is None


def test_an_envelope_decodes_like_betterproto_encodes_it() -> None:
    when = dt.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    event = events.TaskExit(container_id="c", id="e", pid=4, exit_status=2**32 - 1, exited_at=when)
    proto = ProtoEnvelope(
        timestamp=when, namespace="ns", topic="/tasks/exit", event=encode_event(event)
    )
    got = events.Envelope._from_wire(bytes(proto))
    assert got == events.Envelope(timestamp=when, namespace="ns", topic="/tasks/exit", event=event)


def test_event_classes_cover_the_event_protos() -> None:
    names = {cls.__name__ for cls in EVENTS}
    assert names == {
        "ContainerCreate", "ContainerDelete", "ContainerRuntime", "ContainerUpdate",
        "ContentCreate", "ContentDelete", "SandboxCreate", "SandboxExit", "SandboxStart", "ImageCreate", "ImageDelete", "ImageUpdate", "NamespaceCreate",
        "NamespaceDelete", "NamespaceUpdate", "SnapshotCommit", "SnapshotPrepare",
        "SnapshotRemove", "TaskCheckpointed", "TaskCreate", "TaskDelete", "TaskExecAdded",
        "TaskExecStarted", "TaskExit", "TaskIO", "TaskOOM", "TaskPaused", "TaskResumed",
        "TaskStart",
    }  # fmt: skip
    assert events.TaskExit.TOPIC == "/tasks/exit"
    assert events.TaskExecAdded.TOPIC == "/tasks/exec-added"
    assert events.TaskOOM.TOPIC == "/tasks/oom"
    assert events.SnapshotPrepare.TOPIC == "/snapshot/prepare"
    assert events.ImageCreate.TYPE_URL == "containerd.services.images.v1.ImageCreate"
    assert events.TaskIO.TOPIC is None
    assert all(getattr(events, cls.__name__) is cls for cls in EVENTS)


def test_a_corrupt_event_payload_is_delivered_undecoded() -> None:
    assert decode_event("containerd.events.TaskExit", b"\x0a\x05ab") == events.Unknown(
        type_url="containerd.events.TaskExit", value=b"\x0a\x05ab"
    )
    assert decode_event("containerd.events.TaskExit", b"\x0a\x01\xff").type_url == (  # type: ignore[union-attr]
        "containerd.events.TaskExit"
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(EVENTS).flatmap(_event_values),
    st.none() | stamps,
    text,
    text,
    st.lists(st.sampled_from(_UNKNOWN_FIELDS), max_size=2),
)
def test_envelope_decoding_matches_betterproto(
    event: Any, when: dt.datetime | None, namespace: str, topic: str, extra: list[bytes]
) -> None:
    proto = ProtoEnvelope(namespace=namespace, topic=topic, event=encode_event(event))
    if when is not None:
        proto.timestamp = when
    got = events.Envelope._from_wire(b"".join(extra) + bytes(proto))
    assert got == events.Envelope(timestamp=when, namespace=namespace, topic=topic, event=event)


def test_envelope_edges() -> None:
    with pytest.raises(errors.DataLoss):  # a timestamp beyond datetime's range
        events.Envelope._from_wire(b"\x0a\x0b\x08" + b"\xff" * 8 + b"\x7f")
    empty = events.Envelope._from_wire(b"")
    assert empty.timestamp is None
    assert empty.event == events.Unknown(type_url="", value=b"")
    unknown = ProtoEnvelope(topic="/t", event=AnyProto(type_url="example.Foo", value=b"abc"))
    assert events.Envelope._from_wire(bytes(unknown)).event == events.Unknown(
        type_url="example.Foo", value=b"abc"
    )


@given(st.binary(max_size=64))
def test_envelope_decoding_never_crashes(data: bytes) -> None:
    try:
        env = events.Envelope._from_wire(data)
    except errors.DataLoss:
        return
    assert isinstance(env, events.Envelope)


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(EVENTS).flatmap(_event_values), st.data())
def test_truncated_envelopes_are_data_loss_or_decode(event: Any, data: st.DataObject) -> None:
    wire = bytes(ProtoEnvelope(topic="/t", event=encode_event(event)))
    end = data.draw(st.integers(0, len(wire)))
    try:
        events.Envelope._from_wire(wire[:end])
    except errors.DataLoss:
        pass


# --- containers -----------------------------------------------------------------------------

long_text = st.text(max_size=300)  # lengths past one varint byte too
containers = st.builds(
    ContainerProto,
    id=long_text,
    labels=st.dictionaries(long_text, long_text, max_size=5),
    image=text,
    runtime=st.builds(ContainerRuntime, name=text, options=anys),
    spec=anys,
    snapshotter=text,
    snapshot_key=text,
    created_at=stamps,
    updated_at=stamps,
    extensions=st.dictionaries(text, anys, max_size=3),
    sandbox=text,
)


def _container_from_betterproto(msg: ContainerProto) -> Container:
    """The reference: a `Container` converted field by field from betterproto's message."""
    options = msg.runtime.options
    return Container(
        id=msg.id,
        labels=dict(msg.labels),
        image_name=msg.image,
        runtime=Runtime(
            name=msg.runtime.name,
            options=Extension(type_url=options.type_url, value=bytes(options.value))
            if options.type_url
            else None,
        ),
        snapshotter=msg.snapshotter,
        snapshot_key=msg.snapshot_key,
        created_at=proto_timestamp(msg.created_at),
        updated_at=proto_timestamp(msg.updated_at),
        extensions={
            k: Extension(type_url=v.type_url, value=bytes(v.value))
            for k, v in msg.extensions.items()
        },
        sandbox=msg.sandbox,
        spec_type=msg.spec.type_url,
        spec_json=bytes(msg.spec.value),
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(containers, max_size=4))
def test_container_decoder_matches_betterproto(items: list[ContainerProto]) -> None:
    data = bytes(ListContainersResponse(containers=items))
    expected = [
        _container_from_betterproto(c) for c in ListContainersResponse().parse(data).containers
    ]
    assert decode_containers(data, None) == expected


def test_container_unset_fields_and_unknown_fields() -> None:
    data = bytes(ListContainersResponse(containers=[ContainerProto(id="a")]))
    # An unknown varint field (number 99) inside the container is skipped.
    extra = b"\x98\x06\x05"
    body = data[2:] + extra
    data = b"\x0a" + bytes([len(body)]) + body
    [c] = decode_containers(data, None)
    assert c.id == "a"
    assert c.created_at is None
    assert c.labels == {}


@given(st.binary(max_size=64))
def test_malformed_container_lists_are_data_loss(data: bytes) -> None:
    try:
        decode_containers(data, None)
    except errors.DataLoss:
        pass


@settings(max_examples=100, deadline=None)
@given(st.lists(containers, max_size=4))
def test_listed_containers_decode_on_access_like_eager_ones(items: list[ContainerProto]) -> None:
    data = bytes(ListContainersResponse(containers=items))
    eager = decode_containers(data, None)
    lazy = _listed(data, None)  # type: ignore[arg-type]
    assert lazy == eager
    assert [repr(c) for c in _listed(data, None)] == [repr(c) for c in eager]  # type: ignore[arg-type]
    for c, e in zip(_listed(data, None), eager, strict=True):  # type: ignore[arg-type]
        # Any one field first: the others are then there too.
        assert (c.updated_at, c.spec_json, c.id) == (e.updated_at, e.spec_json, e.id)
        # The values, not the private caches (a listed container keeps its message).
        public = attrs.filters.include(*(a for a in attrs.fields(Container) if a.init))
        assert attrs.asdict(c, recurse=False, filter=public) == attrs.asdict(
            e, recurse=False, filter=public
        )


def test_listed_container_copies_pickles_and_evolves() -> None:
    data = bytes(
        ListContainersResponse(
            containers=[ContainerProto(id="a", labels={"k": "v"}, snapshot_key="snap")]
        )
    )
    [eager] = decode_containers(data, None)
    listed: Callable[[], list[Container]] = lambda: _listed(data, None)  # type: ignore[arg-type]  # noqa: E731
    assert pickle.loads(pickle.dumps(listed()[0])) == eager
    assert copy.deepcopy(listed()[0]) == eager
    assert copy.copy(listed()[0]) == eager
    evolved = attrs.evolve(listed()[0], labels={})
    assert (evolved.id, evolved.labels, evolved.snapshot_key) == ("a", {}, "snap")
    [lazy] = listed()
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        lazy.nope  # type: ignore[attr-defined]  # noqa: B018
    assert lazy.labels == {"k": "v"}  # still decodes after a failed lookup
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        lazy.id = "b"  # type: ignore[misc]


def test_spec_is_decoded_once_per_container() -> None:
    spec = b'{"ociVersion":"1.0.2","hostname":"h"}'
    data = bytes(
        ListContainersResponse(
            containers=[ContainerProto(id="a", spec=AnyProto(type_url=SPEC_TYPE, value=spec))]
        )
    )
    [eager] = decode_containers(data, None)
    [lazy] = _listed(data, None)  # type: ignore[arg-type]
    for c in (eager, lazy):
        assert c.spec.hostname == "h"
        assert c.spec is c.spec
    assert attrs.evolve(lazy, labels={}).spec is not lazy.spec  # a new value decodes afresh


def test_decoded_fields_are_the_containers_init_fields() -> None:
    assert set(decode_fields(bytes(ContainerProto(id="x")))) == _WIRE_FIELDS


_extensions = st.builds(Extension, type_url=text, value=blob)


@settings(max_examples=80, deadline=None)
@given(
    id=text,
    labels=st.dictionaries(text, text, max_size=5),
    image=text,
    runtime=text,
    runtime_options=st.none() | _extensions,
    spec=blob,
    snapshotter=text,
    snapshot_key=text,
    extensions=st.dictionaries(text, _extensions, max_size=3),
    sandbox=text,
)
def test_create_request_encoder_matches_betterproto(
    id: str,
    labels: dict[str, str],
    image: str,
    runtime: str,
    runtime_options: Extension | None,
    spec: bytes,
    snapshotter: str,
    snapshot_key: str,
    extensions: dict[str, Extension],
    sandbox: str,
) -> None:
    wire = encode_create(
        id=id,
        labels=labels,
        image=image,
        runtime=runtime,
        runtime_options=runtime_options,
        spec_type=SPEC_TYPE,
        spec=spec,
        snapshotter=snapshotter,
        snapshot_key=snapshot_key,
        extensions=extensions,
        sandbox=sandbox,
    )
    expected = CreateContainerRequest(
        container=ContainerProto(
            id=id,
            labels=labels,
            image=image,
            runtime=ContainerRuntime(
                name=runtime,
                options=runtime_options._to_proto() if runtime_options else AnyProto(),
            ),
            spec=AnyProto(type_url=SPEC_TYPE, value=spec),
            snapshotter=snapshotter,
            snapshot_key=snapshot_key,
            extensions={k: e._to_proto() for k, e in extensions.items()},
            sandbox=sandbox,
        )
    )
    assert CreateContainerRequest().parse(wire) == expected
