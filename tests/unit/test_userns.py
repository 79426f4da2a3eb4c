"""`oci.UserNamespace`: validation, id translation, remapper labels, and Go's remapped-snapshot name."""

from __future__ import annotations

import pytest

from pycontainerd import oci

M = oci.IDMapping


def test_remapped_is_one_range_from_root() -> None:
    userns = oci.UserNamespace.remapped(100000, 200000)
    assert userns.uid_mappings == (M(container_id=0, host_id=100000, size=65536),)
    assert userns.gid_mappings == (M(container_id=0, host_id=200000, size=65536),)
    assert userns.root == (100000, 200000)
    assert userns.to_host(65535, 1) == (165535, 200001)
    with pytest.raises(ValueError, match="container uid 65536 is not mapped"):
        userns.to_host(65536, 0)
    with pytest.raises(ValueError, match="container gid 70000 is not mapped"):
        userns.to_host(0, 70000)


def test_several_ranges_translate_and_label_in_given_order() -> None:
    userns = oci.UserNamespace(
        uid_mappings=[
            M(container_id=1000, host_id=200000, size=1),
            M(container_id=0, host_id=100000, size=1000),
        ],
        gid_mappings=[M(container_id=0, host_id=300000, size=65536)],
    )
    assert userns.to_host(999, 5) == (100999, 300005)
    assert userns.to_host(1000, 5) == (200000, 300005)
    with pytest.raises(ValueError, match="uid 1001"):
        userns.to_host(1001, 0)
    # Go's IDMap.Marshal: "ctr:host:size" joined by commas, in the order given.
    assert userns.snapshot_labels == {
        "containerd.io/snapshot/uidmapping": "1000:200000:1,0:100000:1000",
        "containerd.io/snapshot/gidmapping": "0:300000:65536",
    }


def test_remapped_snapshot_name_is_go_clients() -> None:
    # Computed by Go 1.19's encoding/json and crypto/sha256 over containerd 2.1's
    # remappedSnapshot{Parent, IDMap{UidMap, GidMap}} (maps sorted by container id).
    userns = oci.UserNamespace(
        uid_mappings=[
            M(container_id=1000, host_id=200000, size=1),
            M(container_id=0, host_id=100000, size=1000),
        ],
        gid_mappings=[M(container_id=0, host_id=300000, size=65536)],
    )
    parent = "sha256:2b1c9c9e6b7d4c0b8a1f5d3e7a9c0b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b"
    expected = "sha256:7b0222616dbe9c3d7ca25eeffeb8fb2eca19c3d7c33870518d766ada143b0f34"
    assert userns.remapped_snapshot_name(parent) == expected
    # Only the mappings and the parent name it.
    assert oci.UserNamespace.remapped(1, 1).remapped_snapshot_name(parent) != expected
    assert userns.remapped_snapshot_name(parent[:-1] + "c") != expected


@pytest.mark.parametrize(
    ("uid", "gid", "message"),
    [
        ([], [M(container_id=0, host_id=1, size=1)], "at least one uid mapping"),
        (
            [M(container_id=1, host_id=1, size=5)],
            [M(container_id=0, host_id=1, size=1)],
            "must map container id 0",
        ),
        (
            [M(container_id=0, host_id=1, size=0)],
            [M(container_id=0, host_id=1, size=1)],
            "is empty",
        ),
        (
            [M(container_id=0, host_id=2**32 - 10, size=100)],
            [M(container_id=0, host_id=1, size=1)],
            "runs past",
        ),
        (
            [M(container_id=0, host_id=-1, size=1)],
            [M(container_id=0, host_id=1, size=1)],
            "host_id must be",
        ),
        (
            [M(container_id=0, host_id=1, size=1)],
            [M(container_id=0, host_id=True, size=1)],
            "host_id must be",
        ),
        ([(0, 1, 1)], [M(container_id=0, host_id=1, size=1)], "must be oci.IDMapping values"),
    ],
)
def test_bad_mappings_are_refused(
    uid: list[oci.IDMapping], gid: list[oci.IDMapping], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        oci.UserNamespace(uid_mappings=uid, gid_mappings=gid)
