"""CRIU options as the runc shim reads them (runc's ``CheckpointOptions`` in an ``Any``)."""

from __future__ import annotations

from pycontainerd import CriuOptions, _checkpoint
from pycontainerd._api.containerd.runc.v1 import CheckpointOptions


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
