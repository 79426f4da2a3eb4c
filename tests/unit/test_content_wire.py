"""The hand-written encoder/decoder of the content hot path agree with protobuf."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycontainerd import errors
from pycontainerd._api.containerd.services.content.v1 import (
    ReadContentResponse,
    WriteAction,
    WriteContentRequest,
    WriteContentResponse,
)
from pycontainerd._content import _check_digest, _ReadChunk, _write_chunk, _WriteAck

offsets = st.integers(min_value=0, max_value=2**63 - 1)


@given(offsets, st.binary(max_size=5000))
def test_write_chunk_encodes_like_protobuf(offset: int, data: bytes) -> None:
    wire = _write_chunk(offset, memoryview(data))
    decoded = WriteContentRequest().parse(wire)
    assert decoded.action == WriteAction.WRITE
    assert decoded.offset == offset
    assert decoded.data == data
    assert decoded.ref == ""


@given(
    offsets,
    offsets,
    st.sampled_from(["", "sha256:" + "ab" * 32]),
    st.sampled_from(list(WriteAction)),
)
def test_write_ack_decodes_like_protobuf(
    offset: int, total: int, digest: str, action: WriteAction
) -> None:
    wire = bytes(
        WriteContentResponse(
            action=action,
            started_at=datetime(2026, 1, 2, tzinfo=UTC),
            offset=offset,
            total=total,
            digest=digest,
        )
    )
    decoded = _WriteAck.FromString(wire)
    assert (decoded.offset, decoded.digest) == (offset, digest)


def test_a_malformed_write_ack_is_data_loss() -> None:
    with pytest.raises(errors.DataLoss, match="content write reply"):
        _WriteAck.FromString(b"\x20")  # offset's key, no value


@given(offsets, st.binary(max_size=5000))
def test_read_chunk_decodes_like_protobuf(offset: int, data: bytes) -> None:
    wire = bytes(ReadContentResponse(offset=offset, data=data))
    decoded = _ReadChunk.FromString(wire)
    assert decoded.offset == offset
    assert decoded.data == data


def test_read_chunk_skips_unknown_fields() -> None:
    # field 3 varint, field 4 fixed64, field 5 bytes, field 6 fixed32, then data
    wire = b"\x18\x05" + b"\x21" + bytes(8) + b"\x2a\x02hi" + b"\x35" + bytes(4) + b"\x12\x01x"
    assert _ReadChunk.FromString(wire).data == b"x"
    with pytest.raises(errors.DataLoss):
        _ReadChunk.FromString(b"\x0b")  # wire type 3 (groups) is not protobuf 3


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:" + "a" * 63,
        "sha256:" + "A" * 64,
        "sha256" + "a" * 64,
        "sha512:" + "a" * 64,
        "",
        "sha256:",
    ],
)
def test_bad_digests(digest: str) -> None:
    with pytest.raises(errors.InvalidArgument, match="invalid digest"):
        _check_digest(digest)


def test_good_digests() -> None:
    for digest in ["sha256:" + "0" * 64, "sha512:" + "f" * 128, "blake3:abc"]:
        assert _check_digest(digest) == digest
