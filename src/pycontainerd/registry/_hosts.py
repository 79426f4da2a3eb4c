"""containerd's registry hosts configuration: a ``certs.d``-style directory of ``hosts.toml`` files.

The layout and the meaning of each field follow containerd's
``core/remotes/docker/config`` (``docs/hosts.md``): one subdirectory per
registry (``registry.example.com``, or ``host_port_`` for ``host:port``; a
``_default`` directory serves every registry without one of its own), each
with a ``hosts.toml``:

```toml
server = "https://registry.example.com"      # the upstream; default: the registry itself

[host."https://mirror.example.com:5000"]       # tried first, in the file's order
  capabilities = ["pull", "resolve"]           # default: pull, resolve and push
  ca = "mirror-ca.pem"                         # relative to this directory
  client = [["client.pem", "client.key"]]
  skip_verify = false
  override_path = false                        # true: the URL's path is the API root
  [host."https://mirror.example.com:5000".header]
    x-team = "ci"
```

A directory without ``hosts.toml`` is read as docker's certificate layout:
``*.crt`` files are CAs, each ``*.cert`` a client certificate with the
``*.key`` of the same name.
"""

from __future__ import annotations

import enum
import os
import re
import ssl
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import attrs

from .. import errors
from .._identifiers import shown
from ._errors import RegistryError
from ._reference import DEFAULT_DOMAIN, DEFAULT_HOST

__all__ = ["Capability", "Headers", "HostConfig", "Hosts", "HostsConfigError", "header_pairs"]

_DEFAULT_DIRECTORY: Final = "_default"
_HOSTS_FILE: Final = "hosts.toml"

Headers = Mapping[str, str | Sequence[str]]
"""HTTP headers: each name with one value or several (sent as repeated headers)."""


class HostsConfigError(RegistryError, errors.InvalidArgument, ValueError):
    """A hosts configuration directory or ``hosts.toml`` that cannot be used.

    The message names the file and the field. Also an
    `errors.InvalidArgument` (and a builtin `ValueError`).

    Attributes:
        path: the file or directory at fault.
        field: the TOML key at fault (``host."https://m".ca``), or ``None``.
    """

    def __init__(self, message: str, *, path: Path, field: str | None = None) -> None:
        where = f"{path}: {field}" if field else str(path)
        super().__init__(f"{where}: {message}")
        self.path = path
        self.field = field


class Capability(enum.Enum):
    """What a host may be used for (containerd's ``HostCapabilities``)."""

    PULL = "pull"
    """Fetch manifests and blobs by digest."""
    RESOLVE = "resolve"
    """Resolve a tag to a digest (a host trusted to name images)."""
    PUSH = "push"
    """Upload blobs and manifests."""


_ALL: Final = frozenset(Capability)


@attrs.frozen(kw_only=True)
class HostConfig:
    """One host to contact for a registry, as a ``hosts.toml`` entry describes it.

    Attributes:
        scheme: ``https`` or ``http``; ``None`` for the registry's own
            default host (HTTPS, with the plain-HTTP fallback loopback
            registries get).
        host: ``host[:port]`` to connect to.
        path: the API root on that host (``/v2`` unless ``override_path``).
        capabilities: what the host may be used for.
        ca: CA bundles to trust besides the system's.
        client: client certificates: (certificate, key) pairs; a ``None``
            key means the key is in the certificate's file.
        skip_verify: skip certificate checks (``None``: not configured).
        headers: extra request headers, each name with its values.
        dial_timeout: how long a connection may take to open, in seconds
            (``None``: the default).

    Example:
        ```python
        hosts = Hosts.from_directory("/etc/containerd/certs.d")
        print([h.url for h in hosts.lookup("docker.io")])
        # ['https://mirror.example.com/v2', 'https://registry-1.docker.io/v2']
        ```
    """

    scheme: str | None
    host: str
    path: str = "/v2"
    capabilities: frozenset[Capability] = _ALL
    ca: tuple[Path, ...] = ()
    client: tuple[tuple[Path, Path | None], ...] = ()
    skip_verify: bool | None = None
    headers: tuple[tuple[str, str], ...] = ()
    dial_timeout: float | None = None

    @property
    def url(self) -> str:
        """The API root, ``scheme://host/path`` (``https`` when the scheme is left open)."""
        return f"{self.scheme or 'https'}://{self.host}{self.path}"

    def can(self, *wanted: Capability) -> bool:
        """Whether the host has every capability in `wanted`."""
        return all(c in self.capabilities for c in wanted)

    @property
    def has_tls_config(self) -> bool:
        """Whether the host names its own CAs, client certificates or verification."""
        return bool(self.ca or self.client) or self.skip_verify is not None

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context for this host: the system CAs plus `ca`, `client` certificates.

        Raises:
            HostsConfigError: a CA or certificate file cannot be read or used.
        """
        context = ssl.create_default_context()
        for ca in self.ca:
            try:
                context.load_verify_locations(cafile=os.fspath(ca))
            except (OSError, ssl.SSLError) as exc:
                raise HostsConfigError(f"cannot load CA certificate: {exc}", path=ca) from None
        for cert, key in self.client:
            try:
                context.load_cert_chain(os.fspath(cert), None if key is None else os.fspath(key))
            except (OSError, ssl.SSLError) as exc:
                raise HostsConfigError(
                    f"cannot load client certificate{'' if key is None else f' with key {key}'}: "
                    f"{exc}",
                    path=cert,
                ) from None
        if self.skip_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def _directory_name(domain: str) -> str:
    """``host:port`` as containerd names its directory: ``host_port_``."""
    head, sep, port = domain.rpartition(":")
    return f"{head}_{port}_" if sep and head else domain


def _strings(value: object, path: Path, field: str) -> list[str]:
    """A TOML string or array of strings, as a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise HostsConfigError(
        f"expected a string or an array of strings, not {shown(value)}", path=path, field=field
    )


def _masked(url: str) -> str:
    """`url` with any user name and password replaced by ``***``, for messages."""
    head, sep, tail = url.partition("://")
    authority, slash, rest = (tail if sep else head).partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{head}{sep}{authority}{slash}{rest}" if sep else f"{authority}{slash}{rest}"


def _file(name: str, base: Path) -> Path:
    path = Path(name)
    return path if path.is_absolute() else base / path


def _parse_host(
    server: str | None, table: Mapping[str, Any], base: Path, file: Path, where: str
) -> HostConfig:
    def field(name: str) -> str:
        return f"{where}.{name}" if where else name

    known = {
        "capabilities",
        "ca",
        "client",
        "skip_verify",
        "header",
        "override_path",
        "dial_timeout",
    }
    if where:
        unknown = sorted(set(table) - known)
    else:
        unknown = sorted(set(table) - known - {"server", "host"})
    if unknown:
        raise HostsConfigError(
            f"unknown key {shown(unknown[0])}", path=file, field=field(unknown[0])
        )
    override = table.get("override_path", False)
    if not isinstance(override, bool):
        raise HostsConfigError(
            f"expected true or false, not {shown(override)}",
            path=file,
            field=field("override_path"),
        )
    scheme: str | None = None
    host = ""
    path = "/v2"
    if server is not None:
        url = server if server.startswith(("http://", "https://")) else f"https://{server}"
        try:
            parts = urlsplit(url)
            port_ok = parts.port is None or parts.netloc.endswith(f":{parts.port}")
        except ValueError:  # a bad port, or an unbalanced IPv6 bracket
            parts, port_ok = urlsplit(""), False
        # Only scheme, host[:port] and path are kept (as containerd keeps
        # `u.Host`); credentials in the URL would end up in messages and be
        # sent as Basic auth, so a URL with any is refused, like a bad port.
        if (
            "://" in parts.netloc + parts.path
            or not parts.hostname
            or parts.query
            or parts.fragment
            or "@" in parts.netloc
            or not port_ok
        ):
            raise HostsConfigError(
                f"invalid server URL {shown(_masked(server))}: "
                "expected [http[s]://]host[:port][/path], without user or password",
                path=file,
                field=where or "server",
            )
        scheme, host = parts.scheme, parts.netloc
        path = os.path.normpath(parts.path) if parts.path else ""
        if not override and not path.endswith("/v2"):
            path = path.rstrip("/") + "/v2"
    capabilities = _ALL
    # An empty list means every capability, as in containerd.
    if names := _strings(table.get("capabilities", []), file, field("capabilities")):
        try:
            capabilities = frozenset(Capability(n.lower()) for n in names)
        except ValueError:
            bad = next(n for n in names if n.lower() not in {c.value for c in Capability})
            raise HostsConfigError(
                f"unknown capability {shown(bad)} (expected pull, resolve or push)",
                path=file,
                field=field("capabilities"),
            ) from None
    ca = (
        tuple(_file(n, base) for n in _strings(table["ca"], file, field("ca")))
        if "ca" in table
        else ()
    )
    client: list[tuple[Path, Path | None]] = []
    raw_client = table.get("client", [])
    if not isinstance(raw_client, str | list):
        raise HostsConfigError(
            f"expected a file or an array of [certificate, key] pairs, not {shown(raw_client)}",
            path=file,
            field=field("client"),
        )
    for item in [raw_client] if isinstance(raw_client, str) else raw_client:
        if isinstance(item, str):
            client.append((_file(item, base), None))
        elif isinstance(item, list) and len(item) == 2 and all(isinstance(s, str) for s in item):
            client.append((_file(item[0], base), _file(item[1], base)))
        else:
            raise HostsConfigError(
                f"expected a file or a [certificate, key] pair, not {shown(item)}",
                path=file,
                field=field("client"),
            )
    skip_verify = table.get("skip_verify")
    if skip_verify is not None and not isinstance(skip_verify, bool):
        raise HostsConfigError(
            f"expected true or false, not {shown(skip_verify)}",
            path=file,
            field=field("skip_verify"),
        )
    raw_headers = table.get("header", {})
    if not isinstance(raw_headers, dict):
        raise HostsConfigError(
            f"expected a table of headers, not {shown(raw_headers)}",
            path=file,
            field=field("header"),
        )
    headers: list[tuple[str, str]] = []
    for name, values in raw_headers.items():
        try:
            headers += header_pairs({name: _strings(values, file, field(f"header.{name}"))})
        except errors.InvalidArgument as exc:
            if isinstance(exc, HostsConfigError):
                raise
            raise HostsConfigError(str(exc), path=file, field=field(f"header.{name}")) from None
    dial_timeout = None
    if "dial_timeout" in table:
        raw = table["dial_timeout"]
        dial_timeout = _duration(raw) if isinstance(raw, str) else None
        if not dial_timeout:  # zero would silently mean the default
            raise HostsConfigError(
                f'expected a positive duration such as "5s" or "500ms", not {shown(raw)}',
                path=file,
                field=field("dial_timeout"),
            )
    return HostConfig(
        scheme=scheme,
        host=host,
        path=path,
        capabilities=capabilities,
        ca=ca,
        client=tuple(client),
        skip_verify=skip_verify,
        headers=tuple(headers),
        dial_timeout=dial_timeout,
    )


_DURATION_UNITS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_RE: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def _duration(text: str) -> float | None:
    """A Go duration (``"1m30s"``, ``"500ms"``) in seconds; ``None`` if it is not one."""
    if not text or not re.fullmatch(rf"(?:{_DURATION_RE.pattern})+", text):
        return None
    return sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_RE.findall(text))


def _parse_file(file: Path) -> list[HostConfig]:
    try:
        document = tomllib.loads(file.read_text())
    except OSError as exc:
        raise HostsConfigError(f"cannot read: {exc.strerror or exc}", path=file) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise HostsConfigError(f"not valid TOML: {exc}", path=file) from None
    base = file.parent
    server = document.get("server")
    if server is not None and not isinstance(server, str):
        raise HostsConfigError(
            f"expected a URL string, not {shown(server)}", path=file, field="server"
        )
    tables = document.get("host", {})
    if not isinstance(tables, dict):
        raise HostsConfigError(f"expected tables, not {shown(tables)}", path=file, field="host")
    hosts = []
    for name, table in tables.items():  # tomllib keeps the file's order
        where = f"host.{_masked(name)!r}".replace("'", '"')
        if not isinstance(table, dict):
            raise HostsConfigError(f"expected a table, not {shown(table)}", path=file, field=where)
        hosts.append(_parse_host(name, table, base, file, where))
    hosts.append(_parse_host(server or None, document, base, file, ""))
    return hosts


def _parse_cert_files(directory: Path) -> list[HostConfig]:
    """Docker's layout: ``*.crt`` CAs, ``*.cert`` client certificates with their ``*.key``."""
    cas: list[Path] = []
    pairs: list[tuple[Path, Path | None]] = []
    for entry in sorted(directory.iterdir()):  # an OSError: `Hosts._read` names the directory
        if entry.is_dir():
            continue
        if entry.suffix == ".crt":
            cas.append(entry)
        elif entry.suffix == ".cert":
            key = entry.with_suffix(".key")
            pairs.append((entry, key if key.exists() else None))
    return [HostConfig(scheme=None, host="", ca=tuple(cas), client=tuple(pairs))]


def _default_host(domain: str, last: HostConfig) -> HostConfig:
    """Fill in the registry's own host when the configuration names no ``server``."""
    if domain == DEFAULT_DOMAIN:
        return attrs.evolve(last, scheme="https", host=DEFAULT_HOST, path="/v2", capabilities=_ALL)
    return attrs.evolve(last, scheme=None, host=domain, path="/v2", capabilities=_ALL)


@attrs.frozen
class Hosts:
    """A hosts configuration directory: which hosts serve which registry.

    `from_directory` lists the ``<registry>/`` subdirectories; `lookup`
    reads the one registry's ``hosts.toml`` (or docker-style certificate
    files) the first time it is asked for, and gives its hosts, mirrors
    first and the upstream last. So a broken file for one registry fails
    only the operations on that registry, with `HostsConfigError` (where
    containerd logs it and falls back to the registry alone, this raises:
    a mirror or certificate that was configured is never silently skipped).
    Pass it as ``hosts=`` to `pycontainerd.Client.pull`, ``push`` and
    ``fetch``.

    Attributes:
        directory: the directory that was read.

    Example:
        ```python
        from pycontainerd.registry import Hosts

        hosts = Hosts.from_directory("/etc/containerd/certs.d")
        image = await client.pull("docker.io/library/busybox:latest", hosts=hosts)
        ```
    """

    directory: Path
    _registries: frozenset[str] = attrs.field(repr=False)
    _parsed: dict[str, tuple[HostConfig, ...]] = attrs.field(
        factory=dict, repr=False, eq=False, init=False
    )

    @classmethod
    def from_directory(cls, directory: str | os.PathLike[str]) -> Hosts:
        """List a ``certs.d``-style hosts directory (containerd's ``config_path``).

        The files are read by `lookup`, for the registry looked up.

        Raises:
            HostsConfigError: the directory cannot be read.
        """
        root = Path(directory)
        try:
            entries = frozenset(e.name for e in root.iterdir() if e.is_dir())
        except OSError as exc:
            raise HostsConfigError(
                f"cannot read the hosts directory: {exc.strerror or exc}", path=root
            ) from None
        return cls(root, entries)

    def _read(self, name: str) -> tuple[HostConfig, ...]:
        found = self._parsed.get(name)
        if found is None:
            entry = self.directory / name
            file = entry / _HOSTS_FILE
            try:
                found = tuple(_parse_file(file) if file.exists() else _parse_cert_files(entry))
            except OSError as exc:  # a stat of a file in a directory we may not enter
                raise HostsConfigError(f"cannot read: {exc.strerror or exc}", path=entry) from None
            self._parsed[name] = found
        return found

    def lookup(self, domain: str) -> tuple[HostConfig, ...]:
        """The hosts to try for registry `domain` (``host[:port]``), in order.

        The registry's own directory (``host_port_`` or ``host:port``), else
        ``_default``; without either, the registry alone. Unless the
        configuration names a ``server``, the registry's own host comes
        last, with every capability.

        Raises:
            HostsConfigError: the registry's ``hosts.toml`` cannot be read, is
                not valid TOML or has a field of the wrong kind (the message
                names the file and the field).

        Example:
            ```python
            hosts = Hosts.from_directory("/etc/containerd/certs.d")
            for host in hosts.lookup("localhost:5000"):
                print(host.url, sorted(c.value for c in host.capabilities))
            ```
        """
        for name in dict.fromkeys([_directory_name(domain), domain, _DEFAULT_DIRECTORY]):
            if name in self._registries:
                found = self._read(name)
                break
        else:
            found = (HostConfig(scheme=None, host=""),)
        if found and not found[-1].host:
            found = (*found[:-1], _default_host(domain, found[-1]))
        return found


_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FIELD_VALUE: Final = re.compile(r"[\x20-\x7e\t]*")


def header_pairs(headers: Headers | None) -> tuple[tuple[str, str], ...]:
    """`headers` as (name, value) pairs, checked.

    Raises:
        pycontainerd.errors.InvalidArgument: a name is not an HTTP token, or a
            value is not a string of printable ASCII (spaces and tabs allowed).
    """
    pairs: list[tuple[str, str]] = []
    for name, values in (headers or {}).items():
        items = [values] if isinstance(values, str) else values
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise errors.InvalidArgument(f"invalid header name {shown(name)}")
        for value in items:
            if not isinstance(value, str) or not _FIELD_VALUE.fullmatch(value):
                raise errors.InvalidArgument(f"invalid value {shown(value)} for header {name!r}")
            pairs.append((name, value))
    return tuple(pairs)
