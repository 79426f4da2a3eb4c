"""`TLS`: how a `Client` verifies a daemon over TCP, and proves who it is."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import attrs

from .errors import TLSConfigError

__all__ = ["TLS"]


def _path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None else Path(value)


@attrs.frozen(kw_only=True)
class TLS:
    """TLS for a `Client` on a ``tcp://`` address: the CA to trust, and a client certificate.

    The counterpart of containerd's ``[grpc]`` settings ``tcp_tls_ca``,
    ``tcp_tls_cert`` and ``tcp_tls_key``: `ca` verifies the daemon's
    certificate (``tcp_tls_cert``), and `cert` and `key` are the client's
    own, which the daemon checks against its ``tcp_tls_ca`` (mutual TLS:
    containerd demands a client certificate whenever ``tcp_tls_ca`` is set).
    The files are PEM and are read when the `Client` is made; a client keeps
    them for its lifetime, so make a new `Client` to use renewed ones.

    The daemon's certificate is always verified, against the host of the
    address (an IP address must be in its ``subjectAltName``) or
    `server_name`; there is no switch to skip that: for an unencrypted
    connection say so with ``Client(..., tls=False)``.

    Attributes:
        ca: the CA bundle that signed the daemon's certificate, then the only
            CAs trusted; the system's trusted CAs when ``None``.
        cert: the client certificate (mutual TLS), followed by any
            intermediate certificates.
        key: the client certificate's private key, unencrypted; when
            ``None``, `cert`'s file must hold it too.
        server_name: the name to check the daemon's certificate against (and
            to send as SNI) when it is not the address's host: a certificate
            for ``node1.cluster.internal`` reached as ``10.0.0.5:1234``.

    Raises:
        pycontainerd.errors.TLSConfigError: `key` without `cert`.

    Example:
        ```python
        import pycontainerd

        tls = pycontainerd.TLS(ca="ca.pem", cert="client.pem", key="client-key.pem")
        async with pycontainerd.Client("tcp://10.0.0.5:1234", tls=tls) as client:
            print(await client.version())
        ```
    """

    ca: Path | None = attrs.field(default=None, converter=_path)
    cert: Path | None = attrs.field(default=None, converter=_path)
    key: Path | None = attrs.field(default=None, converter=_path)
    server_name: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.key is not None and self.cert is None:
            raise TLSConfigError(
                f"TLS key {str(self.key)!r} was given without a client certificate (cert=)",
                path=str(self.key),
            )
        if self.server_name is not None and not self.server_name.strip():
            raise TLSConfigError("TLS server_name is empty")

    def context(self) -> ssl.SSLContext:
        """A client `ssl.SSLContext` with these files loaded, for gRPC over HTTP/2.

        TLS 1.2 or newer, certificate and host name verification on, and
        ALPN ``h2`` (grpc-go servers refuse a TLS client that does not offer it).

        Raises:
            pycontainerd.errors.TLSConfigError: a file is missing, is not a
                file, or holds no usable certificate or key; the key does not
                match the certificate. The error's ``path`` names the file.
        """
        for what, path in (("CA", self.ca), ("certificate", self.cert), ("key", self.key)):
            if path is not None:
                _check_file(what, path)
        try:
            # With a CA file, it is the only one trusted: not the system's as well.
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise TLSConfigError(
                f"TLS CA file {str(self.ca)!r} holds no usable PEM certificate: {_reason(exc)}",
                path=str(self.ca),
            ) from exc
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["h2"])
        if self.cert is not None:
            try:
                context.load_cert_chain(self.cert, self.key)
            except (ssl.SSLError, OSError) as exc:
                pair = f"{str(self.cert)!r}" + (
                    "" if self.key is None else f" with key {str(self.key)!r}"
                )
                raise TLSConfigError(
                    f"TLS client certificate {pair} cannot be loaded: {_reason(exc)}"
                    " (PEM files, an unencrypted key that matches the certificate)",
                    path=str(self.cert),
                ) from exc
        return context


def _check_file(what: str, path: Path) -> None:
    try:
        if not path.is_file():
            problem = "is not a file" if path.exists() else "does not exist"
            raise TLSConfigError(f"TLS {what} file {str(path)!r} {problem}", path=str(path))
        with path.open("rb"):
            pass
    except OSError as exc:
        raise TLSConfigError(
            f"TLS {what} file {str(path)!r} cannot be read: {exc.strerror or exc}", path=str(path)
        ) from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return str(getattr(exc, "strerror", None) or exc)
