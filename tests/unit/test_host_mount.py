"""The pure parts of mounting on the host: mountinfo paths, the overlay's common parent."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycontainerd import _mount


@pytest.mark.parametrize(
    ("field", "path"),
    [
        ("/mnt/plain", "/mnt/plain"),
        (r"/mnt/with\040space", "/mnt/with space"),
        (r"/mnt/tab\011and\012newline", "/mnt/tab\tand\nnewline"),
        (r"/mnt/back\134slash", "/mnt/back\\slash"),
    ],
)
def test_mountinfo_paths_are_unescaped(field: str, path: str) -> None:
    assert _mount._unescaped(field) == path


@pytest.mark.parametrize(
    ("lowerdirs", "parent"),
    [
        (["/var/lib/s/snapshots/2/fs", "/var/lib/s/snapshots/1/fs"], "/var/lib/s/snapshots"),
        (["/a/b/1/fs", "/a/b/12/fs", "/a/b/123/fs"], "/a/b"),
        # a lowerdir that is the common path itself is named from its parent
        (["/a/b", "/a/b/c"], "/a"),
    ],
)
def test_the_common_parent_of_lowerdirs(lowerdirs: list[str], parent: str) -> None:
    assert _mount._common_parent(lowerdirs) == parent


def test_a_directory_that_is_not_mounted_is_no_mount_point(tmp_path: Path) -> None:
    assert _mount.is_mount_point("/proc")
    assert not _mount.is_mount_point(str(tmp_path))
