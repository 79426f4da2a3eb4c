from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycontainerd._api.containerd.services.content.v1 import (
    WriteAction,
    WriteContentRequest,
)
from pycontainerd._codec import FastProtoCodec, encode


@settings(max_examples=50)
@given(
    size=st.sampled_from([0, 1, 32 * 1024 - 1, 32 * 1024, 1 << 20]),
    ref=st.text(max_size=20),
    offset=st.integers(min_value=0, max_value=1 << 40),
    labels=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)
def test_encode_parses_back_to_the_same_message(
    size: int, ref: str, offset: int, labels: dict[str, str]
) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    msg = WriteContentRequest(
        action=WriteAction.WRITE, ref=ref, offset=offset, data=data, labels=labels
    )
    wire = encode(msg)
    assert WriteContentRequest().parse(wire) == msg
    assert msg.data == data  # the message itself is left as it was
    if size < 32 * 1024:
        assert wire == bytes(msg)


def test_codec_checks_the_type() -> None:
    codec = FastProtoCodec()
    msg = WriteContentRequest(data=b"y" * 100_000)
    assert WriteContentRequest.FromString(codec.encode(msg, WriteContentRequest)) == msg
    with pytest.raises(TypeError):
        codec.encode(msg, WriteAction)
