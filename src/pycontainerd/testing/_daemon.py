"""A private containerd daemon for tests."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["ContainerdDaemon", "DaemonError", "require_tools"]

INSTALL_HINT = "apt-get install containerd runc"

# containerd 1.x serves CRI from one plugin; 2.x splits it into these (and the
# pod-sandbox controller, which only CRI uses). Disabled, the daemon starts fast.
_CRI_PLUGINS = (
    "io.containerd.grpc.v1.cri",
    "io.containerd.cri.v1.images",
    "io.containerd.cri.v1.runtime",
    "io.containerd.podsandbox.controller.v1.podsandbox",
)


def _toml_string(value: str | os.PathLike[str]) -> str:
    text = os.fspath(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class DaemonError(RuntimeError):
    """The private daemon could not be started (its log is quoted in the message)."""


def require_tools(*, containerd: bool = True) -> tuple[str, str]:
    """The paths of ``containerd`` and ``runc`` on ``PATH``.

    Args:
        containerd: look for ``containerd`` too (``False`` when the daemon's
            binary is given; its path is then ``""``).

    Raises:
        DaemonError: either is missing; the message names the install command.
    """
    found = (shutil.which("containerd") if containerd else "-", shutil.which("runc"))
    missing = [name for name, path in zip(("containerd", "runc"), found, strict=True) if not path]
    if missing:
        raise DaemonError(
            f"{' and '.join(missing)} not found on PATH; install them with: {INSTALL_HINT}"
        )
    return (found[0] if containerd else None) or "", found[1] or ""


def _binary_version(binary: str) -> str:
    """The version ``containerd --version`` prints: ``1.6.20~ds1``, ``2.1.9+unknown``."""
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except OSError as exc:
        raise DaemonError(f"cannot run {binary}: {exc}") from exc
    # "containerd github.com/containerd/containerd/v2 2.1.9+unknown" (then a revision on 1.x)
    match = re.search(r"\sv?(\d+\.\d+\S*)", out)
    if match is None:
        raise DaemonError(f"{binary} --version printed no version: {out!r}")
    return match.group(1)


class ContainerdDaemon:
    """A containerd of its own: private root, state, socket and log in a temp dir.

    The CRI plugin is disabled, so the daemon starts in about a second and
    touches nothing of a system containerd. Use it as a context manager, or
    call `start` and `stop`; `restart` keeps its data (to test reconnection).
    Both halves of the context manager block: entering waits until the daemon
    serves (bounded by `start_timeout`), leaving stops it and removes the
    directory.

    Must run as root (containerd mounts snapshots and runs runc).

    Its `fifo_dir` is a FIFO root of its own, inside its directory: give it
    to the clients of tests (``Client(daemon.address, fifo_dir=daemon.fifo_dir)``,
    as the ``containerd_client`` fixture does), so the FIFOs of their tasks
    stay out of the system's ``/run/containerd/fifo`` and go when it stops.

    Args:
        containerd: the ``containerd`` binary to run (its directory goes first
            on the daemon's ``PATH``, so the shims beside it are the ones
            started); the one on ``PATH`` when ``None``. `debian_containerd`
            fetches the builds of other Debian suites.
        directory: where root, state, socket and log live; a fresh temp dir
            (removed on stop) when ``None``.
        start_timeout: seconds to wait for the socket to serve.
        stop_timeout: seconds between SIGTERM and SIGKILL.
        log_level: containerd's ``--log-level``.
        tcp_address: also listen on this TCP address (``[grpc] tcp_address``),
            e.g. ``127.0.0.1:0``: port 0 takes a free port, read back from the
            log into `tcp_address` once the daemon serves. containerd serves
            only CRI there (and only with the CRI plugin's
            ``disable_tcp_service = false``), not its own API: this listener
            is for testing TLS against containerd's own TLS setup.
        tcp_tls_cert: the daemon's TLS certificate for `tcp_address`
            (``tcp_tls_cert``); with `tcp_tls_key`, the listener speaks TLS.
        tcp_tls_key: its private key (``tcp_tls_key``).
        tcp_tls_ca: the CA that client certificates must be signed by
            (``tcp_tls_ca``): containerd then demands one of every client.
        path: directories to put first on the daemon's ``PATH`` (after the
            `containerd` binary's), which its shims and runc inherit: for
            example `debian_criu`'s, for the CRIU that runc runs.

    Example:
        ```python
        import pycontainerd
        from pycontainerd.testing import ContainerdDaemon

        with ContainerdDaemon() as daemon:
            async with pycontainerd.Client(daemon.address, fifo_dir=daemon.fifo_dir) as client:
                ...
        ```

        The same code against containerd 2.x from Debian's ``sid``:

        ```python
        from pycontainerd.testing import ContainerdDaemon, debian_containerd

        with ContainerdDaemon(containerd=debian_containerd("sid")) as daemon:
            ...
        ```
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        containerd: str | os.PathLike[str] | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        log_level: str = "info",
        tcp_address: str | None = None,
        tcp_tls_cert: str | os.PathLike[str] | None = None,
        tcp_tls_key: str | os.PathLike[str] | None = None,
        tcp_tls_ca: str | os.PathLike[str] | None = None,
        path: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        if (tcp_tls_cert is None) != (tcp_tls_key is None):
            raise ValueError("tcp_tls_cert and tcp_tls_key go together")
        if tcp_address is None and tcp_tls_cert is not None:
            raise ValueError("the tcp_tls_* files need a tcp_address")
        if tcp_tls_ca is not None and tcp_tls_cert is None:
            # containerd ignores tcp_tls_ca without a certificate of its own.
            raise ValueError("tcp_tls_ca needs tcp_tls_cert and tcp_tls_key")
        self._own_dir = directory is None
        # Socket paths are limited to 108 bytes: keep the directory short.
        self.directory = Path(directory or tempfile.mkdtemp(prefix="ctrd-", dir="/tmp"))
        if self._own_dir:
            # As containerd makes its own root and state (0711): the root of a
            # container in a user namespace is not host root, and must still
            # reach its bundle below.
            self.directory.chmod(0o711)
        self.root = self.directory / "root"
        self.state = self.directory / "state"
        self.socket = self.directory / "containerd.sock"
        self.log_path = self.directory / "containerd.log"
        #: The FIFO root for clients of this daemon (made ``0700`` by `start`).
        self.fifo_dir = self.directory / "fifo"
        self.config_path = self.directory / "config.toml"
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.log_level = log_level
        self.containerd = Path(containerd) if containerd is not None else None
        self._tcp_address = tcp_address
        self._listen = tcp_address
        #: The TCP address the daemon serves on (port 0 resolved), set by `start`.
        self.tcp_address: str | None = None
        self.tcp_tls_cert = Path(tcp_tls_cert) if tcp_tls_cert is not None else None
        self.tcp_tls_key = Path(tcp_tls_key) if tcp_tls_key is not None else None
        self.tcp_tls_ca = Path(tcp_tls_ca) if tcp_tls_ca is not None else None
        #: The version the daemon's binary reports (``"1.7.24~ds1"``), set by `start`.
        self.version = ""
        self.path = [Path(p) for p in path]
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """The daemon's socket path, for `pycontainerd.Client`."""
        return str(self.socket)

    @property
    def version_info(self) -> tuple[int, int, int]:
        """`version` as numbers, ``(1, 7, 24)``, for tests whose result depends on it.

        Example:
            ```python
            from pycontainerd.testing import ContainerdDaemon

            with ContainerdDaemon() as daemon:
                if daemon.version_info >= (2, 0, 0):
                    ...
            ```
        """
        match = re.match(r"(\d+)\.(\d+)\.(\d+)", self.version)
        if match is None:
            raise DaemonError(
                f"the daemon has not started, or its version is odd: {self.version!r}"
            )
        major, minor, patch = (int(part) for part in match.groups())
        return major, minor, patch

    @property
    def pid(self) -> int | None:
        """The daemon's process id while it runs (a restart changes it)."""
        return self._process.pid if self.running and self._process is not None else None

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

    def _binary(self) -> str:
        if self.containerd is None:
            return require_tools()[0]
        if not os.access(self.containerd, os.X_OK):
            raise DaemonError(f"containerd binary not found or not executable: {self.containerd}")
        require_tools(containerd=False)
        return str(self.containerd)

    def _write_config(self, binary: str) -> None:
        # containerd 2.x reads version 2 files (migrating them in memory, with a
        # warning); version 3 is what it writes itself.
        self.version = _binary_version(binary)
        major = self.version_info[0]
        disabled = ", ".join(f'"{name}"' for name in _CRI_PLUGINS)
        # The [grpc] keys for TCP are the same in config versions 2 and 3.
        tcp = "".join(
            f"  {key} = {_toml_string(value)}\n"
            for key, value in (
                ("tcp_address", self._listen),
                ("tcp_tls_cert", self.tcp_tls_cert),
                ("tcp_tls_key", self.tcp_tls_key),
                ("tcp_tls_ca", self.tcp_tls_ca),
            )
            if value is not None
        )
        self.config_path.write_text(
            f"version = {3 if major >= 2 else 2}\n"
            f'root = "{self.root}"\n'
            f'state = "{self.state}"\n'
            f"disabled_plugins = [{disabled}]\n"
            "[grpc]\n"
            f'  address = "{self.socket}"\n'
            f"{tcp}"
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
        containerd = self._binary()
        for d in (self.root, self.state):
            d.mkdir(parents=True, exist_ok=True)
        self.fifo_dir.mkdir(mode=0o700, exist_ok=True)
        # A restart listens where the daemon listened (on the port 0 chose).
        self._listen = self.tcp_address or self._tcp_address
        self.tcp_address = None
        self._write_config(containerd)
        self.socket.unlink(missing_ok=True)
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        env = dict(os.environ)
        first = [*([self.containerd.parent] if self.containerd is not None else []), *self.path]
        if first:
            env["PATH"] = os.pathsep.join([*map(str, first), env.get("PATH", "")])
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [containerd, "--config", str(self.config_path)],
                env=env,
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
            if self._serves(log_start):
                return
            time.sleep(0.05)
        self._terminate()
        raise DaemonError(
            f"containerd did not serve on {self.socket} within {self.start_timeout}s:\n"
            f"{self.log()[-4000:]}"
        )

    def _serves(self, log_start: int = 0) -> bool:
        if not self.socket.exists():
            return False
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(str(self.socket))
            except OSError:
                return False
        try:  # this start's lines only: a restart's log holds the last start's too
            log = self.log_path.read_bytes()[log_start:].decode(errors="replace")
        except OSError:
            return False
        if "serving..." not in log and "containerd successfully booted" not in log:
            return False
        if self._tcp_address is not None and self.tcp_address is None:
            self.tcp_address = self._served_tcp_address(log)
        return self._tcp_address is None or self.tcp_address is not None

    @staticmethod
    def _served_tcp_address(log: str) -> str | None:
        """The ``host:port`` of the TCP listener, from containerd's "serving..." line.

        The other listeners are unix sockets, whose addresses are paths.
        """
        for match in re.finditer(r'msg=serving\.\.\. address="?([^"\s]+)"?', log):
            served = match.group(1)
            if not served.startswith("/") and served.rpartition(":")[2].isdigit():
                return served
        return None

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

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the daemon with `sig` (SIGKILL by default) and reap it, as a crash would.

        Unlike `stop`, everything stays: root, state, socket file and the
        shims of running tasks (containerd reconnects to them when it starts
        again). `start` brings the daemon back on the same data; use it to
        test what a client does when the daemon dies in the middle of a call.

        Example:
            ```python
            from pycontainerd.testing import ContainerdDaemon

            with ContainerdDaemon() as daemon:
                daemon.kill()  # as a crash: root, state and shims stay
                daemon.start()  # the same data again
            ```
        """
        proc = self._process
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            proc.wait()
        self._process = None

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
