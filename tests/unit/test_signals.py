from __future__ import annotations

import asyncio
import os
import signal

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycontainerd import errors, forward_signals, parse_signal
from pycontainerd._identifiers import shown

VALID = sorted(int(s) for s in signal.valid_signals())
RTMIN, RTMAX = int(signal.SIGRTMIN), int(signal.SIGRTMAX)


# --- parse_signal -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("SIGTERM", signal.SIGTERM),
        ("term", signal.SIGTERM),
        ("Term", signal.SIGTERM),
        ("sigkill", signal.SIGKILL),
        ("15", signal.SIGTERM),
        (15, signal.SIGTERM),
        (signal.SIGUSR1, signal.SIGUSR1),
        ("SIGRTMIN", RTMIN),
        ("SIGRTMIN+3", RTMIN + 3),
        ("rtmin+3", RTMIN + 3),
        ("SIGRTMAX-1", RTMAX - 1),
        ("RTMAX", RTMAX),
        (str(RTMIN + 5), RTMIN + 5),
    ],
)
def test_parse_signal_table(value: str | int, expected: int) -> None:
    sig = parse_signal(value)
    assert isinstance(sig, signal.Signals)
    assert sig == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "SIG",
        "NOPE",
        "SIGTERMX",
        "0",
        "-1",
        "65",
        "999",
        0,
        -15,
        65,
        "SIGRTMIN-1",
        "SIGRTMAX+1",
        "SIGRTMIN+99",
        "SIGRTMIN3",
        " 15",
        "15 ",
        "1.5",
        True,
        1.0,
        None,
        "\u0661\u0665",
    ],
)
def test_parse_signal_rejects_and_names_input(bad: object) -> None:
    with pytest.raises(ValueError, match="signal") as info:
        parse_signal(bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value)


def test_realtime_signals_are_named_like_kill_l() -> None:
    assert parse_signal(RTMIN + 1).name == "SIGRTMIN+1"
    assert parse_signal(RTMAX - 1).name == "SIGRTMAX-1"
    assert parse_signal(RTMIN + 3) is parse_signal("SIGRTMIN+3")
    assert repr(parse_signal(RTMIN + 3)) == f"<Signals.SIGRTMIN+3: {RTMIN + 3}>"


@given(st.sampled_from(VALID))
def test_parse_signal_round_trips(number: int) -> None:
    sig = parse_signal(number)
    assert int(sig) == number
    assert parse_signal(sig) is sig
    assert parse_signal(str(number)) is sig
    assert parse_signal(sig.name) is sig
    assert parse_signal(sig.name.lower()) is sig
    assert parse_signal(sig.name.removeprefix("SIG")) is sig


@given(st.text(max_size=12))
def test_parse_signal_never_fails_otherwise(text: str) -> None:
    try:
        sig = parse_signal(text)
    except ValueError as exc:
        message = str(exc)
        # The value is quoted as every bad value is: its repr, shortened when long.
        assert shown(text) in message
    else:
        assert int(sig) in VALID


# --- forward_signals ---------------------------------------------------------------


class Recorder:
    """A signal target: any object with an async kill(signal)."""

    def __init__(self, *, terminal: bool = False, gone_after: int | None = None) -> None:
        self.terminal = terminal
        self.killed: list[signal.Signals] = []
        self.resized: list[tuple[int, int]] = []
        self.gone_after = gone_after
        self.got = anyio.Event()

    async def kill(self, sig: signal.Signals) -> None:
        if self.gone_after is not None and len(self.killed) >= self.gone_after:
            raise errors.NotFound("process not found")
        self.killed.append(sig)
        self.got.set()

    async def resize(self, columns: int, rows: int) -> None:
        self.resized.append((columns, rows))
        self.got.set()


async def wait_for(recorder: Recorder) -> None:
    with anyio.fail_after(5):
        await recorder.got.wait()
    recorder.got = anyio.Event()


@pytest.mark.anyio
async def test_forwards_signals_in_order() -> None:
    target = Recorder()
    async with forward_signals(target):
        os.kill(os.getpid(), signal.SIGUSR1)
        await wait_for(target)
        os.kill(os.getpid(), signal.SIGUSR2)
        await wait_for(target)
        os.kill(os.getpid(), signal.SIGRTMIN + 2)
        await wait_for(target)
    assert target.killed == [signal.SIGUSR1, signal.SIGUSR2, parse_signal("SIGRTMIN+2")]


@pytest.mark.anyio
async def test_default_set_excludes_chld_pipe_urg_and_uncatchables() -> None:
    fwd = forward_signals(Recorder())
    for sig in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGURG, signal.SIGKILL, signal.SIGSTOP):
        assert sig not in fwd.signals
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGWINCH, signal.SIGUSR1):
        assert sig in fwd.signals
    with pytest.raises(ValueError, match="SIGKILL"):
        forward_signals(Recorder(), ["KILL"])
    with pytest.raises(ValueError, match="'BOGUS'"):
        forward_signals(Recorder(), ["BOGUS"])
    with pytest.raises(TypeError):
        forward_signals(object())  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_handlers_are_restored() -> None:
    seen: list[int] = []

    def python_handler(signum: int, frame: object) -> None:
        seen.append(signum)

    loop = asyncio.get_running_loop()
    loop_seen: list[str] = []
    previous_usr2 = signal.signal(signal.SIGUSR2, python_handler)
    loop.add_signal_handler(signal.SIGHUP, loop_seen.append, "hup")
    previous_int = signal.getsignal(signal.SIGINT)
    try:
        target = Recorder()
        async with forward_signals(target, ["USR2", "HUP", "INT"]):
            os.kill(os.getpid(), signal.SIGUSR2)
            await wait_for(target)
            os.kill(os.getpid(), signal.SIGHUP)
            await wait_for(target)
        assert target.killed == [signal.SIGUSR2, signal.SIGHUP]
        assert seen == []
        assert loop_seen == []
        # the previous Python-level and loop-level handlers are back
        assert signal.getsignal(signal.SIGUSR2) is python_handler
        assert signal.getsignal(signal.SIGINT) == previous_int
        os.kill(os.getpid(), signal.SIGUSR2)
        os.kill(os.getpid(), signal.SIGHUP)
        with anyio.fail_after(5):
            while not (seen and loop_seen):  # noqa: ASYNC110
                await anyio.sleep(0.01)
        assert seen == [signal.SIGUSR2]
        assert loop_seen == ["hup"]
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        signal.signal(signal.SIGUSR2, previous_usr2)


@pytest.mark.anyio
async def test_not_found_stops_forwarding_quietly() -> None:
    target = Recorder(gone_after=1)
    async with forward_signals(target, ["USR1"]):
        os.kill(os.getpid(), signal.SIGUSR1)
        await wait_for(target)
        os.kill(os.getpid(), signal.SIGUSR1)  # NotFound: ignored
        os.kill(os.getpid(), signal.SIGUSR1)
    assert target.killed == [signal.SIGUSR1]


@pytest.mark.anyio
async def test_sigwinch_becomes_resize_with_a_terminal() -> None:
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    saved = os.dup(0)
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
        os.dup2(slave, 0)
        with_tty = Recorder(terminal=True)
        async with forward_signals(with_tty, ["WINCH"]):
            os.kill(os.getpid(), signal.SIGWINCH)
            await wait_for(with_tty)
        assert with_tty.resized == [(101, 33)]
        assert with_tty.killed == []
        without = Recorder(terminal=False)
        async with forward_signals(without, ["WINCH"]):
            os.kill(os.getpid(), signal.SIGWINCH)
            await wait_for(without)
        assert without.killed == [signal.SIGWINCH]
        assert without.resized == []
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(master)
        os.close(slave)


@pytest.mark.anyio
async def test_body_exceptions_pass_unwrapped() -> None:
    before = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(KeyError):
        async with forward_signals(Recorder(), ["USR1"]):
            raise KeyError("x")
    assert signal.getsignal(signal.SIGUSR1) == before
