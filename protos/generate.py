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
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
API_OUT = ROOT / "src" / "pycontainerd" / "_api"
GOCODE = Path("usr/share/gocode/src")

# (Debian package, suite, directory under GOCODE, proto files relative to it).
# Suite None: the host's installed package (Debian 12). containerd's API module
# comes from sid (2.1): its v1 services stay wire-compatible with 1.6 and 1.7
# daemons, and it adds transfer, streaming and sandboxes. The cgroups metrics
# protos (which import gogo.proto) are those of the host.
SOURCES: list[tuple[str, str | None, str, list[str]]] = [
    (
        "golang-github-containerd-containerd-api-dev",
        "sid",
        "github.com/containerd/containerd/api",
        [
            "events/container.proto",
            "events/content.proto",
            "events/image.proto",
            "events/namespace.proto",
            "events/sandbox.proto",
            "events/snapshot.proto",
            "events/task.proto",
            "services/containers/v1/containers.proto",
            "services/content/v1/content.proto",
            "services/diff/v1/diff.proto",
            "services/events/v1/events.proto",
            "services/images/v1/images.proto",
            "services/introspection/v1/introspection.proto",
            "services/leases/v1/leases.proto",
            "services/namespaces/v1/namespace.proto",
            "services/sandbox/v1/sandbox.proto",
            "services/snapshots/v1/snapshots.proto",
            "services/streaming/v1/streaming.proto",
            "services/tasks/v1/tasks.proto",
            "services/transfer/v1/transfer.proto",
            "services/version/v1/version.proto",
            "types/descriptor.proto",
            "types/event.proto",
            "types/fieldpath.proto",
            "types/introspection.proto",
            "types/metrics.proto",
            "types/mount.proto",
            "types/platform.proto",
            "types/runc/options/oci.proto",
            "types/sandbox.proto",
            "types/task/task.proto",
            "types/transfer/imagestore.proto",
            "types/transfer/importexport.proto",
            "types/transfer/progress.proto",
            "types/transfer/registry.proto",
            "types/transfer/streaming.proto",
        ],
    ),
    # The task options of containerd 1.x's `io.containerd.runtime.v1.linux`
    # (CreateOptions), which the 2.1 API module no longer carries.
    (
        "golang-github-containerd-containerd-dev",
        None,
        "github.com/containerd/containerd",
        ["runtime/linux/runctypes/runc.proto"],
    ),
    (
        "golang-github-containerd-cgroups-dev",
        None,
        "github.com/containerd/cgroups",
        ["stats/v1/metrics.proto", "v2/stats/metrics.proto"],
    ),
    ("golang-github-gogo-protobuf-dev", None, "github.com/gogo/protobuf", ["gogoproto/gogo.proto"]),
    (
        "golang-github-gogo-googleapis-dev",
        None,
        "github.com/gogo/googleapis",
        ["google/rpc/status.proto"],
    ),
    # gRPC's health service (`Client.is_serving`), which containerd serves beside
    # its own; Debian ships the proto grpc-go's stubs were generated from.
    (
        "golang-google-grpc-dev",
        None,
        "google.golang.org/grpc/debian/missing-sources/grpc/grpc-proto/master",
        ["grpc/health/v1/health.proto"],
    ),
]

# gogo.proto and status.proto are imported by their short paths; health.proto
# keeps the path of gRPC's own proto repository.
SHORT_IMPORTS = {
    "github.com/gogo/protobuf": "",
    "github.com/gogo/googleapis": "",
    "google.golang.org/grpc/debian/missing-sources/grpc/grpc-proto/master": "",
}


def _dest(base: str, rel: str) -> Path:
    prefix = SHORT_IMPORTS.get(base, base)
    return HERE / prefix / rel if prefix else HERE / rel


def _package_root(package: str, suite: str | None) -> tuple[Path, str]:
    """Where `package` is unpacked, and its version."""
    if suite is None:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package],
            capture_output=True,
            text=True,
            check=True,
        )
        return Path("/"), out.stdout.strip()
    from pycontainerd.testing._debian import debian_package

    root = debian_package(package, suite)
    return root, (root / "DEBIAN-VERSION").read_text().strip()


class Package(NamedTuple):
    """One source package, unpacked: where, which version, and its proto files."""

    name: str
    suite: str | None
    root: Path
    version: str
    files: list[tuple[Path, Path]]  # (source, destination under protos/)


def sources() -> list[Package]:
    out = []
    for name, suite, base, files in SOURCES:
        root, version = _package_root(name, suite)
        pairs = [(root / GOCODE / base / rel, _dest(base, rel)) for rel in files]
        out.append(Package(name, suite, root, version, pairs))
    return out


def copy() -> None:
    for old in HERE.iterdir():
        if old.is_dir() and old.name != "__pycache__":
            shutil.rmtree(old)  # files a new release dropped must not linger
    versions = []
    cdir = HERE / "copyright"
    cdir.mkdir()
    for package in sources():
        for src, dst in package.files:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        versions.append(f"- {package.name} {package.version} ({package.suite or 'bookworm'})")
        doc = package.root / "usr/share/doc" / package.name / "copyright"
        shutil.copyfile(doc, cdir / package.name)
    (HERE / "PROVENANCE.md").write_text(
        "# Provenance\n\n"
        "The `.proto` files under this folder are copied unchanged by `nox -s protos`\n"
        "(`protos/generate.py`) from these Debian packages (`/usr/share/gocode/src`),\n"
        "those of other suites fetched by `pycontainerd.testing`'s `debian_package`:\n\n"
        + "\n".join(versions)
        + "\n\ncontainerd's API is the API module of containerd 2.1; its v1 services are\n"
        "the ones containerd 1.6 and 1.7 serve too. The files keep their own copyright\n"
        "headers; containerd, its cgroups library and gRPC (its health service) are\n"
        "licensed under the Apache License 2.0 (`LICENSE`), gogo/protobuf and\n"
        "gogo/googleapis under the licenses named in the Debian copyright files kept\n"
        "in `copyright/`.\n"
    )
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
    where[".google.protobuf.Any"] = ("betterproto.lib.google.protobuf", "Any")  # streaming
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


# --- wire schemas and event classes (for pycontainerd._wire and pycontainerd.events) ---

# protobuf field type -> (wire type, name); the names are protobuf's own.
_FIELD_TYPES: dict[int, tuple[int, str]] = {
    1: (1, "double"),
    2: (5, "float"),
    3: (0, "int64"),
    4: (0, "uint64"),
    5: (0, "int32"),
    6: (1, "fixed64"),
    7: (5, "fixed32"),
    8: (0, "bool"),
    9: (2, "string"),
    11: (2, "message"),
    12: (2, "bytes"),
    13: (0, "uint32"),
    14: (0, "enum"),
    15: (5, "sfixed32"),
    16: (1, "sfixed64"),
    17: (0, "sint32"),
    18: (0, "sint64"),
}
_EVENTS_DIR = "github.com/containerd/containerd/api/events/"
# Where containerd publishes the events of each api/events/*.proto file (the
# topic is this root, then the message name after its subject, kebab-cased).
_TOPIC_ROOTS = {
    "container": "/containers",
    "content": "/content",
    "image": "/images",
    "namespace": "/namespaces",
    "snapshot": "/snapshot",
    "sandbox": "/sandboxes",
    "task": "/tasks",
}


def _schema_files(fds: Any) -> list[Any]:
    """The files whose messages get a wire schema: containerd's, and the files they use."""
    owner = {}
    for f in fds.file:
        for name, _ in _walk_messages(f.package, f.message_type):
            owner[name] = f.name
    chosen = {f.name for f in fds.file if f.package.startswith("containerd.")}
    while True:
        used = {
            owner[fld.type_name.lstrip(".")]
            for f in fds.file
            if f.name in chosen
            for _, msg in _walk_messages(f.package, f.message_type)
            for fld in msg.field
            if fld.type_name.lstrip(".") in owner
        }
        if used <= chosen:
            return [f for f in fds.file if f.name in chosen]
        chosen |= used


def _walk_messages(prefix: str, messages: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for msg in messages:
        full = f"{prefix}.{msg.name}"
        out.append((full, msg))
        out += _walk_messages(full, msg.nested_type)
    return out


def _schema_field(field: Any, entries: dict[str, Any]) -> str:
    wire, kind = _FIELD_TYPES[field.type]
    type_name = field.type_name.lstrip(".")
    repeated = field.label == 3
    if type_name in entries:
        kind, repeated = "map", False
    return f"({field.name!r}, {field.number}, {wire}, {kind!r}, {repeated}, {type_name!r})"


def _schemas(fds: Any) -> str:
    messages: list[tuple[str, Any]] = []
    for f in _schema_files(fds):
        messages += _walk_messages(f.package, f.message_type)
    messages.sort(key=lambda item: item[0])
    entries = {name: msg for name, msg in messages if msg.options.map_entry}
    lines = [
        "# Generated by protos/generate.py. DO NOT EDIT.",
        '"""Wire schemas of containerd\'s messages, for ``pycontainerd._wire``.',
        "",
        "Each message's full protobuf name maps to its fields in declaration order:",
        "(name, number, wire type, protobuf type, repeated, message or enum type).",
        "A map field has the type ``map`` and names its entry message.",
        '"""',
        "",
        "Field = tuple[str, int, int, str, bool, str]",
        "",
        "MESSAGES: dict[str, tuple[Field, ...]] = {",
    ]
    for name, msg in messages:
        lines.append(f"    {name!r}: (")
        lines += [f"        {_schema_field(fld, entries)}," for fld in msg.field]
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _kebab(name: str) -> str:
    """``ExecAdded`` -> ``exec-added``, ``OOM`` -> ``oom``."""
    words: list[str] = []
    for i, ch in enumerate(name):
        if (
            ch.isupper()
            and i
            and not (name[i - 1].isupper() and (i + 1 == len(name) or name[i + 1].isupper()))
        ):
            words.append("-")
        words.append(ch.lower())
    return "".join(words)


def _event_messages(fds: Any) -> list[tuple[str, str, str | None, Any]]:
    """(full name, class name, topic, descriptor) of every message of containerd's event protos.

    Top-level messages are events, published on their topic, unless another
    event holds them (``TaskIO``); nested ones (``ContainerCreate.Runtime``)
    are values named after their file's subject (``ContainerRuntime``).
    """
    found: list[tuple[str, str, str | None, Any]] = []
    for f in fds.file:
        if not f.name.startswith(_EVENTS_DIR):
            continue
        stem = f.name.removeprefix(_EVENTS_DIR).removesuffix(".proto")
        held = {fld.type_name.lstrip(".") for m in f.message_type for fld in m.field}
        for msg in f.message_type:
            full = f"{f.package}.{msg.name}"
            subject = stem.capitalize()
            topic = None
            if full not in held and msg.name.startswith(subject):
                topic = f"{_TOPIC_ROOTS[stem]}/{_kebab(msg.name.removeprefix(subject))}"
            found.append((full, msg.name, topic, msg))
            found += [
                (f"{full}.{nested.name}", subject + nested.name, None, nested)
                for nested in msg.nested_type
                if not nested.options.map_entry
            ]
    return sorted(found, key=lambda item: item[1])


# Python types of the message fields of events, by the message's full name.
_EVENT_VALUE_TYPES = {
    "google.protobuf.Timestamp": "datetime",
    "google.protobuf.Any": "Unknown",
    "containerd.types.Mount": "Mount",
}
_SCALAR_PY = {"string": ("str", '""'), "bool": ("bool", "False"), "bytes": ("bytes", 'b""')}


def _event_field(field: Any, classes: dict[str, str], required: bool) -> str:
    _, kind = _FIELD_TYPES[field.type]
    type_name = field.type_name.lstrip(".")
    name = field.name
    if type_name.endswith("Entry"):  # map<string, string> (the only maps of events)
        return f"{name}: Mapping[str, str] = attrs.field(factory=dict, converter=_labels)"
    if field.label == 3:  # repeated messages
        py = _EVENT_VALUE_TYPES.get(type_name) or classes[type_name]
        return f"{name}: Sequence[{py}] = attrs.field(default=(), converter=tuple)"
    if kind == "message":
        py = _EVENT_VALUE_TYPES.get(type_name) or classes[type_name]
        return f"{name}: {py} | None = None"
    py, default = _SCALAR_PY.get(kind, ("int", "0"))
    return f"{name}: {py}" if required else f"{name}: {py} = {default}"


def _events(fds: Any) -> str:
    """The module of event classes, one attrs class per message of containerd's event protos."""
    found = _event_messages(fds)
    classes = {full: py for full, py, _, _ in found}
    lines = [
        "# Generated by protos/generate.py. DO NOT EDIT.",
        '"""The typed events: one attrs class per message of containerd\'s event protos.',
        "",
        "Re-exported by ``pycontainerd.events``; the wire codec (``pycontainerd._wire``)",
        "decodes and encodes them by their ``TYPE_URL`` and the schemas in ``_schemas``.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from collections.abc import Mapping, Sequence",
        "from datetime import datetime",
        "from typing import ClassVar",
        "",
        "import attrs",
        "",
        "from pycontainerd._descriptors import Mount",
        "from pycontainerd.events._values import Unknown, _Event, _labels",
        "",
        "__all__ = [",
        *(f"    {py!r}," for py in sorted(classes.values())),
        "]",
    ]
    for full, py, topic, msg in found:
        where = f"published on ``{topic}``" if topic else "a value inside other events"
        lines += [
            "",
            "",
            "@attrs.frozen(kw_only=True)",
            f"class {py}(_Event):",
            f'    """containerd\'s ``{full}`` ({where})."""',
            "",
            f"    TYPE_URL: ClassVar[str] = {full!r}",
            f"    TOPIC: ClassVar[str | None] = {topic!r}",
            "",
        ]
        for i, fld in enumerate(msg.field):
            lines.append("    " + _event_field(fld, classes, required=i == 0 and topic is not None))
    lines += [
        "",
        "",
        "EVENTS: tuple[type[_Event], ...] = (",
        *(f"    {py}," for _, py, _, _ in found),
        ")",
        '"""Every class above, in name order."""',
        "",
        "Event = (",
        "    " + "\n    | ".join(py for _, py, _, _ in found),
        "    | Unknown",
        ")",
        '"""Any event value an ``Envelope`` can carry."""',
    ]
    return "\n".join(lines) + "\n"


def _write_codec_modules(fds: Any, out: Path) -> None:
    """Write ``_schemas.py`` (the wire codec's field tables) and ``_events.py`` into `out`."""
    (out / "_schemas.py").write_text(_schemas(fds))
    (out / "_events.py").write_text(_events(fds))


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
    _write_codec_modules(fds, out)


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
