"""pyctr's output: plain and rich tables, progress on and off a terminal, lazy imports."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from pycontainerd.cli import _output as out
from pycontainerd.cli._storage import tree_lines

ROOT = Path(__file__).resolve().parents[2]


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_plain_table_aligns_columns_and_leaves_the_last_unpadded() -> None:
    stream = io.StringIO()
    out.table(["NAME", "SIZE", "LABELS"], [["a", 10, {"k": "v"}], ["longer", None, {}]], out=stream)
    assert stream.getvalue().splitlines() == [
        "NAME     SIZE   LABELS",
        "a        10     k=v",
        "longer   -      -",
    ]


def test_rich_table_on_a_terminal_keeps_cells_whole_and_literal() -> None:
    stream = io.StringIO()
    rows = [["[bold]x[/bold]", "sha256:" + "a" * 64]]
    out.table(["REF", "DIGEST"], rows, out=stream, terminal=True)
    text = stream.getvalue()
    assert "─" in text  # the rule under the header
    assert "\x1b[1m" in text  # the header in bold
    assert "[bold]x[/bold]" in text  # not read as markup
    plain = "".join(c for line in text.splitlines() for c in line if c.isalnum() or c == ":")
    assert "sha256:" + "a" * 64 in plain  # folded when narrow, never cut


def test_without_rich_a_terminal_gets_plain_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)  # import rich raises ImportError
    stream = io.StringIO()
    out.table(["A", "B"], [["1", "2"]], out=stream, terminal=True)
    assert stream.getvalue() == "A   B\n1   2\n"


def test_progress_draws_nothing_off_a_terminal() -> None:
    stream = io.StringIO()
    with out.Progress("pulling", per_item=True, stream=stream) as progress:
        progress.update("sha256:1", "layer 1", done=5, total=10)
    assert stream.getvalue() == ""
    assert progress.done == 5


def test_progress_bars_on_a_terminal_one_per_blob_and_the_whole() -> None:
    stream = Terminal()
    with out.Progress("pulling", per_item=True, stream=stream) as progress:
        progress.update("sha256:1", "layer 111", done=1 << 20, total=2 << 20)
        progress.update("sha256:2", "config 222", done=1024, total=1024)
        progress.update("sha256:1", "layer 111", done=2 << 20, total=2 << 20)
    text = stream.getvalue()
    final = text.rsplit("pulling", 1)[1]  # the last frame drawn
    assert "layer 111" in final
    assert "config 222" in final
    assert "2.0/2.0 MiB" in final
    assert "━" in final
    assert progress.done == (2 << 20) + 1024


def test_progress_of_one_stream_with_a_known_total() -> None:
    stream = Terminal()
    progress = out.Progress("importing", per_item=False, stream=stream)
    progress.set_total(3 << 20)
    progress.start()
    for _ in range(3):
        progress.advance(1 << 20)
    progress.finish()
    assert "importing" in stream.getvalue()
    assert "3.0/3.0 MiB" in stream.getvalue()


def test_progress_without_rich_is_one_line_redrawn_then_wiped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)
    monkeypatch.setitem(sys.modules, "rich.console", None)
    monkeypatch.setitem(sys.modules, "rich.progress", None)
    stream = Terminal()
    with out.Progress("exporting", per_item=False, stream=stream) as progress:
        progress.advance(3 << 20)
    assert stream.getvalue() == "\rexporting: 3.0 MiB\x1b[K\r\x1b[K"


def test_tree_lines_as_ctr_draws_them() -> None:
    parents = {"c": "b", "b": "a", "a": "", "x": "gone", "d": "a"}
    assert tree_lines(parents) == ["a", "  \\_ b", "    \\_ c", "  \\_ d", "x"]


def _modules_after(code: str) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT / "src")},
    )
    return set(json.loads(done.stdout))


def test_building_the_command_tree_imports_no_command_s_sdk_modules() -> None:
    # what `pyctr version` loads before its one call: the whole tree, parsed
    loaded = _modules_after(
        "from pycontainerd.cli._app import build_parser\nbuild_parser().parse_args(['version'])"
    )
    for heavy in (
        "rich",
        "pycontainerd._containers",
        "pycontainerd._tasks",
        "pycontainerd.events",
        "pycontainerd.oci",
        "pycontainerd.stdio",
        "pycontainerd._image_config",
    ):
        assert heavy not in loaded


def test_rich_is_the_cli_extra_not_a_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(dep.startswith("rich") for dep in project["dependencies"])
    assert [dep for dep in project["optional-dependencies"]["cli"] if dep.startswith("rich")]
    assert "rich" not in _modules_after("import pycontainerd, pycontainerd.cli")
