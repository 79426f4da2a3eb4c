"""Reading containerd's hosts configuration (``hosts.toml`` under a ``certs.d`` directory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycontainerd import errors
from pycontainerd.registry import Capability, HostConfig, Hosts, HostsConfigError
from pycontainerd.registry._hosts import header_pairs
from pycontainerd.registry._push import _mount_source

ALL = frozenset(Capability)


def _write(root: Path, directory: str, text: str) -> Path:
    (root / directory).mkdir(parents=True, exist_ok=True)
    file = root / directory / "hosts.toml"
    file.write_text(text)
    return file


def test_mirrors_in_file_order_then_the_server(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "docker.io",
        """
server = "https://registry-1.docker.io"

[host."https://b.example"]
  capabilities = ["pull", "resolve"]
  ca = "b.pem"
  [host."https://b.example".header]
    x-one = "1"
    x-many = ["a", "b"]

[host."http://a.example:5000/custom"]
  capabilities = ["PULL"]
  override_path = true
  client = [["c.pem", "/abs/c.key"], "both.pem"]
  skip_verify = true
  dial_timeout = "1m1.5s"
""",
    )
    hosts = Hosts.from_directory(tmp_path).lookup("docker.io")
    base = tmp_path / "docker.io"
    assert hosts == (
        HostConfig(
            scheme="https",
            host="b.example",
            path="/v2",
            capabilities=frozenset({Capability.PULL, Capability.RESOLVE}),
            ca=(base / "b.pem",),
            headers=(("x-one", "1"), ("x-many", "a"), ("x-many", "b")),
        ),
        HostConfig(
            scheme="http",
            host="a.example:5000",
            path="/custom",
            capabilities=frozenset({Capability.PULL}),
            client=((base / "c.pem", Path("/abs/c.key")), (base / "both.pem", None)),
            skip_verify=True,
            dial_timeout=61.5,
        ),
        HostConfig(scheme="https", host="registry-1.docker.io", path="/v2", capabilities=ALL),
    )
    assert [h.url for h in hosts] == [
        "https://b.example/v2",
        "http://a.example:5000/custom",
        "https://registry-1.docker.io/v2",
    ]


def test_port_directories_default_and_missing(tmp_path: Path) -> None:
    _write(tmp_path, "reg.example_5000_", '[host."https://m.example"]\n')
    _write(tmp_path, "_default", 'server = "https://everyone.example/base"\n')
    hosts = Hosts.from_directory(tmp_path)
    # Without `server`, the registry itself comes last with every capability.
    assert [h.url for h in hosts.lookup("reg.example:5000")] == [
        "https://m.example/v2",
        "https://reg.example:5000/v2",
    ]
    assert hosts.lookup("reg.example:5000")[-1].scheme is None  # HTTPS, loopback fallback
    assert [h.url for h in hosts.lookup("other.example")] == ["https://everyone.example/base/v2"]
    assert [h.url for h in Hosts.from_directory(tmp_path / "reg.example_5000_").lookup("x.io")] == [
        "https://x.io/v2"
    ]
    assert [h.url for h in hosts.lookup("docker.io")] == ["https://everyone.example/base/v2"]


def test_docker_certificate_layout(tmp_path: Path) -> None:
    directory = tmp_path / "reg.example"
    directory.mkdir()
    for name in ("ca.crt", "client.cert", "client.key", "lone.cert", "notes.txt"):
        (directory / name).write_text("")
    [host] = Hosts.from_directory(tmp_path).lookup("reg.example")
    assert host.ca == (directory / "ca.crt",)
    assert host.client == ((directory / "client.cert", directory / "client.key"),
                           (directory / "lone.cert", None))  # fmt: skip
    assert host.host == "reg.example"
    assert host.capabilities == ALL


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        (
            '[host."https://m"]\ncapabilities = ["pull", "fly"]\n',
            'host."https://m".capabilities',
            "fly",
        ),
        ("ca = 3\n", "ca", "string"),
        ('[host."https://m"]\nclient = [["one"]]\n', 'host."https://m".client', "pair"),
        ('skip_verify = "yes"\n', "skip_verify", "true or false"),
        ("[header]\nx = 1\n", "header.x", "string"),
        ('server = "ftp://x"\n', "server", "invalid server URL"),
        ('dial_timeout = "5 seconds"\n', "dial_timeout", "duration"),
        ('[host."https://m"]\ncolour = "red"\n', 'host."https://m".colour', "unknown key"),
        ("server = [\n", None, "not valid TOML"),
        # A URL's password would leak into messages and pre-emptive Basic auth.
        ('[host."https://user:s3cret@m.example"]\n', 'host."https://***@m.example"', "URL"),
        ('server = "u:s3cret@m.example/v2"\n', "server", r"'\*\*\*@m\.example/v2'"),
        ('server = "https://m.example/v2#frag"\n', "server", "URL"),
        ('server = "https://m.example:http"\n', "server", "URL"),
        ('[host."https://[::1"]\n', 'host."https://[::1"', "URL"),  # found by test_fuzz
        ("client = 3\n", "client", "certificate"),
        (
            '[host."https://m"]\n[host."https://m".client]\nx = "y"\n',
            'host."https://m".client',
            "certificate",
        ),
        ('[header]\n"x y" = "1"\n', "header.x y", "header name"),
        ('[header]\nx = "caf\u00e9"\n', "header.x", "invalid value"),
        ('[header]\nx = "a\\u0000b"\n', "header.x", "invalid value"),
        ('dial_timeout = "0s"\n', "dial_timeout", "positive duration"),
    ],
)
def test_bad_files_name_file_and_field(
    tmp_path: Path, text: str, field: str | None, message: str
) -> None:
    file = _write(tmp_path, "reg.example", text)
    hosts = Hosts.from_directory(tmp_path)
    with pytest.raises(HostsConfigError, match=message) as caught:
        hosts.lookup("reg.example")
    assert caught.value.path == file
    assert caught.value.field == field
    assert "s3cret" not in str(caught.value)
    assert str(file) in str(caught.value)
    assert isinstance(caught.value, errors.InvalidArgument)
    assert isinstance(caught.value, ValueError)


def test_empty_capabilities_mean_all(tmp_path: Path) -> None:
    _write(tmp_path, "reg.example", '[host."https://m.example"]\ncapabilities = []\n')
    assert [h.capabilities for h in Hosts.from_directory(tmp_path).lookup("reg.example")] == [
        ALL,
        ALL,
    ]


def test_a_broken_file_fails_only_its_registry(tmp_path: Path) -> None:
    _write(tmp_path, "broken.example", "server = [\n")
    _write(tmp_path, "reg.example", '[host."https://m.example"]\n')
    hosts = Hosts.from_directory(tmp_path)
    assert [h.host for h in hosts.lookup("reg.example")] == ["m.example", "reg.example"]
    with pytest.raises(HostsConfigError, match="not valid TOML"):
        hosts.lookup("broken.example")


def test_unreadable_certificate_directory(tmp_path: Path) -> None:
    directory = tmp_path / "reg.example"
    directory.mkdir()
    hosts = Hosts.from_directory(tmp_path)
    directory.rmdir()
    directory.write_text("")  # listed as a directory, unreadable as one now
    with pytest.raises(HostsConfigError, match="cannot read") as caught:
        hosts.lookup("reg.example")
    assert caught.value.path == directory


def test_unreadable_directory_and_certificates(tmp_path: Path) -> None:
    with pytest.raises(HostsConfigError, match="cannot read the hosts directory"):
        Hosts.from_directory(tmp_path / "nowhere")
    _write(tmp_path, "reg.example", 'ca = "missing.pem"\n')
    [host] = Hosts.from_directory(tmp_path).lookup("reg.example")
    with pytest.raises(HostsConfigError, match=r"missing\.pem"):
        host.ssl_context()


def test_header_pairs_checks_names_and_values() -> None:
    assert header_pairs({"A": "1", "B": ["2", "3"]}) == (("A", "1"), ("B", "2"), ("B", "3"))
    with pytest.raises(errors.InvalidArgument, match="header name"):
        header_pairs({"Bad Name": "x"})
    with pytest.raises(errors.InvalidArgument, match="for header 'A'"):
        header_pairs({"A": "x\ny"})
    for value in ("caf\u00e9", "a\x00b", "a\x7fb"):
        with pytest.raises(errors.InvalidArgument, match="for header 'A'"):
            header_pairs({"A": value})
    assert header_pairs({"A": "a\tb c"}) == (("A", "a\tb c"),)


def test_mount_source_as_containerd_picks_it() -> None:
    assert _mount_source("team/app", "") is None
    assert _mount_source("team/app", "team/app") is None  # the target itself is no candidate
    assert _mount_source("team/app", "other/x,team/base") == "team/base"
    # Equal common prefixes: the last one wins, as in containerd.
    assert _mount_source("team/app", "a/x,b/y") == "b/y"
