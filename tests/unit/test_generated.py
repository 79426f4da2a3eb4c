"""The committed protos and generated stubs are exactly what `nox -s protos` makes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

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


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_protos_match_debian_sources() -> None:
    # The host's packages come with `nox -s tests`; sid's API module is fetched
    # (once, into the cache) as the integration matrix fetches sid's daemon.
    for package in gen.sources():
        for src, dst in package.files:
            assert dst.read_bytes() == src.read_bytes(), (package.name, dst)
    provenance = (ROOT / "protos" / "PROVENANCE.md").read_text()
    for package in gen.sources():
        assert f"- {package.name} {package.version} (" in provenance


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
