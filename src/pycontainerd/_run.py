"""One-shot run: container + task + output + cleanup in one call (`Client.run`)."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from . import errors
from ._containers import CLEANUP_TIMEOUT, Container, _spec_bytes, image_user_files, user_rootfs
from ._identifiers import validate
from ._shield import Removal, finish
from ._tasks import RunResult, _checked_args, _finish_run, _override_process
from .stdio import capture

if TYPE_CHECKING:
    from ._client import Client
    from ._images import Image

__all__ = ["run"]


def _mount_dict(mount: Any) -> dict[str, Any]:
    if isinstance(mount, str):
        from . import oci

        mount = oci.Mount.parse(mount)
    if isinstance(mount, Mapping):
        return dict(mount)
    data = mount.to_dict()
    assert isinstance(data, dict)
    return data


async def _build_spec(
    base: Any,
    *,
    image: Image | None,
    args: Sequence[str] | None,
    env: Mapping[str, str] | Sequence[str] | None,
    cwd: str | None,
    user: str | int | None,
    terminal: bool,
    mounts: Sequence[Any] | None,
) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(_spec_bytes(base) or b"{}")
    process = spec.setdefault("process", {})
    if args is not None:
        process["args"] = _checked_args(args)
    rootfs = await user_rootfs(image, spec, str(user)) if user is not None else None
    _override_process(process, env=env, cwd=cwd, user=user, rootfs=rootfs)
    process["terminal"] = terminal
    if mounts:
        spec["mounts"] = [*(spec.get("mounts") or []), *(_mount_dict(m) for m in mounts)]
    if not process.get("args"):
        raise ValueError("nothing to run: give args, or an image with an entrypoint or cmd")
    return spec


async def run(
    client: Client,
    image: Image | str | None = None,
    args: Sequence[str] | None = None,
    *,
    id: str | None = None,
    env: Mapping[str, str] | Sequence[str] | None = None,
    mounts: Sequence[Any] | None = None,
    stdin: bytes | None = None,
    check: bool = False,
    timeout: float | None = None,
    remove: bool = True,
    spec: Any = None,
    cwd: str | None = None,
    user: str | int | None = None,
    terminal: bool = False,
    labels: Mapping[str, str] | None = None,
    snapshotter: str | None = None,
    max_output: int | None = None,
) -> RunResult:
    """See `Client.run`."""
    cid = validate(id, "container") if id is not None else "run-" + secrets.token_hex(8)
    stdio = capture(max_output, input=stdin, terminal=terminal)
    stdio._check_local(client)  # before anything is made
    image_obj = await client.images.get(image) if isinstance(image, str) else image
    base = spec
    if base is None:
        if image_obj is None:
            raise errors.InvalidArgument("client.run needs an image or a spec")
        from . import oci

        # As ``ctr run``/``docker run``: args replace the image's cmd, the entrypoint stays.
        config = await client.containers._image_config(image_obj)
        base = oci.Spec.from_image(
            config,
            args=args,
            env=env,
            cwd=cwd,
            user=user,
            namespace=client.namespace,
            id=cid,
            rootfs=await image_user_files(
                image_obj, str(user) if user is not None else config.user
            ),
        )
        args = env = cwd = user = None
    full_spec = await _build_spec(
        base,
        image=image_obj,
        args=args,
        env=env,
        cwd=cwd,
        user=user,
        terminal=terminal,
        mounts=mounts,
    )
    run_args = tuple(full_spec["process"]["args"])
    container: Container = await client.containers.create(
        cid, image=image_obj, spec=full_spec, labels=labels, snapshotter=snapshotter
    )
    try:
        async with await container.new_task(stdio=stdio) as task:
            await task.start()
            with anyio.move_on_after(timeout) as scope:
                status = await task.wait()
            if scope.cancelled_caught:
                raise errors.DeadlineExceeded(
                    f"{list(run_args)!r} did not exit within {timeout} seconds (it was killed)"
                )
            await task.delete()
    finally:
        if remove:

            async def remove_container() -> None:
                with contextlib.suppress(errors.NotFound):
                    await client.containers.delete(cid)

            with contextlib.suppress(TimeoutError):
                await finish(Removal(remove_container), timeout=CLEANUP_TIMEOUT)
    return _finish_run(run_args, status, task, check=check)
