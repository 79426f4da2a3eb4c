"""A daemon reached over TCP with TLS: server TLS, mutual TLS, and the failures.

Two kinds of listener are tested:

* containerd's own ``[grpc] tcp_address`` with ``tcp_tls_cert``/``tcp_tls_key``
  (and ``tcp_tls_ca`` for mutual TLS), in private daemons of the session's
  containerd version. It speaks TLS as configured, but serves none of
  containerd's API (only CRI, when that plugin is on and its
  ``disable_tcp_service`` is false): a call reaches the daemon and is
  answered UNIMPLEMENTED. The handshake and its failures are containerd's own.
* a TLS proxy on loopback in front of the session daemon's socket (as
  stunnel or ghostunnel would be on a node), through which the SDK's calls
  do their work.
"""

from __future__ import annotations

import builtins
import os
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from _tls_helpers import PKI, TLSProxy, make_pki

import pycontainerd
from pycontainerd import errors, stdio
from pycontainerd.testing import ContainerdDaemon, inventory

pytestmark = pytest.mark.anyio

VERSION_PATH = "/containerd.services.version.v1.Version/Version"
SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(scope="module")
async def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return await make_pki(tmp_path_factory.mktemp("pki"))


def _daemon(
    containerd_daemon: ContainerdDaemon,
    *,
    tcp_tls_cert: Path | None = None,
    tcp_tls_key: Path | None = None,
    tcp_tls_ca: Path | None = None,
) -> ContainerdDaemon:
    """A private daemon of the session daemon's binary, also on a loopback TCP port."""
    return ContainerdDaemon(
        containerd=containerd_daemon.containerd,
        tcp_address="127.0.0.1:0",
        tcp_tls_cert=tcp_tls_cert,
        tcp_tls_key=tcp_tls_key,
        tcp_tls_ca=tcp_tls_ca,
    )


@pytest.fixture(scope="module")
def tls_daemon(containerd_daemon: ContainerdDaemon, pki: PKI) -> Iterator[ContainerdDaemon]:
    """containerd with ``tcp_tls_cert`` and ``tcp_tls_key``: server TLS."""
    with _daemon(containerd_daemon, tcp_tls_cert=pki.server, tcp_tls_key=pki.server_key) as d:
        yield d


@pytest.fixture(scope="module")
def mtls_daemon(containerd_daemon: ContainerdDaemon, pki: PKI) -> Iterator[ContainerdDaemon]:
    """containerd with ``tcp_tls_ca`` as well: it demands a client certificate."""
    with _daemon(
        containerd_daemon, tcp_tls_cert=pki.server, tcp_tls_key=pki.server_key, tcp_tls_ca=pki.ca
    ) as d:
        yield d


@pytest.fixture(scope="module")
def plain_daemon(containerd_daemon: ContainerdDaemon) -> Iterator[ContainerdDaemon]:
    """containerd with a ``tcp_address`` and no TLS files: plain TCP."""
    with _daemon(containerd_daemon) as d:
        yield d


@pytest.fixture(params=["server-tls", "mutual-tls"])
def proxied(
    request: pytest.FixtureRequest, containerd_daemon: ContainerdDaemon, pki: PKI
) -> Iterator[tuple[TLSProxy, pycontainerd.TLS]]:
    """A TLS proxy to the session daemon, and the client TLS that it accepts."""
    mutual = request.param == "mutual-tls"
    with TLSProxy(
        containerd_daemon.address,
        cert=pki.server,
        key=pki.server_key,
        client_ca=pki.ca if mutual else None,
    ) as proxy:
        if mutual:
            yield proxy, pycontainerd.TLS(ca=pki.ca, cert=pki.client, key=pki.client_key)
        else:
            yield proxy, pycontainerd.TLS(ca=pki.ca)


def _tcp(daemon: ContainerdDaemon) -> str:
    assert daemon.tcp_address is not None
    return f"tcp://{daemon.tcp_address}"


def _assert_names_address(error: errors.ConnectionError, address: str) -> None:
    assert error.address == address
    assert address in str(error)
    assert isinstance(error, errors.Unavailable)
    assert isinstance(error, builtins.ConnectionError)


# -- containerd's API through a TLS proxy -------------------------------------------


async def test_operations_over_tls(
    proxied: tuple[TLSProxy, pycontainerd.TLS], containerd_client: pycontainerd.Client
) -> None:
    proxy, tls = proxied
    async with pycontainerd.Client(
        proxy.address, namespace=containerd_client.namespace, tls=tls
    ) as remote:
        assert remote.tls == tls
        assert "tls" in repr(remote)
        assert await remote.version() == await containerd_client.version()

        name = f"{containerd_client.namespace}-tls"
        await remote.namespaces.create(name, labels={"over": "tls"})
        assert (await remote.namespaces.get(name)).labels == {"over": "tls"}
        await remote.namespaces.delete(name)
        with pytest.raises(errors.NotFound):
            await containerd_client.namespaces.get(name)

        container = await remote.containers.create("over-tls", spec={}, labels={"a": "b"})
        assert (await containerd_client.containers.get("over-tls")).labels == {"a": "b"}
        assert [c.id for c in await remote.containers.list()] == ["over-tls"]
        await container.delete()
        with pytest.raises(errors.NotFound):
            await containerd_client.containers.get("over-tls")

        # Streams too: a content write (bidirectional) and its read (server stream),
        # under a lease (the garbage collector takes unheld blobs).
        blob = b"over TLS " * 10000
        async with remote.leases.lease() as leased:
            digest = await leased.content.write("tls-blob", blob)
            assert await remote.content.read(digest) == blob
    # One HTTP/2 connection carried it all.
    assert proxy.connections == 1


@pytest.mark.parametrize("proxied", ["server-tls"], indirect=True)
async def test_fifo_stdio_needs_a_local_daemon(
    proxied: tuple[TLSProxy, pycontainerd.TLS],
    containerd_client: pycontainerd.Client,
    busybox_image: pycontainerd.Image,
) -> None:
    # The shim would open, on the daemon's host, FIFO paths made on this one.
    proxy, tls = proxied
    async with pycontainerd.Client(
        proxy.address, namespace=containerd_client.namespace, tls=tls
    ) as remote:
        container = await remote.containers.create(
            "remote", image=busybox_image, args=["sleep", "100"]
        )
        refused = f"this client talks to '{proxy.address}' over TCP"
        for fifos in (stdio.pipes(), stdio.capture(), stdio.inherit()):
            with pytest.raises(errors.InvalidArgument, match=refused):
                await container.new_task(stdio=fifos)
        with pytest.raises(errors.InvalidArgument, match=r"stdio\.capture\(\) uses FIFOs"):
            await remote.run(busybox_image, ["true"])
        # What the shim writes on its own host is fine.
        async with await container.new_task() as task:
            await task.start()
            with pytest.raises(errors.InvalidArgument, match=refused):
                await task.exec(["true"], stdio=stdio.capture())
            with pytest.raises(errors.InvalidArgument, match=refused):
                await remote.tasks.get("remote", stdio=stdio.pipes())
            await task.kill(9)
            await task.wait()
        await container.delete()
    stock = await inventory(containerd_client)
    assert (stock.tasks, stock.containers, stock.leases) == ((), (), ())


async def test_server_name_overrides_the_host(
    containerd_daemon: ContainerdDaemon, pki: PKI
) -> None:
    with TLSProxy(containerd_daemon.address, cert=pki.server, key=pki.server_key) as proxy:
        # The certificate names DNS:localhost as well as IP:127.0.0.1.
        tls = pycontainerd.TLS(ca=pki.ca, server_name="localhost")
        async with pycontainerd.Client(proxy.address, tls=tls) as client:
            assert (await client.version()).version
        tls = pycontainerd.TLS(ca=pki.ca, server_name="node1.cluster.internal")
        async with pycontainerd.Client(proxy.address, tls=tls) as client:
            with pytest.raises(errors.TLSError, match="does not name the host") as info:
                await client.version()
        _assert_names_address(info.value, proxy.address)


async def test_proxy_refuses_clients_without_its_certificate(
    containerd_daemon: ContainerdDaemon, pki: PKI
) -> None:
    with TLSProxy(
        containerd_daemon.address, cert=pki.server, key=pki.server_key, client_ca=pki.ca
    ) as proxy:
        async with pycontainerd.Client(proxy.address, tls=pycontainerd.TLS(ca=pki.ca)) as client:
            with pytest.raises(errors.TLSError, match="requires a client certificate") as info:
                await client.version()
            _assert_names_address(info.value, proxy.address)
            assert isinstance(info.value.__cause__, ssl.SSLError)
            # A stream's opening is explained the same way.
            with pytest.raises(errors.TLSError, match="requires a client certificate"):
                async with client.events.subscribe():
                    pass
        rogue = pycontainerd.TLS(ca=pki.ca, cert=pki.rogue, key=pki.rogue_key)
        async with pycontainerd.Client(proxy.address, tls=rogue) as client:
            with pytest.raises(errors.TLSError, match="refused the client certificate") as info:
                await client.namespaces.list()
            _assert_names_address(info.value, proxy.address)


# -- containerd's own TCP listener ---------------------------------------------------


async def test_containerd_tcp_listener_speaks_tls_but_serves_no_containerd_api(
    containerd_daemon: ContainerdDaemon,
    tls_daemon: ContainerdDaemon,
    mtls_daemon: ContainerdDaemon,
    pki: PKI,
) -> None:
    for daemon, tls in (
        (tls_daemon, pycontainerd.TLS(ca=pki.ca)),
        (mtls_daemon, pycontainerd.TLS(ca=pki.ca, cert=pki.client, key=pki.client_key)),
    ):
        assert daemon.version == containerd_daemon.version  # the version under test
        assert "setting up tls on tcp" in daemon.log()
        async with pycontainerd.Client(_tcp(daemon), tls=tls) as client:
            # The handshake passed and the daemon answered: it has no such service there.
            with pytest.raises(errors.Unimplemented, match="unknown service") as info:
                await client.version()
            assert info.value.method == VERSION_PATH


async def test_wrong_ca_fails_with_tls_error_naming_the_address(
    tls_daemon: ContainerdDaemon, mtls_daemon: ContainerdDaemon, pki: PKI
) -> None:
    for daemon in (tls_daemon, mtls_daemon):
        address = _tcp(daemon)
        tls = pycontainerd.TLS(ca=pki.other_ca, cert=pki.client, key=pki.client_key)
        async with pycontainerd.Client(address, tls=tls) as client:
            for _ in range(2):  # and again: nothing is cached
                with pytest.raises(errors.TLSError, match="not signed by TLS") as info:
                    await client.version()
                _assert_names_address(info.value, address)
                assert info.value.method == VERSION_PATH
                assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


async def test_mutual_tls_demands_a_client_certificate_signed_by_its_ca(
    mtls_daemon: ContainerdDaemon, pki: PKI
) -> None:
    address = _tcp(mtls_daemon)
    async with pycontainerd.Client(address, tls=pycontainerd.TLS(ca=pki.ca)) as client:
        with pytest.raises(errors.TLSError, match="requires a client certificate") as info:
            await client.version()
        _assert_names_address(info.value, address)
    rogue = pycontainerd.TLS(ca=pki.ca, cert=pki.rogue, key=pki.rogue_key)
    async with pycontainerd.Client(address, tls=rogue) as client:
        with pytest.raises(errors.TLSError, match="refused the client certificate") as info:
            await client.version()
        _assert_names_address(info.value, address)


async def test_plain_tcp_only_when_asked(
    plain_daemon: ContainerdDaemon, tls_daemon: ContainerdDaemon, pki: PKI
) -> None:
    address = _tcp(plain_daemon)
    assert "setting up tls" not in plain_daemon.log()
    with pytest.raises(errors.InvalidAddress, match="tls=False") as info:
        pycontainerd.Client(address)
    assert info.value.address == address
    async with pycontainerd.Client(address, tls=False) as client:
        assert client.tls is None
        with pytest.raises(errors.Unimplemented, match="unknown service"):
            await client.version()
    # TLS offered to a plain listener, plain TCP to a TLS one: both say what is wrong.
    async with pycontainerd.Client(address, tls=pycontainerd.TLS(ca=pki.ca)) as client:
        with pytest.raises(errors.TLSError, match="does not speak TLS") as failed:
            await client.version()
        _assert_names_address(failed.value, address)
    async with pycontainerd.Client(_tcp(tls_daemon), tls=False) as client:
        with pytest.raises(errors.ConnectionError, match="speak TLS") as failed:
            await client.version()
        _assert_names_address(failed.value, _tcp(tls_daemon))


async def test_restart_keeps_the_tcp_address(tls_daemon: ContainerdDaemon, pki: PKI) -> None:
    address = _tcp(tls_daemon)
    async with pycontainerd.Client(address, tls=pycontainerd.TLS(ca=pki.ca)) as client:
        with pytest.raises(errors.Unimplemented):
            await client.version()
        # In a thread: the loop sees the old connection close meanwhile, as it would
        # while a real daemon restarts.
        await anyio.to_thread.run_sync(tls_daemon.restart)
        assert _tcp(tls_daemon) == address
        with pytest.raises(errors.Unimplemented):  # the same client reconnects
            await client.version()


# -- pyctr ---------------------------------------------------------------------------


async def _pyctr(address: str, *args: str) -> tuple[int, str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["CONTAINERD_ADDRESS"] = address
    with anyio.fail_after(120):
        result = await anyio.run_process(
            [sys.executable, "-m", "pycontainerd", *args], env=env, check=False
        )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


async def test_pyctr_over_mutual_tls(containerd_daemon: ContainerdDaemon, pki: PKI) -> None:
    with TLSProxy(
        containerd_daemon.address, cert=pki.server, key=pki.server_key, client_ca=pki.ca
    ) as proxy:
        code, out, err = await _pyctr(
            proxy.address,
            "--tls-ca", str(pki.ca), "--tls-cert", str(pki.client), "--tls-key", str(pki.client_key),
            "version",
        )  # fmt: skip
        assert (code, err) == (0, "")
        assert containerd_daemon.version.split("~")[0].split("+")[0] in out
        # $CONTAINERD_ADDRESS is TCP: pyctr wants a choice of TLS, and says how.
        code, out, err = await _pyctr(proxy.address, "version")
        assert code == 2
        for word in ("--tls-ca", "--plaintext", proxy.address):
            assert word in err
        code, out, err = await _pyctr(proxy.address, "--tls-ca", str(pki.ca), "version")
        assert code == 1
        assert err.startswith("pyctr: cannot connect: ")
        assert "requires a client certificate" in err
