"""Mounting on the host: mountinfo paths, the overlay's common parent, flags, refusals (as root)."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycontainerd import Mount, _mount, errors


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


def _options_of(path: Path) -> set[str]:
    """The per-mount options the mount table has for the top mount on `path`."""
    with open("/proc/self/mountinfo") as table:
        lines = [line.split() for line in table if line.split()[4] == str(path)]
    return set(lines[-1][5].split(","))


@pytest.fixture
def dirs(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A source directory and an empty target, unmounted after the test (as root)."""
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    target.mkdir()
    (source / "file").write_text("x")
    yield source, target
    _mount.unmount_all(str(target))


def test_a_read_only_bind_mount_keeps_its_other_flags(dirs: tuple[Path, Path]) -> None:
    """The remount that makes it read-only gives all the flags again, as containerd's does."""
    source, target = dirs
    options = ("rbind", "ro", "nosuid", "nodev", "noexec")
    _mount.mount(Mount(type="bind", source=str(source), options=options), str(target))
    assert {"ro", "nosuid", "nodev", "noexec"} <= _options_of(target)
    assert (target / "file").read_text() == "x"


def test_a_symlinked_path_to_a_mount_point_is_a_mount_point(
    dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    source, target = dirs
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    assert not _mount.is_mount_point(str(link / "target"))
    _mount.mount(Mount(type="bind", source=str(source), options=("rbind",)), str(target))
    assert _mount.is_mount_point(str(link / "target"))
    assert _mount.is_mount_point(str(target))


@pytest.mark.parametrize(
    ("mount", "named"),
    [
        (Mount(type="ext4", source="/disk.img", options=("loop", "ro")), "option 'loop'"),
        (
            Mount(type="bind", source="/nonexistent", options=("rbind", "uidmap=0:1000:65536")),
            "option 'uidmap=0:1000:65536'",
        ),
        (Mount(type="overlay", source="overlay", options=("gidmap=0:1:1",)), "'gidmap=0:1:1'"),
        (Mount(type="fuse.sshfs", source="host:/", options=()), "type 'fuse.sshfs'"),
        (Mount(type="fuse3.squashfuse", source="/a.sqfs", options=()), "'fuse3.squashfuse'"),
    ],
)
def test_what_containerd_mounts_with_a_helper_is_refused_by_name(
    dirs: tuple[Path, Path], mount: Mount, named: str
) -> None:
    """Refused before anything is mounted; those already mounted are unmounted."""
    source, target = dirs
    first = Mount(type="bind", source=str(source), options=("rbind",))
    with pytest.raises(errors.Unimplemented, match=named):
        _mount.mount_all([first, mount], str(target))
    assert not _mount.is_mount_point(str(target))


def test_overlay_options_longer_than_a_page_are_refused(dirs: tuple[Path, Path]) -> None:
    """Even with the lowerdirs named from their common parent, 400 layers do not fit."""
    source, target = dirs
    lowerdirs = [str(source / "snapshots" / str(i) / "fs") for i in range(400, 0, -1)]
    options = (f"lowerdir={':'.join(lowerdirs)}", f"upperdir={source}/u", f"workdir={source}/w")
    fds = os.listdir("/proc/self/fd")
    (source / "snapshots").mkdir()
    with pytest.raises(errors.InvalidArgument, match=r"\(400 layers\) take (\d+) bytes") as refused:
        _mount.mount(Mount(type="overlay", source="overlay", options=options), str(target))
    length = re.search(r"take (\d+) bytes", str(refused.value))
    assert length is not None
    assert int(length.group(1)) >= os.sysconf("SC_PAGE_SIZE")
    assert not _mount.is_mount_point(str(target))
    assert os.listdir("/proc/self/fd") == fds  # the common parent's descriptor is closed


@pytest.mark.parametrize(
    ("err", "kind", "says"),
    [
        (errno.EPERM, errors.PermissionDenied, "(mounting needs root on the daemon's host)"),
        (errno.EBUSY, errors.FailedPrecondition, "busy (a process is using it)"),
        (errno.ENOENT, errors.FailedPrecondition, "(the snapshot is not on this host)"),
        (errno.EINVAL, errors.FailedPrecondition, ": Invalid argument"),
    ],
)
def test_host_errors_are_typed_by_errno(err: int, kind: type[Exception], says: str) -> None:
    exc = _mount.host_error("cannot mount '/mnt'", OSError(err, os.strerror(err)), doing="mounting")
    assert type(exc) is kind
    assert str(exc).endswith(says), str(exc)
    assert str(exc).startswith("cannot mount '/mnt': ")
