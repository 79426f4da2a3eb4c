"""Unit tests for the pure image plumbing: platforms, references, GC labels, tar reading."""

from __future__ import annotations

import gzip
import io
import tarfile

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycontainerd import Descriptor, Platform, errors
from pycontainerd._layer_builder import pack_directory
from pycontainerd._oci import (
    PlatformMatcher,
    chain_id,
    child_gc_labels,
    exact_matcher,
    familiar_reference,
    go_json,
    matcher_for,
    normalize,
    normalize_reference,
    oci_ref_name,
    sha256,
)
from pycontainerd._tar import TarEnd, TarReader, byte_source, check_member_name


def p(text: str) -> Platform:
    return Platform.parse(text)


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (Platform(os="linux", architecture="x86_64"), "linux/amd64"),
        (Platform(os="Linux", architecture="aarch64", variant="v8"), "linux/arm64"),
        (Platform(os="linux", architecture="arm"), "linux/arm/v7"),
        (Platform(os="linux", architecture="armhf"), "linux/arm/v7"),
        (Platform(os="linux", architecture="armel"), "linux/arm/v6"),
        (Platform(os="linux", architecture="i386"), "linux/386"),
        (Platform(os="linux", architecture="amd64", variant="v1"), "linux/amd64"),
    ],
)
def test_normalize(raw: Platform, want: str) -> None:
    assert str(normalize(raw)) == want


@pytest.mark.parametrize(
    ("platform", "named"),
    [
        ("a/b/c/d", "'a/b/c/d'"),
        ("linux//v7", "'linux//v7'"),
        (5, "5"),
        (b"linux/amd64", "b'linux/amd64'"),
        (["linux/amd64"], r"\['linux/amd64'\]"),
    ],
)
def test_a_bad_platform_is_refused_by_name(platform: object, named: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=f"invalid platform {named}"):
        matcher_for(platform)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("platform", "named"),
    [
        (["linux/amd64", "a/b/c/d"], "'a/b/c/d'"),
        (["linux/amd64", 5], "5"),
        ([Platform.host(), None], "None"),
        (5, "5"),
        ({"linux/amd64"}, "{'linux/amd64'}"),
    ],
)
def test_a_bad_platform_among_several_is_refused_by_name(platform: object, named: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=f"invalid platform {named}"):
        exact_matcher(platform)  # type: ignore[arg-type]


def test_a_platform_with_all_platforms_is_refused() -> None:
    assert exact_matcher(None, all_platforms=True).match(p("windows/arm64"))
    for platform in ("linux/amd64", ["linux/amd64"], Platform.host()):
        with pytest.raises(errors.InvalidArgument, match="given with all_platforms=True"):
            exact_matcher(platform, all_platforms=True)


def test_only_matches_what_the_platform_runs_and_orders_best_first() -> None:
    amd64 = PlatformMatcher.only(p("linux/amd64"))
    assert amd64.match(p("linux/amd64"))
    assert amd64.match(p("linux/386"))
    assert not amd64.match(p("linux/arm64"))
    arm64 = PlatformMatcher.only(p("linux/arm64"))
    for ok in ("linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v5"):
        assert arm64.match(p(ok)), ok
    assert not arm64.match(p("linux/amd64"))
    assert not PlatformMatcher.strict(p("linux/amd64")).match(p("linux/386"))
    assert PlatformMatcher.all().match(p("windows/amd64"))

    from pycontainerd._oci import IndexEntry

    def entry(plat: str | None) -> IndexEntry:
        desc = Descriptor(media_type="m", digest="sha256:" + "0" * 64, size=1)
        return IndexEntry(desc, p(plat) if plat else None)

    order = arm64.sort(
        [entry(None), entry("linux/arm/v6"), entry("linux/arm64"), entry("linux/arm/v7")]
    )
    assert [str(e.platform) for e in order] == [
        "linux/arm64",
        "linux/arm/v7",
        "linux/arm/v6",
        "None",
    ]


def test_chain_id() -> None:
    a, b, c = ("sha256:" + ch * 64 for ch in "abc")
    assert chain_id([a]) == a
    ab = sha256(f"{a} {b}".encode())
    assert chain_id([a, b]) == ab
    assert chain_id([a, b, c]) == sha256(f"{ab} {c}".encode())
    assert chain_id([]) == ""


def test_child_gc_labels_as_containerd() -> None:
    def d(mt: str, n: int) -> Descriptor:
        return Descriptor(media_type=mt, digest=f"sha256:{n:064x}", size=1)

    labels = child_gc_labels(
        [
            d("application/vnd.oci.image.config.v1+json", 1),
            d("application/vnd.oci.image.layer.v1.tar+gzip", 2),
            d("application/vnd.docker.image.rootfs.diff.tar.gzip", 3),
            d("application/vnd.oci.image.manifest.v1+json", 4),
            d("application/vnd.docker.distribution.manifest.v2+json", 5),
            d("application/octet-stream", 6),
            d("application/vnd.oci.image.config.v1+json", 7),
        ]
    )
    assert labels == {
        "containerd.io/gc.ref.content.config": f"sha256:{1:064x}",
        "containerd.io/gc.ref.content.l.0": f"sha256:{2:064x}",
        "containerd.io/gc.ref.content.l.1": f"sha256:{3:064x}",
        "containerd.io/gc.ref.content.m.0": f"sha256:{4:064x}",
        "containerd.io/gc.ref.content.m.1": f"sha256:{5:064x}",
        "containerd.io/gc.ref.content.0": f"sha256:{6:064x}",
        "containerd.io/gc.ref.content.config1": f"sha256:{7:064x}",
    }


@pytest.mark.parametrize(
    ("ref", "full", "familiar", "tag"),
    [
        ("busybox", "docker.io/library/busybox:latest", "busybox:latest", "latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36", "1.36"),
        ("me/app:v1", "docker.io/me/app:v1", "me/app:v1", "v1"),
        ("localhost:5000/x", "localhost:5000/x:latest", "localhost:5000/x:latest", "latest"),
        ("example.com/a/b:c", "example.com/a/b:c", "example.com/a/b:c", "c"),
    ],
)
def test_references(ref: str, full: str, familiar: str, tag: str) -> None:
    assert normalize_reference(ref) == full
    assert familiar_reference(full) == familiar
    assert oci_ref_name(full) == tag


def test_oci_ref_name_digest_and_bare() -> None:
    dig = "sha256:" + "1" * 64
    assert oci_ref_name(f"example.com/a@{dig}") == f"@{dig}"
    assert oci_ref_name("busybox") == ""
    with pytest.raises(ValueError, match="invalid image reference"):
        normalize_reference("UPPER CASE")


def test_go_json_escapes_like_go() -> None:
    assert go_json({"a": "<&>", "b": [1]}) == b'{"a":"\\u003c\\u0026\\u003e","b":[1]}'


def _tar(members: list[tuple[str, bytes]], fmt: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


async def _read_all(data: bytes, chunk: int) -> list[tuple[str, bytes]]:
    async def chunks() -> object:
        for i in range(0, len(data), chunk):
            yield data[i : i + chunk]

    return [
        (entry.name, await entry.read(1 << 30))
        async for entry in TarReader(byte_source(chunks()))  # type: ignore[arg-type]
    ]


names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/"),
    min_size=1,
    max_size=120,
)


@settings(max_examples=60, deadline=None)
@given(
    members=st.lists(st.tuples(names, st.binary(max_size=3000)), max_size=4),
    fmt=st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT]),
    chunk=st.integers(min_value=1, max_value=4096),
    compress=st.booleans(),
)
def test_tar_reader_matches_tarfile(
    members: list[tuple[str, bytes]], fmt: int, chunk: int, compress: bool
) -> None:
    data = _tar(members, fmt)
    if compress:
        data = gzip.compress(data)
    assert anyio.run(_read_all, data, chunk) == members


def test_tar_reader_refuses_garbage_and_truncation() -> None:
    with pytest.raises(errors.InvalidArchive, match="checksum"):
        anyio.run(_read_all, b"x" * 1024, 100)
    whole = _tar([("a", b"y" * 2000)], tarfile.PAX_FORMAT)
    with pytest.raises(errors.InvalidArchive, match="truncated"):
        anyio.run(_read_all, whole[:1500], 100)


def test_gzip_bomb_is_streamed_in_bounded_chunks() -> None:
    data = gzip.compress(_tar([("big", b"\0" * (32 << 20))], tarfile.PAX_FORMAT))
    assert len(data) < 100_000

    async def largest() -> int:
        biggest = 0
        async for entry in TarReader(byte_source(data)):
            async for part in entry.chunks():
                biggest = max(biggest, len(part))
        return biggest

    assert anyio.run(largest) <= 1 << 20


@pytest.mark.parametrize(
    ("name", "linkname", "kind", "ok"),
    [
        ("blobs/sha256/x", "", tarfile.REGTYPE, True),
        ("./a/./b", "", tarfile.REGTYPE, True),
        ("/abs", "", tarfile.REGTYPE, False),
        ("a/../../b", "", tarfile.REGTYPE, False),
        ("a/link", "../b", tarfile.SYMTYPE, True),
        ("a/link", "../../b", tarfile.SYMTYPE, False),
        ("a/link", "/etc", tarfile.SYMTYPE, False),
        ("hard", "a/b", tarfile.LNKTYPE, True),
        ("a/hard", "../x", tarfile.LNKTYPE, False),
    ],
)
def test_member_names(name: str, linkname: str, kind: bytes, ok: bool) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        t.addfile(info, io.BytesIO(b""))

    async def check() -> None:
        async for entry in TarReader(byte_source(buf.getvalue())):
            check_member_name(entry)

    if ok:
        anyio.run(check)
    else:
        with pytest.raises(errors.InvalidArchive):
            anyio.run(check)


def test_pack_directory_is_deterministic(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    for name in ("one", "two"):
        d = root / name
        (d / "sub").mkdir(parents=True)
        (d / "sub" / "f").write_bytes(b"data")
        (d / "z").symlink_to("sub/f")
    a, b = io.BytesIO(), io.BytesIO()
    assert pack_directory(root / "one", a) == pack_directory(root / "two", b)
    assert a.getvalue() == b.getvalue()
    with tarfile.open(fileobj=io.BytesIO(a.getvalue())) as t:
        assert t.getnames() == ["sub", "sub/f", "z"]


def _tar_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@given(
    files=st.dictionaries(
        st.text("abc/é", min_size=1, max_size=120), st.binary(max_size=3000), max_size=4
    ),
    cut=st.integers(min_value=1, max_value=4096),
)
def test_tar_end_finds_the_end_whatever_the_chunks(files: dict[str, bytes], cut: int) -> None:
    # Zero-filled file contents must not pass for the end: only headers are read.
    files = {**files, "zeros": bytes(2048)}
    archive = _tar_of(files)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.getmembers()
        end_at = tar.offset + 1024  # after the last member: the two zero blocks
    watcher = TarEnd()
    seen = 0
    while not watcher.ended:
        watcher.feed(archive[seen : seen + cut])
        seen += cut
    # It ends in the chunk that holds the second zero block, and not before.
    assert end_at <= seen < end_at + cut


def test_tar_end_rejects_what_is_not_a_tar() -> None:
    with pytest.raises(errors.InvalidArchive, match="size"):
        TarEnd().feed(b"x" * 124 + b"not-octal!!\x00" + b"y" * 376)
