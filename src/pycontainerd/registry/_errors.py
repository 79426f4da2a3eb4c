"""Errors of registry operations (HTTP failures, auth, bad content).

Each error with a matching kind in `pycontainerd.errors` is also that class,
so one ``except`` serves the daemon and the registry alike (containerd's
``errdefs`` maps HTTP statuses the same way):

```text
RegistryError (a ContainerdError)
├── AuthenticationError        also errors.Unauthenticated  401, credentials missing or refused
├── AccessDeniedError          also errors.PermissionDenied 403, authenticated but not allowed
├── NotFoundError              also errors.NotFound         404
│   └── PlatformNotFoundError  the index has no manifest for the platform
├── DigestError                also errors.DataLoss         content does not match its digest
├── InsecureURLError           also errors.FailedPrecondition plain HTTP to a host not allowed it
├── UnsupportedMediaTypeError  also errors.Unimplemented    Docker schema 1, unknown manifests
└── UnavailableError           also errors.Unavailable      unreachable, 5xx: retry later
```

Any other failure (a 400, a manifest over the size limit...) is a plain
`RegistryError`.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import errors
from ..errors import ContainerdError

__all__ = [
    "AccessDeniedError",
    "AuthenticationError",
    "DigestError",
    "InsecureURLError",
    "NotFoundError",
    "PlatformNotFoundError",
    "RegistryError",
    "UnavailableError",
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


class AuthenticationError(RegistryError, errors.Unauthenticated, PermissionError):
    """The registry refused the credentials (or demanded some and none were given).

    Also an `errors.Unauthenticated` (and a builtin `PermissionError`).
    """


class AccessDeniedError(RegistryError, errors.PermissionDenied, PermissionError):
    """The registry denied access (HTTP 403): the credentials, if any, do not allow it.

    Also an `errors.PermissionDenied` (and a builtin `PermissionError`).
    """


class NotFoundError(RegistryError, errors.NotFound, LookupError):
    """The registry does not have the repository, tag, manifest or blob.

    Also an `errors.NotFound` (and a builtin `LookupError`).
    """


class PlatformNotFoundError(NotFoundError):
    """An index has no manifest for the requested platform."""


class DigestError(RegistryError, errors.DataLoss):
    """Content did not match its expected digest or size; nothing of it was kept.

    Also an `errors.DataLoss`.
    """


class InsecureURLError(RegistryError, errors.FailedPrecondition):
    """The registry sent the client to plain HTTP on a host that may not use it.

    A token realm, an upload location or a redirect on ``http://`` is
    followed only to a loopback host, or to the registry's own host when it
    was marked insecure; anywhere else credentials or content could be read
    or changed on the way. `url` names the refused URL (without userinfo or query).

    Also an `errors.FailedPrecondition`: retrying cannot help until the
    registry's answer or the client's options change.
    """


class UnsupportedMediaTypeError(RegistryError, errors.Unimplemented):
    """A manifest of a kind this SDK cannot handle (Docker schema 1, unknown types).

    Also an `errors.Unimplemented`.
    """


class UnavailableError(RegistryError, errors.Unavailable):
    """The registry could not be reached, or answered 5xx: retry later.

    Also an `errors.Unavailable`.
    """
