"""pyctr's skeleton: global options, the command tree, running a command, errors."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, NoReturn

import anyio

from .. import errors
from .._client import Client
from .._tls import TLS
from .._transport import default_address, parse_address

Handler = Callable[[Client, argparse.Namespace], Awaitable[int | None]]


class CliError(Exception):
    """A usage problem found by a command: printed as one line, exit code `code`."""

    def __init__(self, message: str, *, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class ExitCode(Exception):
    """Leave with this exit code and print nothing (e.g. a container's own exit code)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def global_options(*, suppress: bool) -> argparse.ArgumentParser:
    """The options every command takes; on subcommands they only override when given."""
    p = argparse.ArgumentParser(add_help=False)
    default: Any = argparse.SUPPRESS if suppress else None
    p.add_argument(
        "-a",
        "--address",
        default=default,
        help="containerd socket, or tcp://host:port with --tls-* or --plaintext "
        "(default: $CONTAINERD_ADDRESS or /run/containerd/containerd.sock)",
    )
    p.add_argument(
        "--tls-ca",
        metavar="FILE",
        default=default,
        help="TCP: the CA that signed the daemon's certificate (default: the system's)",
    )
    p.add_argument(
        "--tls-cert",
        metavar="FILE",
        default=default,
        help="TCP: the client certificate, for mutual TLS",
    )
    p.add_argument(
        "--tls-key", metavar="FILE", default=default, help="TCP: the client certificate's key"
    )
    p.add_argument(
        "--tls-server-name",
        metavar="NAME",
        default=default,
        help="TCP: the name the daemon's certificate must hold, if not the address's host",
    )
    p.add_argument(
        "--plaintext",
        action="store_true",
        default=default if suppress else False,
        help="TCP without TLS (unencrypted and unauthenticated)",
    )
    p.add_argument(
        "-n",
        "--namespace",
        default=default,
        help="namespace to act in (default: $CONTAINERD_NAMESPACE or 'default')",
    )
    p.add_argument(
        "--timeout",
        type=_seconds,
        default=default,
        help="deadline in seconds for each call (default: 60; 0 for none)",
    )
    p.add_argument(
        "--debug",
        action="store_true",
        default=default if suppress else False,
        help="show tracebacks of errors",
    )
    return p


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def format_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--format table|json`` (and ``-q``) to a listing or info command."""
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="output format (default: table)",
    )


def quiet_option(parser: argparse.ArgumentParser) -> None:
    """Add ``-q/--quiet`` (print identifiers only)."""
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the identifiers")


class Commands:
    """Helper that adds subcommands with the shared option parents."""

    def __init__(self, subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
        self._sub = subparsers
        self._parents = parents

    def group(self, name: str, help: str, aliases: Sequence[str] = ()) -> Commands:
        parser = self._sub.add_parser(
            name, help=help, description=help, aliases=list(aliases), parents=self._parents
        )
        parser.set_defaults(func=None, group_parser=parser)
        sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)
        return Commands(sub, self._parents)

    def command(
        self,
        name: str,
        func: Handler,
        help: str,
        aliases: Sequence[str] = (),
        usage: str | None = None,
    ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self._sub.add_parser(
            name,
            help=help,
            description=help,
            aliases=list(aliases),
            parents=self._parents,
            usage=usage,
        )
        parser.set_defaults(func=func)
        return parser


def build_parser() -> Parser:
    """The whole command tree."""
    from . import _basic, _images, _runtime, _storage

    parser = Parser(
        prog="pyctr",
        description="Drive containerd from the shell, through the pycontainerd SDK.",
        epilog="On a terminal, progress bars and tables are drawn with rich, if installed "
        "(pip install 'pycontainerd[cli]'); plain columns otherwise.",
        parents=[global_options(suppress=False)],
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)
    commands = Commands(sub, [global_options(suppress=True)])
    _basic.register(commands)
    for module in (_images, _runtime, _storage):
        module.register(commands)
    return parser


def _label_pairs(items: Sequence[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key or not sep:
            raise CliError(f"bad label {item!r}: expected KEY=VALUE")
        labels[key] = value
    return labels


label_pairs = _label_pairs


def _kind(exc: errors.ContainerdError) -> str:
    if isinstance(exc, errors.ConnectionError):
        return "cannot connect"
    if isinstance(exc, errors.RPCError):
        # The kind of pycontainerd.errors it is (a registry.NotFoundError says "not found").
        name = next(c for c in type(exc).__mro__ if c.__module__ == errors.__name__).__name__
        words = "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()
        return words
    return "error"


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    return [exc]


def main(argv: Sequence[str] | None = None) -> int:
    """Run pyctr with `argv` (default: the command line) and return its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    func: Handler | None = getattr(args, "func", None)
    if func is None:
        target = getattr(args, "group_parser", parser)
        target.print_help(sys.stderr)
        return 2
    try:
        return anyio.run(_run, func, args, backend="asyncio")
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:
        return _report(exc, debug=bool(getattr(args, "debug", False)))


def _report(exc: BaseException, *, debug: bool) -> int:
    leaves = _leaves(exc)
    code = 1
    for leaf in leaves:
        if isinstance(leaf, ExitCode):
            return leaf.code
        if isinstance(leaf, SystemExit):
            return int(leaf.code) if isinstance(leaf.code, int) else 1
        if isinstance(leaf, KeyboardInterrupt):
            return 130
        if isinstance(leaf, BrokenPipeError):
            _silence_stdout()
            return 141
        if debug:
            traceback.print_exception(leaf)
        if isinstance(leaf, CliError):
            message, code = str(leaf), leaf.code
        elif isinstance(leaf, errors.ContainerdError):
            kind, text = _kind(leaf), str(leaf)
            # "deadline exceeded calling ..." names its kind already
            message = text if text.lower().startswith(kind) else f"{kind}: {text}"
            if isinstance(leaf, errors.DeadlineExceeded):
                message += " (--timeout SECONDS to wait longer, 0 for no deadline)"
        elif isinstance(leaf, ValueError | TypeError | OSError | RuntimeError):
            message = str(leaf) or type(leaf).__name__
        else:
            message = f"internal error: {type(leaf).__name__}: {leaf}"
        sys.stderr.write(f"pyctr: {' '.join(message.split())}\n")
    return code


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:  # pragma: no cover
        pass


def _tls(args: argparse.Namespace) -> TLS | Literal[False] | None:
    """The client's TLS, from ``--tls-*`` and ``--plaintext``."""
    files = {
        name: getattr(args, f"tls_{name}", None) for name in ("ca", "cert", "key", "server_name")
    }
    plaintext = getattr(args, "plaintext", False)
    if plaintext and any(value is not None for value in files.values()):
        raise CliError("--plaintext and --tls-* exclude each other", code=2)
    if plaintext:
        return False
    if all(value is None for value in files.values()):
        return None
    return TLS(**files)


async def _run(func: Handler, args: argparse.Namespace) -> int:
    timeout = getattr(args, "timeout", None)
    tls = _tls(args)
    address = getattr(args, "address", None) or default_address()
    if tls is None and parse_address(address).tcp:
        raise CliError(
            f"containerd address {address!r} is TCP: give --tls-ca (and --tls-cert and "
            "--tls-key for mutual TLS), or --plaintext for plain TCP",
            code=2,
        )
    client = Client(
        address,
        namespace=getattr(args, "namespace", None),
        timeout=None if timeout == 0 else (60.0 if timeout is None else timeout),
        tls=tls,
    )
    async with client:
        code = await func(client, args)
    sys.stdout.flush()
    return code or 0
