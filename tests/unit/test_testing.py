"""pycontainerd.testing without a daemon: version parsing, the config per version, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycontainerd.testing import ContainerdDaemon, DaemonError, debian_containerd


def fake_containerd(tmp_path: Path, prints: str) -> Path:
    binary = tmp_path / "bin" / "containerd"
    binary.parent.mkdir()
    binary.write_text(f"#!/bin/sh\necho '{prints}'\n")
    binary.chmod(0o755)
    return binary


@pytest.mark.parametrize(
    ("prints", "version", "config_version"),
    [
        (
            "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3",
            "1.6.20~ds1",
            2,
        ),
        ("containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6", "1.7.24~ds1", 2),
        ("containerd github.com/containerd/containerd/v2 2.1.9+unknown ", "2.1.9+unknown", 3),
        ("containerd containerd.io v2.0.0 207ad711", "2.0.0", 3),
    ],
)
def test_config_suits_the_binary_version(
    tmp_path: Path, prints: str, version: str, config_version: int
) -> None:
    daemon = ContainerdDaemon(tmp_path / "d", containerd=fake_containerd(tmp_path, prints))
    daemon.directory.mkdir()
    daemon._write_config(daemon._binary())
    assert daemon.version == version
    config = daemon.config_path.read_text()
    assert config.startswith(f"version = {config_version}\n")
    # Every CRI plugin of 1.x and 2.x is off, so start-up stays fast.
    for plugin in ("io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime"):
        assert f'"{plugin}"' in config


def test_a_binary_that_prints_no_version_is_refused(tmp_path: Path) -> None:
    daemon = ContainerdDaemon(tmp_path / "d", containerd=fake_containerd(tmp_path, "hello"))
    daemon.directory.mkdir()
    with pytest.raises(DaemonError, match="printed no version"):
        daemon._write_config(daemon._binary())


def test_a_missing_binary_is_named(tmp_path: Path) -> None:
    daemon = ContainerdDaemon(tmp_path / "d", containerd=tmp_path / "nothing")
    with pytest.raises(DaemonError, match=str(tmp_path / "nothing")):
        daemon.start()
    assert not daemon.running


@pytest.mark.parametrize("suite", ["", "sid main", "../etc", "trixie;ls"])
def test_debian_containerd_refuses_a_bad_suite_name(tmp_path: Path, suite: str) -> None:
    with pytest.raises(DaemonError, match="not a Debian suite"):
        debian_containerd(suite, cache=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_version_info_is_numeric(tmp_path: Path) -> None:
    daemon = ContainerdDaemon(
        tmp_path / "d", containerd=fake_containerd(tmp_path, "containerd x 1.7.24~ds1 rev")
    )
    with pytest.raises(DaemonError, match="not started"):
        daemon.version_info  # noqa: B018  (the property raises)
    daemon.directory.mkdir()
    daemon._write_config(daemon._binary())
    assert daemon.version_info == (1, 7, 24)
    assert daemon.version_info < (2, 0, 0)
