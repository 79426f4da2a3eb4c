"""A proxy in front of the test daemon's socket that kills the daemon at a chosen point.

The client under test talks to `CuttingProxy.address`; the proxy forwards every
HTTP/2 frame to the daemon's socket and counts what passes: requests (a
client's HEADERS frame), replies (the first HEADERS frame the daemon sends on a
stream) and DATA payload bytes each way. Armed with a `KillPoint`, it stops
forwarding at that point, kills the daemon with SIGKILL (its root, state and
shims stay, as after a crash), drops every connection and starts the daemon
again on the same data. Nothing here reads grpclib's or containerd's internals:
the point is a count of what went over the wire, so the same seed cuts the same
operation at the same frame on every run.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

from pycontainerd.testing import ContainerdDaemon

# One table row per case ("| operation | kill point | outcome | leftovers |"),
# printed by conftest's terminal summary.
FAULT_LOG: list[str] = []

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_DATA, _HEADERS = 0, 1


@dataclass(frozen=True)
class KillPoint:
    """Kill the daemon just before the `count`-th frame of `kind` would be forwarded.

    `kind` is ``request`` (a client's HEADERS frame, before it reaches the
    daemon), ``reply`` (the first HEADERS frame of the daemon's answer on a
    stream, before it reaches the client), or ``sent`` / ``received`` (DATA
    payload bytes): then `count` is a number of bytes, and the frame that would
    carry the total past it is held back.
    """

    kind: str
    count: int

    def __str__(self) -> str:
        return f"{self.kind} {self.count}"


@dataclass
class Counts:
    """What passed through the proxy since the last `CuttingProxy.reset`."""

    request: int = 0
    reply: int = 0
    sent: int = 0
    received: int = 0

    def of(self, kind: str) -> int:
        value: int = getattr(self, kind)
        return value


@dataclass
class _Connection:
    client: socket.socket
    daemon: socket.socket
    replied: set[int] = field(default_factory=set)  # streams whose reply began


class CuttingProxy:
    """Forward `daemon`'s socket at `address`, and kill the daemon at an armed point.

    Threads (one acceptor, two pumps per connection) do the forwarding, so
    killing and restarting the daemon never waits on the test's event loop.
    """

    def __init__(self, daemon: ContainerdDaemon, path: Path) -> None:
        self.daemon = daemon
        self.address = str(path)
        self.counts = Counts()
        self.fired = threading.Event()  # set as the armed point kills the daemon
        self.restarted = threading.Event()  # set once the killed daemon serves again
        self.kill_error: BaseException | None = None
        self._point: KillPoint | None = None
        self._lock = threading.Lock()
        self._connections: list[_Connection] = []
        self._closing = False
        self._listen()

    def _listen(self) -> None:
        Path(self.address).unlink(missing_ok=True)
        self._listener = socket.socket(socket.AF_UNIX)
        self._listener.bind(self.address)
        self._listener.listen(64)
        self._acceptor = threading.Thread(target=self._accept, args=(self._listener,), daemon=True)
        self._acceptor.start()

    def reset(self) -> None:
        """Zero the counts and disarm."""
        with self._lock:
            self.counts = Counts()
            self._point = None
            self.fired.clear()
            self.restarted.clear()
            self.kill_error = None

    def arm(self, point: KillPoint) -> None:
        """Count from zero, and kill the daemon at `point`."""
        with self._lock:
            self.counts = Counts()
            self.fired.clear()
            self.restarted.clear()
            self.kill_error = None
            self._point = point

    def wait_restarted(self, timeout: float) -> None:
        """Block until the daemon killed by the armed point serves again (at once if unfired)."""
        if self.fired.is_set():
            self.restarted.wait(timeout)
            if self.kill_error is not None:
                raise self.kill_error

    def close(self) -> None:
        self._closing = True
        self._listener.close()
        with self._lock:
            self._drop_all()
        self._acceptor.join(5)

    def _accept(self, listener: socket.socket) -> None:
        while not self._closing:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            daemon = socket.socket(socket.AF_UNIX)
            try:
                daemon.connect(self.daemon.address)
            except OSError:  # the daemon is down: the client sees its connection end
                daemon.close()
                client.close()
                continue
            conn = _Connection(client, daemon)
            with self._lock:
                self._connections.append(conn)
            for upstream in (True, False):
                threading.Thread(target=self._pump, args=(conn, upstream), daemon=True).start()

    def _pump(self, conn: _Connection, upstream: bool) -> None:
        src, dst = (conn.client, conn.daemon) if upstream else (conn.daemon, conn.client)
        buffer = b""
        try:
            if upstream:
                while len(buffer) < len(_PREFACE):
                    chunk = src.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                dst.sendall(buffer[: len(_PREFACE)])
                buffer = buffer[len(_PREFACE) :]
            while True:
                while len(buffer) >= 9:
                    length = int.from_bytes(buffer[:3], "big")
                    if len(buffer) < 9 + length:
                        break
                    frame, buffer = buffer[: 9 + length], buffer[9 + length :]
                    if not self._forward(conn, upstream, frame, dst):
                        return
                chunk = src.recv(65536)
                if not chunk:
                    return
                buffer += chunk
        except OSError:
            return
        finally:
            with self._lock:
                self._drop(conn)

    def _forward(self, conn: _Connection, upstream: bool, frame: bytes, dst: socket.socket) -> bool:
        kind, stream = frame[3], struct.unpack(">I", frame[5:9])[0] & 0x7FFFFFFF
        with self._lock:
            if conn not in self._connections:
                return False
            counts = self.counts
            if kind == _HEADERS and upstream:
                counted, step = "request", 1
            elif kind == _HEADERS and stream not in conn.replied:
                conn.replied.add(stream)
                counted, step = "reply", 1
            elif kind == _DATA:
                counted, step = ("sent" if upstream else "received"), len(frame) - 9
            else:
                counted, step = "", 0
            point = self._point
            if point is not None and counted == point.kind:
                reached = counts.of(counted) + step
                if (step == 1 and reached >= point.count) or (step > 1 and reached > point.count):
                    self._point = None
                    self._kill()
                    return False
            if counted:
                setattr(counts, counted, counts.of(counted) + step)
        # Sent outside the lock: a pump blocked on a full socket must not stop the other.
        dst.sendall(frame)
        return True

    def _kill(self) -> None:
        """SIGKILL the daemon, drop every connection, then start the daemon again (lock held)."""
        self.fired.set()
        self.daemon.kill()
        # Refused until the daemon is back, as a dead daemon's socket refuses connections.
        self._listener.close()
        self._drop_all()
        threading.Thread(target=self._restart, daemon=True).start()

    def _restart(self) -> None:
        try:
            self.daemon.start()
            if not self._closing:
                self._listen()
        except BaseException as exc:  # reported by the test that waits on `killed`
            self.kill_error = exc
        self.restarted.set()

    def _drop_all(self) -> None:
        for conn in list(self._connections):
            self._drop(conn)

    def _drop(self, conn: _Connection) -> None:
        if conn in self._connections:
            self._connections.remove(conn)
        for sock in (conn.client, conn.daemon):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def shim_pids(daemon: ContainerdDaemon) -> set[int]:
    """Pids of the shims `daemon` started (their command line names its socket)."""
    marker = daemon.address.encode()
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if b"containerd-shim" in cmdline and marker in cmdline:
            found.add(int(entry))
    return found


def parent_pid(pid: int) -> int:
    """The parent of `pid` (from ``/proc/PID/stat``)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])
