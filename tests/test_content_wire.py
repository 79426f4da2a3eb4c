"""The hand-written encoder/decoder of the content hot path agree with protobuf."""

from __future__ import annotations

import struct
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
from pycontainerd._content import _check_digest, _ReadChunk, _ReadReplies, _write_chunk, _WriteAck

offsets = st.integers(min_value=0, max_value=2**63 - 1)


@given(offsets, st.binary(max_size=5000))
def test_write_chunk_encodes_like_protobuf(offset: int, data: bytes) -> None:
    wire = b"".join(_write_chunk(offset, memoryview(data)))
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


def _grpc(message: bytes) -> bytes:
    return struct.pack(">?L", False, len(message)) + message


def _unknown_fields(number: int) -> bytes:
    # a varint (field 3), fixed64 (4), bytes (5) and fixed32 (6) containerd does not send
    return [b"\x18\x96\x01", b"\x21" + bytes(8), b"\x2a\x03abc", b"\x35" + bytes(4)][number]


_replies = st.lists(
    st.tuples(offsets, st.binary(max_size=3000), st.lists(st.integers(0, 3), max_size=2)),
    max_size=6,
)


@given(_replies, st.lists(st.integers(1, 4000), max_size=40))
def test_read_replies_cut_out_the_data_wherever_the_pieces_end(
    replies: list[tuple[int, bytes, list[int]]], cuts: list[int]
) -> None:
    stream = b"".join(
        _grpc(
            b"".join(_unknown_fields(n) for n in extra)
            + bytes(ReadContentResponse(offset=o, data=d))
        )
        for o, d, extra in replies
    )
    parser = _ReadReplies()
    out: list[memoryview] = []
    pos = 0
    for size in [*cuts, len(stream)]:
        parser.feed(memoryview(stream)[pos : pos + size], out)
        pos += size
    assert b"".join(out) == b"".join(d for _, d, _ in replies)
    assert parser.at_boundary


def test_read_replies_cut_short_are_not_at_a_boundary() -> None:
    stream = _grpc(bytes(ReadContentResponse(offset=0, data=b"abcdef")))
    for end in range(1, len(stream)):
        parser = _ReadReplies()
        parser.feed(memoryview(stream)[:end], [])
        assert not parser.at_boundary


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param(b"\x01\0\0\0\x02\x08\x01", id="compressed"),
        pytest.param(_grpc(b"\x12\x09abc"), id="data-past-its-message"),
        pytest.param(_grpc(b"\x0b\x00"), id="group-wire-type"),
        pytest.param(_grpc(b"\x08" + b"\xff" * 12), id="overlong-varint"),
    ],
)
def test_malformed_read_replies_are_data_loss(stream: bytes) -> None:
    with pytest.raises(errors.DataLoss, match="malformed content read reply"):
        _ReadReplies().feed(memoryview(stream), [])


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
