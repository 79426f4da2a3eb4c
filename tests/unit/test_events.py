"""Event filters, typed events and envelope decoding, without a daemon."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycontainerd import errors, events
from pycontainerd.events import filters

# --- filters ------------------------------------------------------------------


def test_helpers_quote_values() -> None:
    assert filters.topic("/tasks/exit") == 'topic=="/tasks/exit"'
    assert filters.namespace("build") == 'namespace=="build"'
    assert filters.topic_matches("^/tasks/") == 'topic~="^/tasks/"'
    assert filters.field("event.container_id", "a,b c") == 'event.container_id=="a,b c"'
    assert filters.field(("labels", "com.example.tier")) == 'labels."com.example.tier"'
    combined = filters.topic("/tasks/exit") & filters.field("event.container_id", "web")
    assert combined == 'topic=="/tasks/exit",event.container_id=="web"'
    assert isinstance(combined, filters.Filter)
    assert 'namespace=="x"' & filters.topic("/a") == 'namespace=="x",topic=="/a"'
    assert filters.all_of("", filters.topic("/a"), "") == 'topic=="/a"'


def test_parse_follows_containerd_grammar() -> None:
    sel = filters.Selector
    assert filters.parse("") == ()
    assert filters.parse('topic=="/tasks/exit",event.id') == (
        sel(fieldpath=("topic",), operator="==", value="/tasks/exit"),
        sel(fieldpath=("event", "id")),
    )
    assert filters.parse("name==foo.bar-1") == (
        sel(fieldpath=("name",), operator="==", value="foo.bar-1"),
    )
    # ~= accepts /regexp/ and |regexp| quoting; == does not
    assert filters.parse("topic~=/tasks/")[0].value == "tasks"
    assert filters.parse("topic~=|^/tasks/|")[0].value == "^/tasks/"
    assert filters.parse(" a == b")[0] == sel(fieldpath=("a",), operator="==", value="b")


@pytest.mark.parametrize(
    "bad",
    [
        "topic==/tasks/exit",  # unquoted '/' value
        "topic==",
        'topic=="/x" ',  # trailing space
        "a==b c",
        "a=b",
        "==b",
        'a=="unterminated',
        'a=="bad \\q escape"',
        "a,",
        "a.",
        "a==b,,c",
    ],
)
def test_invalid_filters_raise_invalid_argument(bad: str) -> None:
    with pytest.raises(errors.InvalidArgument, match="invalid filter"):
        filters.validate(bad)


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40))
def test_quote_round_trips(value: str) -> None:
    parsed = filters.parse(filters.field("event.name", value))
    assert parsed == (filters.Selector(fieldpath=("event", "name"), operator="==", value=value),)
    assert filters.parse(filters.field("a", value, op="~="))[0].value == value


@given(
    st.lists(
        st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=10),
        min_size=1,
        max_size=4,
    )
)
def test_field_path_round_trips(path: list[str]) -> None:
    assert filters.parse(filters.field(path))[0].fieldpath == tuple(path)


def test_bad_helper_arguments() -> None:
    with pytest.raises(errors.InvalidArgument):
        filters.field("a..b", "x")
    with pytest.raises(errors.InvalidArgument):
        filters.field("a", "x", op="=")  # type: ignore[arg-type]


# --- typed events -------------------------------------------------------------


def test_typed_events_round_trip_through_any() -> None:
    from pycontainerd import Mount
    from pycontainerd.events._types import decode, encode

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
        assert decode(encode(value)) == value
    # type URLs with the google prefix are understood too
    exit_any = encode(values[0])
    exit_any.type_url = "type.googleapis.com/" + exit_any.type_url
    assert decode(exit_any) == values[0]
    assert events.TaskExit(container_id="c").exited_at is None


def test_envelope_wire_decoding_matches_betterproto() -> None:
    from pycontainerd._api.containerd.services.events.v1 import Envelope as ProtoEnvelope
    from pycontainerd.events._types import encode

    when = dt.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    event = events.TaskExit(container_id="c", id="e", pid=4, exit_status=2**32 - 1, exited_at=when)
    proto = ProtoEnvelope(timestamp=when, namespace="ns", topic="/tasks/exit", event=encode(event))
    got = events.Envelope._from_wire(bytes(proto))
    assert got == events.Envelope(timestamp=when, namespace="ns", topic="/tasks/exit", event=event)
    assert got == events.Envelope._from_proto(proto)
    with pytest.raises(errors.DataLoss):  # a timestamp beyond datetime's range
        events.Envelope._from_wire(b"\x0a\x0b\x08" + b"\xff" * 8 + b"\x7f")
    empty = events.Envelope._from_wire(b"")
    assert empty.timestamp is None
    assert empty.event == events.Unknown(type_url="", value=b"")


@given(st.binary(max_size=64))
def test_envelope_wire_decoding_never_crashes(data: bytes) -> None:
    try:
        env = events.Envelope._from_wire(data)
    except errors.DataLoss:
        return
    assert isinstance(env, events.Envelope)


@given(st.integers(0, 2**64 - 1), st.binary(max_size=3))
def test_varint_decoding_matches_the_encoding(value: int, after: bytes) -> None:
    from pycontainerd import _codec

    encoded = bytearray()
    rest = value
    while rest > 0x7F:
        encoded.append(rest & 0x7F | 0x80)
        rest >>= 7
    encoded.append(rest)
    data = b"\x00" + bytes(encoded) + after
    assert _codec.read_varint(data, 1) == (value, 1 + len(encoded))
    with pytest.raises(_codec.WireError):
        _codec.read_varint(data[: len(encoded)], 1)  # cut short
