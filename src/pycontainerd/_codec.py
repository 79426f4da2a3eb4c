"""What ``pycontainerd._content`` still imports from here (private).

The wire format's helpers live in `pycontainerd._wire`, the one codec; the
content module is being rewritten to import them from there. Delete this
module then.
"""

from __future__ import annotations

from ._wire import WireError, encode_scalars, read_varint, varint

__all__ = ["WireError", "encode_scalars", "read_varint", "varint"]
