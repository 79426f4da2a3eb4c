"""Every ```python example in the docs and docstrings type-checks with ``mypy --strict``.

Examples are collected from ``README.md``, ``docs/pages/*.md`` and the
docstrings of ``src/pycontainerd`` (generated ``_api/`` excluded). Each one is
written to a module of its own in a temporary directory, and ONE mypy process
checks them all (``--strict``, a cache dir private to the test session). An
error is reported at the doc's own ``file:line``.

How a block becomes a module (the prelude is small and fixed on purpose):

- A block that uses no name from `STAND_INS` and has no top-level ``await``
  is a program: it is checked as written.
- Otherwise it becomes the body of ``async def _example(<names>) -> None:``
  (plain ``def`` when it has no top-level ``await``, ``async for`` or
  ``async with``), whose parameters are the `STAND_INS` the block uses but
  does not bind itself, each with its declared type: ``client`` is a
  ``pycontainerd.Client``, ``image`` a ``pycontainerd.Image``, and so on.
- A block with no ``import`` statement is a fragment and may leave out the
  imports of `IMPLICIT_IMPORTS` (``stdio``, ``oci``, ``errors``, ``anyio``...);
  in a docstring it also sees the public globals of the module it documents,
  as doctest would. A block that imports anything must import all it uses.
- A ``>>>`` session is checked line for line (its output lines left out),
  and run with doctest by `test_sessions_run`.
- A name that is neither bound by the block, a builtin, a stand-in nor an
  allowed import fails the test: declare it in the example or add a stand-in.
  A block that binds a stand-in's name is taken to define it (scopes are
  flattened): ``container = await container.update(...)`` alone is reported
  as used before definition; get the container first.

Speed: the package under test is analysed once for all the examples; a whole
run (about 270 examples, a cold mypy cache) takes a few seconds.

Nothing is silenced: the harness adds no ``# type: ignore`` and no
per-module relaxation; mypy runs with ``--strict`` and the project's own
settings for third-party packages only.
"""

from __future__ import annotations

import ast
import builtins
import doctest
import importlib
import inspect
import itertools
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

import pycontainerd

ROOT = Path(__file__).resolve().parents[2]
SRC = Path(pycontainerd.__file__).resolve().parent  # the package under test (PYTHONPATH wins)

#: Names an example may use without defining them, and their types (the prelude's parameters).
STAND_INS: dict[str, str] = {
    "client": "pycontainerd.Client",
    "image": "pycontainerd.Image",
    "container": "pycontainerd.Container",
    "task": "pycontainerd.Task",
    "proc": "pycontainerd.Process",
    "lease": "pycontainerd.Lease",
    "sandbox": "pycontainerd.Sandbox",
    "config": "pycontainerd.ImageConfig",
    "spec": "pycontainerd.oci.Spec",
    "desc": "pycontainerd.Descriptor",
    "layer": "pycontainerd.Descriptor",  # a layer blob's descriptor
    "lower": "list[pycontainerd.Mount]",
    "upper": "list[pycontainerd.Mount]",
    "ref": "pycontainerd.registry.Reference",
    "stream": "pycontainerd.events.EventStream[pycontainerd.events.Envelope]",
    "envelope": "pycontainerd.events.Envelope",
    "digest": "str",  # "sha256:..."
    "chain_id": "str",  # a snapshot key: an image's layers' chain ID
    "token": "str",
    "size": "int",
    "data": "bytes",
    "handle": "Callable[[pycontainerd.events.Envelope], Awaitable[None]]",
    "reconcile": "Callable[[], Awaitable[None]]",
    "source_from": "Callable[[int], AsyncIterator[bytes]]",  # the data from an offset on
}

#: Imports a fragment (a block without imports) may leave out.
IMPLICIT_IMPORTS: dict[str, str] = {
    "anyio": "import anyio",
    "attrs": "import attrs",
    "json": "import json",
    "os": "import os",
    "signal": "import signal",
    "Path": "from pathlib import Path",
    "pycontainerd": "import pycontainerd",
    "errors": "from pycontainerd import errors",
    "events": "from pycontainerd import events",
    "filters": "from pycontainerd.events import filters",
    "oci": "from pycontainerd import oci",
    "registry": "from pycontainerd import registry",
    "runtime": "from pycontainerd import runtime",
    "stdio": "from pycontainerd import stdio",
}

#: What the stand-ins' types need, under private names: the prelude must not
#: define a name the example itself would have to import.
PRELUDE = [
    "import pycontainerd as _pcd",
    "from collections.abc import AsyncIterator as _AsyncIterator",
    "from collections.abc import Awaitable as _Awaitable",
    "from collections.abc import Callable as _Callable",
]


def _prelude_type(annotation: str) -> str:
    annotation = re.sub(r"\bpycontainerd\.", "_pcd.", annotation)
    return re.sub(r"\b(AsyncIterator|Awaitable|Callable)\b", r"_\1", annotation)


FENCE = re.compile(r"^(?P<indent>[ \t]*)```python[ \t]*$")

MYPY_CONFIG = """\
[mypy]
strict = True
python_version = 3.11
show_error_codes = True
# The package under test is analysed (its types are what the examples check
# against) but its own errors are the project's mypy run's business.
[mypy-pycontainerd.*]
follow_imports = silent
[mypy-pycontainerd._api.*]
ignore_errors = True
[mypy-grpclib.*,betterproto.*]
ignore_missing_imports = True
"""


@attrs.frozen
class Example:
    """One ```python block: where it is and its code (dedented)."""

    path: str  # relative to the repository root
    line: int  # the line of the block's first code line
    code: str
    module: str | None = None  # the documented module, for a docstring's example
    doctest: bool = False  # a ``>>>`` session: its source lines are checked, and it is run

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def _source_of_session(code: str) -> str:
    """The statements of a ``>>>`` session, line for line (output lines left blank)."""
    out = []
    for line in code.splitlines():
        if line.startswith((">>> ", "... ")) or line in (">>>", "..."):
            out.append(line[4:])
        else:
            out.append("")
    return "\n".join(out) + "\n"


def _blocks(text: str, path: str, first_line: int, module: str | None = None) -> Iterator[Example]:
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        indent = m.group("indent")
        start = i + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"{path}:{first_line + i}: unclosed ```python block")
        body = [
            line[len(indent) :] if line.startswith(indent) else line for line in lines[start:end]
        ]
        code = textwrap.dedent("\n".join(body)) + "\n"
        session = code.lstrip().startswith(">>>")
        yield Example(path, first_line + start, code, module, session)
        i = end + 1


def _docstrings(tree: ast.Module) -> Iterator[ast.Constant]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
        ):
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                yield first.value
    # Attribute docstrings (a string right after an assignment) carry examples too.
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        for prev, stmt in itertools.pairwise(body):
            if (
                isinstance(prev, ast.Assign | ast.AnnAssign)
                and isinstance(stmt, ast.Expr)
                and isinstance(stmt.value, ast.Constant)
                and isinstance(stmt.value.value, str)
            ):
                yield stmt.value


def collect() -> list[Example]:
    """Every ```python block of the docs and docstrings, in a stable order."""
    found: list[Example] = []
    pages = [ROOT / "README.md", *sorted((ROOT / "docs" / "pages").glob("*.md"))]
    for page in pages:
        found += _blocks(page.read_text(), str(page.relative_to(ROOT)), 1)
    for module in sorted(SRC.rglob("*.py")):
        rel = module.relative_to(SRC)
        if rel.parts[0] == "_api":
            continue
        shown = f"src/pycontainerd/{rel}"
        dotted = ".".join(("pycontainerd", *rel.with_suffix("").parts))
        dotted = dotted.removesuffix(".__init__")
        tree = ast.parse(module.read_text())
        for const in sorted(_docstrings(tree), key=lambda c: c.lineno):
            assert isinstance(const.value, str)
            # The literal's first line holds the opening quotes and the text's first line.
            found += _blocks(const.value, shown, const.lineno, dotted)
    return found


def _bound_and_used(tree: ast.AST) -> tuple[set[str], set[str]]:
    """Names the code binds anywhere (scopes flattened) and the names it reads."""
    bound: set[str] = set()
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            bound.add(node.name)
    return bound, used


def _has_top_level_await(code: str) -> bool:
    compiled = compile(code, "<example>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    return bool(compiled.co_flags & inspect.CO_COROUTINE)


@attrs.frozen
class Module:
    """An example turned into a module: its text and, per module line, the doc line."""

    text: str
    lines: dict[int, int]  # module line -> doc line


def _import_from_module(module: str, name: str) -> str | None:
    """The import of `name` as the documented module's globals have it (as doctest sees them)."""
    if name.startswith("_"):
        return None
    namespace = vars(importlib.import_module(module))
    if name not in namespace:
        return None
    value = namespace[name]
    if inspect.ismodule(value):
        return f"import {value.__name__} as {name}"
    home = getattr(value, "__module__", None)
    if isinstance(home, str) and getattr(sys.modules.get(home), name, None) is value:
        return f"from {home} import {name}"  # where it is defined: mypy --strict wants no re-export
    return f"from {module} import {name}"


def wrap(example: Example) -> Module:
    """The module that checks `example` (see the module docstring for the rules)."""
    code = _source_of_session(example.code) if example.doctest else example.code
    try:
        tree = ast.parse(code)
        awaits = _has_top_level_await(code)
    except SyntaxError as exc:
        raise AssertionError(f"{example.where}: not Python: {exc}") from None
    bound, used = _bound_and_used(tree)
    free = used - bound - set(dir(builtins))
    has_imports = any(isinstance(n, ast.Import | ast.ImportFrom) for n in ast.walk(tree))
    stand_ins = [name for name in STAND_INS if name in free]
    imports: list[str] = []
    unknown: list[str] = []
    for name in sorted(free - set(stand_ins)):
        line = None
        if not has_imports:
            line = IMPLICIT_IMPORTS.get(name)
            if line is None and example.module is not None:
                line = _import_from_module(example.module, name)
        if line is None:
            unknown.append(name)
        else:
            imports.append(line)
    if unknown:
        hint = " (the block has imports, so it must import every name it uses)"
        raise AssertionError(
            f"{example.where}: undefined name(s) {', '.join(unknown)}"
            + (hint if has_imports else "")
        )
    head = [f"# Example from {example.where}", *imports]
    if stand_ins or awaits:
        if stand_ins:
            head += PRELUDE
        params = ", ".join(f"{n}: {_prelude_type(STAND_INS[n])}" for n in stand_ins)
        head.append(f"{'async ' if awaits else ''}def _example({params}) -> None:")
        indent = "    "
    else:
        indent = ""
    text_lines = list(head)
    lines: dict[int, int] = {}
    for offset, line in enumerate(code.splitlines()):
        text_lines.append(indent + line if line.strip() else "")
        lines[len(text_lines)] = example.line + offset
    return Module("\n".join(text_lines) + "\n", lines)


ERROR = re.compile(r"^(?P<file>[^:]+\.py):(?P<line>\d+): (?P<kind>error|note): (?P<msg>.*)$")


def _check(examples: list[Example], tmp: Path, cache: Path) -> list[str]:
    """Type-check the examples with one mypy process; the errors, at their doc lines."""
    modules: dict[str, tuple[Example, Module]] = {}
    problems: list[str] = []
    for n, example in enumerate(examples):
        name = f"example_{n:04d}.py"
        try:
            module = wrap(example)
        except AssertionError as exc:
            problems.append(str(exc))
            continue
        (tmp / name).write_text(module.text)
        modules[name] = (example, module)
    (tmp / "mypy.ini").write_text(MYPY_CONFIG)
    env = dict(os.environ, MYPYPATH=str(SRC.parent))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(tmp / "mypy.ini"),
            "--cache-dir",
            str(cache),
            "--no-error-summary",
            "--hide-error-context",
            "--no-color-output",
            *sorted(modules),
        ],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    for raw in proc.stdout.splitlines():
        m = ERROR.match(raw)
        if m is None or m.group("file") not in modules:
            problems.append(raw)
            continue
        example, module = modules[m.group("file")]
        line = module.lines.get(int(m.group("line")))
        where = f"{example.path}:{line}" if line is not None else f"{example.where} (prelude)"
        problems.append(f"{where}: {m.group('kind')}: {m.group('msg')}")
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not problems):
        problems.append(f"mypy exited {proc.returncode}: {proc.stderr.strip()}")
    return problems


EXAMPLES = collect()

#: Checked with the examples: the stdio choice decides, in the types, whether `pipes` exists.
PIPES_TYPES = """\
from typing import assert_type

from anyio.abc import ByteSendStream

import pycontainerd
from pycontainerd import stdio


async def _pipes(
    client: pycontainerd.Client, container: pycontainerd.Container, task: pycontainerd.Task
) -> None:
    assert_type(stdio.pipes(), stdio.Stdio[stdio.Pipes])
    assert_type(stdio.capture(), stdio.Stdio[None])
    async with await container.new_task(stdio=stdio.pipes()) as piped:
        assert_type(piped, pycontainerd.Task[stdio.Pipes])
        assert_type(piped.pipes, stdio.Pipes)
        async with await piped.exec(["cat"], stdio=stdio.pipes()) as proc:
            assert_type(proc.pipes, stdio.Pipes)
        assert_type(await piped.exec(["true"]), pycontainerd.Process[None])
        assert_type(await piped.exec(["true"], stdio=stdio.null()), pycontainerd.Process[None])
        assert_type(await piped.load_process("x", stdio=stdio.pipes()), pycontainerd.Process[stdio.Pipes])
        assert_type(await piped.load_process("x"), pycontainerd.Process[None])
    assert_type((await container.new_task()).pipes, None)
    assert_type((await container.new_task(stdio=stdio.inherit())).pipes, None)
    assert_type((await container.task(stdio=stdio.pipes())).pipes, stdio.Pipes)
    assert_type((await container.task()).pipes, None)
    assert_type(await client.tasks.get("web", stdio=stdio.pipes()), pycontainerd.Task[stdio.Pipes])
    # A bare Task (or Stdio) is still a valid annotation: it means either.
    assert_type(task.pipes, stdio.Pipes | None)
    assert_type(task.stdin, ByteSendStream | None)
    either: pycontainerd.Task = piped  # covariant: a Task[Pipes] is a Task
    assert_type(either.pipes, stdio.Pipes | None)
    choice: stdio.Stdio = stdio.pipes()
    assert_type(choice, stdio.Stdio[stdio.Pipes | None])
"""


def test_examples_were_found() -> None:
    # A broken collector must not pass by checking nothing.
    paths = {e.path for e in EXAMPLES}
    assert len(EXAMPLES) > 100
    assert "README.md" in paths
    assert "src/pycontainerd/stdio/__init__.py" in paths


def test_examples_type_check(tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("examples")
    cache = tmp_path_factory.mktemp("mypy-cache")
    here = Path(__file__).read_text().splitlines().index('PIPES_TYPES = """\\') + 2
    pipes_types = Example(str(Path(__file__).resolve().relative_to(ROOT)), here, PIPES_TYPES)
    problems = _check([*EXAMPLES, pipes_types], tmp, cache)
    if problems:
        pytest.fail(f"{len(problems)} problem(s) in the examples:\n" + "\n".join(problems), False)


def _session_globals(example: Example) -> dict[str, object]:
    if example.module is not None:
        return dict(vars(importlib.import_module(example.module)))  # as doctest.testmod
    namespace: dict[str, object] = {}
    for line in IMPLICIT_IMPORTS.values():
        exec(line, namespace)
    return namespace


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.doctest], ids=lambda e: e.where)
def test_sessions_run(example: Example) -> None:
    # A `>>>` session shows output: it must be the output.
    parser = doctest.DocTestParser()
    test = parser.get_doctest(
        example.code, _session_globals(example), example.where, example.path, example.line - 1
    )
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    out: list[str] = []
    result = runner.run(test, out=out.append)
    assert not result.failed, "".join(out)
