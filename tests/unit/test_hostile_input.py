"""Hostile input meets a typed error, before any RPC, naming the value shortened and masked.

The client here points at a socket that does not exist: a check that ran
after an RPC would raise `errors.ConnectionError` instead of the error
asserted.
"""

from __future__ import annotations

import gzip
import io
import os
import socket
import tarfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import pycontainerd
from pycontainerd import _layer_builder, _wire, errors, oci
from pycontainerd._containers import _listed, decode_fields
from pycontainerd._identifiers import MAX_LABEL_SIZE, MAX_LENGTH, shown
from pycontainerd._oci import normalize_reference, valid_digest
from pycontainerd.registry import Reference

pytestmark = pytest.mark.anyio

_CONTAINER = "containerd.services.containers.v1.Container"
_LIST = "containerd.services.containers.v1.ListContainersResponse"


@pytest.fixture
def client() -> pycontainerd.Client:
    return pycontainerd.Client("/nonexistent/containerd.sock")


# --- names in messages ---------------------------------------------------------------


def test_shown_masks_passwords_and_shortens() -> None:
    assert "secret" not in shown("user:secret@example.com/app:1")
    assert shown("user:secret@example.com/app:1") == "'user:***@example.com/app:1'"
    assert "hunter2" not in shown("https://bob:hunter2@registry.example/v2/")
    long = shown("x" * 100_000)
    assert len(long) < 120
    assert "100000 characters" in long
    assert shown("web") == "'web'"
    assert "pw" not in shown(["u:pw@registry.example/app"])  # inside a container's repr too
    tagged = "busybox:1@sha256:" + "a" * 64  # a tag and a digest: nothing to mask
    assert shown(tagged, 200) == repr(tagged)


def test_reference_with_a_password_is_not_echoed() -> None:
    with pytest.raises(ValueError, match="invalid image reference") as info:
        Reference.parse("user:s3cret-pass@registry.example.com/app:1")
    assert "s3cret-pass" not in str(info.value)
    assert "user:***@" in str(info.value)


async def test_a_huge_id_is_not_echoed_in_full(client: pycontainerd.Client) -> None:
    with pytest.raises(errors.InvalidArgument, match=f"longer than {MAX_LENGTH}") as info:
        await client.containers.get("a" * 100_000)
    assert len(str(info.value)) < 300


# --- references, tags and digests ------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "busybox\n",
        "busybox:latest\n",
        "example.com/app@sha256:" + "a" * 64 + "\n",
        "localhost:65536/app:1",
        "localhost:99999999999999999999/app:1",
    ],
)
def test_bad_references_raise(value: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        Reference.parse(value)


def test_port_at_the_limit_parses() -> None:
    assert Reference.parse("localhost:65535/app:1").domain == "localhost:65535"


def test_internal_reference_and_digest_checks_refuse_a_trailing_newline() -> None:
    with pytest.raises(ValueError, match="invalid image reference"):
        normalize_reference("busybox:1\n")
    assert not valid_digest("sha256:" + "a" * 64 + "\n")
    assert valid_digest("sha256:" + "a" * 64)


async def test_pull_of_a_port_out_of_range_is_a_typed_error(client: pycontainerd.Client) -> None:
    with pytest.raises(ValueError, match="port 70000"):
        await client.pull("localhost:70000/app:1")


# --- mounts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "type=bind,src=/a,dst=relative",
        "type=bind,src=/a,dst=/x/../../etc",
        "type=bind,src=/a,dst=..",
        "type=bind,src=/a,dst=/x\x00y",
        "type=bind,src=/a\x00,dst=/x",
    ],
)
def test_mount_parse_refuses_destinations_outside_the_rootfs(spec: str) -> None:
    with pytest.raises(ValueError, match="mount"):
        oci.Mount.parse(spec)


def test_mount_parse_keeps_a_good_destination() -> None:
    assert oci.Mount.parse("type=bind,src=/a,dst=/b/c..d").destination == "/b/c..d"


# --- labels -------------------------------------------------------------------------------


_BAD_LABELS: list[Any] = [
    {"": "x"},
    {"": None},  # an empty key, also in an update (found by test_fuzz)
    {"k": 1},
    {"k": None},
    {1: "v"},
    {"k": "v" * MAX_LABEL_SIZE},
    {"k" * (MAX_LABEL_SIZE + 1): ""},
    {"k": "\udcff"},
    ["not", "a", "mapping"],
]


def _label_calls(
    client: pycontainerd.Client, labels: Any, *, updates: bool
) -> list[Callable[[], Awaitable[Any]]]:
    spec = oci.Spec(process=oci.Process(args=["true"]))
    digest = "sha256:" + "a" * 64
    if updates:  # a None value removes a label here
        return [
            lambda: client.containers.update("c", labels=labels),
            lambda: client.namespaces.update("ns", labels=labels),
            lambda: client.snapshots().update("k", labels=labels),
            lambda: client.content.update(digest, labels=labels),
            lambda: client.images.update("example.com/a:1", labels=labels),
        ]
    return [
        lambda: client.containers.create("c", spec=spec, labels=labels),
        lambda: client.leases.create(labels=labels),
        lambda: client.namespaces.create("ns", labels=labels),
        lambda: client.snapshots().prepare("k", labels=labels),
        lambda: client.snapshots().view("k", labels=labels),
        lambda: client.snapshots().commit("n", "k", labels=labels),
        lambda: client.content.write("ref", b"data", labels=labels),
        lambda: client.images.create("example.com/a:1", _DESCRIPTOR, labels=labels),
    ]


_DESCRIPTOR = pycontainerd.Descriptor(
    media_type="application/vnd.oci.image.manifest.v1+json", digest="sha256:" + "a" * 64, size=1
)


@pytest.mark.parametrize("labels", _BAD_LABELS, ids=lambda v: shown(v, 30))
async def test_bad_labels_are_refused_everywhere(client: pycontainerd.Client, labels: Any) -> None:
    calls = _label_calls(client, labels, updates=False)
    if labels != {"k": None}:
        calls += _label_calls(client, labels, updates=True)
    for call in calls:
        with pytest.raises(errors.InvalidArgument, match="labels"):
            await call()


def test_a_label_at_the_limit_passes() -> None:
    from pycontainerd._identifiers import labels

    value = "v" * (MAX_LABEL_SIZE - 1)
    assert labels({"k": value}) == {"k": value}
    with pytest.raises(errors.InvalidArgument, match="4097 bytes"):
        labels({"k": value + "v"})
    with pytest.raises(errors.InvalidArgument, match="4097 bytes"):  # bytes, not characters
        labels({"k": "é" * (MAX_LABEL_SIZE // 2)})


# --- snapshot keys and specs --------------------------------------------------------------


@pytest.mark.parametrize("key", ["a\x00b", "a\nb", "a\rb", "\x7f"])
async def test_snapshot_keys_refuse_control_characters(
    client: pycontainerd.Client, key: str
) -> None:
    with pytest.raises(errors.InvalidArgument, match="control characters"):
        await client.snapshots().prepare(key)
    with pytest.raises(errors.InvalidArgument, match="control characters"):
        await client.snapshots().prepare("ok", parent=key)
    with pytest.raises(errors.InvalidArgument, match="control characters"):
        await client.snapshots().remove(key)


@pytest.mark.parametrize("spec", [b"[]", b"1", '"text"', b"null", b"{", b"\xff"])
async def test_a_spec_that_is_not_an_object_is_refused_at_create(
    client: pycontainerd.Client, spec: bytes | str
) -> None:
    with pytest.raises(errors.InvalidArgument, match="spec"):
        await client.containers.create("c", spec=spec)
    with pytest.raises(errors.InvalidArgument, match="spec"):
        await client.containers.update("c", spec=spec)


# --- the container decoder ------------------------------------------------------------------


def _list_reply(*containers: bytes) -> bytes:
    return b"".join(_wire.varint(1 << 3 | 2) + _wire.varint(len(c)) + c for c in containers)


def test_a_malformed_listed_container_is_data_loss() -> None:
    good = _wire.encode(_CONTAINER, {"id": "web", "labels": {"a": "b"}})
    for bad in (
        good + b"\x12\x05ab",  # a field cut short inside the container
        good + b"\x1b",  # wire type 3 (a group)
        good + b"\x0a",  # a key with nothing after it
    ):
        with pytest.raises(errors.DataLoss):  # the reply itself cut short: at the listing
            _listed(_list_reply(good, bad)[:-1], None)  # type: ignore[arg-type]
        ok, broken = _listed(_list_reply(good, bad), None)  # type: ignore[arg-type]
        assert ok.labels == {"a": "b"}
        with pytest.raises(errors.DataLoss):  # decoded lazily: at the first read
            _ = broken.id


def test_what_only_decoding_finds_is_data_loss_at_first_read() -> None:
    bad_text = _wire.encode(_CONTAINER, {"id": "web"}) + b"\x2a\x02\xff\xfe"  # snapshotter
    [container] = _listed(_list_reply(bad_text), None)  # type: ignore[arg-type]
    with pytest.raises(errors.DataLoss):
        _ = container.snapshotter
    huge = _wire.encode(_CONTAINER, {"id": "web", "created_at": {"seconds": 1 << 62}})
    with pytest.raises(errors.DataLoss, match="out of range"):
        decode_fields(huge)
    bad_nanos = _wire.encode(_CONTAINER, {"created_at": {"seconds": 1, "nanos": 2_000_000_000}})
    with pytest.raises(errors.DataLoss, match="nanos"):
        decode_fields(bad_nanos)


def test_version_reply_with_bad_text_is_data_loss() -> None:
    from pycontainerd._introspection import version_of

    with pytest.raises(errors.DataLoss):
        version_of(b"\x0a\x02\xff\xfe")


def test_an_any_with_a_group_wire_type_is_refused() -> None:
    # one-byte key of wire type 3 and a "length" byte: read as a string before the fix
    with pytest.raises(_wire.WireError):
        _wire.any_span(b"\x0b\x00", 0, 2)
    with pytest.raises(_wire.WireError):
        _wire.any_span(b"\x0d\x01\x02\x03\x04", 0, 3)  # fixed32 cut short


# --- create_from_directory -------------------------------------------------------------------


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "motd").write_text("hello")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "motd").write_text("SECRET FROM OUTSIDE")
    (outside / "motd").chmod(0o600)
    return root, outside


def _names_and_data(blob: bytes) -> dict[str, bytes]:
    found = {}
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        for m in tar.getmembers():
            f = tar.extractfile(m) if m.isfile() else None
            found[m.name] = f.read() if f is not None else m.linkname.encode()
    return found


def test_a_directory_swapped_for_a_symlink_while_packing_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, outside = _tree(tmp_path)
    real = _layer_builder._open_at

    def swap_then_open(dir_fd: int, name: str, flags: int) -> int:
        if name == "etc":  # listed as a directory; now, before it is opened, a symlink
            os.rename(root / "etc", tmp_path / "moved")
            os.symlink(outside, root / "etc")
        return real(dir_fd, name, flags)

    monkeypatch.setattr(_layer_builder, "_open_at", swap_then_open)
    out = io.BytesIO()
    with pytest.raises(errors.InvalidArgument, match="changed while"):
        _layer_builder.pack_directory(root, out)
    assert b"SECRET" not in gzip.decompress(out.getvalue()) if out.getvalue() else True


def test_a_file_swapped_while_packing_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, outside = _tree(tmp_path)
    real = _layer_builder._open_at

    def swap_then_open(dir_fd: int, name: str, flags: int) -> int:
        if name == "motd":
            os.replace(outside / "motd", root / "etc" / "motd")  # another inode
        return real(dir_fd, name, flags)

    monkeypatch.setattr(_layer_builder, "_open_at", swap_then_open)
    with pytest.raises(errors.InvalidArgument, match="changed while"):
        _layer_builder.pack_directory(root, io.BytesIO())


def test_symlinks_out_of_the_tree_are_packed_as_links(tmp_path: Path) -> None:
    root, outside = _tree(tmp_path)
    (root / "escape").symlink_to(outside)
    (root / "file-escape").symlink_to(outside / "motd")
    out = io.BytesIO()
    _layer_builder.pack_directory(root, out)
    found = _names_and_data(out.getvalue())
    assert found["escape"] == os.fsencode(outside)
    assert found["file-escape"] == os.fsencode(outside / "motd")
    assert not any(name.startswith("escape/") for name in found)
    assert b"SECRET FROM OUTSIDE" not in found.values()


def test_a_socket_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    root, _ = _tree(tmp_path)
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(root / "etc" / "sock"))
        with pytest.raises(errors.InvalidArgument, match="'etc/sock': a socket"):
            _layer_builder.pack_directory(root, io.BytesIO())


def test_a_missing_directory_is_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        _layer_builder.pack_directory(tmp_path / "nope", io.BytesIO())
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        _layer_builder.pack_directory(tmp_path / "file", io.BytesIO())
