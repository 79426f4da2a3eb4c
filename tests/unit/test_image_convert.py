"""The pure parts of image conversion: gzip streams of layers, platform matchers, ref names."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycontainerd import Platform, errors
from pycontainerd._archive import _ref_translator
from pycontainerd._image_convert import _go_descriptor, _gunzip
from pycontainerd._oci import exact_matcher


async def _inflate(data: bytes, step: int) -> bytes:
    async def rest() -> AsyncIterator[bytes]:
        for start in range(step, len(data), step):
            yield data[start : start + step]

    out = bytearray()
    async for piece in _gunzip(data[:step], rest(), "sha256:x"):
        assert len(piece) <= 1024 * 1024  # bounded, however much a chunk inflates
        out += piece
    return bytes(out)


@settings(max_examples=40, deadline=None)
@given(
    members=st.lists(st.binary(max_size=3000), min_size=1, max_size=4),
    step=st.integers(min_value=1, max_value=5000),
)
def test_every_gzip_member_is_inflated(members: list[bytes], step: int) -> None:
    """As Go's gzip reader: a layer of several gzip members (pigz, concatenated) is one stream."""
    data = b"".join(gzip.compress(m, mtime=0) for m in members)
    assert anyio.run(_inflate, data, step) == b"".join(members)


def test_a_chunk_that_inflates_past_the_bound_is_read_whole() -> None:
    # 8 MiB of zeros from a few KiB: output is cut into bounded pieces, none lost.
    plain = bytes(8 * 1024 * 1024) + b"end"
    assert anyio.run(_inflate, gzip.compress(plain, mtime=0), 1 << 20) == plain


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (gzip.compress(b"x" * 10000, mtime=0)[:-20], "ends in the middle"),
        (gzip.compress(b"x", mtime=0) + b"garbage!", "not a valid gzip stream"),
        (b"\x1f\x8b" + b"\0" * 30, "not a valid gzip stream"),
    ],
)
def test_a_corrupt_layer_is_data_loss(data: bytes, message: str) -> None:
    with pytest.raises(errors.DataLoss, match=message):
        anyio.run(_inflate, data, 7)


def test_exact_matcher_takes_one_or_several_platforms() -> None:
    host = exact_matcher(None)
    assert host.match(Platform.host())
    assert not host.match(Platform(os="linux", architecture="386"))  # strict: no compatibles
    several = exact_matcher(["linux/arm64", Platform(os="linux", architecture="s390x")])
    assert several.match(Platform(os="linux", architecture="aarch64"))  # normalised
    assert not several.match(Platform(os="linux", architecture="ppc64le"))
    assert exact_matcher([]).match(Platform.host())
    with pytest.raises(errors.InvalidArgument, match="a/b/c/d"):
        exact_matcher(["linux/amd64", "a/b/c/d"])


@pytest.mark.parametrize(
    ("ref", "added", "filtered"),
    [
        ("v1", "example.com/app:v1", "example.com/app:v1"),
        ("example.com/app:2", "example.com/app:2", "example.com/app:2"),
        ("example.com/app/sub:3", "example.com/app/sub:3", "example.com/app/sub:3"),
        ("example.com/application:4", "example.com/application:4", ""),  # not a partial name
        ("example.com/other:5", "example.com/other:5", ""),
        (
            "example.com/app@sha256:" + "a" * 64,
            "example.com/app@sha256:" + "a" * 64,
            "example.com/app@sha256:" + "a" * 64,
        ),
    ],
)
def test_ref_names_translate_as_go_archive_does(ref: str, added: str, filtered: str) -> None:
    """Go's ``AddRefPrefix`` (`ref_prefix`) and ``FilterRefPrefix`` (`base_name`)."""
    assert _ref_translator("example.com/app", only_prefixed=False)(ref) == added
    assert _ref_translator("example.com/app", only_prefixed=True)(ref) == filtered


def test_descriptor_data_is_reencoded_as_go_reads_and_writes_it() -> None:
    """Go decodes ``data`` (standard base64, line breaks skipped) and writes it back canonically."""
    digest = "sha256:" + "a" * 64
    raw = {"size": 3, "digest": digest, "data": "YW\nJj", "mediaType": "x", "extra": 1}
    assert _go_descriptor(raw, None, "manifest m") == {
        "mediaType": "x",
        "digest": digest,
        "size": 3,
        "data": "YWJj",
    }
    with pytest.raises(errors.InvalidArgument, match=f"data of {digest} is not base64"):
        _go_descriptor(dict(raw, data="YWJj!"), None, "manifest m")
    with pytest.raises(errors.InvalidArgument, match="urls"):
        _go_descriptor(dict(raw, urls="https://example.com"), None, "manifest m")
