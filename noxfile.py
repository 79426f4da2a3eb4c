"""Development sessions: ``nox`` runs tests, lint, typecheck and docs (what CI runs).

System packages come from Debian. A session that needs one installs it with
apt-get when running as root, and otherwise stops with the command to run.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.error_on_missing_interpreters = True

# pyenv installs interpreters without putting them on PATH; let nox find them.
os.environ["PATH"] = os.pathsep.join(
    [*sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin"))), os.environ["PATH"]]
)

# The daemon and runtime, the static busybox the test image is built from, the
# registry for pull/push tests, htpasswd for its basic auth, openssl for its TLS,
# crun for the runtime options' BinaryName test, and criu for the libraries of
# the newer CRIU the checkpoint tests fetch (`pycontainerd.testing.debian_criu`:
# Debian 12's own fails on newer kernels).
TEST_PACKAGES = [
    "containerd",
    "runc",
    "busybox-static",
    "docker-registry",
    "apache2-utils",
    "openssl",
    "crun",
    "criu",
]
# Sources of the .proto files on the host (see protos/PROVENANCE.md); containerd's
# API module comes from sid, fetched as the tests fetch its daemon.
PROTO_PACKAGES = [
    "golang-github-containerd-containerd-dev",
    "golang-github-containerd-cgroups-dev",
    "golang-github-gogo-protobuf-dev",
    "golang-github-gogo-googleapis-dev",
    "golang-google-grpc-dev",
]
# Pinned: the stubs must regenerate byte for byte (black and isort format them).
# pyproject.toml's `test` extra repeats these pins for tests/unit/test_generated.py.
PROTO_TOOLS = [
    "grpcio-tools==1.85.1",
    "betterproto[compiler]==2.0.0b7",
    "black==26.10.1",
    "isort==5.13.2",
]


def _missing(packages: list[str]) -> list[str]:
    missing = []
    for pkg in packages:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True, check=False
        )
        if "install ok installed" not in out.stdout:
            missing.append(pkg)
    return missing


def ensure_debian(session: nox.Session, packages: list[str]) -> None:
    """Install missing Debian packages as root, or stop with the command to run."""
    if shutil.which("dpkg-query") is None:
        session.error(f"needs a Debian system with: {' '.join(packages)}")
    missing = _missing(packages)
    if not missing:
        return
    command = f"apt-get install -y {' '.join(missing)}"
    if os.geteuid() != 0:
        session.error(f"missing system packages; run: sudo apt-get update && sudo {command}")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-qq", external=True, env=env)
    session.run(
        "apt-get",
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        *missing,
        external=True,
        env=env,
    )


# Each Python runs the whole suite, unit and integration, against one containerd
# release users run: the host's own (1.6 on Debian 12), 1.7 from trixie, 2.x from
# sid. `pycontainerd.testing.debian_containerd` fetches the last two.
MATRIX = [("3.11", "host"), ("3.12", "trixie"), ("3.13", "sid")]


@nox.session
@nox.parametrize(("python", "containerd"), MATRIX, ids=[f"{py}-{c}" for py, c in MATRIX])
def tests(session: nox.Session, containerd: str) -> None:
    """Run the test suite against one containerd release (as root)."""
    ensure_debian(session, TEST_PACKAGES + PROTO_PACKAGES)
    # the test extra carries the PROTO_TOOLS pins too; cli: pyctr's rich output is tested
    session.install("-e", ".[test,cli]")
    if containerd != "host":
        session.env["PYCONTAINERD_TEST_CONTAINERD"] = f"debian:{containerd}"
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff==0.17.*")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/ (generated _api/ excluded)."""
    session.install("-e", ".[cli]", "mypy==2.*", "pytest>=8")  # cli: rich's types
    session.run("mypy")


@nox.session(python="3.11")
def protos(session: nox.Session) -> None:
    """Copy the protos from Debian's packages and regenerate src/pycontainerd/_api/."""
    ensure_debian(session, PROTO_PACKAGES)
    session.install("-e", ".", *PROTO_TOOLS)  # pycontainerd.testing fetches sid's package
    session.run("python", "protos/generate.py", "all")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation with mkdocs --strict."""
    session.install("-e", ".", "mkdocs-material==9.*", "mkdocstrings[python]>=0.26")
    session.env["NO_MKDOCS_2_WARNING"] = "1"
    session.run("mkdocs", "build", "--strict", "-f", "docs/mkdocs.yml", "-d", session.create_tmp())


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """Start a private containerd and drive it through the SDK (as root)."""
    ensure_debian(session, ["containerd", "runc", "busybox-static"])
    session.install("-e", ".")
    session.run("python", "docs/demo.py")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmarks side by side with containerd's Go client: ``nox -s bench -- S1``."""
    ensure_debian(session, ["containerd", "runc", "busybox-static", "golang-go"])
    session.install("-e", ".")
    session.run("python", "benchmarks/run.py", *session.posargs)
