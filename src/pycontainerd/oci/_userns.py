"""`UserNamespace`: the uid and gid mappings of a container run in a user namespace."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

import attrs

from ._model import IDMapping

__all__ = ["GID_MAPPING_LABEL", "UID_MAPPING_LABEL", "UserNamespace"]

UID_MAPPING_LABEL = "containerd.io/snapshot/uidmapping"
"""The snapshot label that asks a remapping snapshotter to shift uids (``0:100000:65536,...``)."""

GID_MAPPING_LABEL = "containerd.io/snapshot/gidmapping"
"""The snapshot label that asks a remapping snapshotter to shift gids."""

_INVALID_ID = 2**32 - 1  # Go's invalidID: ids are uint32, and this one means "none"


def _mappings(values: Iterable[IDMapping]) -> tuple[IDMapping, ...]:
    return tuple(values)


def _check(kind: str, mappings: tuple[IDMapping, ...]) -> None:
    if not mappings:
        raise ValueError(f"a user namespace needs at least one {kind} mapping")
    for m in mappings:
        if not isinstance(m, IDMapping):
            raise ValueError(f"{kind} mappings must be oci.IDMapping values, got {m!r}"[:200])
        for name in ("container_id", "host_id", "size"):
            value = getattr(m, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 0 <= value < _INVALID_ID
            ):
                raise ValueError(
                    f"{kind} mapping {name} must be an id below 2**32-1, got {value!r}"
                )
        if m.size == 0 or m.container_id + m.size > _INVALID_ID or m.host_id + m.size > _INVALID_ID:
            raise ValueError(f"{kind} mapping {_label(m)} is empty or runs past the last id")
    if _to_host(0, mappings) is None:
        raise ValueError(f"the {kind} mappings must map container id 0 (root)")


def _label(m: IDMapping) -> str:
    return f"{m.container_id}:{m.host_id}:{m.size}"


def _to_host(id: int, mappings: tuple[IDMapping, ...]) -> int | None:
    for m in mappings:
        if m.container_id <= id < m.container_id + m.size:
            return m.host_id + id - m.container_id
    return None


def _go_json(mappings: tuple[IDMapping, ...]) -> list[dict[str, int]]:
    # Sorted by container id, stably, as Go's remappedSnapshot.ID sorts them.
    ordered = sorted(mappings, key=lambda m: m.container_id)
    return [{"containerID": m.container_id, "hostID": m.host_id, "size": m.size} for m in ordered]


@attrs.frozen(kw_only=True)
class UserNamespace:
    """The id mappings of a container that runs in its own user namespace.

    Given to `pycontainerd.Containers.create` as ``user_namespace=``, it
    puts the user namespace and these mappings in the container's spec
    (containerd's ``oci.WithUserNamespace``) and gives the container a
    rootfs whose files belong to the mapped host ids (containerd's
    ``WithUserNSRemappedSnapshot``). Root (container id 0) must be mapped.

    Attributes:
        uid_mappings: container uid ranges and the host uids they map to.
        gid_mappings: container gid ranges and the host gids they map to.

    Raises:
        ValueError: no mapping, an id out of range, an empty or overflowing
            range, or container id 0 not mapped.

    Example:
        ```python
        from pycontainerd import oci

        userns = oci.UserNamespace(
            uid_mappings=[oci.IDMapping(container_id=0, host_id=100000, size=65536)],
            gid_mappings=[oci.IDMapping(container_id=0, host_id=100000, size=65536)],
        )
        assert userns == oci.UserNamespace.remapped(100000, 100000)
        assert userns.to_host(1000, 1000) == (101000, 101000)
        ```
    """

    uid_mappings: tuple[IDMapping, ...] = attrs.field(converter=_mappings)
    gid_mappings: tuple[IDMapping, ...] = attrs.field(converter=_mappings)

    def __attrs_post_init__(self) -> None:
        _check("uid", self.uid_mappings)
        _check("gid", self.gid_mappings)

    @classmethod
    def remapped(cls, uid: int, gid: int, *, size: int = 65536) -> UserNamespace:
        """Container ids ``0`` to ``size - 1`` shifted to start at host `uid` and `gid`.

        The mapping containerd's ``WithRemappedSnapshot(id, image, uid, gid)``
        uses (and ``ctr run --remap-labels --uidmap 0:uid:65536``).

        Example:
            ```python
            userns = UserNamespace.remapped(100000, 100000)
            assert userns.root == (100000, 100000)
            ```
        """
        return cls(
            uid_mappings=[IDMapping(container_id=0, host_id=uid, size=size)],
            gid_mappings=[IDMapping(container_id=0, host_id=gid, size=size)],
        )

    @property
    def root(self) -> tuple[int, int]:
        """The host uid and gid that container root (0:0) maps to."""
        return self.to_host(0, 0)

    def to_host(self, uid: int, gid: int) -> tuple[int, int]:
        """The host ids of container ids `uid` and `gid`.

        Raises:
            ValueError: the namespace does not map one of them.

        Example:
            ```python
            assert UserNamespace.remapped(100000, 200000).to_host(0, 5) == (100000, 200005)
            ```
        """
        host_uid = _to_host(uid, self.uid_mappings)
        host_gid = _to_host(gid, self.gid_mappings)
        if host_uid is None or host_gid is None:
            kind, value = ("uid", uid) if host_uid is None else ("gid", gid)
            raise ValueError(f"container {kind} {value} is not mapped to a host id")
        return host_uid, host_gid

    @property
    def snapshot_labels(self) -> Mapping[str, str]:
        """The labels that ask a remapping snapshotter to shift the rootfs (Go's ``WithUserNSRemapperLabels``).

        Example:
            ```python
            labels = UserNamespace.remapped(100000, 100000).snapshot_labels
            assert labels["containerd.io/snapshot/uidmapping"] == "0:100000:65536"
            ```
        """
        return {
            UID_MAPPING_LABEL: ",".join(_label(m) for m in self.uid_mappings),
            GID_MAPPING_LABEL: ",".join(_label(m) for m in self.gid_mappings),
        }

    def remapped_snapshot_name(self, parent: str) -> str:
        """The name of `parent`'s snapshot remapped to this namespace, as containerd 2.x's client names it.

        The digest of ``{"Parent": ..., "IDMap": {"UidMap": [...], "GidMap": [...]}}``
        (Go's JSON, mappings sorted by container id): clients that share it
        share the remapped snapshot.

        Example:
            ```python
            name = UserNamespace.remapped(100000, 100000).remapped_snapshot_name("sha256:...")
            assert name.startswith("sha256:")
            ```
        """
        document = {
            "Parent": parent,
            "IDMap": {"UidMap": _go_json(self.uid_mappings), "GidMap": _go_json(self.gid_mappings)},
        }
        data = json.dumps(document, separators=(",", ":")).encode()
        return "sha256:" + hashlib.sha256(data).hexdigest()
