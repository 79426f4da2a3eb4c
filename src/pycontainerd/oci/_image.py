"""Applying an image config to a spec, as containerd's ``WithImageConfigArgs`` does."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

import attrs

from ._env import DEFAULT_PATH_ENV, EnvLike, merge_env
from ._user import Rootfs, resolve_user, supplementary_for

if TYPE_CHECKING:
    from ._spec import Spec

__all__ = ["ImageConfigLike", "apply_image_config"]


class ImageConfigLike(Protocol):
    """What `Spec.from_image` reads from an image config (`pycontainerd.ImageConfig` fits)."""

    @property
    def env(self) -> Sequence[str]:
        """``NAME=value`` strings."""

    @property
    def entrypoint(self) -> Sequence[str]:
        """The entrypoint."""

    @property
    def cmd(self) -> Sequence[str]:
        """The default arguments."""

    @property
    def working_dir(self) -> str:
        """The working directory ("" for none)."""

    @property
    def user(self) -> str:
        """The user string ("" for none)."""


def _strings(name: str, values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise TypeError(f"{name} must be a sequence of strings, not the string {values!r}")
    return tuple(values)


def apply_image_config(
    spec: Spec,
    config: ImageConfigLike,
    *,
    args: Iterable[str] | None,
    entrypoint: Iterable[str] | None,
    env: EnvLike | None,
    cwd: str | None,
    user: str | int | None,
    rootfs: Rootfs | None,
) -> Spec:
    """The body of `Spec.from_image` (see there)."""
    process = spec._process()
    image_env = tuple(config.env) or (DEFAULT_PATH_ENV,)
    merged_env = merge_env(image_env, process.env)
    if env is not None:
        merged_env = merge_env(merged_env, env)

    command = _strings("args", args) if args is not None else ()
    if not command:
        command = tuple(config.cmd)
    prefix = (
        _strings("entrypoint", entrypoint) if entrypoint is not None else tuple(config.entrypoint)
    )
    # No entrypoint, cmd nor args: no args, as in containerd's client. Such a
    # spec is valid; the runtime refuses it when the task is created.
    argv = (*prefix, *command)

    workdir = cwd or config.working_dir or "/"
    if not workdir.startswith("/"):
        raise ValueError(f"working directory must be absolute, got {workdir!r}")

    user_text = str(user) if user is not None else config.user
    if user_text:
        resolved = resolve_user(user_text, rootfs)
        process_user = attrs.evolve(
            process.user,
            uid=resolved.uid,
            gid=resolved.gid,
            additional_gids=resolved.additional_gids,
        )
    else:
        process_user = attrs.evolve(
            process.user, additional_gids=supplementary_for("root", process.user.gid, rootfs)
        )
    return attrs.evolve(
        spec,
        process=attrs.evolve(process, env=merged_env, args=argv, cwd=workdir, user=process_user),
    )
