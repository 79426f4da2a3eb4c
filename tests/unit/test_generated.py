"""The committed protos and generated stubs are exactly what `nox -s protos` makes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "src" / "pycontainerd" / "_api"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate", ROOT / "protos" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _generator()
# Only the comparison with Debian's sources needs them; regenerating the stubs
# works from the committed protos/ with the pinned tools of the `test` extra.
needs_debian_sources = pytest.mark.skipif(
    not all((gen.GOCODE / base / rel).is_file() for _, base, files in gen.SOURCES for rel in files),
    reason="needs the Debian proto sources (`nox -s tests` installs them): "
    f"apt-get install {' '.join(gen.packages())}",
)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@needs_debian_sources
def test_protos_match_debian_sources() -> None:
    for _, base, files in gen.SOURCES:
        for rel in files:
            assert gen._dest(base, rel).read_bytes() == (gen.GOCODE / base / rel).read_bytes(), rel


def test_generated_stubs_are_up_to_date(tmp_path: Path) -> None:
    out = tmp_path / "_api"
    gen.generate(out)
    fresh, committed = _files(out), _files(API)
    assert sorted(fresh) == sorted(committed)
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"regenerate with `nox -s protos`: {stale}"


def test_registry_maps_event_type_urls() -> None:
    from pycontainerd._api._registry import MESSAGES
    from pycontainerd._api.containerd.events import TaskExit, TaskIo
    from pycontainerd._api.containerd.services.images.v1 import ImageCreate

    assert MESSAGES["containerd.events.TaskExit"] is TaskExit
    assert MESSAGES["containerd.events.TaskIO"] is TaskIo
    assert MESSAGES["containerd.services.images.v1.ImageCreate"] is ImageCreate
    assert "io.containerd.cgroups.v1.Metrics" in MESSAGES
