"""Certificates made with ``openssl``, and a TLS proxy in front of a daemon's socket.

`make_pki` makes two CAs (the one the daemon and its clients trust, and a
stranger) and, signed by them, the certificates the TLS tests use.

`TLSProxy` terminates TLS on a loopback port and forwards the bytes to a
unix socket, as stunnel, ghostunnel or an nginx ``grpc_pass`` in front of a
node's ``/run/containerd/containerd.sock`` do: containerd's own
``tcp_address`` serves none of containerd's API (only CRI, when enabled), so
this is how a remote client reaches it.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

import anyio
import attrs


@attrs.frozen(kw_only=True)
class PKI:
    """The PEM files of the TLS tests (each ``.pem`` has its ``.key``)."""

    directory: Path
    ca: Path  # signs everything below but `rogue`
    other_ca: Path  # a CA nobody here trusts
    server: Path  # serverAuth for IP:127.0.0.1 and DNS:localhost
    server_key: Path
    client: Path  # clientAuth, signed by `ca`
    client_key: Path
    rogue: Path  # clientAuth, signed by `other_ca`
    rogue_key: Path


async def _openssl(*args: str, cwd: Path) -> None:
    await anyio.run_process(["openssl", *args], cwd=cwd, check=True)


async def _ca(directory: Path, name: str) -> None:
    await _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
        "-subj", f"/CN=pycontainerd test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip


async def _leaf(directory: Path, name: str, ca: str, usage: str, san: str | None) -> None:
    await _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    lines = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        f"extendedKeyUsage={usage}",
        "subjectKeyIdentifier=hash",
        "authorityKeyIdentifier=keyid,issuer",
    ]
    if san is not None:
        lines.append(f"subjectAltName={san}")
    (directory / f"{name}.cnf").write_text("\n".join(lines) + "\n")
    await _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.cnf",
        cwd=directory,
    )  # fmt: skip


async def make_pki(directory: Path) -> PKI:
    """Make the CAs and certificates in `directory` (about 0.1 s of ``openssl``)."""
    await _ca(directory, "ca")
    await _ca(directory, "other-ca")
    await _leaf(directory, "server", "ca", "serverAuth", "IP:127.0.0.1,DNS:localhost")
    await _leaf(directory, "client", "ca", "clientAuth", None)
    await _leaf(directory, "rogue", "other-ca", "clientAuth", None)
    return PKI(
        directory=directory,
        ca=directory / "ca.pem",
        other_ca=directory / "other-ca.pem",
        server=directory / "server.pem",
        server_key=directory / "server.key",
        client=directory / "client.pem",
        client_key=directory / "client.key",
        rogue=directory / "rogue.pem",
        rogue_key=directory / "rogue.key",
    )


class TLSProxy:
    """TLS on ``127.0.0.1:port``, each connection forwarded to the unix socket `target`.

    With `client_ca` it demands a client certificate signed by that CA
    (mutual TLS), as containerd does with ``tcp_tls_ca``. Threads with
    blocking sockets, so that it outlives any test's event loop, and so
    that a refused handshake ends with OpenSSL's alert, as real proxies
    (and containerd) send it: asyncio's TLS server drops the connection
    without one.
    """

    def __init__(
        self, target: str, *, cert: Path, key: Path, client_ca: Path | None = None
    ) -> None:
        self.target = target
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        context.set_alpn_protocols(["h2"])
        if client_ca is not None:
            context.load_verify_locations(client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
        self._context = context
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        #: How many connections were forwarded (their TLS handshake done).
        self.connections = 0

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            tls = self._context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()  # OpenSSL has sent its alert
            return
        self.connections += 1
        with tls, socket.socket(socket.AF_UNIX) as upstream:
            try:
                upstream.connect(self.target)
                self._pipe(tls, upstream)
            except OSError:
                pass

    def _pipe(self, tls: ssl.SSLSocket, upstream: socket.socket) -> None:
        tls.settimeout(None)
        while not self._stopping.is_set():
            # Bytes OpenSSL has decrypted already do not make the socket readable.
            ready = [tls] if tls.pending() else select.select([tls, upstream], [], [], 0.2)[0]
            for source in ready:
                data = source.recv(65536)
                if not data:
                    return
                (upstream if source is tls else tls).sendall(data)

    def __enter__(self) -> Self:
        thread = threading.Thread(target=self._accept, daemon=True)
        self._threads.append(thread)
        thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for thread in self._threads:
            thread.join(10)
