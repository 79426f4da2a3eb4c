"""The hand-written container codec (list decoder, create encoder) agrees with betterproto."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime

import attrs
import pytest
from betterproto.lib.google.protobuf import Any as AnyProto
from hypothesis import given, settings
from hypothesis import strategies as st

from pycontainerd._api.containerd.services.containers.v1 import (
    Container as ContainerProto,
)
from pycontainerd._api.containerd.services.containers.v1 import (
    ContainerRuntime,
    CreateContainerRequest,
    ListContainersResponse,
)
from pycontainerd._containers import SPEC_TYPE, Container, Extension, _listed
from pycontainerd._containers_wire import decode_containers, encode_create

text = st.text(max_size=300)
blob = st.binary(max_size=400)
anys = st.builds(AnyProto, type_url=text, value=blob)
stamps = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond))
containers = st.builds(
    ContainerProto,
    id=text,
    labels=st.dictionaries(text, text, max_size=5),
    image=text,
    runtime=st.builds(ContainerRuntime, name=text, options=anys),
    spec=anys,
    snapshotter=text,
    snapshot_key=text,
    created_at=stamps,
    updated_at=stamps,
    extensions=st.dictionaries(text, anys, max_size=3),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(containers, max_size=4))
def test_decoder_matches_betterproto(items: list[ContainerProto]) -> None:
    data = bytes(ListContainersResponse(containers=items))
    expected = [
        Container._from_proto(c, None) for c in ListContainersResponse().parse(data).containers
    ]
    assert decode_containers(data, None, Container) == expected


def test_unset_fields_and_unknown_fields() -> None:
    data = bytes(ListContainersResponse(containers=[ContainerProto(id="a")]))
    # An unknown varint field (number 99) inside the container is skipped.
    extra = b"\x98\x06\x05"
    body = data[2:] + extra
    data = b"\x0a" + bytes([len(body)]) + body
    [c] = decode_containers(data, None, Container)
    assert c.id == "a"
    assert c.created_at is None
    assert c.labels == {}


@settings(max_examples=100, deadline=None)
@given(st.lists(containers, max_size=4))
def test_listed_containers_decode_on_access_like_eager_ones(items: list[ContainerProto]) -> None:
    data = bytes(ListContainersResponse(containers=items))
    eager = decode_containers(data, None, Container)
    lazy = _listed(data, None)
    assert lazy == eager
    assert [repr(c) for c in _listed(data, None)] == [repr(c) for c in eager]
    for c, e in zip(_listed(data, None), eager, strict=True):
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
    [eager] = decode_containers(data, None, Container)
    assert pickle.loads(pickle.dumps(_listed(data, None)[0])) == eager
    assert copy.deepcopy(_listed(data, None)[0]) == eager
    assert copy.copy(_listed(data, None)[0]) == eager
    evolved = attrs.evolve(_listed(data, None)[0], labels={})
    assert (evolved.id, evolved.labels, evolved.snapshot_key) == ("a", {}, "snap")
    [lazy] = _listed(data, None)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        lazy.nope  # noqa: B018
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
    [eager] = decode_containers(data, None, Container)
    [lazy] = _listed(data, None)
    for c in (eager, lazy):
        assert c.spec.hostname == "h"
        assert c.spec is c.spec
    assert attrs.evolve(lazy, labels={}).spec is not lazy.spec  # a new value decodes afresh


def test_decoded_fields_are_the_containers_init_fields() -> None:
    from pycontainerd._containers import _WIRE_FIELDS
    from pycontainerd._containers_wire import decode_fields

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
        )
    )
    assert CreateContainerRequest().parse(wire) == expected
