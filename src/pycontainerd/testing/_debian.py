"""containerd builds of other Debian suites, for testing against several daemon versions.

Debian 12 ships containerd 1.6; ``trixie`` carries 1.7 and ``sid`` 2.x, and their
binaries run on Debian 12. `debian_containerd` fetches one with ``apt-get
download`` into a cache and unpacks it with ``dpkg -x``: the machine's own apt
sources, package lists and installed packages are never touched. The mirror is
the one the machine's apt configuration already uses for Debian, so nothing
here names a host.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["debian_containerd", "debian_criu"]

_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "pycontainerd" / "debian"


def _mirror() -> str:
    """The Debian archive the machine's apt already uses (security and updates suites aside)."""
    from ._daemon import DaemonError

    try:
        out = subprocess.run(
            [
                "apt-get",
                "indextargets",
                "--format",
                "$(REPO_URI)",
                "Label: Debian",
                "Identifier: Packages",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise DaemonError(f"cannot read the machine's apt configuration: {exc}") from exc
    uris = sorted({line.strip() for line in out.splitlines() if line.strip()})
    if not uris:
        raise DaemonError(
            "the machine's apt sources name no Debian archive to fetch other suites from"
        )
    return uris[0]


def _apt_options(state: Path) -> list[str]:
    # Every directory apt would write to, and the sources it reads, are private.
    return [
        f"-oDir::State={state}",
        f"-oDir::State::Lists={state / 'lists'}",
        "-oDir::State::status=/dev/null",
        f"-oDir::Cache={state / 'cache'}",
        f"-oDir::Etc::SourceList={state / 'sources.list'}",
        "-oDir::Etc::SourceParts=/nonexistent",
        "-oDebug::NoLocking=1",
        "-qq",
        # As root apt drops to its _apt user, who cannot write to a private cache.
        *(["-oAPT::Sandbox::User=root"] if os.geteuid() == 0 else []),
    ]


def debian_package(
    package: str, suite: str, *, cache: str | os.PathLike[str] | None = None, refresh: bool = False
) -> Path:
    """Debian's `package` from `suite`, downloaded once and unpacked into a cache.

    Args:
        package: a binary package name, such as ``"containerd"``.
        suite: a Debian suite or codename, such as ``"trixie"`` or ``"sid"``.
        cache: where the package lists, the ``.deb`` and the unpacked tree live
            (``~/.cache/pycontainerd/debian`` by default).
        refresh: fetch the suite's current build even if one is cached.

    Returns:
        The root of the unpacked tree (``usr/...`` under it). Its
        ``DEBIAN-VERSION`` file holds the package's version.

    Raises:
        pycontainerd.testing.DaemonError: a bad package or suite name; apt
            cannot fetch the package (the message quotes apt's error); or the
            machine has no Debian archive configured.
    """
    from ._daemon import DaemonError

    for kind, name in (("suite", suite), ("package", package)):
        if not name or not name.replace("-", "").replace(".", "").replace("+", "").isalnum():
            raise DaemonError(f"not a Debian {kind} name: {name!r}")
    root = Path(cache) if cache is not None else _cache_root()
    state = root / suite
    tree = state / package
    state.mkdir(parents=True, exist_ok=True)
    with (state / ".lock").open("w") as lock:
        # Two runs sharing the cache must not unpack into each other's tree.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (tree / "DEBIAN-VERSION").exists() and not refresh:
            return tree
        (state / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (state / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        (state / "sources.list").write_text(
            f"deb [signed-by={_KEYRING}] {_mirror()} {suite} main\n"
        )
        options = _apt_options(state)
        downloads = state / "downloads"
        shutil.rmtree(downloads, ignore_errors=True)
        downloads.mkdir()
        for command in (["update"], ["download", f"{package}/{suite}"]):
            done = subprocess.run(
                ["apt-get", *options, *command],
                cwd=downloads,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise DaemonError(
                    f"apt-get {command[0]} for {package} from {suite!r} failed:\n"
                    f"{(done.stderr or done.stdout).strip()}"
                )
        [deb] = downloads.glob(f"{package}_*.deb")
        staging = state / f"{package}.new"
        shutil.rmtree(staging, ignore_errors=True)
        subprocess.run(["dpkg", "-x", str(deb), str(staging)], check=True, capture_output=True)
        version = subprocess.run(
            ["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True
        ).stdout.strip()
        (staging / "DEBIAN-VERSION").write_text(version + "\n")
        shutil.rmtree(tree, ignore_errors=True)
        staging.rename(tree)
        shutil.rmtree(downloads, ignore_errors=True)
        return tree


def debian_containerd(
    suite: str, *, cache: str | os.PathLike[str] | None = None, refresh: bool = False
) -> Path:
    """The ``containerd`` binary of Debian's package in `suite`, fetched once into a cache.

    The package's shims sit beside the binary; pass the path as
    ``ContainerdDaemon(containerd=...)``, which puts that directory first on the
    daemon's ``PATH`` so it starts its own shim. The host's ``runc`` is used.

    Args:
        suite: a Debian suite or codename, such as ``"trixie"`` or ``"sid"``.
        cache: where the package lists, the ``.deb`` and the unpacked tree live
            (``~/.cache/pycontainerd/debian`` by default).
        refresh: fetch the suite's current build even if one is cached.

    Returns:
        The path of the unpacked ``usr/bin/containerd``.

    Raises:
        pycontainerd.testing.DaemonError: apt cannot fetch the package (the
            message quotes apt's error), or the machine has no Debian archive
            configured.

    Example:
        ```python
        from pycontainerd.testing import ContainerdDaemon, debian_containerd

        with ContainerdDaemon(containerd=debian_containerd("sid")) as daemon:
            ...
        ```
    """
    return debian_package("containerd", suite, cache=cache, refresh=refresh) / "usr/bin/containerd"


# CRIU locks a container's network while it dumps it, with iptables unless told
# otherwise; Debian 12 installs no iptables, and the CRIU of newer suites is
# built with nftables, which the kernel has.
_CRIU_CONFIG = "network-lock nftables\n"


def debian_criu(
    suite: str = "trixie", *, cache: str | os.PathLike[str] | None = None, refresh: bool = False
) -> Path:
    """A directory holding a ``criu`` that runs Debian's CRIU of `suite`, fetched once into a cache.

    Debian 12's CRIU (3.17) cannot read the vDSO of newer kernels (``criu
    check`` fails in ``kerndat_vdso_fill_symtable``); newer suites carry CRIU
    4.x, built against their newer C library. The ``criu`` in the returned
    directory is a launcher that starts that build with the suite's own
    dynamic loader and C library (``libc6`` is fetched too), the rest of its
    libraries from the host (those of Debian 12's ``criu`` package), and a
    configuration that locks the network with nftables instead of iptables.
    runc finds CRIU on its ``PATH``: pass the directory as
    ``ContainerdDaemon(path=[...])``, which puts it first on the daemon's
    ``PATH`` and so on its shims' and runc's.

    Args:
        suite: a Debian suite or codename (``"trixie"``, CRIU 4.1).
        cache: where the packages are kept (``~/.cache/pycontainerd/debian``
            by default).
        refresh: fetch the suite's current builds even if some are cached.

    Returns:
        The directory with the ``criu`` launcher.

    Raises:
        pycontainerd.testing.DaemonError: apt cannot fetch a package (the
            message quotes apt's error), or the machine has no Debian archive
            configured.

    Example:
        ```python
        from pycontainerd.testing import ContainerdDaemon, debian_criu

        with ContainerdDaemon(path=[debian_criu()]) as daemon:
            ...  # Task.checkpoint and restores use CRIU 4.x
        ```
    """
    criu = debian_package("criu", suite, cache=cache, refresh=refresh)
    libc = debian_package("libc6", suite, cache=cache, refresh=refresh)
    # usr/lib/<multiarch triplet>/ld-linux-<arch>.so.<n>, whatever the architecture.
    [loader] = (libc / "usr/lib").glob("*/ld-linux*.so.*")
    lib = loader.parent
    host_libs = ":".join(str(p) for p in (Path("/lib") / lib.name, Path("/usr/lib") / lib.name))
    launcher = criu.parent / f"criu-launcher-{suite}"
    launcher.mkdir(exist_ok=True)
    script = (
        "#!/bin/sh\n"
        f"CRIU_CONFIG_FILE='{launcher / 'criu.conf'}'\n"
        "export CRIU_CONFIG_FILE\n"
        f"exec '{loader}' --library-path '{lib}:{host_libs}' '{criu / 'usr/sbin/criu'}' \"$@\"\n"
    )
    for name, text, mode in (("criu.conf", _CRIU_CONFIG, 0o644), ("criu", script, 0o755)):
        # Written aside and renamed: a runc of another session may be reading it.
        staging = launcher / f".{name}.{os.getpid()}"
        staging.write_text(text)
        staging.chmod(mode)
        staging.rename(launcher / name)
    return launcher
