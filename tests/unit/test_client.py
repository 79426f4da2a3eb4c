"""Client addresses, identifiers and connection errors, without a daemon."""

from __future__ import annotations

import os
import socket

import pytest

import pycontainerd
from pycontainerd import _transport, errors

pytestmark = pytest.mark.anyio


async def test_missing_socket_raises_connection_error(tmp_path: os.PathLike[str]) -> None:
    path = f"{tmp_path}/nothing-here.sock"
    async with pycontainerd.Client(path) as client:
        with pytest.raises(errors.ConnectionError) as info:
            await client.version()
    assert path in str(info.value)
    assert "containerd" in str(info.value)
    assert info.value.address == path
    assert isinstance(info.value, errors.Unavailable)


@pytest.mark.parametrize(
    "bad", ["", "UPPER_ok-but.. no", "-leading", "trailing-", "a..b", "sp ace", "x" * 77, "a/b"]
)
async def test_invalid_identifiers_rejected_before_any_rpc(bad: str) -> None:
    # The socket does not exist: reaching the daemon would raise ConnectionError.
    async with pycontainerd.Client("/nonexistent/containerd.sock") as client:
        with pytest.raises(errors.InvalidArgument) as info:
            await client.namespaces.create(bad)
        assert repr(bad) in str(info.value)
        with pytest.raises(errors.InvalidArgument):
            await client.namespaces.delete(bad)
        with pytest.raises(errors.InvalidArgument):
            client.with_namespace(bad)
    with pytest.raises(errors.InvalidArgument):
        pycontainerd.Client("/nonexistent/containerd.sock", namespace=bad)


async def test_valid_identifier_edge_cases() -> None:
    client = pycontainerd.Client("/nonexistent/containerd.sock")
    for good in ["a", "A1", "a.b_c-d", "x" * 76]:
        assert client.with_namespace(good).namespace == good


async def test_address_and_namespace_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTAINERD_ADDRESS", "unix:///tmp/from-env.sock")
    monkeypatch.setenv("CONTAINERD_NAMESPACE", "envns")
    client = pycontainerd.Client()
    assert client.address == "unix:///tmp/from-env.sock"
    assert client.namespace == "envns"
    monkeypatch.delenv("CONTAINERD_ADDRESS")
    monkeypatch.delenv("CONTAINERD_NAMESPACE")
    client = pycontainerd.Client()
    assert client.address == "/run/containerd/containerd.sock"
    assert client.namespace == "default"


def test_parse_address() -> None:
    assert _transport.parse_address("/run/c.sock") == (None, None, "/run/c.sock")
    assert _transport.parse_address("unix:///run/c.sock") == (None, None, "/run/c.sock")
    assert _transport.parse_address("127.0.0.1:1234") == ("127.0.0.1", 1234, None)
    assert _transport.parse_address("tcp://[::1]:99") == ("::1", 99, None)
    for bad in ["", "host-without-port", "host:port"]:
        with pytest.raises(ValueError, match="address"):
            _transport.parse_address(bad)


async def test_closed_socket_raises_connection_error(tmp_path: os.PathLike[str]) -> None:
    # A socket file nobody listens on any more (a daemon that died): refused.
    path = f"{tmp_path}/closed.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.close()
    async with pycontainerd.Client(path) as client:
        for _ in range(2):  # and again on the next call: nothing is cached
            with pytest.raises(errors.ConnectionError) as info:
                await client.namespaces.list()
            assert isinstance(info.value, errors.Unavailable)
            assert isinstance(info.value, ConnectionError)
            assert info.value.address == path
            assert path in str(info.value)
            assert info.value.method == "/containerd.services.namespaces.v1.Namespaces/List"


def test_version_reply_decodes_as_betterproto_does() -> None:
    from pycontainerd._api.containerd.services.version.v1 import VersionResponse
    from pycontainerd._introspection import Version, version_of

    reply = bytes(VersionResponse(version="2.1.9", revision="abc123"))
    assert version_of(reply) == Version(version="2.1.9", revision="abc123")
    assert version_of(b"") == Version(version="", revision="")
    with pytest.raises(errors.DataLoss, match="version reply"):
        version_of(b"\x0a\x05ab")  # a string running past the end
