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


@pytest.mark.parametrize(
    "prints",
    [
        "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3",
        "containerd github.com/containerd/containerd/v2 2.1.9+unknown ",
    ],
)
def test_tcp_and_tls_go_under_grpc(tmp_path: Path, prints: str) -> None:
    daemon = ContainerdDaemon(
        tmp_path / "d",
        containerd=fake_containerd(tmp_path, prints),
        tcp_address="127.0.0.1:0",
        tcp_tls_cert=tmp_path / "server.pem",
        tcp_tls_key=tmp_path / 'odd "name".key',
        tcp_tls_ca=tmp_path / "ca.pem",
    )
    daemon.directory.mkdir()
    daemon._write_config(daemon._binary())
    grpc = daemon.config_path.read_text().partition("[grpc]\n")[2].partition("[ttrpc]")[0]
    assert '  tcp_address = "127.0.0.1:0"\n' in grpc
    assert f'  tcp_tls_cert = "{tmp_path}/server.pem"\n' in grpc
    assert f'  tcp_tls_key = "{tmp_path}/odd \\"name\\".key"\n' in grpc  # TOML-escaped
    assert f'  tcp_tls_ca = "{tmp_path}/ca.pem"\n' in grpc
    plain = ContainerdDaemon(tmp_path / "p", containerd=daemon.containerd)
    plain.directory.mkdir()
    plain._write_config(plain._binary())
    assert " tcp_" not in plain.config_path.read_text()


def test_the_served_tcp_address_is_read_from_the_log() -> None:
    log = (
        'time="..." level=info msg=serving... address=/tmp/ctrd-x/containerd.sock.ttrpc\n'
        'time="..." level=info msg=serving... address="127.0.0.1:40123"\n'
        'time="..." level=info msg=serving... address=/tmp/ctrd-x/containerd.sock\n'
    )
    assert ContainerdDaemon._served_tcp_address(log) == "127.0.0.1:40123"
    assert ContainerdDaemon._served_tcp_address(log.replace('"127.0.0.1:40123"', "[::1]:9")) == (
        "[::1]:9"
    )
    assert ContainerdDaemon._served_tcp_address(log.splitlines()[0]) is None


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"tcp_address": "127.0.0.1:0", "tcp_tls_cert": "c.pem"}, "go together"),
        ({"tcp_address": "127.0.0.1:0", "tcp_tls_key": "c.key"}, "go together"),
        ({"tcp_tls_cert": "c.pem", "tcp_tls_key": "c.key"}, "need a tcp_address"),
        ({"tcp_address": "127.0.0.1:0", "tcp_tls_ca": "ca.pem"}, "tcp_tls_ca needs"),
    ],
)
def test_tcp_options_that_do_not_go_together(
    tmp_path: Path, options: dict[str, str], why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        ContainerdDaemon(tmp_path, **options)  # type: ignore[arg-type]
