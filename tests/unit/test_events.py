"""Event filters, typed events and envelope decoding, without a daemon."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import pycontainerd
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


@pytest.mark.anyio
async def test_forward_refuses_bad_envelopes_before_any_call(tmp_path: Path) -> None:

    good = events.Envelope(
        timestamp=datetime.now(UTC),
        namespace="ns",
        topic="/t",
        event=events.TaskOOM(container_id="c"),
    )
    # No daemon at this address: a call would fail with a connection error.
    async with pycontainerd.Client(str(tmp_path / "none.sock")) as client:
        for bad, needle in [
            (attrs.evolve(good, timestamp=None), "timestamp None"),
            (attrs.evolve(good, timestamp=datetime(2020, 1, 1)), "timestamp datetime"),
            (attrs.evolve(good, namespace="a/b"), "a/b"),
            (attrs.evolve(good, namespace=""), "namespace"),
            (attrs.evolve(good, topic="no-slash"), "no-slash"),
        ]:
            with pytest.raises(errors.InvalidArgument, match=needle):
                await client.events.forward(bad)
        with pytest.raises(TypeError):
            await client.events.forward(attrs.evolve(good, event="nope"))
