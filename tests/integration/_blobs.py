"""Helpers for tests that write blobs."""

from __future__ import annotations

import hashlib


def sha256(data: bytes) -> str:
    """The content digest containerd gives `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()
