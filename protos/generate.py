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


def _registry(descriptor_set: Path) -> str:
    from betterproto.compile.naming import pythonize_class_name
    from google.protobuf import descriptor_pb2

    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString(descriptor_set.read_bytes())
    entries: list[tuple[str, str, str]] = []

    def walk(module: str, prefix: str, py_prefix: str, messages: object) -> None:
        for msg in messages:  # type: ignore[attr-defined]
            if msg.options.map_entry:
                continue
            full = f"{prefix}.{msg.name}"
            py = py_prefix + pythonize_class_name(msg.name)
            entries.append((full, module, py))
            walk(module, full, py, msg.nested_type)

    for f in fds.file:
        if f.package.startswith(("google.protobuf", "gogoproto")) or f.name.endswith(
            "fieldpath.proto"
        ):
            continue
        module = "." + f.package
        walk(module, f.package, "", f.message_type)
    entries.sort()
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
        registry = _registry(ds)
    (out / "__init__.py").write_text(
        "# Generated by protos/generate.py. DO NOT EDIT.\n"
        '"""betterproto stubs generated from containerd\'s API protos (see protos/)."""\n'
    )
    (out / "_registry.py").write_text(registry)


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
