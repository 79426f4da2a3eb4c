"""containerd's input rules (identifiers, labels), checked before any RPC.

And `shown`: how an error message names a bad value (shortened, a password masked).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, overload

from . import errors

# containerd's pkg/identifiers (maxLength) and pkg/labels (maxSize, bytes of key + value).
MAX_LENGTH: Final = 76
MAX_LABEL_SIZE: Final = 4096
# containerd's pkg/identifiers: alphanumeric runs joined by single '.', '_' or '-'.
_IDENTIFIER = re.compile(r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*")

_SHOWN_MAX: Final = 80
# "scheme://user:password@host", "user:password@host/...": what stands before an
# '@' at the start of a value or of a URL's host is a credential when it holds a
# ':', unless the '@' starts a digest ("app:1@sha256:...", a tag and a digest).
_USERINFO = re.compile(
    r"(?P<lead>^|//|[\s'\"(\[,=])(?P<user>[^/@:\s'\"]*):[^/@\s'\"]*@"
    r"(?![A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32})"
)


def shown(value: object, limit: int = _SHOWN_MAX) -> str:
    """`value` as an error message names it: its ``repr``, a password masked, shortened.

    A ``user:password@`` part (of a reference or URL) becomes
    ``user:***@``; a value longer than `limit` characters keeps its start
    and end and says how long it was, so that a 100,000-character id does
    not become a 100,000-character message.

    Example:
        ```python
        >>> shown("user:secret@example.com/app:1")
        "'user:***@example.com/app:1'"
        >>> shown("x" * 1000)[:20]
        "'xxxxxxxxxxxxxxxxxxx"
        ```
    """
    if isinstance(value, str):
        size = f"{len(value)} characters"
    elif isinstance(value, bytes | bytearray):
        size = f"{len(value)} bytes"
        value = bytes(value[:limit])  # repr of the rest would be cut anyway
    else:
        size = ""
    text = _USERINFO.sub(r"\g<lead>\g<user>:***@", repr(value))  # in a list's repr too
    if len(text) <= limit:
        return text
    keep = (limit - 20) // 2
    return f"{text[:keep]}...{text[-keep:]}" + (f" ({size})" if size else "")


def validate(value: str, kind: str) -> str:
    """Return `value` if containerd accepts it as an identifier.

    Raises:
        pycontainerd.errors.InvalidArgument: names `kind` and the bad value.
    """
    if not isinstance(value, str):
        raise errors.InvalidArgument(
            f"invalid {kind} {shown(value)}: must be a str, not {type(value).__name__}"
        )
    if not value:
        raise errors.InvalidArgument(f"invalid {kind} '': identifier must not be empty")
    if len(value) > MAX_LENGTH:
        raise errors.InvalidArgument(
            f"invalid {kind} {shown(value)}: identifier is longer than {MAX_LENGTH} characters"
        )
    if _IDENTIFIER.fullmatch(value) is None:
        raise errors.InvalidArgument(
            f"invalid {kind} {shown(value)}: identifiers are letters and digits, "
            "joined by single '.', '_' or '-', and start and end with a letter or digit"
        )
    return value


def labels(values: Mapping[str, str] | None, kind: str = "labels") -> dict[str, str]:
    """`values` as a dict, if containerd would store them as labels.

    Keys and values are strings, keys not empty, and each key with its value
    at most 4096 bytes (UTF-8), as containerd's ``labels.Validate`` checks for
    containers, images, content and snapshots; leases and namespaces are held
    to the same rule here.

    Raises:
        pycontainerd.errors.InvalidArgument: names the label, shortened.
    """
    out: dict[str, str] = {}
    for key, value in _items(values, kind):
        out[key] = _label(key, value, kind)
    return out


def label_paths(labels: Iterable[str], *, replace: bool = False) -> list[str]:
    """The update-mask paths for `labels`: key by key, or the whole set with `replace`."""
    return ["labels"] if replace else [f"labels.{k}" for k in labels]


def label_changes(
    values: Mapping[str, str | None] | None, kind: str = "labels"
) -> dict[str, str | None]:
    """As `labels`, for an update: a ``None`` value (remove that label) passes too."""
    out: dict[str, str | None] = {}
    for key, value in _items(values, kind):
        out[key] = _label(key, value, kind, removal=True)
    return out


def _items(values: object, kind: str) -> list[tuple[Any, object]]:
    if values is None:
        return []
    if not isinstance(values, Mapping):
        raise errors.InvalidArgument(
            f"invalid {kind}: expected a mapping of str to str, not {type(values).__name__}"
        )
    return list(values.items())


@overload
def _label(key: object, value: object, kind: str) -> str: ...
@overload
def _label(key: object, value: object, kind: str, *, removal: bool) -> str | None: ...
def _label(key: object, value: object, kind: str, *, removal: bool = False) -> str | None:
    if not isinstance(key, str):
        raise errors.InvalidArgument(
            f"invalid {kind}: key {shown(key)} is a {type(key).__name__}, not a str"
        )
    if not key:
        raise errors.InvalidArgument(f"invalid {kind}: a label key must not be empty")
    if value is None and removal:
        return None
    if not isinstance(value, str):
        raise errors.InvalidArgument(
            f"invalid {kind}: the value of {shown(key)} is a {type(value).__name__}, not a str"
        )
    try:
        size = len(key.encode()) + len(value.encode())
    except UnicodeEncodeError:
        raise errors.InvalidArgument(
            f"invalid {kind}: label {shown(key)} is not valid UTF-8 text"
        ) from None
    if size > MAX_LABEL_SIZE:
        raise errors.InvalidArgument(
            f"invalid {kind}: label {shown(key)} has {size} bytes of key and value, "
            f"over containerd's limit of {MAX_LABEL_SIZE}"
        )
    return value
