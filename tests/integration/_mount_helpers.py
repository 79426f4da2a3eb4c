"""Mount snapshot mounts for a test (root only), with `mount`/`umount` subprocesses."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from pycontainerd import Mount


@contextlib.contextmanager
def mounted(mounts: Sequence[Mount]) -> Iterator[Path]:
    """Mount `mounts` (as a snapshot returns them) on a temporary directory."""
    target = Path(tempfile.mkdtemp(prefix="pyctd-mnt-"))
    done: list[Path] = []
    try:
        for m in mounts:
            options = ["-o", ",".join(m.options)] if m.options else []
            subprocess.run(
                ["mount", "-t", m.type, *options, m.source, str(target)],
                check=True,
                capture_output=True,
            )
            done.append(target)
        yield target
    finally:
        for path in reversed(done):
            subprocess.run(["umount", str(path)], check=True, capture_output=True)
        target.rmdir()
