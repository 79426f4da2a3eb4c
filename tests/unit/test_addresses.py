"""Addresses, the choice of TLS for TCP, and TLS files: checked as a Client is made."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

import pycontainerd
from pycontainerd import _transport, errors
from pycontainerd._transport import Target

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("address", "target"),
    [
        ("/run/containerd/containerd.sock", Target(None, None, "/run/containerd/containerd.sock")),
        ("./containerd.sock", Target(None, None, "./containerd.sock")),
        ("unix:///run/c.sock", Target(None, None, "/run/c.sock")),
        ("UNIX:///run/c.sock", Target(None, None, "/run/c.sock")),
        ("unix://relative.sock", Target(None, None, "relative.sock")),
        ("tcp://10.0.0.5:1234", Target("10.0.0.5", 1234, None)),
        ("10.0.0.5:1234", Target("10.0.0.5", 1234, None)),
        ("tcp://node-1.cluster.internal:65535", Target("node-1.cluster.internal", 65535, None)),
        ("localhost:1", Target("localhost", 1, None)),
        ("tcp://[::1]:99", Target("::1", 99, None)),
        ("[fd00::5]:1234", Target("fd00::5", 1234, None)),
    ],
)
def test_addresses_parse(address: str, target: Target) -> None:
    assert _transport.parse_address(address) == target
    assert target.tcp is (target.path is None)


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("host-without-port", "neither a socket path"),
        ("host:port", "'port' is not a port number"),
        ("host:0", "'0' is not a port number"),
        ("host:65536", "'65536' is not a port number"),
        ("host:-1", "is not a port number"),
        (":1234", "no host"),
        ("tcp://:1234", "no host"),
        ("::1:1234", "needs brackets"),
        ("[::1]", r"expected \[IPv6\]:port"),
        ("[nope]:1", "is not an IPv6 address"),
        ("tcp://host:1234/path", "is not a port number"),
        ("http://host:1234", "unknown scheme 'http://'"),
        ("https://host:1234", "unknown scheme"),
        ("unix://", "needs a socket path"),
        ("bad host:1", "is not a host name"),
        ("-bad:1", "is not a host name"),
        ("a..b:1", "is not a host name"),
        (" /run/c.sock", "whitespace"),
        ("/run/c.sock\x00", "NUL"),
    ],
)
def test_bad_addresses_raise_invalid_address_quoting_them(address: str, why: str) -> None:
    with pytest.raises(errors.InvalidAddress, match=why) as info:
        _transport.parse_address(address)
    assert info.value.address == address
    assert isinstance(info.value, ValueError)
    if address.strip():
        assert repr(address) in str(info.value)
    with pytest.raises(errors.InvalidAddress):
        pycontainerd.Client(address, tls=False)


def test_tcp_needs_a_choice_of_tls() -> None:
    with pytest.raises(errors.InvalidAddress, match=r"tls=pycontainerd\.TLS.*tls=False") as info:
        pycontainerd.Client("tcp://10.0.0.5:1234")
    assert info.value.address == "tcp://10.0.0.5:1234"
    assert "'tcp://10.0.0.5:1234'" in str(info.value)
    plain = pycontainerd.Client("tcp://10.0.0.5:1234", tls=False)
    assert plain.tls is None
    assert plain.address == "tcp://10.0.0.5:1234"
    assert "tls" not in repr(plain)


def test_tls_is_for_tcp_and_takes_a_tls() -> None:
    with pytest.raises(errors.InvalidAddress, match="unix socket"):
        pycontainerd.Client("/run/c.sock", tls=pycontainerd.TLS())
    assert pycontainerd.Client("/run/c.sock", tls=False).tls is None
    with pytest.raises(TypeError, match=r"pycontainerd\.TLS"):
        pycontainerd.Client("tcp://h:1", tls=True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"pycontainerd\.TLS"):
        pycontainerd.Client("tcp://h:1", tls=ssl.create_default_context())  # type: ignore[arg-type]


def test_environment_address_is_checked_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTAINERD_ADDRESS", "tcp://10.0.0.5:1234")
    with pytest.raises(errors.InvalidAddress, match=r"from \$CONTAINERD_ADDRESS") as info:
        pycontainerd.Client()
    assert info.value.address == "tcp://10.0.0.5:1234"
    client = pycontainerd.Client(tls=pycontainerd.TLS())
    assert client.address == "tcp://10.0.0.5:1234"
    assert client.tls == pycontainerd.TLS()
    # An address given wins over the environment's; the message does not blame it.
    with pytest.raises(errors.InvalidAddress) as info:
        pycontainerd.Client("tcp://10.0.0.6:1234")
    assert "CONTAINERD_ADDRESS" not in str(info.value)
    monkeypatch.setenv("CONTAINERD_ADDRESS", "http://nope:1")
    with pytest.raises(errors.InvalidAddress, match="unknown scheme"):
        pycontainerd.Client()
    monkeypatch.setenv("CONTAINERD_ADDRESS", "unix:///tmp/x.sock")
    assert pycontainerd.Client().address == "unix:///tmp/x.sock"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens on it now


async def test_refused_tcp_connection_names_the_address() -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    for tls in (False, pycontainerd.TLS()):
        async with pycontainerd.Client(address, tls=tls) as client:
            with pytest.raises(errors.ConnectionError) as info:
                await client.version()
        assert not isinstance(info.value, errors.TLSError)
        assert info.value.address == address
        assert address in str(info.value)


# -- TLS files ---------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate (``a.pem``, ``a.key``) and a second key (``b.key``)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    d = tmp_path_factory.mktemp("certs")
    for name in ("a", "b"):
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "1",
            "-subj", f"/CN={name}",
            cwd=d,
        )  # fmt: skip
    (d / "both.pem").write_bytes((d / "a.pem").read_bytes() + (d / "a.key").read_bytes())
    (d / "junk.pem").write_text("not a certificate\n")
    return d


def test_tls_loads_its_files(certs: Path) -> None:
    tls = pycontainerd.TLS(ca=certs / "a.pem", cert=str(certs / "a.pem"), key=certs / "a.key")
    assert tls.cert == certs / "a.pem"  # str or path, kept as a Path
    context = tls.context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert len(context.get_ca_certs()) == 1
    client = pycontainerd.Client("tcp://127.0.0.1:1234", tls=tls)
    assert client.tls is tls
    assert "tls" in repr(client)
    # The key may be in the certificate's file.
    pycontainerd.TLS(cert=certs / "both.pem").context()
    # No CA: the system's.
    assert pycontainerd.TLS().context().verify_mode is ssl.CERT_REQUIRED


@pytest.mark.parametrize(
    ("files", "culprit", "why"),
    [
        ({"ca": "missing.pem"}, "missing.pem", "TLS CA file .* does not exist"),
        ({"ca": "."}, ".", "is not a file"),
        ({"ca": "junk.pem"}, "junk.pem", "holds no usable PEM certificate"),
        (
            {"cert": "missing.pem", "key": "a.key"},
            "missing.pem",
            "certificate file .* does not exist",
        ),
        ({"cert": "a.pem", "key": "missing.key"}, "missing.key", "key file .* does not exist"),
        ({"cert": "a.pem", "key": "b.key"}, "a.pem", "cannot be loaded"),
        ({"cert": "junk.pem", "key": "a.key"}, "junk.pem", "cannot be loaded"),
        ({"cert": "a.pem"}, "a.pem", "cannot be loaded"),  # no key in the file
    ],
)
def test_unusable_tls_files_raise_naming_the_file(
    certs: Path, files: dict[str, str], culprit: str, why: str
) -> None:
    tls = pycontainerd.TLS(**{k: certs / v for k, v in files.items()})  # type: ignore[arg-type]
    with pytest.raises(errors.TLSConfigError, match=why) as info:
        pycontainerd.Client("tcp://127.0.0.1:1234", tls=tls)
    assert info.value.path == str(certs / culprit)
    assert str(certs / culprit) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_tls_arguments_that_do_not_go_together() -> None:
    with pytest.raises(errors.TLSConfigError, match="without a client certificate") as info:
        pycontainerd.TLS(key="client.key")
    assert info.value.path == "client.key"
    with pytest.raises(errors.TLSConfigError, match="server_name"):
        pycontainerd.TLS(server_name=" ")
