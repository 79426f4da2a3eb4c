"""Image references (``[domain/]path[:tag][@digest]``), normalised as docker does."""

from __future__ import annotations

import ipaddress
import re
from typing import Final

import attrs

from .._identifiers import shown

__all__ = ["DEFAULT_DOMAIN", "DEFAULT_HOST", "Reference", "is_loopback", "validate_digest"]

DEFAULT_DOMAIN: Final = "docker.io"
DEFAULT_HOST: Final = "registry-1.docker.io"
"""Where Docker Hub's registry API lives."""
_LEGACY_DOMAIN: Final = "index.docker.io"
_OFFICIAL: Final = "library"
_DEFAULT_TAG: Final = "latest"
_NAME_MAX: Final = 255

# The grammar of distribution's reference package (ASCII only, unlike Python's \w).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = rf"{_COMPONENT}(?:/{_COMPONENT})*"
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

# Matched with fullmatch: '$' would let a trailing newline through.
_DOMAIN_RE = re.compile(_DOMAIN)
_PATH_RE = re.compile(_PATH)
_TAG_RE = re.compile(_TAG)
_REFERENCE_RE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_PATH})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
)
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}")
_HEX_RE = re.compile(r"[0-9a-f]+")
_MAX_PORT: Final = 65535
_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}


def validate_digest(value: str) -> str:
    """Check that `value` is a digest containerd can verify (``sha256:<64 hex>`` and the like).

    Raises:
        ValueError: the algorithm is unknown or the hex part has the wrong length or case.
    """
    algorithm, sep, encoded = value.partition(":")
    if not sep or algorithm not in _DIGEST_HEX:
        raise ValueError(
            f"invalid digest {shown(value)}: expected sha256:, sha384: or sha512: and lowercase hex"
        )
    if len(encoded) != _DIGEST_HEX[algorithm] or not _HEX_RE.fullmatch(encoded):
        raise ValueError(
            f"invalid digest {shown(value)}: {algorithm} needs {_DIGEST_HEX[algorithm]} lowercase hex digits"
        )
    return value


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or (not any(c in first for c in ".:[") and first != "localhost"):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == _LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = f"{_OFFICIAL}/{remainder}"
    return domain, remainder


@attrs.frozen(kw_only=True)
class Reference:
    """A normalised image reference: registry domain, repository path, tag and/or digest.

    `Reference.parse` applies docker's rules: a name without a registry is on
    Docker Hub (``docker.io``), a one-part Hub name is an official image
    (``library/``), and a reference with neither tag nor digest means
    ``:latest``. A reference may carry both a tag and a digest; the digest
    then decides what is pulled and the tag is kept for naming.

    Attributes:
        domain: the registry, with its port if any (``docker.io``, ``localhost:5000``).
        path: the repository within the registry (``library/busybox``).
        tag: the tag, or ``None``.
        digest: the digest (``sha256:...``), or ``None``.

    Example:
        ```python
        >>> ref = Reference.parse("busybox")
        >>> str(ref)
        'docker.io/library/busybox:latest'
        >>> ref.familiar
        'busybox:latest'
        >>> Reference.parse("localhost:5000/team/app:v1").domain
        'localhost:5000'
        ```
    """

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    def __attrs_post_init__(self) -> None:
        if not _DOMAIN_RE.fullmatch(self.domain):
            raise ValueError(f"invalid registry domain {shown(self.domain)} in image reference")
        port = self.domain.rpartition("]")[2].rpartition(":")[2] if ":" in self.domain else ""
        if port and int(port) > _MAX_PORT:
            raise ValueError(
                f"invalid registry domain {shown(self.domain)}: port {port} is above {_MAX_PORT}"
            )
        if not _PATH_RE.fullmatch(self.path):
            raise ValueError(
                f"invalid repository path {shown(self.path)}: lowercase letters, digits and "
                "separators (., _, __, -) in /-separated components"
            )
        if len(self.domain) + 1 + len(self.path) > _NAME_MAX:
            raise ValueError(
                f"invalid image reference {shown(self.name)}: repository name longer than {_NAME_MAX} characters"
            )
        if self.tag is not None and not _TAG_RE.fullmatch(self.tag):
            raise ValueError(
                f"invalid tag {shown(self.tag)}: up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
            )
        if self.digest is not None:
            validate_digest(self.digest)
        if self.tag is None and self.digest is None:
            raise ValueError(f"image reference {shown(self.name)} needs a tag or a digest")

    @classmethod
    def parse(cls, value: str) -> Reference:
        """Parse and normalise a reference as docker does.

        Args:
            value: ``busybox``, ``busybox:1.36``, ``ghcr.io/org/app@sha256:...``,
                ``localhost:5000/app:v1``, ``[::1]:5000/app``...

        Raises:
            ValueError: the reference is malformed; the message names it and says why.

        Example:
            ```python
            >>> str(Reference.parse("index.docker.io/user/app@sha256:" + "a" * 64))
            'docker.io/user/app@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
            ```
        """
        if not isinstance(value, str):
            raise TypeError(f"image reference must be a str, not {type(value).__name__}")
        if not value:
            raise ValueError("invalid image reference '': empty")
        if _IDENTIFIER_RE.fullmatch(value):
            raise ValueError(
                f"invalid image reference {shown(value)}: a bare 64-hex identifier is not a repository name"
            )
        domain, remainder = _split_domain(value)
        repository = remainder.split("@", 1)[0].split(":", 1)[0]
        if repository.lower() != repository:
            raise ValueError(
                f"invalid image reference {shown(value)}: repository name must be lowercase"
            )
        match = _REFERENCE_RE.fullmatch(f"{domain}/{remainder}")
        if match is None:
            raise ValueError(
                f"invalid image reference {shown(value)}: expected [registry/]repository[:tag][@digest]"
            )
        name = match["name"]
        path = name[len(domain) + 1 :]
        tag = match["tag"]
        digest = match["digest"]
        if tag is None and digest is None:
            tag = _DEFAULT_TAG
        try:
            return cls(domain=domain, path=path, tag=tag, digest=digest)
        except ValueError as exc:
            raise ValueError(f"invalid image reference {shown(value)}: {exc}") from None

    @property
    def name(self) -> str:
        """The repository's full name, ``domain/path`` (``docker.io/library/busybox``)."""
        return f"{self.domain}/{self.path}"

    @property
    def object(self) -> str:
        """What to ask the registry for: the digest if there is one, else the tag."""
        return self.digest or self.tag or _DEFAULT_TAG

    @property
    def familiar(self) -> str:
        """The short form docker shows (``busybox:latest``, ``user/app@sha256:...``)."""
        path = self.path
        if self.domain == DEFAULT_DOMAIN:
            short = path.removeprefix(f"{_OFFICIAL}/")
            if "/" not in short:
                path = short
            base = path
        else:
            base = self.name
        return base + self._suffix()

    @property
    def host(self) -> str:
        """The host (and port) to contact: Docker Hub's API lives on ``registry-1.docker.io``."""
        return DEFAULT_HOST if self.domain == DEFAULT_DOMAIN else self.domain

    def with_digest(self, digest: str) -> Reference:
        """The same repository at `digest` (the tag is kept).

        Example:
            ```python
            pinned = ref.with_digest(image.target.digest)
            ```
        """
        return attrs.evolve(self, digest=digest)

    def with_tag(self, tag: str) -> Reference:
        """The same repository with `tag` (and no digest)."""
        return attrs.evolve(self, tag=tag, digest=None)

    def _suffix(self) -> str:
        suffix = f":{self.tag}" if self.tag is not None else ""
        return suffix + (f"@{self.digest}" if self.digest is not None else "")

    def __str__(self) -> str:
        return self.name + self._suffix()


def is_loopback(host: str) -> bool:
    """Whether `host` (``name[:port]``) is ``localhost``, ``127.0.0.0/8`` or ``[::1]``.

    Example:
        ```python
        >>> is_loopback("127.0.0.1:5000"), is_loopback("[::1]:5000"), is_loopback("example.com")
        (True, True, False)
        ```
    """
    if host.startswith("["):
        name = host[1 : host.find("]")] if "]" in host else host[1:]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
