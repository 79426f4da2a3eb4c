"""The content hot path: its messages through the one codec, and digest checks.

(`tests/unit/test_wire.py` checks the codec's content messages against betterproto.)
"""

from __future__ import annotations

import pytest

from pycontainerd import _wire, errors
from pycontainerd._api.containerd.services.content.v1 import (
    ReadContentResponse,
    WriteAction,
    WriteContentRequest,
)
from pycontainerd._content import _ack, _check_digest, _chunk


def test_a_write_chunk_is_what_betterproto_reads() -> None:
    data = bytes(range(256)) * 4
    wire = _wire.write_content_request(memoryview(data), action=WriteAction.WRITE, offset=7)
    decoded = WriteContentRequest().parse(wire)
    assert (decoded.action, decoded.offset, decoded.data, decoded.ref) == (
        WriteAction.WRITE,
        7,
        data,
        "",
    )


def test_a_read_chunk_is_a_view_of_the_reply() -> None:
    wire = bytes(ReadContentResponse(offset=3, data=b"payload"))
    chunk = _chunk(wire)
    assert isinstance(chunk, memoryview)
    assert chunk == b"payload"
    assert chunk.obj is wire


def test_malformed_content_replies_are_data_loss() -> None:
    with pytest.raises(errors.DataLoss, match="content write reply"):
        _ack(b"\x20")  # offset's key, no value
    with pytest.raises(errors.DataLoss, match="content read reply"):
        _chunk(b"\x0b")  # wire type 3 (groups) is not protobuf 3


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
