"""Copy containerd's API protos from Debian's packages and regenerate ``pycontainerd._api``.

Run through ``nox -s protos``. Two steps, each deterministic:

* ``copy``: take the ``.proto`` files from the Debian Go source packages under
  ``/usr/share/gocode/src`` into ``protos/``, keeping their import paths.
* ``generate``: run protoc with betterproto's plugin over ``protos/`` into
  ``src/pycontainerd/_api/`` and write ``_api/_registry.py``, which maps every
  message's full protobuf name (what containerd puts in ``Any.type_url``) to
  its generated class. betterproto 2.0.0b7 has no such registry of its own and
  renames some classes (``TaskIO`` becomes ``TaskIo``), so the map is derived
  from the same descriptors the plugin saw.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
API_OUT = ROOT / "src" / "pycontainerd" / "_api"
GOCODE = Path("/usr/share/gocode/src")

# (Debian package, directory under GOCODE, proto files relative to that directory)
SOURCES: list[tuple[str, str, list[str]]] = [
    (
        "golang-github-containerd-containerd-dev",
        "github.com/containerd/containerd",
        [
            "api/events/container.proto",
            "api/events/content.proto",
            "api/events/image.proto",
            "api/events/namespace.proto",
            "api/events/snapshot.proto",
            "api/events/task.proto",
            "api/services/containers/v1/containers.proto",
            "api/services/content/v1/content.proto",
            "api/services/diff/v1/diff.proto",
            "api/services/events/v1/events.proto",
            "api/services/images/v1/images.proto",
            "api/services/introspection/v1/introspection.proto",
            "api/services/leases/v1/leases.proto",
            "api/services/namespaces/v1/namespace.proto",
            "api/services/snapshots/v1/snapshots.proto",
            "api/services/tasks/v1/tasks.proto",
            "api/services/version/v1/version.proto",
            "api/types/descriptor.proto",
            "api/types/metrics.proto",
            "api/types/mount.proto",
            "api/types/platform.proto",
            "api/types/task/task.proto",
            "protobuf/plugin/fieldpath.proto",
            "runtime/v2/runc/options/oci.proto",
        ],
    ),
    (
        "golang-github-containerd-cgroups-dev",
        "github.com/containerd/cgroups",
        ["stats/v1/metrics.proto", "v2/stats/metrics.proto"],
    ),
    ("golang-github-gogo-protobuf-dev", "github.com/gogo/protobuf", ["gogoproto/gogo.proto"]),
    (
        "golang-github-gogo-googleapis-dev",
        "github.com/gogo/googleapis",
        ["google/rpc/status.proto"],
    ),
]

# gogo.proto and status.proto are imported by their short paths.
SHORT_IMPORTS = {"github.com/gogo/protobuf": "", "github.com/gogo/googleapis": ""}


def packages() -> list[str]:
    return sorted({pkg for pkg, _, _ in SOURCES})


def _dest(base: str, rel: str) -> Path:
    prefix = SHORT_IMPORTS.get(base, base)
    return HERE / prefix / rel if prefix else HERE / rel


def copy() -> None:
    for _, base, files in SOURCES:
        for rel in files:
            src = GOCODE / base / rel
            dst = _dest(base, rel)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    versions = []
    for pkg in packages():
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True, check=True
        )
        versions.append(f"- {pkg} {out.stdout.strip()}")
    (HERE / "PROVENANCE.md").write_text(
        "# Provenance\n\n"
        "The `.proto` files under this folder are copied unchanged by `nox -s protos`\n"
        "(`protos/generate.py`) from these Debian packages (`/usr/share/gocode/src`):\n\n"
        + "\n".join(versions)
        + "\n\ncontainerd's API is the containerd 1.6.20 API. The files keep their own\n"
        "copyright headers; containerd and its cgroups library are licensed under the\n"
        "Apache License 2.0 (`LICENSE`), gogo/protobuf and gogo/googleapis under the\n"
        "licenses named in the Debian copyright files kept in `copyright/`.\n"
    )
    cdir = HERE / "copyright"
    cdir.mkdir(exist_ok=True)
    for pkg in packages():
        shutil.copyfile(Path("/usr/share/doc") / pkg / "copyright", cdir / pkg)
    shutil.copyfile("/usr/share/common-licenses/Apache-2.0", HERE / "LICENSE")


def proto_files() -> list[str]:
    return sorted(str(p.relative_to(HERE)) for p in HERE.rglob("*.proto"))


def _well_known_include() -> str:
    import grpc_tools

    return str(Path(grpc_tools.__file__).parent / "_proto")


def _descriptors(descriptor_set: Path) -> Any:
    from google.protobuf import descriptor_pb2

    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString(descriptor_set.read_bytes())
    return fds


def _skipped(f: Any) -> bool:
    return f.package.startswith(("google.protobuf", "gogoproto")) or f.name.endswith(
        "fieldpath.proto"
    )


def _classes(fds: Any) -> list[tuple[str, str, str]]:
    """(full protobuf name, generated module under _api, Python class name) of every message."""
    from betterproto.compile.naming import pythonize_class_name

    entries: list[tuple[str, str, str]] = []

    def walk(module: str, prefix: str, py_prefix: str, messages: Any) -> None:
        for msg in messages:
            if msg.options.map_entry:
                continue
            full = f"{prefix}.{msg.name}"
            py = py_prefix + pythonize_class_name(msg.name)
            entries.append((full, module, py))
            walk(module, full, py, msg.nested_type)

    for f in fds.file:
        if not _skipped(f):
            walk("." + f.package, f.package, "", f.message_type)
    return sorted(entries)


def _registry(fds: Any) -> str:
    entries = _classes(fds)
    modules = sorted({m for _, m, _ in entries})
    alias = {m: "_" + m.strip(".").replace(".", "_") for m in modules}
    lines = [
        "# Generated by protos/generate.py. DO NOT EDIT.",
        '"""Full protobuf message names (as in ``Any.type_url``) to generated classes."""',
        "",
        "import betterproto",
        "",
    ]
    lines += [f"import pycontainerd._api{m} as {alias[m]}" for m in modules]
    lines += ["", "MESSAGES: dict[str, type[betterproto.Message]] = {"]
    for full, m, py in entries:
        lines.append(f'    "{full}": {alias[m]}.{py},')
    lines.append("}")
    return "\n".join(lines) + "\n"


_RPC_HEADER = '''\
# Generated by protos/generate.py. DO NOT EDIT.
"""Every RPC of containerd's API: its path, request and reply types, and cardinality.

One class per service, one attribute per method. The message classes are
imported when an entry is first used, so importing this table is cheap; the
annotations give the type checker each RPC's request and reply types.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

if TYPE_CHECKING:
    import betterproto
{imports}

Req = TypeVar("Req", bound="betterproto.Message")
Rep = TypeVar("Rep", bound="betterproto.Message")


class Rpc(Generic[Req, Rep]):
    """One RPC: `path` is what goes in ``:path``; the types resolve on first use.

    `empty_reply` says the reply is ``google.protobuf.Empty``: nothing to decode.
    """

    __slots__ = ("_reply", "_reply_name", "_request", "_request_name", "empty_reply", "path")
    client_streaming: bool = False
    server_streaming: bool = False

    def __init__(self, path: str, request: str, reply: str) -> None:
        self.path: Final = path
        self._request_name = request
        self._reply_name = reply
        self._request: type[Req] | None = None
        self._reply: type[Rep] | None = None
        self.empty_reply: Final = reply == _EMPTY

    def __repr__(self) -> str:
        return f"<{{type(self).__name__}} {{self.path}}>"

    @property
    def request_type(self) -> type[Req]:
        if self._request is None:
            self._request = _resolve(self._request_name)
        return self._request

    @property
    def reply_type(self) -> type[Rep]:
        if self._reply is None:
            self._reply = _resolve(self._reply_name)
        return self._reply


class Unary(Rpc[Req, Rep]):
    """One request, one reply."""


class ServerStream(Rpc[Req, Rep]):
    """One request, a stream of replies."""

    server_streaming = True


class ClientStream(Rpc[Req, Rep]):
    """A stream of requests, one reply."""

    client_streaming = True


class BidiStream(Rpc[Req, Rep]):
    """Streams both ways."""

    client_streaming = True
    server_streaming = True


_EMPTY: Final = "betterproto.lib.google.protobuf:Empty"


def _resolve(name: str) -> Any:
    module, _, cls = name.rpartition(":")
    return getattr(importlib.import_module(module), cls)
'''

_KINDS = {
    (False, False): "Unary",
    (False, True): "ServerStream",
    (True, False): "ClientStream",
    (True, True): "BidiStream",
}


def _rpc_table(fds: Any) -> str:
    """``_api/_rpc.py``: a typed entry for every RPC of every service."""
    where = {f".{full}": (f"pycontainerd._api{m}", py) for full, m, py in _classes(fds)}
    where[".google.protobuf.Empty"] = ("betterproto.lib.google.protobuf", "Empty")
    services = [
        (f, s) for f in sorted(fds.file, key=lambda f: f.name) if not _skipped(f) for s in f.service
    ]
    used = {where[t] for _, s in services for m in s.method for t in (m.input_type, m.output_type)}
    # A class name that two modules define is imported under a name that says where from.
    clash = {cls for _, cls in used if sum(c == cls for _, c in used) > 1}
    local = {
        (module, cls): f"{module.rsplit('.', 2)[-2]}_{cls}" if cls in clash else cls
        for module, cls in used
    }
    imports = sorted(
        f"    from {module} import {cls}" + (f" as {name}" if name != cls else "")
        for (module, cls), name in local.items()
    )
    body: list[str] = []
    for f, service in services:
        body += ["", "", f"class {service.name}:", f'    """``{f.package}.{service.name}``."""', ""]
        for method in service.method:
            kind = _KINDS[(method.client_streaming, method.server_streaming)]
            req, rep = where[method.input_type], where[method.output_type]
            path = f"/{f.package}.{service.name}/{method.name}"
            body.append(
                f"    {method.name}: Final[{kind}[{local[req]}, {local[rep]}]] = {kind}(\n"
                f'        "{path}", "{req[0]}:{req[1]}", "{rep[0]}:{rep[1]}"\n'
                "    )"
            )
    return _RPC_HEADER.format(imports="\n".join(imports)) + "\n".join(body) + "\n"


def generate(out: Path = API_OUT) -> None:
    """Regenerate the stubs and the type registry into `out` (replacing it)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    include = _well_known_include()
    with tempfile.TemporaryDirectory() as tmp:
        ds = Path(tmp) / "set.pb"
        cmd = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{HERE}",
            f"-I{include}",
            "--plugin=protoc-gen-python_betterproto="
            + str(Path(sys.executable).parent / "protoc-gen-python_betterproto"),
            f"--python_betterproto_out={out}",
            f"--descriptor_set_out={ds}",
            "--include_imports",
            *proto_files(),
        ]
        subprocess.run(cmd, check=True, cwd=HERE, capture_output=True)
        fds = _descriptors(ds)
    (out / "__init__.py").write_text(
        "# Generated by protos/generate.py. DO NOT EDIT.\n"
        '"""betterproto stubs generated from containerd\'s API protos (see protos/)."""\n'
    )
    (out / "_registry.py").write_text(_registry(fds))
    (out / "_rpc.py").write_text(_rpc_table(fds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["copy", "generate", "all"])
    step = parser.parse_args().step
    if step in ("copy", "all"):
        copy()
    if step in ("generate", "all"):
        generate()


if __name__ == "__main__":
    main()
