"""Unit tests for pycontainerd.oci (pure code, no daemon)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import pycontainerd
from pycontainerd import errors, oci
from pycontainerd.oci._env import env_entries

DATA = Path(__file__).parents[1] / "data"


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


# ------------------------------------------------------------ users and groups

ROOTFS = DATA / "oci_rootfs"
REFERENCE = json.loads((DATA / "oci_user_reference.json").read_text())


def _config(**fields: Any) -> pycontainerd.ImageConfig:
    fields.setdefault("cmd", ("sh",))
    return pycontainerd.ImageConfig(**fields)


@pytest.mark.parametrize(
    "case",
    [r for r in REFERENCE["users"] if r["flow"] == "image"],
    ids=lambda r: r["user"] or "<none>",
)
def test_from_image_user_matches_containerd(case: dict[str, Any]) -> None:
    config = _config(user=case["user"])
    if case.get("error"):
        with pytest.raises(ValueError, match=r"user|group"):
            oci.Spec.from_image(config, rootfs=ROOTFS)
        return
    spec = oci.Spec.from_image(config, rootfs=ROOTFS)
    assert spec.process is not None
    user = spec.process.user
    assert (user.uid, user.gid, list(user.additional_gids)) == (
        case["uid"],
        case["gid"],
        case["additionalGids"],
    )


@pytest.mark.parametrize(
    "case",
    [r for r in REFERENCE["users"] if r["flow"] == "with_user"],
    ids=lambda r: r["user"],
)
def test_with_user_ids_match_containerd(case: dict[str, Any]) -> None:
    spec = oci.Spec.default()
    if case.get("error"):
        with pytest.raises(ValueError, match=r"user|group"):
            spec.with_user(case["user"], rootfs=ROOTFS)
        return
    user = spec.with_user(case["user"], rootfs=str(ROOTFS)).process.user  # type: ignore[union-attr]
    assert (user.uid, user.gid) == (case["uid"], case["gid"])
    assert user.additional_gids[0] == user.gid or user.gid in user.additional_gids


def test_user_argument_overrides_image_user() -> None:
    spec = oci.Spec.from_image(_config(user="alice"), user="bob", rootfs=ROOTFS)
    assert spec.process is not None
    assert spec.process.user == oci.User(uid=1001, gid=100, additional_gids=(100, 44))
    spec = oci.Spec.from_image(_config(user="alice"), user=0, rootfs=ROOTFS)
    assert spec.process is not None
    assert spec.process.user.uid == 0


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("1000", oci.User(uid=1000, gid=0, additional_gids=(0,))),
        ("1000:1000", oci.User(uid=1000, gid=1000, additional_gids=(1000,))),
        (1234, oci.User(uid=1234, gid=0, additional_gids=(0,))),
        ("0:0", oci.User(uid=0, gid=0, additional_gids=(0,))),
    ],
)
def test_numeric_users_without_rootfs(user: str | int, expected: oci.User) -> None:
    spec = oci.Spec.default().with_user(user)
    assert spec.process is not None
    assert spec.process.user == expected


@pytest.mark.parametrize("user", ["alice", "alice:1", "1:wheel", "nobody:nogroup"])
def test_names_need_a_rootfs(user: str) -> None:
    with pytest.raises(ValueError, match="rootfs"):
        oci.Spec.default().with_user(user)
    with pytest.raises(ValueError, match="rootfs"):
        oci.Spec.from_image(_config(user=user))


def test_user_errors_name_the_value(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'a:b:c'"):
        oci.Spec.default().with_user("a:b:c")
    with pytest.raises(ValueError, match="'ghost'"):
        oci.Spec.default().with_user("ghost", rootfs=ROOTFS)
    with pytest.raises(ValueError, match="'ghosts'"):
        oci.Spec.default().with_user("alice:ghosts", rootfs=ROOTFS)
    # An empty rootfs: numbers still work, names cannot be resolved.
    spec = oci.Spec.default().with_user("5", rootfs=tmp_path)
    assert spec.process is not None
    assert spec.process.user == oci.User(uid=5, gid=0, additional_gids=(0,))
    with pytest.raises(ValueError, match="no /etc/passwd in"):
        oci.Spec.default().with_user("alice", rootfs=tmp_path)


def test_user_files_are_resolved_inside_the_rootfs(tmp_path: Path) -> None:
    real = tmp_path / "rootfs" / "real"
    real.mkdir(parents=True)
    (real / "passwd").write_text("zed:x:77:88::/:/bin/sh\n")
    (real / "group").write_text("extra:x:99:zed\n")
    etc = tmp_path / "rootfs" / "etc"
    etc.mkdir()
    # An absolute link and a relative one climbing above the root both stay inside it.
    os.symlink("/real/passwd", etc / "passwd")
    os.symlink("../../../../../../real/group", etc / "group")
    # A decoy outside the rootfs that a naive resolution would read.
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "group").write_text("decoy:x:1:zed\n")
    spec = oci.Spec.default().with_user("zed", rootfs=tmp_path / "rootfs")
    assert spec.process is not None
    assert spec.process.user == oci.User(uid=77, gid=88, additional_gids=(88, 99))


def test_symlink_loop_in_rootfs(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    os.symlink("/etc/passwd", tmp_path / "etc" / "passwd")
    with pytest.raises(ValueError, match="symbolic links"):
        oci.Spec.default().with_user("x", rootfs=tmp_path)


# ----------------------------------------------------------------------- env


@pytest.mark.parametrize("case", REFERENCE["env"], ids=lambda c: ",".join(c["overrides"]))
def test_env_merge_matches_containerd(case: dict[str, Any]) -> None:
    spec = attrs.evolve(oci.Spec.default(), process=oci.Process(env=case["defaults"]))
    merged = spec.with_env(case["overrides"])
    assert merged.process is not None
    assert list(merged.process.env) == (case["result"] or [])


def test_env_accepts_a_mapping() -> None:
    spec = oci.Spec.default().with_env({"A": "1", "B": "x=y"}).with_env({"A": "2"})
    assert spec.process is not None
    assert spec.process.env == ("A=2", "B=x=y")


@pytest.mark.parametrize("bad", [{"": "1"}, {"A=B": "1"}, ["=x"], [""]])
def test_env_rejects_bad_names(bad: Any) -> None:
    with pytest.raises(ValueError, match="environment"):
        oci.Spec.default().with_env(bad)


def test_env_rejects_a_lone_string() -> None:
    with pytest.raises(TypeError):
        oci.Spec.default().with_env("A=1")


# ---------------------------------------------------------------- from_image


def test_from_image_command() -> None:
    config = _config(entrypoint=("/entry", "-x"), cmd=("default", "cmd"))
    spec = oci.Spec.from_image(config)
    assert spec.process is not None
    assert spec.process.args == ("/entry", "-x", "default", "cmd")
    spec = oci.Spec.from_image(config, args=["mine"])
    assert spec.process is not None
    assert spec.process.args == ("/entry", "-x", "mine")
    spec = oci.Spec.from_image(config, args=[])  # empty args keep the image's cmd
    assert spec.process is not None
    assert spec.process.args == ("/entry", "-x", "default", "cmd")
    spec = oci.Spec.from_image(config, entrypoint=[], args=["sh"])
    assert spec.process is not None
    assert spec.process.args == ("sh",)
    spec = oci.Spec.from_image(config, entrypoint=["/other"])
    assert spec.process is not None
    assert spec.process.args == ("/other", "default", "cmd")


def test_from_image_without_a_command_has_no_args() -> None:
    # containerd's WithImageConfigArgs: no entrypoint, cmd or args gives empty args
    # (the runtime refuses them when the task is created, not the spec).
    spec = oci.Spec.from_image(pycontainerd.ImageConfig())
    assert spec.process is not None
    assert spec.process.args == ()
    assert "args" not in spec.to_dict()["process"]
    spec = oci.Spec.from_image(pycontainerd.ImageConfig(), args=["true"])
    assert spec.process is not None
    assert spec.process.args == ("true",)


def test_from_image_env() -> None:
    config = _config(env=("PATH=/img/bin", "A=image", "B=image"))
    base = oci.Spec.default().with_env(["B=base", "C=base"])
    spec = oci.Spec.from_image(config, base=base, env={"A": "mine", "D": "mine"})
    assert spec.process is not None
    assert spec.process.env == ("PATH=/img/bin", "A=mine", "B=base", "C=base", "D=mine")
    spec = oci.Spec.from_image(config, env=["B"])
    assert spec.process is not None
    assert spec.process.env == ("PATH=/img/bin", "A=image")
    # No env in the image: containerd's default PATH.
    spec = oci.Spec.from_image(_config())
    assert spec.process is not None
    assert spec.process.env == (oci.DEFAULT_PATH_ENV,)


def test_from_image_cwd() -> None:
    spec = oci.Spec.from_image(_config())
    assert spec.process is not None
    assert spec.process.cwd == "/"
    spec = oci.Spec.from_image(_config(working_dir="/app"))
    assert spec.process is not None
    assert spec.process.cwd == "/app"
    spec = oci.Spec.from_image(_config(working_dir="/app"), cwd="/tmp")
    assert spec.process is not None
    assert spec.process.cwd == "/tmp"
    with pytest.raises(ValueError, match="absolute"):
        oci.Spec.from_image(_config(working_dir="app"))


def test_from_image_starts_from_the_default_spec() -> None:
    spec = oci.Spec.from_image(_config(), namespace="ns", id="c1")
    default = oci.Spec.default(namespace="ns", id="c1")
    assert spec.process is not None
    assert default.process is not None
    assert spec.linux == default.linux
    assert spec.mounts == default.mounts
    assert spec.process.capabilities == default.process.capabilities
    assert spec.process.user == oci.User(uid=0, gid=0, additional_gids=(0,))
    # And keeps the rest of a given base.
    base = oci.Spec.default().with_hostname("h").with_readonly_rootfs()
    spec = oci.Spec.from_image(_config(), base=base)
    assert spec.hostname == "h"
    assert spec.root == oci.Root(path="rootfs", readonly=True)


# ------------------------------------------------------------------- helpers


def test_helpers_create_missing_sections() -> None:
    spec = (
        oci.Spec()
        .with_args(["a"])
        .with_memory_limit(10)
        .with_added_capabilities(["CAP_KILL"])
        .with_readonly_rootfs()
        .with_namespace("pid")
    )
    assert spec.process == oci.Process(
        args=("a",),
        capabilities=oci.Capabilities(
            bounding=("CAP_KILL",), effective=("CAP_KILL",), permitted=("CAP_KILL",)
        ),
    )
    assert spec.linux == oci.Linux(
        resources=oci.Resources(memory=oci.Memory(limit=10)),
        namespaces=(oci.Namespace(type="pid"),),
    )
    assert spec.root == oci.Root(path="rootfs", readonly=True)


def test_with_host_network() -> None:
    spec = oci.Spec.default().with_host_network(hostname="box")
    assert spec.linux is not None
    assert spec.process is not None
    assert "network" not in [n.type for n in spec.linux.namespaces]
    assert spec.mounts[-2:] == (
        oci.Mount(
            destination="/etc/hosts", type="bind", source="/etc/hosts", options=("rbind", "ro")
        ),
        oci.Mount(
            destination="/etc/resolv.conf",
            type="bind",
            source="/etc/resolv.conf",
            options=("rbind", "ro"),
        ),
    )
    assert "HOSTNAME=box" in spec.process.env
    default_name = oci.Spec.default().with_host_network()
    assert default_name.process is not None
    assert f"HOSTNAME={__import__('socket').gethostname()}" in default_name.process.env


def test_with_tty() -> None:
    spec = oci.Spec.default().with_env(["TERM=dumb"]).with_tty(columns=100, rows=30)
    assert spec.process is not None
    assert spec.process.terminal
    assert spec.process.env == ("TERM=xterm",)
    assert spec.process.console_size == oci.ConsoleSize(width=100, height=30)
    assert spec.to_dict()["process"]["consoleSize"] == {"height": 30, "width": 100}
    plain = oci.Spec.default().with_tty()
    assert plain.process is not None
    assert plain.process.console_size is None
    with pytest.raises(ValueError, match="columns and rows"):
        oci.Spec.default().with_tty(columns=3)


def test_resource_helpers() -> None:
    spec = (
        oci.Spec.default()
        .with_memory_limit(256 * 2**20, reservation=2**20, swap=-1)
        .with_cpu_limit(1.5)
        .with_cpu(shares=512, cpus="0-1")
        .with_cpu(mems="0")
        .with_pids_limit(64)
    )
    assert spec.linux is not None
    resources = spec.linux.resources
    assert resources is not None
    assert resources.memory == oci.Memory(limit=256 * 2**20, reservation=2**20, swap=-1)
    assert resources.cpu == oci.CPU(shares=512, quota=150_000, period=100_000, cpus="0-1", mems="0")
    assert resources.pids == oci.Pids(limit=64)
    assert resources.devices == (oci.DeviceRule(allow=False, access="rwm"),)  # kept
    assert spec.to_dict()["linux"]["resources"]["cpu"] == {
        "shares": 512,
        "quota": 150000,
        "period": 100000,
        "cpus": "0-1",
        "mems": "0",
    }
    with pytest.raises(ValueError, match="limit"):
        oci.Spec.default().with_memory_limit(-5)
    with pytest.raises(ValueError, match="positive"):
        oci.Spec.default().with_cpu_limit(0)


def test_capability_helpers() -> None:
    spec = oci.Spec.default().with_added_capabilities(["net_admin", "CAP_KILL"])
    assert spec.process is not None
    caps = spec.process.capabilities
    assert caps is not None
    assert caps.bounding == (*oci.DEFAULT_CAPABILITIES, "CAP_NET_ADMIN")
    assert caps.effective == caps.bounding == caps.permitted
    dropped = spec.with_dropped_capabilities(["NET_RAW", "CAP_NET_ADMIN"])
    assert dropped.process is not None
    assert dropped.process.capabilities is not None
    assert "CAP_NET_RAW" not in dropped.process.capabilities.effective
    assert "CAP_NET_ADMIN" not in dropped.process.capabilities.permitted
    exact = spec.with_capabilities(["CAP_CHOWN", "chown"])
    assert exact.process is not None
    assert exact.process.capabilities is not None
    assert exact.process.capabilities.bounding == ("CAP_CHOWN",)
    ambient = spec.with_ambient_capabilities(["NET_BIND_SERVICE"])
    assert ambient.process is not None
    assert ambient.process.capabilities is not None
    assert ambient.process.capabilities.ambient == ("CAP_NET_BIND_SERVICE",)
    assert ambient.process.capabilities.inheritable == ("CAP_NET_BIND_SERVICE",)
    with pytest.raises(ValueError, match="CAP_FLY"):
        oci.Spec.default().with_added_capabilities(["CAP_FLY"])


def test_with_privileged() -> None:
    spec = oci.Spec.default().with_privileged()
    assert spec.process is not None
    assert spec.linux is not None
    assert spec.process.capabilities is not None
    assert spec.process.capabilities.bounding == oci.KNOWN_CAPABILITIES
    assert spec.linux.masked_paths == ()
    assert spec.linux.readonly_paths == ()
    assert spec.linux.resources is not None
    assert spec.linux.resources.devices == (oci.DeviceRule(allow=True, access="rwm"),)
    sysfs = next(m for m in spec.mounts if m.type == "sysfs")
    assert sysfs.options == ("nosuid", "noexec", "nodev", "rw")


def test_namespace_helpers() -> None:
    spec = oci.Spec.default().with_namespace("network", "/var/run/netns/x").with_namespace("cgroup")
    assert spec.linux is not None
    assert spec.linux.namespaces[4] == oci.Namespace(type="network", path="/var/run/netns/x")
    assert spec.linux.namespaces[-1] == oci.Namespace(type="cgroup")
    hosted = spec.with_host_namespace("pid")
    assert hosted.linux is not None
    assert "pid" not in [n.type for n in hosted.linux.namespaces]
    with pytest.raises(ValueError, match="'net'"):
        spec.with_namespace("net")
    mapping = oci.IDMapping(container_id=0, host_id=100000, size=65536)
    userns = spec.with_user_namespace([mapping], [mapping]).with_user_namespace([], [mapping])
    assert userns.linux is not None
    assert [n.type for n in userns.linux.namespaces].count("user") == 1
    assert userns.linux.gid_mappings == (mapping, mapping)
    assert userns.to_dict()["linux"]["uidMappings"] == [
        {"containerID": 0, "hostID": 100000, "size": 65536}
    ]


def test_mount_helpers() -> None:
    extra = oci.Mount(destination="/data", type="bind", source="/srv", options=("rbind",))
    spec = oci.Spec.default().with_mounts([extra]).without_mounts("/run", "/dev/shm/")
    destinations = [m.destination for m in spec.mounts]
    assert destinations[-1] == "/data"
    assert "/run" not in destinations
    assert "/dev/shm" in destinations  # only exact (normalised) spec paths are removed
    spec = oci.Spec.default().without_mounts("/dev/shm")
    assert "/dev/shm" not in [m.destination for m in spec.mounts]


def test_small_helpers() -> None:
    spec = (
        oci.Spec.default()
        .with_hostname("web")
        .with_cwd("/srv")
        .with_annotations({"a": "1"})
        .with_annotations({"b": "2"})
        .with_sysctl({"net.core.somaxconn": "1024"})
        .with_cgroups_path("/custom")
        .with_rlimit("RLIMIT_NOFILE", soft=10, hard=20)
        .with_rlimit("RLIMIT_CORE", soft=0, hard=0)
        .with_no_new_privileges(False)
        .with_rootfs_path("/abs/rootfs")
        .with_default_path_env()
    )
    assert spec.hostname == "web"
    assert spec.annotations == {"a": "1", "b": "2"}
    assert spec.process is not None
    assert spec.linux is not None
    assert spec.process.cwd == "/srv"
    assert spec.process.rlimits == (
        oci.Rlimit(type="RLIMIT_NOFILE", soft=10, hard=20),
        oci.Rlimit(type="RLIMIT_CORE", soft=0, hard=0),
    )
    assert not spec.process.no_new_privileges
    assert spec.process.env == (oci.DEFAULT_PATH_ENV,)
    assert spec.linux.sysctl == {"net.core.somaxconn": "1024"}
    assert spec.linux.cgroups_path == "/custom"
    assert spec.root == oci.Root(path="/abs/rootfs")
    with pytest.raises(ValueError, match="absolute"):
        spec.with_cwd("srv")
    with pytest.raises(ValueError, match="empty"):
        spec.with_args([])
    with pytest.raises(ValueError, match="RLIMIT_"):
        spec.with_rlimit("NOFILE", soft=1, hard=1)


# ----------------------------------------------------------------- Mount.parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "type=bind,source=/a,destination=/b,options=rbind:rw",
            oci.Mount(destination="/b", type="bind", source="/a", options=("rbind", "rw")),
        ),
        ("src=/a,dst=/b", oci.Mount(destination="/b", source="/a")),
        ("target=/b,type=tmpfs", oci.Mount(destination="/b", type="tmpfs")),
        ('"src=/a,b",dst=/c', oci.Mount(destination="/c", source="/a,b")),
        ('dst="/q""uote"', None),  # bare quote inside an unquoted field
        ('"dst=/q""uote"', oci.Mount(destination='/q"uote')),
        ("dst=/a=b,options=", oci.Mount(destination="/a=b")),
        ("dst=/x,dst=/y", oci.Mount(destination="/y")),
        ("dst=/x\n", oci.Mount(destination="/x")),
        ('"dst=/multi\nline"', oci.Mount(destination="/multi\nline")),
    ],
)
def test_mount_parse(text: str, expected: oci.Mount | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match=r"quote|bare"):
            oci.Mount.parse(text)
    else:
        assert oci.Mount.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("type=bind,source", "'source'"),
        ("type=bind,color=red,dst=/b", "'color'"),
        ("type=bind,src=/a", "destination"),
        ("", "empty"),
        ('"dst=/a', "unterminated"),
        ('"dst=/a"x', "after a quoted field"),
        ("dst=/a\nsrc=/b", "line break"),
    ],
)
def test_mount_parse_errors_name_the_field(text: str, names: str) -> None:
    with pytest.raises(ValueError, match=names):
        oci.Mount.parse(text)


def test_mount_format_refuses_what_it_cannot_write() -> None:
    with pytest.raises(ValueError, match="'a:b'"):
        oci.Mount(destination="/x", options=("a:b",)).format()
    with pytest.raises(ValueError, match="''"):
        oci.Mount(destination="/x", options=("",)).format()


_no_nul = st.characters(blacklist_characters="\x00")
_field_text = st.text(_no_nul, min_size=0, max_size=12)
_mounts = st.builds(
    oci.Mount,
    # what parse accepts: absolute, no '..' component, no NUL
    destination=st.text(_no_nul, max_size=12)
    .map(lambda d: "/" + d)
    .filter(lambda d: ".." not in d.split("/")),
    type=_field_text,
    source=_field_text,
    options=st.lists(
        st.text(_no_nul, min_size=1, max_size=6).filter(lambda o: ":" not in o), max_size=4
    ).map(tuple),
)


@given(_mounts)
def test_mount_format_parse_round_trip(mount: oci.Mount) -> None:
    assert oci.Mount.parse(mount.format()) == mount


@given(st.lists(st.text(max_size=10), min_size=1, max_size=5))
def test_csv_split_reads_what_python_csv_writes(fields: list[str]) -> None:
    import csv
    import io

    from pycontainerd.oci._mountflag import split_csv

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(fields)
    text = buffer.getvalue()
    if fields == [""]:
        # csv writes a lone empty field as "" (quoted) - still one empty field.
        assert split_csv(text) == [""]
    else:
        assert split_csv(text) == fields


def test_specs_are_hashable() -> None:
    a = oci.Spec.default(namespace="n", id="c").with_annotations({"a": "1"})
    b = oci.Spec.from_json(a.to_json())
    assert hash(a) == hash(b)
    assert len({a, b, oci.Spec.default()}) == 2


def test_with_args_refuses_a_lone_string() -> None:
    with pytest.raises(TypeError, match="string"):
        oci.Spec.default().with_args("sh -c true")


_link_targets = st.sampled_from(
    ["/", "..", "../..", "/etc", "/a/b", "a", "b/../..", "/../../..", "../a/../../etc", "."]
)


@given(
    links=st.dictionaries(
        st.sampled_from(["a", "b", "a/c", "b/d", "etc"]), _link_targets, max_size=4
    ),
    path=st.lists(st.sampled_from(["a", "b", "c", "d", "etc", "..", ".", "passwd"]), max_size=6),
)
def test_root_path_never_leaves_the_root(links: dict[str, str], path: list[str]) -> None:
    import tempfile

    from pycontainerd.oci._user import root_path

    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        os.makedirs(root)
        for name, target in sorted(links.items()):
            location = os.path.join(root, name)
            if os.path.lexists(location) or not os.path.isdir(os.path.dirname(location)):
                continue
            if os.path.realpath(os.path.dirname(location)) != os.path.dirname(location):
                continue  # never create links through links (they could point outside)
            os.symlink(target, location)
        try:
            resolved = root_path(root, "/" + "/".join(path))
        except ValueError:
            return  # a symlink loop
        assert resolved == root or resolved.startswith(root + os.sep)
        # Every existing component of the result is a real directory or file, never a link.
        current = root
        for part in os.path.relpath(resolved, root).split(os.sep):
            if part == ".":
                continue
            current = os.path.join(current, part)
            if not os.path.lexists(current):
                break
            assert not os.path.islink(current)


def test_with_additional_groups_appends_gids_and_names() -> None:
    # As Go's WithAppendAdditionalGroups: gids as given, names from /etc/group, appended.
    spec = oci.Spec.default().with_user("alice", rootfs=ROOTFS)
    assert spec.process is not None
    assert spec.process.user.additional_gids == (1000, 100, 50, 44)
    more = spec.with_additional_groups(["wheel", 7, "65534"], rootfs=ROOTFS)
    assert more.process is not None
    assert more.process.user.additional_gids == (1000, 100, 50, 44, 10, 7, 65534)
    assert more.process.user.gid == 1000
    # The primary gid is put first when the list does not have it yet.
    plain = oci.Spec.default().with_user("5:6").with_additional_groups([9])
    assert plain.process is not None
    assert plain.process.user.additional_gids == (6, 9)
    bare = oci.Spec.from_json(b'{"process": {"user": {"uid": 1, "gid": 2}}}')
    added = bare.with_additional_groups(["3"])
    assert added.process is not None
    assert added.process.user.additional_gids == (2, 3)


def test_with_additional_groups_errors_name_the_group() -> None:
    with pytest.raises(errors.InvalidArgument, match="'ghosts'"):
        oci.Spec.default().with_additional_groups(["ghosts"], rootfs=ROOTFS)
    with pytest.raises(ValueError, match=r"'video'.*rootfs"):
        oci.Spec.default().with_additional_groups(["video"])
    with pytest.raises(ValueError, match="no /etc/group"):
        oci.Spec.default().with_additional_groups(["video"], rootfs={"/etc/passwd": b""})
    with pytest.raises(ValueError, match="-1"):
        oci.Spec.default().with_additional_groups([-1])
    with pytest.raises(TypeError, match="list"):
        oci.Spec.default().with_additional_groups("video", rootfs=ROOTFS)


def test_args_and_cwd_with_a_nul_are_refused() -> None:
    with pytest.raises(errors.InvalidArgument, match="NUL"):
        oci.Spec.default().with_args(["echo", "a\0b"])
    with pytest.raises(errors.InvalidArgument, match="NUL"):
        oci.Spec.default().with_cwd("/tmp\0x")


def test_user_files_given_as_a_mapping() -> None:
    files = {
        "/etc/passwd": (ROOTFS / "etc" / "passwd").read_bytes(),
        "/etc/group": (ROOTFS / "etc" / "group").read_bytes(),
    }
    for case in REFERENCE["users"]:
        if case["flow"] != "image" or not case["user"] or case.get("error"):
            continue
        spec = oci.Spec.from_image(_config(user=case["user"]), rootfs=files)
        assert spec.process is not None
        user = spec.process.user
        assert (user.uid, user.gid, list(user.additional_gids)) == (
            case["uid"],
            case["gid"],
            case["additionalGids"],
        ), case["user"]
    only_passwd = {"/etc/passwd": b"svc:x:10:20::/:/bin/sh\n"}
    spec = oci.Spec.default().with_user("svc", rootfs=only_passwd)
    assert spec.process is not None
    assert spec.process.user == oci.User(uid=10, gid=20, additional_gids=(20,))
    with pytest.raises(ValueError, match="no /etc/group in the given files"):
        oci.Spec.default().with_user("svc:staff", rootfs=only_passwd)


@pytest.mark.parametrize(
    ("env", "error", "match"),
    [
        ({"A=B": "1"}, errors.InvalidArgument, "'A=B'"),
        ({"": "1"}, errors.InvalidArgument, "name ''"),
        ({"A": "x\0y"}, errors.InvalidArgument, "NUL"),
        (["A\0=1"], errors.InvalidArgument, "NUL"),
        (["=1"], errors.InvalidArgument, "expected NAME=value"),
        ("A=B", TypeError, "not 'A=B'"),
        ([1], TypeError, "strings"),
        ({"A": 1}, TypeError, "str"),
    ],
)
def test_env_entries_refuse_what_runc_would(
    env: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        env_entries(env)  # type: ignore[arg-type]
