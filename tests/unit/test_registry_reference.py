"""Reference parsing and normalisation (pure; no daemon, no registry)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pycontainerd._identifiers import shown
from pycontainerd.registry import Reference
from pycontainerd.registry._reference import is_loopback, validate_digest

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("given_ref", "expected"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("user/app", "docker.io/user/app:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest"),
        ("index.docker.io/user/app:v1", "docker.io/user/app:v1"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/app", "localhost:5000/app:latest"),
        ("127.0.0.1:5000/team/app:v1.2-rc_3", "127.0.0.1:5000/team/app:v1.2-rc_3"),
        ("[::1]:5000/app:v1", "[::1]:5000/app:v1"),
        ("ghcr.io/org/sub/app", "ghcr.io/org/sub/app:latest"),
        ("Registry.Example.com/app", "Registry.Example.com/app:latest"),
        (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}"),
        (f"busybox:1.36@{DIGEST}", f"docker.io/library/busybox:1.36@{DIGEST}"),
        ("a/b__c/d-e.f---g", "docker.io/a/b__c/d-e.f---g:latest"),
    ],
)
def test_parse_normalises_like_docker(given_ref: str, expected: str) -> None:
    assert str(Reference.parse(given_ref)) == expected


def test_parts() -> None:
    ref = Reference.parse(f"localhost:5000/team/app:v1@{DIGEST}")
    assert ref.domain == "localhost:5000"
    assert ref.path == "team/app"
    assert ref.tag == "v1"
    assert ref.digest == DIGEST
    assert ref.name == "localhost:5000/team/app"
    assert ref.object == DIGEST
    assert ref.host == "localhost:5000"
    assert Reference.parse("busybox").object == "latest"
    assert Reference.parse("busybox").host == "registry-1.docker.io"


@pytest.mark.parametrize(
    ("given_ref", "familiar"),
    [
        ("busybox", "busybox:latest"),
        ("docker.io/user/app:v1", "user/app:v1"),
        ("docker.io/library/a/b", "library/a/b:latest"),
        ("localhost:5000/app:v1", "localhost:5000/app:v1"),
    ],
)
def test_familiar(given_ref: str, familiar: str) -> None:
    assert Reference.parse(given_ref).familiar == familiar


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("", "empty"),
        ("Busybox", "lowercase"),
        ("docker.io/User/app", "lowercase"),
        ("a" * 64, "64-hex"),
        ("busybox:", "expected"),
        ("busybox:-tag", "expected"),
        ("busybox:" + "t" * 129, "expected"),
        ("busy box", "expected"),
        ("app//x", "expected"),
        ("app/", "expected"),
        ("-app", "expected"),
        ("app_-x", "expected"),
        ("busybox@sha256:abc", "expected"),
        ("busybox@sha256:" + "AB" * 32, "lowercase hex"),
        ("busybox@md5:" + "a" * 32, "sha256"),
        ("busybox@sha256:" + "a" * 63, "needs 64"),
        ("localhost:port/app", "expected"),
        ("example.com/" + "a" * 250, "longer than 255"),
        ("busybox:tág", "expected"),
    ],
)
def test_parse_rejects_with_reason(bad: str, why: str) -> None:
    with pytest.raises(ValueError, match="invalid") as info:
        Reference.parse(bad)
    assert why in str(info.value)
    if bad:  # named, shortened when long
        assert shown(bad) in str(info.value)


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="needs a tag or a digest"):
        Reference(domain="docker.io", path="library/busybox")
    with pytest.raises(ValueError, match="invalid repository path"):
        Reference(domain="docker.io", path="Library/busybox", tag="x")
    with pytest.raises(ValueError, match="invalid registry domain"):
        Reference(domain="bad_domain", path="app", tag="x")
    with pytest.raises(TypeError):
        Reference.parse(b"busybox")  # type: ignore[arg-type]


def test_with_digest_and_tag() -> None:
    ref = Reference.parse("busybox:1.36")
    assert str(ref.with_digest(DIGEST)) == f"docker.io/library/busybox:1.36@{DIGEST}"
    assert str(ref.with_digest(DIGEST).with_tag("x")) == "docker.io/library/busybox:x"


def test_validate_digest() -> None:
    assert validate_digest(DIGEST) == DIGEST
    assert validate_digest("sha512:" + "0" * 128)
    for bad in ("sha256", "sha256:", "sha256:" + "g" * 64, "SHA256:" + "a" * 64):
        with pytest.raises(ValueError, match="invalid digest"):
            validate_digest(bad)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("LOCALHOST:1", True),
        ("127.0.0.1", True),
        ("127.5.6.7:5000", True),
        ("[::1]:5000", True),
        ("[::1]", True),
        ("::1", True),
        ("128.0.0.1:5000", False),
        ("example.com:5000", False),
        ("localhost.example.com", False),
        ("[::2]:5000", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


_alnum = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_sep = st.sampled_from([".", "_", "__", "-", "--"])
_component = st.builds(
    lambda first, rest: first + "".join(s + a for s, a in rest),
    _alnum,
    st.lists(st.tuples(_sep, _alnum), max_size=2),
)
_path = st.lists(_component, min_size=1, max_size=3).map("/".join)
_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
_domain = st.one_of(
    st.builds(lambda a, b: f"{a}.{b}", _label, _label),
    st.just("localhost"),
    st.builds(
        lambda a, p: f"{a}:{p}",
        st.sampled_from(["localhost", "127.0.0.1", "[::1]"]),
        st.integers(1, 65535),
    ),
)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_digest = st.from_regex(r"[0-9a-f]{64}", fullmatch=True).map(lambda h: f"sha256:{h}")


@given(domain=_domain, path=_path, tag=st.none() | _tag, digest=st.none() | _digest)
def test_round_trip(domain: str, path: str, tag: str | None, digest: str | None) -> None:
    text = f"{domain}/{path}"
    if tag is not None:
        text += f":{tag}"
    if digest is not None:
        text += f"@{digest}"
    ref = Reference.parse(text)
    assert ref.domain == domain
    assert ref.path == path
    assert ref.tag == (tag if tag is not None or digest is not None else "latest")
    assert ref.digest == digest
    assert Reference.parse(str(ref)) == ref
    assert Reference.parse(ref.familiar) == ref


@given(path=_path, tag=_tag)
def test_hub_round_trip(path: str, tag: str) -> None:
    first = path.split("/")[0]
    assume("/" not in path or ("." not in first and first != "localhost"))  # else a registry
    ref = Reference.parse(f"{path}:{tag}")
    assert ref.domain == "docker.io"
    assert ref.path == (path if "/" in path else f"library/{path}")
    assert Reference.parse(str(ref)) == ref
    assert Reference.parse(ref.familiar) == ref


@given(st.text(max_size=40))
def test_parse_never_crashes_unexpectedly(text: str) -> None:
    try:
        ref = Reference.parse(text)
    except ValueError:
        return
    assert Reference.parse(str(ref)) == ref
