"""The hand-written container-list decoder agrees with betterproto's."""

from __future__ import annotations

from datetime import UTC, datetime

from betterproto.lib.google.protobuf import Any as AnyProto
from hypothesis import given, settings
from hypothesis import strategies as st

from pycontainerd._api.containerd.services.containers.v1 import (
    Container as ContainerProto,
)
from pycontainerd._api.containerd.services.containers.v1 import (
    ContainerRuntime,
    ListContainersResponse,
)
from pycontainerd._containers import Container
from pycontainerd._containers_wire import decode_containers

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
