"""Fuzzing every parser of outside input: the documented error or a value, nothing else.

Each parser gets random input and, where it has a grammar or a wire format,
mutations of valid input (truncated, bytes flipped, bytes inserted). It must
return, or raise its documented error (`errors.InvalidArgument`,
`errors.InvalidArchive`, `errors.DataLoss`, `ValueError`, as its docstring
says), never an unrelated exception, and finish each example in bounded
time (`_bounded`: a hang shows as a failure, not as a stuck CI job).

CI cost: the ``fuzz`` settings below run **200 examples per parser**
(derandomised, so a CI run is reproducible and a failure reruns the same;
``PYCONTAINERD_FUZZ_EXAMPLES=5000`` runs more locally). No deadline: a
loaded 2-core machine must not turn slowness into failures; `_bounded`
catches hangs instead. The truncation tests at the end are exhaustive
(every cut of each message), not sampled.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import os
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycontainerd import ImageConfig, Platform, _wire, errors, oci
from pycontainerd._containers import _listed, decode_fields, split_containers
from pycontainerd._content import _ack, _chunk
from pycontainerd._identifiers import label_changes, labels, validate
from pycontainerd._introspection import version_of
from pycontainerd._oci import normalize_reference, parse_index, parse_manifest
from pycontainerd._signals import parse_signal
from pycontainerd._tar import TarReader, byte_source, check_member_name
from pycontainerd.events import filters
from pycontainerd.events._types import Envelope
from pycontainerd.registry import Reference
from pycontainerd.registry._auth import Challenge, parse_challenges

_EXAMPLES = int(os.environ.get("PYCONTAINERD_FUZZ_EXAMPLES", "200"))
fuzz = settings(
    max_examples=_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_LIMIT_S = 10.0  # per example: far above any parser's time on these sizes, loaded or not
T = TypeVar("T")


def _bounded(parse: Callable[[], T]) -> T:
    start = time.monotonic()
    try:
        return parse()
    finally:
        assert time.monotonic() - start < _LIMIT_S, "the parser took too long"


def _mutated(valid: bytes) -> st.SearchStrategy[bytes]:
    """Valid bytes cut short, with bytes changed, inserted or removed; and random bytes."""
    n = len(valid)
    cut = st.integers(0, n).map(lambda i: valid[:i])
    flipped = st.lists(
        st.tuples(st.integers(0, max(n - 1, 0)), st.integers(0, 255)), max_size=4
    ).map(lambda edits: _apply(valid, edits))
    inserted = st.tuples(st.integers(0, n), st.binary(min_size=1, max_size=8)).map(
        lambda t: valid[: t[0]] + t[1] + valid[t[0] :]
    )
    removed = st.tuples(st.integers(0, n), st.integers(1, 8)).map(
        lambda t: valid[: t[0]] + valid[t[0] + t[1] :]
    )
    return st.one_of(cut, flipped, inserted, removed, st.binary(max_size=64))


def _apply(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for pos, value in edits:
        if pos < len(out):
            out[pos] = value
    return bytes(out)


_text = st.text(max_size=40)
_printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


# --- identifiers, labels, filters, references, mounts, signals, platforms -----------------


@fuzz
@given(st.one_of(_text, _printable, st.integers(), st.none()))
def test_identifiers(value: Any) -> None:
    try:
        got = _bounded(lambda: validate(value, "container"))
    except errors.InvalidArgument as exc:
        message = str(exc)
    else:
        assert isinstance(got, str)
        return
    assert len(message) < 400  # the value is shortened


_label_values = st.one_of(_text, st.integers(), st.none(), st.binary(max_size=4))


@fuzz
@given(
    st.one_of(
        st.dictionaries(st.one_of(_text, st.integers()), _label_values, max_size=4),
        st.lists(_text, max_size=2),
        st.none(),
    )
)
def test_labels(value: Any) -> None:
    for check in (labels, label_changes):
        try:
            got = _bounded(lambda check=check: check(value))  # type: ignore[misc]
        except errors.InvalidArgument as exc:
            message = str(exc)
        else:
            assert all(isinstance(k, str) and k for k in got)
            continue
        assert len(message) < 400


_filter_text = st.one_of(
    _printable,
    st.text(st.sampled_from('abc.=!~,"/\\ \t\n0'), max_size=30),
    st.sampled_from(['topic=="/tasks/exit"', "labels.app==web,id~=^x", 'a=="b\\"c"']).flatmap(
        lambda s: st.integers(0, len(s)).map(lambda i: s[:i])
    ),
)


@fuzz
@given(_filter_text)
def test_filters(expression: str) -> None:
    try:
        selectors = _bounded(lambda: filters.parse(expression))
    except errors.InvalidArgument:
        return
    assert isinstance(selectors, tuple)


_reference_text = st.one_of(
    _printable,
    st.text(st.sampled_from("abz09.:/@-_[]"), max_size=40),
    st.sampled_from(
        [
            "docker.io/library/busybox:1.36@sha256:" + "a" * 64,
            "user:pw@localhost:5000/app:v1",
            "[::1]:5000/team/app",
        ]
    ).flatmap(lambda s: st.integers(0, len(s)).map(lambda i: s[:i] + "\n" * (i % 2))),
)


@fuzz
@given(_reference_text)
def test_image_references(value: str) -> None:
    message = ""
    try:
        ref = _bounded(lambda: Reference.parse(value))
    except ValueError as exc:
        message = str(exc)
    else:
        assert Reference.parse(str(ref)) == ref  # what it prints parses back the same
        assert "\n" not in str(ref)
    assert ":pw@" not in message
    try:
        full = _bounded(lambda: normalize_reference(value))
    except ValueError:
        pass
    else:
        assert "\n" not in full


_mount_text = st.one_of(
    _text,
    st.text(st.sampled_from('type=bind,src/dst".:\x00\n'), max_size=40),
    st.lists(
        st.tuples(
            st.sampled_from(["type", "src", "dst", "target", "options", "bogus"]),
            st.text(st.sampled_from('/ab.\x00",:'), max_size=8),
        ),
        max_size=4,
    ).map(lambda pairs: ",".join(f"{k}={v}" for k, v in pairs)),
)


@fuzz
@given(_mount_text)
def test_mount_flags(text: str) -> None:
    try:
        mount = _bounded(lambda: oci.Mount.parse(text))
    except ValueError:
        return
    assert mount.destination.startswith("/")
    assert ".." not in mount.destination.split("/")
    assert "\x00" not in mount.destination + mount.source + "".join(mount.options)


@fuzz
@given(
    st.one_of(
        _printable,
        st.integers(-(1 << 70), 1 << 70),
        st.sampled_from(
            ["SIGRTMIN+", "RTMAX-", "sigterm", "SIG", "+3", "rtmin+99999999999"]
        ).flatmap(
            lambda s: st.text(st.sampled_from("0123456789+-"), max_size=6).map(lambda t: s + t)
        ),
        st.booleans(),
        st.none(),
    )
)
def test_signal_names(value: Any) -> None:
    try:
        sig = _bounded(lambda: parse_signal(value))
    except ValueError:
        return
    assert int(sig) > 0


@fuzz
@given(st.one_of(_printable, st.text(st.sampled_from("linux/amd64armv7 "), max_size=30)))
def test_platforms(value: str) -> None:
    try:
        p = _bounded(lambda: Platform.parse(value))
    except ValueError:
        return
    assert p.os
    assert p.architecture


# --- JSON documents: OCI spec, image config, manifests and indexes --------------------------


def _json_mutations(valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """The document with one field's value swapped for another JSON type; or mutated bytes."""
    raw = json.dumps(valid).encode()
    values = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(1 << 70), 1 << 70),
        st.floats(allow_nan=False),
        _text,
        st.lists(st.integers(), max_size=3),
        st.dictionaries(_text, _text, max_size=2),
    )
    keys = sorted(valid)
    swapped = st.tuples(st.sampled_from(keys), values).map(
        lambda kv: json.dumps({**valid, kv[0]: kv[1]}).encode()
    )
    return st.one_of(swapped, _mutated(raw), st.sampled_from([b"[]", b"1", b'"x"', b"null"]))


_SPEC = json.loads(oci.Spec(process=oci.Process(args=["sh"], env=["A=1"])).to_json())


@fuzz
@given(_json_mutations(_SPEC) | _json_mutations(_SPEC["process"]))
def test_oci_spec_json(data: bytes) -> None:
    try:
        spec = _bounded(lambda: oci.Spec.from_json(data))
    except ValueError:
        return
    assert isinstance(spec, oci.Spec)


_CONFIG = {
    "architecture": "amd64",
    "os": "linux",
    "created": "2024-01-01T00:00:00Z",
    "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "User": "0", "Labels": {"a": "b"}},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "a" * 64]},
    "history": [{"created_by": "x"}],
}


@fuzz
@given(_json_mutations(_CONFIG) | _json_mutations(_CONFIG["config"]))
def test_image_config_json(data: bytes) -> None:
    try:
        config = _bounded(lambda: ImageConfig.from_json(data))
    except ValueError:
        return
    assert isinstance(config, ImageConfig)


_DESC = {
    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
    "digest": "sha256:" + "b" * 64,
    "size": 10,
    "platform": {"os": "linux", "architecture": "amd64"},
    "annotations": {"k": "v"},
}
_MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {**_DESC, "mediaType": "application/vnd.oci.image.config.v1+json"},
    "layers": [_DESC],
}
_INDEX = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{**_DESC, "mediaType": _MANIFEST["mediaType"]}],
}


@fuzz
@given(_json_mutations(_MANIFEST) | _json_mutations(_INDEX) | _json_mutations(_DESC))
def test_manifests_and_indexes(data: bytes) -> None:
    for parse, media_type in (
        (parse_manifest, _MANIFEST["mediaType"]),
        (parse_index, _INDEX["mediaType"]),
    ):
        try:
            _bounded(lambda parse=parse, media_type=media_type: parse(data, media_type, "it"))  # type: ignore[misc]
        except ValueError:
            pass


# --- archives -----------------------------------------------------------------------------


def _archive() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in (
            ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
            ("a/" + "x" * 120, b"12"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("link")
        link.type = tarfile.SYMTYPE
        link.linkname = "a/../../b"
        t.addfile(link)
    return out.getvalue()


_ARCHIVE = _archive()


async def _members(data: bytes) -> list[str]:
    names = []
    async for entry in TarReader(byte_source(data)):
        try:
            names.append(check_member_name(entry))
        except errors.InvalidArchive:
            names.append("")
        await entry.read(1 << 20)
    return names


@fuzz
@given(_mutated(_ARCHIVE) | _mutated(gzip.compress(_ARCHIVE, mtime=0)))
def test_archive_members(data: bytes) -> None:
    try:
        names = _bounded(lambda: anyio.run(_members, data))
    except errors.InvalidArchive:
        return
    assert all(not n.startswith("/") and ".." not in n.split("/") for n in names)


# --- registry auth challenges (never raise: unknown parts are skipped) -----------------------


@fuzz
@given(
    st.lists(
        st.one_of(
            _printable,
            st.text(st.sampled_from('Bearer realm="x\\",service=, Basic'), max_size=60),
            st.just(
                'Bearer realm="https://auth.example/token",service="reg",scope="a:b:pull"'
            ).flatmap(lambda s: st.integers(0, len(s)).map(lambda i: s[:i])),
        ),
        max_size=3,
    )
)
def test_www_authenticate(headers: list[str]) -> None:
    found = _bounded(lambda: parse_challenges(headers))
    assert all(isinstance(c, Challenge) and c.scheme == c.scheme.lower() for c in found)


_DOCKER_CONFIG = {
    "auths": {"example.com": {"auth": "dXNlcjpwdw=="}, "other": {"username": "u", "password": "p"}},
    "credHelpers": {},
}


@fuzz
@given(_json_mutations(_DOCKER_CONFIG) | _json_mutations(_DOCKER_CONFIG["auths"]["example.com"]))
def test_docker_config(data: bytes) -> None:
    """Credentials from a docker config.json, however it is written: AuthenticationError or a value."""
    import tempfile

    from pycontainerd.registry import AuthenticationError
    from pycontainerd.registry._auth import docker_config_credentials

    try:  # a document that names a credential helper would run it: leave those out
        if "credsStore" in data.decode() or json.loads(data).get("credHelpers"):
            return
    except (ValueError, AttributeError):
        pass
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        f.write(data)
        f.flush()
        try:
            _bounded(lambda: anyio.run(docker_config_credentials, "example.com", Path(f.name)))
        except AuthenticationError:
            pass


# --- wire decoders ---------------------------------------------------------------------------

_NOW = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
_CONTAINER = _wire.encode(
    "containerd.services.containers.v1.Container",
    {
        "id": "web",
        "labels": {"app": "demo", "x" * 200: "é"},
        "image": "docker.io/library/busybox:latest",
        "runtime": {
            "name": "io.containerd.runc.v2",
            "options": {"type_url": "t", "value": b"\x08\x01"},
        },
        "spec": {
            "type_url": "types.containerd.io/opencontainers/runtime-spec/1/Spec",
            "value": b"{}",
        },
        "snapshotter": "overlayfs",
        "snapshot_key": "web",
        "created_at": _NOW,
        "updated_at": _NOW,
        "extensions": {"ext": {"type_url": "u", "value": b"v"}},
    },
)
_LIST = _wire.encode(
    "containerd.services.containers.v1.ListContainersResponse",
    {"containers": [{"id": "a"}, {"id": "b", "labels": {"k": "v"}}]},
)


@fuzz
@given(_mutated(_CONTAINER))
def test_container_decoder(data: bytes) -> None:
    try:
        got = _bounded(lambda: decode_fields(data))
    except errors.DataLoss:
        return
    assert isinstance(got["id"], str)


def _read_all(data: bytes) -> list[Any]:
    return [(c.id, c.labels, c.created_at, c.runtime, c.extensions) for c in _listed(data, None)]  # type: ignore[arg-type]


@fuzz
@given(_mutated(_LIST) | _mutated(_wire.varint(10) + _wire.varint(len(_CONTAINER)) + _CONTAINER))
def test_container_list_decoder(data: bytes) -> None:
    """Listed containers decode lazily: DataLoss at the listing or at the first read."""
    try:
        split_containers(data)
        _bounded(lambda: _read_all(data))
    except errors.DataLoss:
        return


_ENVELOPE = _wire.encode(
    "containerd.types.Envelope",
    {
        "timestamp": _NOW,
        "namespace": "default",
        "topic": "/tasks/exit",
        "event": {
            "type_url": "containerd.events.TaskExit",
            "value": _wire.encode(
                "containerd.events.TaskExit",
                {
                    "container_id": "web",
                    "id": "web",
                    "pid": 42,
                    "exit_status": 3,
                    "exited_at": _NOW,
                },
            ),
        },
    },
)


@fuzz
@given(_mutated(_ENVELOPE))
def test_event_envelope_decoder(data: bytes) -> None:
    try:
        envelope = _bounded(lambda: Envelope._from_wire(data))
    except errors.DataLoss:
        return
    assert isinstance(envelope.topic, str)


_VERSION = _wire.encode(
    "containerd.services.version.v1.VersionResponse", {"version": "1.7.24", "revision": "abc"}
)
_WRITE_ACK = _wire.encode(
    "containerd.services.content.v1.WriteContentResponse",
    {
        "action": 2,
        "started_at": _NOW,
        "updated_at": _NOW,
        "offset": 1 << 40,
        "total": 1 << 41,
        "digest": "sha256:x",
    },
)
_READ_CHUNK = _wire.encode(
    "containerd.services.content.v1.ReadContentResponse", {"offset": 1 << 33, "data": b"\x00" * 300}
)


@fuzz
@given(_mutated(_VERSION) | _mutated(_WRITE_ACK) | _mutated(_READ_CHUNK))
def test_small_reply_decoders(data: bytes) -> None:
    for decode in (version_of, _ack, _chunk):
        try:
            _bounded(lambda decode=decode: decode(data))  # type: ignore[misc]
        except errors.DataLoss:
            pass


@fuzz
@given(st.binary(max_size=200))
def test_every_generated_schema_on_random_bytes(data: bytes) -> None:
    """The generic decoder, for every message the codec has a schema of: WireError or a dict."""
    for plan in _PLANS:
        try:
            _wire.decode(plan, data)
        except _wire.WireError:
            pass


def _plans() -> list[_wire.Plan]:
    from pycontainerd._api import _schemas

    return [_wire.decoder(name) for name in sorted(_schemas.MESSAGES)]


_PLANS = _plans()


# --- truncation: a message cut inside a field never decodes --------------------------------------


def _field_ends(data: bytes) -> set[int]:
    ends, pos = {0}, 0
    while pos < len(data):
        key, value, pos = _wire.field_header(data, pos)
        if key & 7:
            pos += value
        ends.add(pos)
    return ends


@pytest.mark.parametrize(
    ("data", "decode"),
    [
        (_CONTAINER, decode_fields),
        (_ENVELOPE, Envelope._from_wire),
        (_VERSION, version_of),
        (_WRITE_ACK, _ack),
        (_READ_CHUNK, _chunk),
    ],
    ids=["container", "envelope", "version", "write-ack", "read-chunk"],
)
def test_every_truncation_inside_a_field_is_data_loss(
    data: bytes, decode: Callable[[bytes], object]
) -> None:
    """Exhaustive, not sampled: every cut of each message that is not at a field boundary."""
    ends = _field_ends(data)
    for cut in range(len(data)):
        if cut in ends:
            continue  # a shorter message, as protobuf sees it
        with pytest.raises(errors.DataLoss):
            decode(data[:cut])


def test_every_truncation_of_a_listing_fails_at_list() -> None:
    ends = _field_ends(_LIST)
    for cut in range(len(_LIST)):
        if cut not in ends:
            with pytest.raises(errors.DataLoss):
                _listed(_LIST[:cut], None)  # type: ignore[arg-type]


# --- hosts configuration -----------------------------------------------------------------------

_HOSTS_TOML = b"""server = "https://reg.example"

[host."https://mirror.example:5000"]
  capabilities = ["pull", "resolve"]
  skip_verify = false
  dial_timeout = "2s"
  override_path = false
  [host."https://mirror.example:5000".header]
    x-team = ["a", "b"]
"""
_HOSTS_VALUES = st.one_of(
    st.booleans(),
    st.integers(-5, 5),
    _printable.map(json.dumps),
    st.lists(_printable.map(json.dumps), max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
)
_HOSTS_FIELDS = st.sampled_from(
    ["server", "capabilities", "skip_verify", "dial_timeout", "override_path", "ca", "client"]
)


def _hosts_document(fields: list[tuple[str, str]], host: str) -> bytes:
    lines = [f'[host."{host}"]', *(f"  {key} = {value}" for key, value in fields)]
    return "\n".join(lines).encode()


@fuzz
@given(
    _mutated(_HOSTS_TOML)
    | st.builds(
        _hosts_document,
        st.lists(st.tuples(_HOSTS_FIELDS, _HOSTS_VALUES), max_size=4),
        st.one_of(_printable, st.sampled_from(["https://m.example", "http://m:1", "m.example"])),
    )
)
def test_hosts_configuration(data: bytes) -> None:
    """A registry's hosts.toml, however it is written: HostsConfigError or hosts to try."""
    import tempfile

    from pycontainerd.registry import Hosts, HostsConfigError

    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "reg.example").mkdir()
        (Path(root) / "reg.example" / "hosts.toml").write_bytes(data)
        try:
            hosts = _bounded(lambda: Hosts.from_directory(root).lookup("reg.example"))
        except HostsConfigError:
            return
        assert hosts, "the registry itself is always among the hosts"
        for host in hosts:
            assert host.url.startswith(("http://", "https://"))
