"""stdio factories, without a daemon."""

from __future__ import annotations

import pytest

from pycontainerd import stdio


def test_factories_validate() -> None:
    with pytest.raises(ValueError, match="absolute"):
        stdio.log_file("relative.log")
    with pytest.raises(ValueError, match="max_bytes"):
        stdio.capture(-1)
    assert stdio.pipes(terminal=True).terminal
