"""The private-name fast paths in `pycontainerd._compat` change nothing but their cost."""

from __future__ import annotations

import hyperframe.frame
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycontainerd import _compat


@given(st.binary(max_size=300), st.one_of(st.none(), st.integers(0, 255)))
def test_data_frame_repr_is_unchanged(data: bytes, pad: int | None) -> None:
    frame = hyperframe.frame.DataFrame(3, data)
    if pad is not None:
        frame.flags.add("PADDED")
        frame.pad_length = pad
    assert _compat._data_frame_body_repr(frame) == hyperframe.frame.Frame._body_repr(frame)


def test_install_refuses_a_hyperframe_that_formats_differently(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def changed(self: hyperframe.frame.Frame) -> str:
        return "changed"

    monkeypatch.setattr(_compat, "_installed", False)
    monkeypatch.setattr(hyperframe.frame.Frame, "_body_repr", changed)
    monkeypatch.setattr(hyperframe.frame.DataFrame, "_body_repr", changed)
    with pytest.raises(ImportError, match=r"tested with hyperframe 6\.1\.0"):
        _compat.install()
    assert vars(hyperframe.frame.DataFrame)["_body_repr"] is changed  # left as found


def test_install_puts_the_fast_path_in_place_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_compat, "_installed", False)
    # As found: DataFrame inherits Frame's (the undo restores this state).
    monkeypatch.setattr(hyperframe.frame.DataFrame, "_body_repr", hyperframe.frame.Frame._body_repr)
    _compat.install()
    _compat.install()
    assert vars(hyperframe.frame.DataFrame)["_body_repr"] is _compat._data_frame_body_repr
    frame = hyperframe.frame.DataFrame(1, b"y" * 16384)
    assert repr(frame) == ("DataFrame(stream_id=1, flags=[]): <hex:79797979797979797979...>")
