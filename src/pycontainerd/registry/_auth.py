"""Registry credentials: explicit ones, docker's ``config.json``, and challenge parsing."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import anyio
import attrs

from .._identifiers import shown
from ._reference import Reference

__all__ = [
    "AuthLike",
    "Challenge",
    "Credentials",
    "docker_config_credentials",
    "host_credentials",
    "parse_challenges",
    "resolve_credentials",
]

_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


@attrs.frozen(kw_only=True)
class Credentials:
    """A username and password (or identity token) for one registry.

    The secret never shows in ``repr``, in errors or in logs.

    Attributes:
        username: the account name (may be empty with an identity token).
        password: the password or access token.
        identity_token: an OAuth refresh token (docker's ``identitytoken``),
            exchanged for bearer tokens instead of the password.

    Example:
        ```python
        image = await client.pull(
            "registry.example.com/team/app:v1",
            auth=Credentials(username="ci", password=os.environ["REGISTRY_TOKEN"]),
        )
        ```
    """

    username: str = ""
    password: str = attrs.field(default="", repr=False)
    identity_token: str = attrs.field(default="", repr=False)

    @classmethod
    def _coerce(cls, value: Credentials | tuple[str, str]) -> Credentials:
        if isinstance(value, Credentials):
            return value
        if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value):
            return cls(username=value[0], password=value[1])
        raise TypeError("auth must be Credentials or a (username, password) tuple of str")


@attrs.frozen(kw_only=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: a scheme (lowercase) and its parameters."""

    scheme: str
    params: Mapping[str, str]


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PARAM_RE = re.compile(rf"\s*({_TOKEN})\s*=\s*({_QUOTED}|{_TOKEN})\s*(,|$)")
_SCHEME_RE = re.compile(rf"\s*({_TOKEN})(?:\s+|$)")


def parse_challenges(headers: list[str]) -> list[Challenge]:
    """Parse ``WWW-Authenticate`` header values into challenges (bearer first, then basic).

    Example:
        ```python
        >>> parse_challenges(['Bearer realm="https://auth.example/token",service="reg"'])
        [Challenge(scheme='bearer', params={'realm': 'https://auth.example/token', 'service': 'reg'})]
        ```
    """
    found: list[Challenge] = []
    for header in headers:
        rest = header
        while rest.strip():
            scheme = _SCHEME_RE.match(rest)
            if scheme is None:
                break
            rest = rest[scheme.end() :]
            params: dict[str, str] = {}
            while True:
                param = _PARAM_RE.match(rest)
                if param is None:
                    break
                value = param[2]
                if value.startswith('"'):
                    value = re.sub(r"\\(.)", r"\1", value[1:-1])
                params[param[1].lower()] = value
                rest = rest[param.end() :]
            found.append(Challenge(scheme=scheme[1].lower(), params=params))
            rest = rest.lstrip().lstrip(",")
    order = {"bearer": 0, "basic": 1}
    return sorted(found, key=lambda c: order.get(c.scheme, 2))


def docker_config_path() -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def _host_of(key: str) -> str:
    key = key.removeprefix("https://").removeprefix("http://")
    return key.split("/", 1)[0]


def _matches(key: str, domain: str) -> bool:
    if domain == "docker.io":
        return key in _HUB_KEYS or _host_of(key) in ("index.docker.io", "docker.io")
    return _host_of(key) == domain


async def docker_config_credentials(domain: str, path: Path | None = None) -> Credentials | None:
    """Credentials for `domain` from docker's config file, or ``None``.

    Looks at ``credHelpers`` (per registry), then ``credsStore``, then the
    ``auths`` entries (``auth`` base64 ``user:password``, ``username`` /
    ``password`` or ``identitytoken``). Credential helpers
    (``docker-credential-<name> get``) run as subprocesses.

    Raises:
        AuthenticationError: the config file or a helper's answer cannot be read
            (the message never quotes secrets).
    """
    from ._errors import AuthenticationError

    config_path = path or docker_config_path()
    try:
        text = await anyio.Path(config_path).read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuthenticationError(
            f"cannot read docker config {config_path}: {exc.strerror}"
        ) from None
    except UnicodeDecodeError:
        raise AuthenticationError(f"docker config {config_path} is not UTF-8 text") from None
    try:
        config = json.loads(text)
    except ValueError:
        raise AuthenticationError(f"docker config {config_path} is not valid JSON") from None
    if not isinstance(config, dict):
        raise AuthenticationError(f"docker config {config_path} is not a JSON object")
    server = "https://index.docker.io/v1/" if domain == "docker.io" else domain
    helpers = config.get("credHelpers") or {}
    auths = config.get("auths") or {}
    if not isinstance(helpers, dict) or not isinstance(auths, dict):
        raise AuthenticationError(
            f"docker config {config_path}: credHelpers and auths must be JSON objects"
        )
    for key, helper in helpers.items():
        if _matches(key, domain):
            return await _from_helper(str(helper), server)
    if config.get("credsStore"):
        found = await _from_helper(str(config["credsStore"]), server)
        if found is not None:
            return found
    for key, entry in auths.items():
        if not _matches(key, domain) or not isinstance(entry, dict):
            continue
        username = str(entry.get("username") or "")
        password = str(entry.get("password") or "")
        if entry.get("auth"):
            try:
                decoded = base64.b64decode(str(entry["auth"]), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise AuthenticationError(
                    f"docker config {config_path}: the auth entry for {shown(key)} is not base64 user:password"
                ) from None
            username, sep, password = decoded.partition(":")
            if not sep:
                raise AuthenticationError(
                    f"docker config {config_path}: the auth entry for {shown(key)} has no ':'"
                )
        token = str(entry.get("identitytoken") or "")
        if username or password or token:
            return Credentials(username=username, password=password, identity_token=token)
    return None


async def _from_helper(helper: str, server: str) -> Credentials | None:
    from ._errors import AuthenticationError

    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        raise AuthenticationError(f"docker credential helper docker-credential-{helper} not found")
    result = await anyio.run_process([program, "get"], input=server.encode(), check=False)
    if result.returncode != 0:
        if b"credentials not found" in result.stdout + result.stderr:
            return None
        raise AuthenticationError(
            f"docker-credential-{helper} failed for {server} (exit {result.returncode})"
        )
    try:
        answer = json.loads(result.stdout)
        username, secret = str(answer["Username"]), str(answer["Secret"])
    except (ValueError, KeyError, TypeError):
        raise AuthenticationError(f"docker-credential-{helper} gave an unreadable answer") from None
    if username == "<token>":
        return Credentials(identity_token=secret)
    return Credentials(username=username, password=secret)


AuthLike = Credentials | tuple[str, str] | None


async def resolve_credentials(auth: AuthLike, domain: str) -> Credentials | None:
    """Explicit credentials, else docker's ``config.json`` entry for `domain`, else ``None``."""
    if auth is not None:
        return Credentials._coerce(auth)
    return await docker_config_credentials(domain)


async def host_credentials(auth: AuthLike, reference: Reference, host: str) -> Credentials | None:
    """The credentials `host` gets when serving `reference`'s registry.

    Explicit `auth` (else docker's ``config.json`` entry for the registry)
    goes only to the registry's own host; any other host (a mirror from a
    hosts configuration) gets only the ``config.json`` entry for its own
    name, never the registry's secret.
    """
    if host in (reference.host, reference.domain):
        return await resolve_credentials(auth, reference.domain)
    return await docker_config_credentials(host)
