"""Unit tests for pycontainerd.oci (pure code, no daemon)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import pycontainerd
from pycontainerd import oci

DATA = Path(__file__).parent / "data"


# --------------------------------------------------------------- the default


def test_default_spec_equals_containerd_reference() -> None:
    # tests/data/oci_default_spec.json was produced by containerd 1.6's own
    # oci.GenerateSpecWithPlatform(ctx{namespace=testns}, "linux/amd64", {ID: ctr1})
    # and json.MarshalIndent (see tests/data/README.md).
    reference = (DATA / "oci_default_spec.json").read_text()
    spec = oci.Spec.default(namespace="testns", id="ctr1")
    assert spec.to_dict() == json.loads(reference)
    # Same key order and layout as Go's encoder, byte for byte.
    assert spec.to_json(indent=2).decode() + "\n" == reference


def test_default_spec_without_ids_has_no_cgroups_path() -> None:
    spec = oci.Spec.default()
    assert spec.linux is not None
    assert spec.linux.cgroups_path == ""
    assert "cgroupsPath" not in spec.to_dict()["linux"]


def test_default_spec_needs_both_ids() -> None:
    with pytest.raises(ValueError, match="namespace and id"):
        oci.Spec.default(namespace="ns")


def test_default_parts() -> None:
    spec = oci.Spec.default(namespace="ns", id="c")
    assert spec.process is not None
    assert spec.linux is not None
    assert [n.type for n in spec.linux.namespaces] == ["pid", "ipc", "uts", "mount", "network"]
    assert [m.destination for m in spec.mounts] == [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/run",
    ]
    assert spec.process.capabilities is not None
    assert spec.process.capabilities.bounding == oci.DEFAULT_CAPABILITIES
    assert spec.process.capabilities.inheritable == ()
    assert spec.process.no_new_privileges
    assert spec.linux.resources is not None
    assert spec.linux.resources.devices == (oci.DeviceRule(allow=False, access="rwm"),)
    assert "/proc/kcore" in spec.linux.masked_paths
    assert "/proc/sys" in spec.linux.readonly_paths


# ------------------------------------------------------------ JSON round trip


def test_unknown_fields_survive_at_every_level() -> None:
    data = json.loads(oci.Spec.default(namespace="n", id="c").to_json())
    data["domainname"] = "example.org"
    data["vm"] = {"hypervisor": {"path": "/x"}}
    data["process"]["commandLine"] = "cmd /c"
    data["process"]["user"]["extra"] = [1, 2]
    data["process"]["capabilities"]["future"] = ["CAP_X"]
    data["process"]["rlimits"][0]["note"] = None
    data["mounts"][0]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    data["linux"]["intelRdt"] = {"closID": "x"}
    data["linux"]["namespaces"][0]["flags"] = 3
    data["linux"]["resources"]["blockIO"] = {"weight": 10}
    data["linux"]["resources"]["memory"] = {"limit": 5, "swappiness": 0}
    data["linux"]["resources"]["cpu"] = {"shares": 2, "realtimeRuntime": 7}
    data["linux"]["resources"]["devices"][0]["weird"] = True
    data["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["x"]}]}
    data["hooks"] = {"prestart": [{"path": "/bin/true"}]}

    spec = oci.Spec.from_json(json.dumps(data).encode())
    assert json.loads(spec.to_json()) == data
    # The extras survive changes made elsewhere, too.
    changed = spec.with_hostname("h").with_memory_limit(9)
    out = json.loads(changed.to_json())
    assert out["domainname"] == "example.org"
    assert out["linux"]["resources"]["memory"] == {"limit": 9, "swappiness": 0}
    assert out["linux"]["resources"]["blockIO"] == {"weight": 10}
    assert out["process"]["user"]["extra"] == [1, 2]
    assert spec.linux is not None
    assert spec.linux.seccomp == data["linux"]["seccomp"]
    assert spec.hooks == data["hooks"]


def test_unknown_fields_are_not_in_repr_but_count_for_equality() -> None:
    a = oci.Spec.from_json(b'{"ociVersion": "1.0.2", "qqq": 1}')
    b = oci.Spec.from_json(b'{"ociVersion": "1.0.2", "qqq": 2}')
    assert "qqq" not in repr(a)
    assert a != b


def test_empty_fields_are_left_out_like_go() -> None:
    assert json.loads(oci.Spec().to_json()) == {"ociVersion": oci.OCI_VERSION}
    assert oci.Process().to_dict() == {"user": {"uid": 0, "gid": 0}, "cwd": "/"}
    assert oci.DeviceRule().to_dict() == {"allow": False}
    assert oci.Pids(limit=0).to_dict() == {"limit": 0}
    assert oci.Memory(limit=0).to_dict() == {"limit": 0}


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"process": {"args": "sh"}}, "process.args"),
        ({"process": {"args": ["sh", 3]}}, r"process.args\[1\]"),
        ({"process": {"user": {"uid": "0"}}}, "process.user.uid"),
        ({"process": {"user": {"uid": True}}}, "process.user.uid"),
        ({"process": {"terminal": 1}}, "process.terminal"),
        ({"mounts": [{"destination": "/a"}, {"type": "bind"}]}, r"mounts\[1\]"),
        ({"linux": {"resources": {"memory": {"limit": 1.5}}}}, "linux.resources.memory.limit"),
        ({"linux": {"sysctl": {"a": 1}}}, "linux.sysctl.a"),
        ({"linux": []}, "linux"),
        ({"annotations": ["a"]}, "annotations"),
    ],
)
def test_bad_json_types_name_the_field(document: dict[str, Any], where: str) -> None:
    with pytest.raises(ValueError, match=where):
        oci.Spec.from_dict(document)


def test_not_json() -> None:
    with pytest.raises(ValueError, match="invalid OCI spec JSON"):
        oci.Spec.from_json(b"{nope")
    with pytest.raises(ValueError, match="expected an object"):
        oci.Spec.from_json(b"[]")


def test_null_values_decode_as_absent() -> None:
    spec = oci.Spec.from_json(
        b'{"ociVersion":"1","process":{"user":null,"args":null,"cwd":"/"},"linux":null,'
        b'"mounts":null,"annotations":null,"hooks":null}'
    )
    assert spec.process == oci.Process(cwd="/")
    assert spec.linux is None
    assert spec.mounts == ()


def test_process_json_for_exec() -> None:
    process = oci.Process(args=["sh"], env=["A=1"], cwd="/tmp", user=oci.User(uid=5, gid=6))
    assert json.loads(process.to_json()) == {
        "user": {"uid": 5, "gid": 6},
        "args": ["sh"],
        "env": ["A=1"],
        "cwd": "/tmp",
    }
    assert oci.Process.from_json(process.to_json()) == process


# ------------------------------------------------------------------ immutability


def test_values_are_frozen_and_helpers_do_not_mutate() -> None:
    spec = oci.Spec.default(namespace="n", id="c")
    before = spec.to_json()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        spec.hostname = "x"  # type: ignore[misc]
    spec.with_args(["a"]).with_env({"A": "1"}).with_mounts([oci.Mount(destination="/x")])
    spec.with_privileged().with_host_network().with_memory_limit(1).with_user("1:1")
    assert spec.to_json() == before


def test_sequences_become_tuples() -> None:
    process = oci.Process(args=["a", "b"], rlimits=[oci.Rlimit(type="RLIMIT_CORE", soft=0, hard=0)])
    assert process.args == ("a", "b")
    assert isinstance(process.rlimits, tuple)
    with pytest.raises(TypeError, match="string"):
        oci.Process(args="sh")


def test_evolve_keeps_unknown_fields() -> None:
    spec = oci.Spec.from_dict({"ociVersion": "1", "domainname": "d"})
    assert attrs.evolve(spec, hostname="h").to_dict() == {
        "ociVersion": "1",
        "hostname": "h",
        "domainname": "d",
    }


def test_subpackage_is_exported() -> None:
    assert pycontainerd.oci is oci
    assert "oci" in pycontainerd.__all__
    for name in oci.__all__:
        assert hasattr(oci, name), name
    assert set(oci.__all__) == {name for name in dir(oci) if not name.startswith("_")}


# ---------------------------------------------------------------- JSON hypothesis

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
_json_leaf = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | _text
_json_value = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
_extra_keys = st.dictionaries(
    st.text(alphabet="xyzXYZ_", min_size=1, max_size=6), _json_value, max_size=2
)
_strs = st.lists(_text, max_size=3).map(tuple)
_u32 = st.integers(0, 2**32 - 1)

_processes = st.builds(
    oci.Process,
    terminal=st.booleans(),
    console_size=st.none() | st.builds(oci.ConsoleSize, height=_u32, width=_u32),
    user=st.builds(
        oci.User,
        uid=_u32,
        gid=_u32,
        umask=st.none() | _u32,
        additional_gids=st.lists(_u32, max_size=3),
    ),
    args=_strs,
    env=_strs,
    cwd=_text,
    capabilities=st.none()
    | st.builds(oci.Capabilities, bounding=_strs, ambient=_strs, _extras=_extra_keys),
    rlimits=st.lists(st.builds(oci.Rlimit, type=_text, hard=_u32, soft=_u32), max_size=2),
    no_new_privileges=st.booleans(),
    oom_score_adj=st.none() | st.integers(-1000, 1000),
    _extras=_extra_keys,
)
_linux = st.builds(
    oci.Linux,
    namespaces=st.lists(st.builds(oci.Namespace, type=_text, path=_text), max_size=3),
    resources=st.none()
    | st.builds(
        oci.Resources,
        devices=st.lists(
            st.builds(
                oci.DeviceRule,
                allow=st.booleans(),
                major=st.none() | st.integers(-1, 300),
                access=_text,
            ),
            max_size=2,
        ),
        memory=st.none() | st.builds(oci.Memory, limit=st.none() | st.integers(-1, 2**40)),
        pids=st.none() | st.builds(oci.Pids, limit=st.integers(-1, 2**20)),
        _extras=_extra_keys,
    ),
    sysctl=st.dictionaries(_text, _text, max_size=2),
    seccomp=st.none() | st.dictionaries(_text, _json_value, min_size=1, max_size=2),
    masked_paths=_strs,
    cgroups_path=_text,
    _extras=_extra_keys,
)
_specs = st.builds(
    oci.Spec,
    oci_version=_text,
    process=st.none() | _processes,
    root=st.none() | st.builds(oci.Root, path=_text, readonly=st.booleans()),
    hostname=_text,
    mounts=st.lists(
        st.builds(oci.Mount, destination=_text, type=_text, source=_text, options=_strs),
        max_size=3,
    ),
    hooks=st.none() | st.dictionaries(_text, _json_value, min_size=1, max_size=2),
    annotations=st.dictionaries(_text, _text, max_size=2),
    linux=st.none() | _linux,
    _extras=_extra_keys,
)


@given(_specs)
def test_json_round_trip(spec: oci.Spec) -> None:
    assert oci.Spec.from_json(spec.to_json()) == spec
    assert oci.Spec.from_json(spec.to_json(indent=2)) == spec
    # And the JSON itself is stable through a second trip.
    assert oci.Spec.from_json(spec.to_json()).to_json() == spec.to_json()
