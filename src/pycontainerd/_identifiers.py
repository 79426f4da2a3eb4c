"""containerd's identifier rules, checked before any RPC."""

from __future__ import annotations

import re

from . import errors

MAX_LENGTH = 76
# containerd's pkg/identifiers: alphanumeric runs joined by single '.', '_' or '-'.
_IDENTIFIER = re.compile(r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*")


def validate(value: str, kind: str) -> str:
    """Return `value` if containerd accepts it as an identifier.

    Raises:
        pycontainerd.errors.InvalidArgument: names `kind` and the bad value.
    """
    if not isinstance(value, str) or not value:
        raise errors.InvalidArgument(f"invalid {kind} {value!r}: identifier must not be empty")
    if len(value) > MAX_LENGTH:
        raise errors.InvalidArgument(
            f"invalid {kind} {value!r}: identifier is longer than {MAX_LENGTH} characters"
        )
    if _IDENTIFIER.fullmatch(value) is None:
        raise errors.InvalidArgument(
            f"invalid {kind} {value!r}: identifiers are letters and digits, "
            "joined by single '.', '_' or '-', and start and end with a letter or digit"
        )
    return value
