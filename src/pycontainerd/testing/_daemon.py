"""A private containerd daemon for tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["ContainerdDaemon", "DaemonError", "require_tools"]

INSTALL_HINT = "apt-get install containerd runc"


class DaemonError(RuntimeError):
    """The private daemon could not be started (its log is quoted in the message)."""


def require_tools() -> tuple[str, str]:
    """The paths of ``containerd`` and ``runc``.

    Raises:
        DaemonError: either is missing; the message names the install command.
    """
    found = (shutil.which("containerd"), shutil.which("runc"))
    missing = [name for name, path in zip(("containerd", "runc"), found, strict=True) if not path]
    if missing:
        raise DaemonError(
            f"{' and '.join(missing)} not found on PATH; install them with: {INSTALL_HINT}"
        )
    return found[0] or "", found[1] or ""


class ContainerdDaemon:
    """A containerd of its own: private root, state, socket and log in a temp dir.

    The CRI plugin is disabled, so the daemon starts in about a second and
    touches nothing of a system containerd. Use it as a context manager, or
    call `start` and `stop`; `restart` keeps its data (to test reconnection).
    Both halves of the context manager block: entering waits until the daemon
    serves (bounded by `start_timeout`), leaving stops it and removes the
    directory.

    Must run as root (containerd mounts snapshots and runs runc).

    Args:
        directory: where root, state, socket and log live; a fresh temp dir
            (removed on stop) when ``None``.
        start_timeout: seconds to wait for the socket to serve.
        stop_timeout: seconds between SIGTERM and SIGKILL.
        log_level: containerd's ``--log-level``.

    Example:
        ```python
        import pycontainerd
        from pycontainerd.testing import ContainerdDaemon

        with ContainerdDaemon() as daemon:
            async with pycontainerd.Client(daemon.address) as client:
                ...
        ```
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        log_level: str = "info",
    ) -> None:
        self._own_dir = directory is None
        # Socket paths are limited to 108 bytes: keep the directory short.
        self.directory = Path(directory or tempfile.mkdtemp(prefix="ctrd-", dir="/tmp"))
        self.root = self.directory / "root"
        self.state = self.directory / "state"
        self.socket = self.directory / "containerd.sock"
        self.log_path = self.directory / "containerd.log"
        self.config_path = self.directory / "config.toml"
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.log_level = log_level
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """The daemon's socket path, for `pycontainerd.Client`."""
        return str(self.socket)

    @property
    def running(self) -> bool:
        """Whether the daemon process is alive."""
        return self._process is not None and self._process.poll() is None

    def log(self) -> str:
        """The daemon's log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _write_config(self) -> None:
        self.config_path.write_text(
            "version = 2\n"
            f'root = "{self.root}"\n'
            f'state = "{self.state}"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            "[grpc]\n"
            f'  address = "{self.socket}"\n'
            "[ttrpc]\n"
            f'  address = "{self.socket}.ttrpc"\n'
            "[debug]\n"
            '  address = ""\n'
            f'  level = "{self.log_level}"\n'
        )

    def start(self) -> None:
        """Start the daemon and wait until its socket serves.

        Raises:
            DaemonError: containerd or runc is missing, the daemon exited, or
                it did not serve within `start_timeout` (the log is quoted).
        """
        if self.running:
            return
        containerd, _ = require_tools()
        for d in (self.root, self.state):
            d.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self.socket.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [containerd, "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise DaemonError(
                    f"containerd exited with {self._process.returncode}:\n{self.log()[-4000:]}"
                )
            if self._serves():
                return
            time.sleep(0.05)
        self._terminate()
        raise DaemonError(
            f"containerd did not serve on {self.socket} within {self.start_timeout}s:\n"
            f"{self.log()[-4000:]}"
        )

    def _serves(self) -> bool:
        if not self.socket.exists():
            return False
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(str(self.socket))
            except OSError:
                return False
        return "serving..." in self.log() or "containerd successfully booted" in self.log()

    def _terminate(self) -> None:
        proc = self._process
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._process = None

    def restart(self) -> None:
        """Stop the daemon and start it again on the same root, state and socket."""
        self._terminate()
        self.start()

    def stop(self) -> None:
        """Stop the daemon (SIGTERM, then SIGKILL after `stop_timeout`).

        Shims the daemon left behind are killed, mounts under its root and
        state are unmounted, and an owned temp dir is removed.
        """
        self._terminate()
        self._kill_shims()
        self._unmount()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _kill_shims(self) -> None:
        marker = str(self.socket).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"containerd-shim" in cmdline and marker in cmdline:
                try:
                    os.kill(int(entry.name), signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _unmount(self) -> None:
        prefixes = (str(self.root) + "/", str(self.state) + "/")
        try:
            lines = Path("/proc/self/mountinfo").read_text().splitlines()
        except OSError:
            return
        targets = [line.split()[4] for line in lines]
        # Deepest first, so nested mounts go before their parents.
        for target in sorted((t for t in targets if t.startswith(prefixes)), reverse=True):
            subprocess.run(["umount", "-l", target], check=False, capture_output=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
