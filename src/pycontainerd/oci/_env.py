"""Environment variable lists (``NAME=value`` strings) and containerd's merge rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["DEFAULT_PATH_ENV", "EnvLike", "env_entries", "merge_env"]

DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""The ``PATH`` containerd gives a process whose image sets no environment."""

EnvLike = Mapping[str, str] | Iterable[str]
"""Environment as a mapping, or as ``NAME=value`` strings (a bare ``NAME`` unsets it)."""


def env_entries(env: EnvLike) -> list[str]:
    """``NAME=value`` strings from a mapping or an iterable of strings.

    Raises:
        pycontainerd.errors.InvalidArgument: an empty name, a name containing
            ``=`` in a mapping, or a NUL anywhere (runc would refuse it at
            start); the message names the entry. Also a `ValueError`.
        TypeError: a lone string was given instead of a list, or an entry
            that is not a string.
    """
    from .. import errors

    if isinstance(env, str | bytes):
        raise TypeError(f"env must be a mapping or a list of NAME=value strings, not {env!r:.60}")
    if isinstance(env, Mapping):
        entries = []
        for name, value in env.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError(f"environment names and values must be str: {name!r:.60}")
            if not name or "=" in name:
                raise errors.InvalidArgument(f"invalid environment variable name {name!r:.60}")
            entries.append(f"{name}={value}")
    else:
        entries = list(env)
    for entry in entries:
        if not isinstance(entry, str):
            raise TypeError(f"environment entries must be NAME=value strings: {entry!r:.60}")
        if not entry or entry.startswith("="):
            raise errors.InvalidArgument(
                f"invalid environment entry {entry!r:.60}: expected NAME=value"
            )
        if "\0" in entry:
            raise errors.InvalidArgument(f"environment entry {entry!r:.60} contains a NUL")
    return entries


def merge_env(defaults: Iterable[str], overrides: EnvLike) -> tuple[str, ...]:
    """Merge env lists like containerd's ``replaceOrAppendEnvValues``: overrides replace defaults by name.

    An override without ``=`` removes that variable; new names are appended
    in order; a replaced variable keeps its position.
    """
    results: list[str | None] = []
    index: dict[str, int] = {}
    for entry in defaults:
        index[entry.split("=", 1)[0]] = len(results)
        results.append(entry)
    for entry in env_entries(overrides):
        if "=" not in entry:
            position = index.get(entry)
            if position is not None:
                results[position] = None
            continue
        name = entry.split("=", 1)[0]
        position = index.get(name)
        if position is not None:
            results[position] = entry
        else:
            index[name] = len(results)
            results.append(entry)
    return tuple(entry for entry in results if entry)
