"""`encode_scalars` writes the bytes betterproto would, without building the message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycontainerd._api.containerd.services.containers.v1 import ListContainersRequest
from pycontainerd._api.containerd.services.content.v1 import ReadContentRequest
from pycontainerd._api.containerd.services.tasks.v1 import KillRequest, ResizePtyRequest
from pycontainerd._codec import encode_scalars

text = st.text(max_size=200)
uint32 = st.integers(0, 2**32 - 1)


@given(container_id=text, exec_id=text, signal=uint32, all=st.booleans())
def test_strings_unsigned_and_bools(
    container_id: str, exec_id: str, signal: int, all: bool
) -> None:
    fields = {"container_id": container_id, "exec_id": exec_id, "signal": signal, "all": all}
    assert encode_scalars(KillRequest, **fields) == bytes(KillRequest(**fields))


@given(digest=text, offset=st.integers(-(2**63), 2**63 - 1), size=st.integers(-(2**63), 2**63 - 1))
def test_signed_64_bit_integers(digest: str, offset: int, size: int) -> None:
    fields = {"digest": digest, "offset": offset, "size": size}
    assert encode_scalars(ReadContentRequest, **fields) == bytes(ReadContentRequest(**fields))


@given(width=uint32, height=uint32)
def test_defaults_are_left_out(width: int, height: int) -> None:
    wire = encode_scalars(ResizePtyRequest, container_id="c", width=width, height=height)
    assert wire == bytes(ResizePtyRequest(container_id="c", width=width, height=height))
    assert encode_scalars(ResizePtyRequest) == b""


def test_unknown_and_repeated_fields_are_refused() -> None:
    with pytest.raises(TypeError, match="'containerid'"):
        encode_scalars(KillRequest, containerid="c")
    with pytest.raises(TypeError, match="'filters'"):
        encode_scalars(ListContainersRequest, filters=["id==x"])
