"""User and group resolution from a root filesystem's ``/etc/passwd`` and ``/etc/group``.

Follows containerd's ``WithUser`` / ``WithUserID`` / ``WithUsername`` /
``WithAdditionalGIDs`` and runc's passwd/group parsers (lenient: short lines
and bad numbers are tolerated the same way).
"""

from __future__ import annotations

import os
import re
import stat
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import NamedTuple

__all__ = ["ResolvedUser", "Rootfs", "append_groups", "resolve_user", "root_path"]

Rootfs = str | os.PathLike[str] | Mapping[str, bytes]
"""Where user and group names are looked up: a root filesystem directory on this
host, or a mapping from ``/etc/passwd`` and ``/etc/group`` to their contents."""

_MAX_ID = 2**31 - 1  # runc's limit (and containerd's) for uids and gids
_NUMBER = re.compile(r"[+-]?[0-9]+")
_MAX_LINKS = 255


class ResolvedUser(NamedTuple):
    """Numeric ids for a user string."""

    uid: int
    gid: int
    additional_gids: tuple[int, ...]


class _PasswdEntry(NamedTuple):
    name: str
    uid: int
    gid: int


class _GroupEntry(NamedTuple):
    name: str
    gid: int
    members: tuple[str, ...]


def root_path(root: str | os.PathLike[str], path: str) -> str:
    """Resolve `path` inside `root`, following symlinks without leaving `root`.

    Like containerd's ``fs.RootPath``: ``..`` and absolute link targets are
    taken relative to `root`.

    Raises:
        ValueError: too many symbolic links.
    """
    base = os.fspath(root)
    pending = deque(part for part in path.split("/") if part)
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.popleft()
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(base, *resolved, part)
        try:
            mode = os.lstat(candidate).st_mode
        except OSError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(mode):
            links += 1
            if links > _MAX_LINKS:
                raise ValueError(f"too many symbolic links resolving {path!r} in {base!r}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            pending.extendleft(reversed([p for p in target.split("/") if p]))
            continue
        resolved.append(part)
    return os.path.join(base, *resolved)


def _atoi(text: str) -> int:
    return int(text) if _NUMBER.fullmatch(text) else 0


def _read(rootfs: Rootfs, path: str) -> bytes:
    """A file of the rootfs; `FileNotFoundError` when it does not exist."""
    if isinstance(rootfs, Mapping):
        data = rootfs.get(path)
        if data is None:
            raise FileNotFoundError(path)
        return data
    with open(root_path(rootfs, path), "rb") as file:
        return file.read()


def _describe_root(rootfs: Rootfs) -> str:
    return "the given files" if isinstance(rootfs, Mapping) else os.fspath(rootfs)


def _lines(data: bytes) -> Iterator[str]:
    for raw in data.splitlines():
        line = raw.decode("utf-8", "surrogateescape").strip()
        if line:
            yield line


def _passwd(root: Rootfs) -> list[_PasswdEntry]:
    entries = []
    for line in _lines(_read(root, "/etc/passwd")):
        parts = line.split(":")
        parts += [""] * (4 - len(parts))
        entries.append(_PasswdEntry(parts[0], _atoi(parts[2]), _atoi(parts[3])))
    return entries


def _groups(root: Rootfs) -> list[_GroupEntry]:
    entries = []
    for line in _lines(_read(root, "/etc/group")):
        if line.startswith("#"):
            continue
        parts = line.split(":")
        parts += [""] * (4 - len(parts))
        members = tuple(parts[3].split(",")) if parts[3] else ()
        entries.append(_GroupEntry(parts[0], _atoi(parts[2]), members))
    return entries


def _find_user(root: Rootfs, match: Callable[[_PasswdEntry], bool]) -> _PasswdEntry | None:
    """The first matching passwd entry; ``None`` when none matches or there is no passwd file."""
    try:
        entries = _passwd(root)
    except FileNotFoundError:
        return None
    return next((e for e in entries if match(e)), None)


def _parse_id(text: str) -> int | None:
    """A numeric id as containerd accepts it, or ``None`` for a name."""
    if _NUMBER.fullmatch(text):
        value = int(text)
        if 0 <= value <= _MAX_ID:
            return value
    return None


def _invalid(message: str) -> ValueError:
    """`pycontainerd.errors.InvalidArgument` (a `ValueError`), imported when first needed."""
    from .. import errors

    return errors.InvalidArgument(message)


def _need_rootfs(what: str, rootfs: Rootfs | None) -> Rootfs:
    if rootfs is None:
        raise _invalid(
            f"cannot resolve {what} without a rootfs to read /etc/passwd and /etc/group from"
        )
    return rootfs


def _user_by_name(name: str, rootfs: Rootfs | None) -> _PasswdEntry:
    root = _need_rootfs(f"user name {name!r}", rootfs)
    try:
        entries = _passwd(root)
    except FileNotFoundError:
        raise _invalid(
            f"cannot resolve user name {name!r}: no /etc/passwd in {_describe_root(root)}"
        ) from None
    for entry in entries:
        if entry.name == name:
            return entry
    raise _invalid(f"no user {name!r} in /etc/passwd of {_describe_root(root)}")


def _gid_by_name(name: str, rootfs: Rootfs | None) -> int:
    root = _need_rootfs(f"group name {name!r}", rootfs)
    try:
        entries = _groups(root)
    except FileNotFoundError:
        raise _invalid(
            f"cannot resolve group name {name!r}: no /etc/group in {_describe_root(root)}"
        ) from None
    for entry in entries:
        if entry.name == name:
            return entry.gid
    raise _invalid(f"no group {name!r} in /etc/group of {_describe_root(root)}")


def _supplementary_gids(user: str, rootfs: Rootfs) -> tuple[int, ...] | None:
    """Supplementary gids as in ``WithAdditionalGIDs``: groups listing the user (not its own-named group).

    `user` is a name or a uid (looked up in passwd; ``None`` when not found).
    """
    if _NUMBER.fullmatch(user):
        uid = int(user)
        entry = _find_user(rootfs, lambda e: e.uid == uid)
        if entry is None:
            return None
        name = entry.name
    else:
        name = user
    try:
        groups = _groups(rootfs)
    except FileNotFoundError:
        return None
    return tuple(g.gid for g in groups if g.name != name and name in g.members)


def _with_primary(gid: int, gids: tuple[int, ...] | None) -> tuple[int, ...]:
    """As ``ensureAdditionalGids``: the primary gid first unless already listed."""
    values = gids or ()
    return values if gid in values else (gid, *values)


def resolve_user(user: str, rootfs: Rootfs | None) -> ResolvedUser:
    """Resolve ``uid``, ``name``, ``uid:gid``, ``name:group`` (and mixes) to numeric ids.

    A lone uid takes its gid from passwd (0 when absent, or without
    `rootfs`). Additional gids are the user's supplementary groups (with
    `rootfs`), always including the primary gid.

    Raises:
        ValueError: more than one ``:``, or a name that cannot be resolved.
    """
    parts = user.split(":")
    if len(parts) == 1:
        uid = _parse_id(parts[0])
        if uid is not None:
            found = None if rootfs is None else _find_user(rootfs, lambda e: e.uid == uid)
            gid = found.gid if found is not None else 0
        else:
            entry = _user_by_name(parts[0], rootfs)
            uid, gid = entry.uid, entry.gid
    elif len(parts) == 2:
        uid_part, gid_part = _parse_id(parts[0]), _parse_id(parts[1])
        uid = uid_part if uid_part is not None else _user_by_name(parts[0], rootfs).uid
        gid = gid_part if gid_part is not None else _gid_by_name(parts[1], rootfs)
    else:
        raise _invalid(f"invalid user {user!r:.60}: expected user[:group]")
    extra = None if rootfs is None else _supplementary_gids(str(uid), rootfs)
    return ResolvedUser(uid, gid, _with_primary(gid, extra))


def supplementary_for(user: str, gid: int, rootfs: Rootfs | None) -> tuple[int, ...]:
    """Additional gids for a user name or uid, with `gid` included (``WithAdditionalGIDs``)."""
    extra = None if rootfs is None else _supplementary_gids(user, rootfs)
    return _with_primary(gid, extra)


def append_groups(
    gid: int, gids: Iterable[int], groups: Iterable[str | int], rootfs: Rootfs | None
) -> tuple[int, ...]:
    """`gids` with `groups` (gids or ``/etc/group`` names) appended, as ``WithAppendAdditionalGroups``.

    The primary `gid` is put first unless already listed (``ensureAdditionalGids``).

    Raises:
        pycontainerd.errors.InvalidArgument: a group name that cannot be
            resolved (no `rootfs`, or not in its ``/etc/group``). Also a
            `ValueError`.
        TypeError: a lone string was given instead of a list.
    """
    if isinstance(groups, str | bytes):
        raise TypeError(f"groups must be a list of gids or group names, not {groups!r:.60}")
    added: list[int] = []
    for group in groups:
        if isinstance(group, int):
            if not 0 <= group <= _MAX_ID:
                raise _invalid(f"gid {group} out of range")
            added.append(group)
        else:
            number = _parse_id(group)
            added.append(number if number is not None else _gid_by_name(group, rootfs))
    return _with_primary(gid, (*gids, *added))
