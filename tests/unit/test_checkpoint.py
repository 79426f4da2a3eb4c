"""CRIU options as the runc shim reads them (runc's ``CheckpointOptions`` in an ``Any``)."""

from __future__ import annotations

import json

import pytest

from pycontainerd import Descriptor, Platform, _checkpoint, _oci, errors
from pycontainerd._api.containerd.runc.v1 import CheckpointOptions
from pycontainerd.runtime import CriuOptions


def test_options_encode_as_runc_checkpoint_options() -> None:
    criu = CriuOptions(
        tcp_established=True,
        external_unix_sockets=True,
        terminal=True,
        file_locks=True,
        empty_namespaces=["network"],
        cgroups_mode="soft",
        work_path="/w",
    )
    packed = _checkpoint.options_any(criu._to_proto(exit=True, image_path="/i"))
    # The type URL the runc shim's typeurl registry knows these options by.
    assert packed.type_url == "containerd.runc.v1.CheckpointOptions"
    decoded = CheckpointOptions().parse(packed.value)
    assert decoded == CheckpointOptions(
        exit=True,
        open_tcp=True,
        external_unix_sockets=True,
        terminal=True,
        file_locks=True,
        empty_namespaces=["network"],
        cgroups_mode="soft",
        image_path="/i",
        work_path="/w",
    )
    # Field numbers as in containerd's runc.proto: exit 1, open_tcp 2, ... work_path 9.
    assert bytes(CheckpointOptions(exit=True)) == b"\x08\x01"
    assert bytes(CheckpointOptions(work_path="/w")) == b"\x4a\x02/w"
    assert CriuOptions(empty_namespaces=["ipc"]).empty_namespaces == ("ipc",)


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("tcp_established", 1),
        ("empty_namespaces", "network"),
        ("empty_namespaces", ["net\0"]),
        ("cgroups_mode", None),
        ("work_path", "/w\0"),
    ],
)
def test_bad_options_name_the_field(field: str, bad: object) -> None:
    with pytest.raises(errors.InvalidArgument, match=field):
        CriuOptions(**{field: bad})  # type: ignore[arg-type]


def test_index_is_an_oci_index_whose_labels_hold_every_part() -> None:
    dump = Descriptor(media_type=_oci.CHECKPOINT, digest="sha256:" + "a" * 64, size=10)
    image = Descriptor(media_type=_oci.OCI_MANIFEST, digest="sha256:" + "b" * 64, size=20)
    amd64 = Platform(os="linux", architecture="amd64")
    desc, data, labels = _checkpoint._index([(dump, amd64), (image, None)], {"image.name": "x"})
    assert json.loads(data) == {
        "schemaVersion": 2,
        "mediaType": _oci.OCI_INDEX,
        "manifests": [
            {
                "mediaType": _oci.CHECKPOINT,
                "digest": dump.digest,
                "size": 10,
                "platform": {"architecture": "amd64", "os": "linux"},
            },
            {"mediaType": _oci.OCI_MANIFEST, "digest": image.digest, "size": 20},
        ],
        "annotations": {"image.name": "x"},
    }
    # Go's writeIndex labels: one numbered reference per manifest, in order.
    assert labels == {
        "containerd.io/gc.ref.content.0": dump.digest,
        "containerd.io/gc.ref.content.1": image.digest,
    }
    assert desc == Descriptor(media_type=_oci.OCI_INDEX, digest=_oci.sha256(data), size=len(data))
