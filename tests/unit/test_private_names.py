"""The hand-written source uses no private name of grpclib, h2, betterproto, httpx or others.

A private name of a dependency can change meaning in any release without an
error. The check is a heuristic over the syntax tree: an attribute ``x._name``
(or ``from package import _name``) counts as foreign when the project itself
never defines ``_name``. A fix that truly needs one adds it to `ALLOWED`
(at most 8, all in ``_compat.py``, each checked there at import time).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[2] / "src" / "pycontainerd"
# private name -> the dependency it belongs to
ALLOWED: dict[str, str] = {"_body_repr": "hyperframe", "_raw_data_repr": "hyperframe"}
LIMIT = 8


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _trees() -> dict[Path, ast.Module]:
    return {
        path: ast.parse(path.read_text(), str(path))
        for path in sorted(SRC.rglob("*.py"))
        if "_api" not in path.relative_to(SRC).parts
    }


class _Definitions(ast.NodeVisitor):
    """Every name the project binds: functions, classes, parameters, stores, keywords."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self.names.add(node.name)
        if isinstance(node, ast.arg):
            self.names.add(node.arg)
        if isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Store):
            self.names.add(node.id if isinstance(node, ast.Name) else node.attr)
        if isinstance(node, ast.keyword) and node.arg:
            self.names.add(node.arg)
        if isinstance(node, ast.alias):
            self.names.add(node.asname or node.name)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            self.names.add(node.value)  # __slots__ entries, attrs aliases
        super().generic_visit(node)


def _foreign(trees: dict[Path, ast.Module]) -> dict[str, list[str]]:
    definitions = _Definitions()
    for tree in trees.values():
        definitions.visit(tree)
    found: dict[str, list[str]] = {}
    for path, tree in trees.items():
        where = str(path.relative_to(SRC))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                for alias in node.names:
                    if _private(alias.name):
                        found.setdefault(alias.name, []).append(f"{where}:{node.lineno}")
            elif isinstance(node, ast.Attribute) and _private(node.attr):
                if node.attr not in definitions.names:
                    found.setdefault(node.attr, []).append(f"{where}:{node.lineno}")
    return found


def test_no_private_names_of_dependencies() -> None:
    found = _foreign(_trees())
    assert len(ALLOWED) <= LIMIT
    assert {name: places for name, places in found.items() if name not in ALLOWED} == {}
    outside = {
        name: places
        for name, places in found.items()
        if name in ALLOWED and any(not p.startswith("_compat.py:") for p in places)
    }
    assert outside == {}


def test_no_class_swaps() -> None:
    swaps = [
        f"{path.relative_to(SRC)}:{node.lineno}"
        for path, tree in _trees().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "__class__"
        and isinstance(node.ctx, ast.Store)
    ]
    assert swaps == []


def test_the_check_sees_a_foreign_private_name() -> None:
    tree = ast.parse(
        "import grpclib\nstream._maybe_raise()\nfrom h2.connection import _decode_headers\n"
    )
    assert set(_foreign({SRC / "probe.py": tree})) == {"_maybe_raise", "_decode_headers"}
