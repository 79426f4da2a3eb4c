"""The SDK's only uses of a dependency's private names, each checked at import time.

Everything else uses grpclib, h2, betterproto and httpx through their public
APIs (``tests/unit/test_private_names.py`` counts). What is here is a measured
fast path that no public API offers, installed when the transport module is
imported. Each one is checked against the behaviour it replaces first; if a
dependency changed, the import fails with an error that names the versions
it was tested with, rather than run on guesses.

Tested with: hyperframe 6.1.0 (under h2 4.3 and 4.4).
"""

from __future__ import annotations

from typing import Final

import hyperframe.frame

__all__ = ["install"]

TESTED: Final = "hyperframe 6.1.0"
# `_raw_data_repr` keeps 20 hex digits (10 bytes) and marks a longer body with
# "...": 11 bytes decide the whole result.
_SHOWN: Final = 11

_installed = False


def _data_frame_body_repr(frame: hyperframe.frame.DataFrame) -> str:
    """What ``Frame._body_repr`` returns for a DATA frame, without serialising its body.

    h2 formats ``repr(frame)`` for every frame it receives, for a trace log
    that is off (``H2Connection.receive_data``), and grpclib gives no way to
    configure that. For a DATA frame hyperframe copies the whole payload and
    hex-encodes it, then keeps 20 digits: about 14% of the client's CPU when
    reading content (a 64 MiB ``content.read``: 260 -> 224 ms of CPU, medians
    of seven reads; ``nox -s bench -- S4`` shows the read rate against the Go
    client's).
    """
    head = frame.serialize_padding_data() + frame.data[:_SHOWN]
    if len(head) < _SHOWN:  # a short frame: its whole body, padding included, is cheap
        head = frame.serialize_body()
    return hyperframe.frame._raw_data_repr(head)


def _samples() -> list[hyperframe.frame.DataFrame]:
    frames = []
    for size in (0, 1, 9, 10, 11, 12, 16384):
        for pad in (None, 0, 1, 7):
            frame = hyperframe.frame.DataFrame(
                1, bytes(range(256)) * (size // 256) + b"x" * (size % 256)
            )
            if pad is not None:
                frame.flags.add("PADDED")
                frame.pad_length = pad
            frames.append(frame)
    return frames


def install() -> None:
    """Install the fast paths (once), after checking that they still fit.

    Raises:
        ImportError: a name is missing or its behaviour changed: this
            dependency release was not tested with this pycontainerd.
    """
    global _installed
    if _installed:
        return
    data_frame = hyperframe.frame.DataFrame
    try:
        inherited = data_frame._body_repr is hyperframe.frame.Frame._body_repr
        same = all(data_frame._body_repr(f) == _data_frame_body_repr(f) for f in _samples())
    except (AttributeError, TypeError, ValueError) as exc:
        raise ImportError(
            f"pycontainerd was tested with {TESTED}; the installed hyperframe differs ({exc})"
        ) from exc
    if not (inherited and same):
        raise ImportError(
            f"pycontainerd was tested with {TESTED}; the installed hyperframe formats "
            "DATA frames differently: install the tested version"
        )
    data_frame._body_repr = _data_frame_body_repr  # type: ignore[method-assign, assignment]
    _installed = True
