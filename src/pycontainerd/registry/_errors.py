"""Errors of registry operations (HTTP failures, auth, bad content)."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ContainerdError

__all__ = [
    "AuthenticationError",
    "DigestError",
    "NotFoundError",
    "PlatformNotFoundError",
    "RegistryError",
    "UnsupportedMediaTypeError",
]


class RegistryError(ContainerdError):
    """A registry answered badly or could not be reached.

    Messages name the registry URL and the registry's error codes; they never
    carry credentials or tokens.

    Attributes:
        status_code: the HTTP status, or ``None`` when no answer came.
        url: the URL that failed (without credentials).
        codes: the registry's error codes (``MANIFEST_UNKNOWN``, ``DENIED``...).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        url: str | None = None,
        codes: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.url = url
        self.codes = tuple(codes)


class AuthenticationError(RegistryError, PermissionError):
    """The registry refused the credentials (or demanded some and none were given)."""


class NotFoundError(RegistryError, LookupError):
    """The registry does not have the repository, tag, manifest or blob."""


class PlatformNotFoundError(NotFoundError):
    """An index has no manifest for the requested platform."""


class DigestError(RegistryError):
    """Content did not match its expected digest or size; nothing of it was kept."""


class UnsupportedMediaTypeError(RegistryError):
    """A manifest of a kind this SDK cannot handle (Docker schema 1, unknown types)."""
