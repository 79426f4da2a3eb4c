"""`pycontainerd.runtime`: the encodings against containerd's Go types and an independent encoder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

import pycontainerd
from pycontainerd import errors, runtime
from pycontainerd._containers import _task_options, decode_containers, encode_create

ROOT = Path(__file__).resolve().parents[2]
# Made once with containerd 1.6.20's own Go types (see the file's "_made_by").
GO = json.loads((ROOT / "tests" / "data" / "runtime_options_go.json").read_text())

ALL_RUNC = runtime.RuncOptions(
    no_pivot_root=True,
    no_new_keyring=True,
    shim_cgroup="/shim",
    io_uid=1000,
    io_gid=4294967295,
    binary_name="/usr/bin/crun",
    root="/run/crun-root",
    systemd_cgroup=True,
    criu_image_path="/ckpt/image",
    criu_work_path="/ckpt/work",
)
ALL_CREATE = runtime.CreateOptions(
    no_pivot_root=True,
    open_tcp=True,
    external_unix_sockets=True,
    terminal=True,
    file_locks=True,
    empty_namespaces=["network", "ipc"],
    cgroups_mode="soft",
    no_new_keyring=True,
    shim_cgroup="/shim",
    io_uid=1,
    io_gid=2,
    criu_work_path="/w",
    criu_image_path="/i",
)


@pytest.mark.parametrize(
    ("case", "options"),
    [
        ("systemd_cgroup", runtime.RuncOptions(systemd_cgroup=True)),
        ("runc_all", ALL_RUNC),
        ("runc_empty", runtime.RuncOptions()),
        ("create_all", ALL_CREATE),
    ],
)
def test_encoding_is_gos(case: str, options: runtime.RuncOptions | runtime.CreateOptions) -> None:
    extension = options.to_extension()
    assert extension == pycontainerd.Extension(
        type_url=GO[case]["type_url"], value=bytes.fromhex(GO[case]["value"])
    )
    assert type(options).from_extension(extension) == options


def test_systemd_cgroup_is_field_9_true() -> None:
    # What containerd's Go code produces for Options{SystemdCgroup: true}: tag (9 << 3 | 0), 1.
    assert runtime.RuncOptions(systemd_cgroup=True).to_extension().value == b"\x48\x01"
    assert runtime.RUNC_OPTIONS_TYPE == GO["systemd_cgroup"]["type_url"]


@pytest.fixture(scope="module")
def reference_classes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The two messages built by Google's protobuf runtime from the committed .proto files."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    out = tmp_path_factory.mktemp("fds") / "options.fds"
    protos = ROOT / "protos"
    files = [
        "github.com/containerd/containerd/api/types/runc/options/oci.proto",
        "github.com/containerd/containerd/runtime/linux/runctypes/runc.proto",
    ]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{protos}",
            f"--descriptor_set_out={out}",
            "--include_imports",
            *files,
        ],
        check=True,
    )
    fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
        for name in (runtime.RUNC_OPTIONS_TYPE, runtime.CREATE_OPTIONS_TYPE)
    }


def test_every_field_matches_googles_encoder(reference_classes: dict[str, Any]) -> None:
    # Every field, the 2.x task API ones too (containerd 1.6's Go types lack them).
    full = attrs.evolve(ALL_RUNC, task_api_address="ttrpc+unix:///run/t.sock", task_api_version=3)
    for options in (full, ALL_CREATE):
        fields = attrs.asdict(options)
        reference = reference_classes[options.TYPE_URL](**fields)
        assert options.to_extension().value == reference.SerializeToString(deterministic=True)
        assert sorted(fields) == sorted(f.name for f in reference.DESCRIPTOR.fields)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("io_uid", -1),
        ("io_gid", 1 << 32),
        ("io_uid", "1000"),
        ("io_uid", True),
        ("task_api_version", 1.5),
        ("binary_name", "cr\0un"),
        ("root", b"/run"),
        ("systemd_cgroup", 1),
    ],
)
def test_bad_values_are_refused_by_name(field: str, value: object) -> None:
    with pytest.raises(errors.InvalidArgument, match=field):
        runtime.RuncOptions(**{field: value})


def test_create_options_refuse_a_string_for_namespaces() -> None:
    with pytest.raises(errors.InvalidArgument, match="empty_namespaces"):
        runtime.CreateOptions(empty_namespaces="network")
    with pytest.raises(errors.InvalidArgument, match="empty_namespaces"):
        runtime.CreateOptions(empty_namespaces=["net\0"])


def test_from_extension_checks_type_and_bytes() -> None:
    with pytest.raises(errors.InvalidArgument, match=r"containerd\.runc\.v1\.Options"):
        runtime.RuncOptions.from_extension(ALL_CREATE.to_extension())
    with pytest.raises(errors.DataLoss):
        runtime.RuncOptions.from_extension(
            pycontainerd.Extension(type_url=runtime.RUNC_OPTIONS_TYPE, value=b"\xff")
        )


def _container_with(options: pycontainerd.Extension | None) -> pycontainerd.Container:
    wire = encode_create(
        id="c",
        labels={},
        image="",
        runtime="io.containerd.runc.v2",
        runtime_options=options,
        spec_type="",
        spec=b"",
        snapshotter="",
        snapshot_key="",
        extensions={},
    )
    # A CreateContainerRequest holds its container in field 1, as a List reply does.
    [container] = decode_containers(wire, None)
    return container


def test_stored_runc_options_read_back_typed() -> None:
    assert _container_with(ALL_RUNC.to_extension()).runtime.options == ALL_RUNC
    other = pycontainerd.Extension(type_url="io.example.Options", value=b"\x08\x01")
    assert _container_with(other).runtime.options == other
    # Corrupt runc options stay raw: reading the container must not fail.
    bad = pycontainerd.Extension(type_url=runtime.RUNC_OPTIONS_TYPE, value=b"\xff")
    assert _container_with(bad).runtime.options == bad
    assert _container_with(None).runtime.options is None


def test_task_options_start_from_the_containers() -> None:
    runc = pycontainerd.Runtime(options=runtime.RuncOptions(binary_name="crun", root="/r"))
    # Nothing given: nothing sent, the shim reads the container's options.
    assert _task_options(runc, None) is None
    got = _task_options(runc, None, no_new_keyring=True, io_uid=7, shim_cgroup=None)
    assert (
        got
        == runtime.RuncOptions(
            binary_name="crun", root="/r", no_new_keyring=True, io_uid=7
        ).to_extension()
    )
    # Whole options given replace the container's; keywords change them.
    whole = runtime.RuncOptions(systemd_cgroup=True)
    assert _task_options(runc, whole, io_gid=3) == attrs.evolve(whole, io_gid=3).to_extension()
    assert _task_options(runc, whole) == whole.to_extension()
    # No options anywhere: runc's, or containerd 1.x's Linux runtime's CreateOptions.
    assert _task_options(pycontainerd.Runtime(), None, no_pivot_root=True) == (
        runtime.RuncOptions(no_pivot_root=True).to_extension()
    )
    v1 = pycontainerd.Runtime(name=runtime.LINUX_RUNTIME_V1)
    assert _task_options(v1, None, no_pivot_root=True) == (
        runtime.CreateOptions(no_pivot_root=True).to_extension()
    )


def test_task_option_keywords_refused_for_opaque_options() -> None:
    opaque = pycontainerd.Extension(type_url="io.example.Options", value=b"")
    other = pycontainerd.Runtime(name="io.example.v1", options=opaque)
    assert _task_options(other, opaque) == opaque
    with pytest.raises(errors.InvalidArgument, match=r"io\.example\.Options"):
        _task_options(other, None, no_new_keyring=True)
    with pytest.raises(errors.InvalidArgument, match="io_uid"):
        _task_options(pycontainerd.Runtime(), None, io_uid=-1)
    with pytest.raises(errors.InvalidArgument, match="options must be"):
        _task_options(pycontainerd.Runtime(), b"\x08\x01")  # type: ignore[arg-type]
