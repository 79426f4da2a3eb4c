"""`import pycontainerd` loads only what a client needs to exist, not what its calls need."""

from __future__ import annotations

import json
import subprocess
import sys


def _modules_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_import_leaves_grpclib_betterproto_and_the_facades_for_later() -> None:
    loaded = _modules_after("import pycontainerd; pycontainerd.Client('/nonexistent.sock')")
    heavy = {
        "grpclib.client",
        "h2",
        "betterproto",
        "httpx",
        "pycontainerd._api._registry",
        "pycontainerd._containers",
        "pycontainerd._tasks",
        "pycontainerd.events",
        "pycontainerd.oci",
        "pycontainerd.registry",
    }
    assert loaded & heavy == set()


def test_public_names_load_on_first_use() -> None:
    loaded = _modules_after("import pycontainerd; pycontainerd.Container")
    assert "pycontainerd._containers" in loaded
    loaded = _modules_after("import pycontainerd; pycontainerd.events.TaskExit")
    assert "pycontainerd.events" in loaded
