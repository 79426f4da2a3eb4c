"""Helpers for the container/task tests: a host-directory busybox rootfs and a spec for it."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import pycontainerd
import pycontainerd.testing
from pycontainerd import oci
from pycontainerd.stdio import _io as stdio_io


def make_busybox_rootfs(root: Path) -> Path:
    """A directory holding a static busybox and its applet links."""
    busybox = shutil.which("busybox")
    assert busybox, "busybox-static is needed (apt-get install busybox-static)"
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy2(busybox, bin_dir / "busybox")
    applets = subprocess.run(
        [busybox, "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", bin_dir / applet)
    for d in ("proc", "sys", "dev", "tmp", "etc", "run"):
        (root / d).mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    return root


def host_spec(
    rootfs: Path | str,
    args: list[str],
    *,
    namespace: str,
    container_id: str,
    terminal: bool = False,
) -> dict[str, Any]:
    """A containerd-like default Linux spec whose root is a host directory (read-only)."""
    return {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {
                key: list(oci.DEFAULT_CAPABILITIES)
                for key in ("bounding", "effective", "permitted")
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": str(rootfs), "readonly": True},
        "mounts": [
            {
                "destination": "/proc",
                "type": "proc",
                "source": "proc",
                "options": ["nosuid", "noexec", "nodev"],
            },
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": [
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                    "gid=5",
                ],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
            {
                "destination": "/sys/fs/cgroup",
                "type": "cgroup",
                "source": "cgroup",
                "options": ["ro", "nosuid", "noexec", "nodev"],
            },
            {
                "destination": "/tmp",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "mode=1777"],
            },
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "cgroupsPath": f"/{namespace}/{container_id}",
            "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")],
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/sys/firmware"],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ],
        },
    }


_fifo_root: list[str] = [stdio_io.FIFO_ROOT]  # the FIFO root of the running test's client


@pytest.fixture(autouse=True)
def current_fifo_root(request: pytest.FixtureRequest) -> Iterator[None]:
    """Point `fifo_dirs` at the session daemon's FIFO root in tests that use the daemon.

    The ``containerd_client`` fixture's client puts its FIFOs there, so other
    processes using /run/containerd/fifo at the same time (another test
    session) cannot disturb the before/after counts.
    """
    if "containerd_daemon" not in request.fixturenames:
        yield
        return
    daemon: pycontainerd.testing.ContainerdDaemon = request.getfixturevalue("containerd_daemon")
    _fifo_root[0] = str(daemon.fifo_dir)
    yield
    _fifo_root[0] = stdio_io.FIFO_ROOT


def fifo_dirs() -> set[str]:
    """Our FIFO directories that exist now (pycontainerd.stdio's naming)."""
    found: set[str] = set()
    bases = ((_fifo_root[0], "pycontainerd-"), ("/tmp", f"pycontainerd-fifo-{os.getpid()}-"))
    for base, prefix in bases:
        try:
            found.update(os.path.join(base, n) for n in os.listdir(base) if n.startswith(prefix))
        except FileNotFoundError:
            pass
    return found


def open_fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A host directory with busybox-static, usable as a container's root path."""
    return make_busybox_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")


HostContainer = Callable[..., Awaitable[pycontainerd.Container]]


@pytest.fixture
def host_container(containerd_client: pycontainerd.Client, busybox_rootfs: Path) -> HostContainer:
    """Make containers whose root is the host busybox directory (no image, no snapshot)."""

    async def make(
        args: list[str], *, terminal: bool = False, id: str | None = None, **kw: Any
    ) -> pycontainerd.Container:
        cid = id or f"c-{uuid.uuid4().hex[:10]}"
        spec = host_spec(
            busybox_rootfs,
            args,
            namespace=containerd_client.namespace,
            container_id=cid,
            terminal=terminal,
        )
        return await containerd_client.containers.create(cid, spec=spec, **kw)

    return make


def runtime_stock(inv: pycontainerd.testing.Inventory) -> dict[str, tuple[str, ...]]:
    """What containers and tasks leave behind (content is the image's business: GC may trim it)."""
    return {
        "tasks": inv.tasks,
        "containers": inv.containers,
        "snapshots": inv.snapshots,
        "leases": inv.leases,
        "images": inv.images,
        "ingests": inv.ingests,
    }


USERS_IMAGE = "example.com/users:1"
USERS_PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\napp:x:1234:5678::/:/bin/sh\nbob:x:1001:100::/:/bin/sh\n"
)
USERS_GROUP = (
    "root:x:0:\n"
    "users:x:100:bob\n"
    "audio:x:29:\n"
    "apps:x:5678:\n"
    "extra:x:4321:app,bob\n"
    "bob:x:999:bob\n"  # the user's own-named group is not a supplementary one (Go's rule)
)


async def build_users_image(
    client: pycontainerd.Client, busybox_rootfs: Path, tmp_path: Path
) -> pycontainerd.Image:
    """A busybox image with users ``app`` (1234:5678) and ``bob`` (1001:100) and their groups."""
    root = tmp_path / "users-rootfs"
    shutil.copytree(busybox_rootfs, root, symlinks=True)
    (root / "etc" / "passwd").write_text(USERS_PASSWD)
    (root / "etc" / "group").write_text(USERS_GROUP)
    image = await client.images.create_from_directory(
        USERS_IMAGE,
        root,
        config=pycontainerd.ImageConfig(env=("PATH=/bin",), cmd=("sleep", "1000")),
    )
    await image.unpack()
    return image
