"""Sandboxes against a real daemon: the store, containers in a sandbox, the controllers.

The store arrived in containerd 1.7 (1.6 answers every call UNIMPLEMENTED).
The controller service is there in 1.7 (one controller, for shims that serve
containerd's sandbox API, which runc's does not). In 2.1 its plugin needs
CRI's pod-sandbox controller, which the test daemon disables, so the service
does not load at all: those tests check what each daemon answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import pycontainerd
from pycontainerd import Client, Extension, Sandbox, errors, oci
from pycontainerd.testing import ContainerdDaemon, empty_namespace, inventory

pytestmark = pytest.mark.anyio

SPEC_TYPE = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
NOT_LOADED = (
    "the daemon has no sandbox controller service: its plugin "
    "io.containerd.grpc.v1.sandbox-controllers did not load "
    "(no plugins registered for io.containerd.podsandbox.controller.v1"
)


def has_store(daemon: ContainerdDaemon) -> bool:
    return daemon.version_info >= (1, 7, 0)


async def test_containerd_1_6_has_no_sandbox_store(
    containerd_client: Client, containerd_daemon: ContainerdDaemon
) -> None:
    sandboxes = containerd_client.sandboxes
    if has_store(containerd_daemon):
        assert await sandboxes.list() == []
        return
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: sandboxes.create("pod"),
        lambda: sandboxes.get("pod"),
        lambda: sandboxes.list(),
        lambda: sandboxes.update("pod", labels={"a": "1"}),
        lambda: sandboxes.delete("pod"),
    ]
    for call in calls:
        with pytest.raises(errors.Unimplemented, match=r"needs containerd 1\.7 or newer"):
            await call()


async def test_create_get_list_delete(
    containerd_client: Client, containerd_daemon: ContainerdDaemon
) -> None:
    if not has_store(containerd_daemon):
        return  # test_containerd_1_6_has_no_sandbox_store
    sandboxes = containerd_client.sandboxes
    spec = oci.Spec.default(namespace=containerd_client.namespace, id="pod-1")
    options = Extension(type_url="example.com/runtime-options", value=b"\x08\x01")
    ext = Extension(type_url="example.com/note", value=b"hello")
    sandbox = await sandboxes.create(
        "pod-1",
        runtime="io.containerd.runc.v2",
        runtime_options=options,
        spec=spec,
        labels={"app": "web"},
        extensions={"note": ext},
    )
    assert isinstance(sandbox, Sandbox)
    assert sandbox.id == "pod-1"
    assert sandbox.runtime == pycontainerd.Runtime(name="io.containerd.runc.v2", options=options)
    assert sandbox.labels == {"app": "web"}
    assert sandbox.extensions == {"note": ext}
    assert sandbox.spec_type == SPEC_TYPE
    assert sandbox.spec == spec
    # 1.7's store has no sandboxer field: the name is not kept.
    expected = "shim" if containerd_daemon.version_info >= (2, 0, 0) else ""
    assert sandbox.sandboxer == expected
    assert sandbox.created_at is not None
    assert sandbox.updated_at == sandbox.created_at
    assert sandbox.controller.sandboxer == "shim"

    bare = await sandboxes.create("pod-2", sandboxer="podsandbox")
    assert bare.runtime == pycontainerd.Runtime()  # io.containerd.runc.v2, no options
    assert (bare.labels, bare.extensions, bare.spec, bare.spec_type) == ({}, {}, None, "")
    expected = "podsandbox" if containerd_daemon.version_info >= (2, 0, 0) else ""
    assert bare.sandboxer == expected

    assert await sandboxes.get("pod-1") == sandbox
    assert sorted(s.id for s in await sandboxes.list()) == ["pod-1", "pod-2"]

    with pytest.raises(errors.AlreadyExists):
        await sandboxes.create("pod-1")
    await sandbox.delete()
    with pytest.raises(errors.NotFound):
        await sandboxes.get("pod-1")
    with pytest.raises(errors.NotFound):  # 1.7 answers UNKNOWN ("bucket not found")
        await sandboxes.delete("pod-1")
    await sandboxes.delete("pod-2")
    assert await sandboxes.list() == []
    assert (await inventory(containerd_client)).sandboxes == ()


async def test_invalid_sandbox_ids_fail_before_any_call(containerd_client: Client) -> None:
    # No call is made: the same on 1.6, which has no store.
    sandboxes = containerd_client.sandboxes
    for bad in ["", "has space", "-dash", "a" * 77, "x/y"]:
        with pytest.raises(errors.InvalidArgument, match="sandbox"):
            await sandboxes.create(bad)
        with pytest.raises(errors.InvalidArgument, match="sandbox"):
            await sandboxes.get(bad)
        with pytest.raises(errors.InvalidArgument, match="sandbox"):
            await containerd_client.sandbox_controller().status(bad)
    with pytest.raises(errors.InvalidArgument, match="sandbox"):
        await containerd_client.containers.create("c", spec={}, sandbox="bad id")
    with pytest.raises(errors.InvalidArgument, match="runtime_options"):
        await sandboxes.update("pod", runtime_options=Extension(type_url="x"))
    with pytest.raises(errors.InvalidArgument, match="grace"):
        await containerd_client.sandbox_controller().stop("pod", grace=-1)
    # Runtime options of another kind, checked as a container's are.
    wrong: Any = {"binary_name": "crun"}
    with pytest.raises(errors.InvalidArgument, match="runtime_options must be RuncOptions or an"):
        await sandboxes.create("pod", runtime_options=wrong)
    with pytest.raises(errors.InvalidArgument, match="runtime_options must be RuncOptions or an"):
        await sandboxes.update("pod", runtime="io.containerd.runc.v2", runtime_options=wrong)
    with pytest.raises(errors.InvalidArgument, match="runtime_options must be RuncOptions or an"):
        await containerd_client.containers.create("c", spec={}, runtime_options=wrong)
    assert (await inventory(containerd_client)).empty


async def test_list_filters(containerd_client: Client, containerd_daemon: ContainerdDaemon) -> None:
    if not has_store(containerd_daemon):
        return  # test_containerd_1_6_has_no_sandbox_store
    sandboxes = containerd_client.sandboxes
    await sandboxes.create("web-1", labels={"app": "web", "tier": "front"})
    await sandboxes.create("web-2", labels={"app": "web", "tier": "back"})
    await sandboxes.create("db-1", labels={"app": "db", "dotted.key": "x"})

    async def ids(*filters: str) -> list[str]:
        return sorted(s.id for s in await sandboxes.list(*filters))

    assert await ids() == ["db-1", "web-1", "web-2"]
    assert await ids("labels.app==web") == ["web-1", "web-2"]
    assert await ids("labels.app==web,labels.tier==back") == ["web-2"]  # ANDed
    assert await ids("id==db-1", "labels.tier==front") == ["db-1", "web-1"]  # ORed
    assert await ids('id~="^web-"') == ["web-1", "web-2"]
    assert await ids("labels.app!=web") == ["db-1"]
    assert await ids('labels."dotted.key"==x') == ["db-1"]
    assert await ids("labels.tier") == ["web-1", "web-2"]  # the label is present
    assert await ids("labels.app==none") == []
    with pytest.raises(errors.InvalidArgument):
        await sandboxes.list("labels.==")


async def test_update_with_field_masks(
    containerd_client: Client, containerd_daemon: ContainerdDaemon
) -> None:
    if not has_store(containerd_daemon):
        return  # test_containerd_1_6_has_no_sandbox_store
    sandboxes = containerd_client.sandboxes
    one = Extension(type_url="example.com/one", value=b"1")
    two = Extension(type_url="example.com/two", value=b"2")
    created = await sandboxes.create("pod", labels={"a": "1", "b": "2"}, extensions={"one": one})

    # Labels key by key: set one, remove one, leave the rest.
    updated = await sandboxes.update("pod", labels={"a": "10", "b": None, "c": "3"})
    assert updated.labels == {"a": "10", "c": "3"}
    assert updated.extensions == {"one": one}
    assert updated.created_at == created.created_at
    assert created.updated_at is not None
    assert updated.updated_at is not None
    assert updated.updated_at > created.updated_at
    assert await sandboxes.get("pod") == updated

    # The whole set.
    updated = await updated.update(labels={"only": "this"}, replace_labels=True)
    assert updated.labels == {"only": "this"}
    updated = await sandboxes.update("pod", labels={}, replace_labels=True)
    assert updated.labels == {}

    # Extensions key by key: add one, replace one; the reply is what is stored.
    updated = await sandboxes.update("pod", extensions={"two": two})
    assert updated.extensions == {"one": one, "two": two}
    replaced = Extension(type_url="example.com/one", value=b"one again")
    updated = await sandboxes.update("pod", extensions={"one": replaced})
    assert updated.extensions == {"one": replaced, "two": two}
    assert await sandboxes.get("pod") == updated

    # Spec and runtime.
    spec = oci.Spec.default().with_hostname("pod")
    updated = await sandboxes.update("pod", spec=spec)
    assert updated.spec == spec
    assert updated.spec_type == SPEC_TYPE
    options = Extension(type_url="example.com/options", value=b"o")
    updated = await sandboxes.update(
        "pod", runtime="io.containerd.kata.v2", runtime_options=options
    )
    assert updated.runtime == pycontainerd.Runtime(name="io.containerd.kata.v2", options=options)
    assert updated.labels == {}
    assert updated.spec == spec

    # Nothing to change: the record as it is.
    assert await sandboxes.update("pod") == await sandboxes.get("pod")
    with pytest.raises(errors.NotFound):
        await sandboxes.update("missing", labels={"a": "1"})


async def test_requests_leave_the_daemon_serving(
    containerd_client: Client, containerd_daemon: ContainerdDaemon
) -> None:
    # A sandbox record without a runtime message panics containerd 1.7 and 2.x
    # (they read runtime.name unchecked): every request here carries one.
    if not has_store(containerd_daemon):
        return  # test_containerd_1_6_has_no_sandbox_store
    pid = containerd_daemon.pid
    sandboxes = containerd_client.sandboxes
    bare = await sandboxes.create("bare", runtime="", sandboxer="")
    assert bare.runtime == pycontainerd.Runtime(name="")
    await sandboxes.update("bare", labels={"a": "1"})
    await sandboxes.update("bare", labels={"a": None})
    await sandboxes.update("bare", labels={}, replace_labels=True)
    await sandboxes.update("bare", spec={})
    await sandboxes.update("bare", runtime="")
    await sandboxes.update("bare", extensions={"x": Extension(type_url="")})
    await sandboxes.delete("bare")
    assert (await containerd_client.version()).version == containerd_daemon.version
    assert containerd_daemon.pid == pid, containerd_daemon.log()[-3000:]


async def test_containers_in_a_sandbox(
    containerd_client: Client, containerd_daemon: ContainerdDaemon
) -> None:
    containers = containerd_client.containers
    if not has_store(containerd_daemon):
        # 1.6's containers have no sandbox field: the id is not kept.
        container = await containers.create("in-pod", spec={}, sandbox="pod")
        assert container.sandbox == ""
        await container.delete()
        return
    sandbox = await containerd_client.sandboxes.create("pod")
    first = await containers.create("in-pod", spec={}, sandbox=sandbox)
    second = await sandbox.new_container("also-in-pod", spec={}, labels={"x": "y"})
    alone = await containers.create("alone", spec={})
    assert (first.sandbox, second.sandbox, alone.sandbox) == ("pod", "pod", "")
    assert second.labels == {"x": "y"}
    assert (await containers.get("in-pod")).sandbox == "pod"
    listed = {c.id: c.sandbox for c in await containers.list()}
    assert listed == {"in-pod": "pod", "also-in-pod": "pod", "alone": ""}
    # containerd checks neither that the sandbox exists nor that none names it.
    ghost = await containers.create("ghost", spec={}, sandbox="no-such-pod")
    assert ghost.sandbox == "no-such-pod"
    await sandbox.delete()
    assert (await containers.get("in-pod")).sandbox == "pod"
    for c in (first, second, alone, ghost):
        await c.delete()


async def test_controller_on_each_daemon(
    containerd_client: Client, containerd_daemon: ContainerdDaemon
) -> None:
    controller = containerd_client.sandbox_controller()
    assert controller.sandboxer == "shim"
    calls: dict[str, Callable[[], Awaitable[Any]]]
    if not has_store(containerd_daemon):
        with pytest.raises(errors.Unimplemented, match=r"needs containerd 1\.7 or newer"):
            await controller.status("pod")
        return

    sandbox = await containerd_client.sandboxes.create("pod")
    if containerd_daemon.version_info >= (2, 0, 0):
        # Without CRI's pod-sandbox controller, 2.1's controller service does not load.
        [plugin] = await containerd_client.plugins("id==sandbox-controllers")
        assert plugin.init_error is not None
        assert "no plugins registered for io.containerd.podsandbox.controller.v1" in str(
            plugin.init_error
        )
        [shim] = await containerd_client.plugins("type==io.containerd.sandbox.controller.v1")
        assert (shim.id, shim.ok) == ("shim", True)  # there, but nothing serves it
        calls = {
            "Create": lambda: controller.create(sandbox),
            "Start": lambda: controller.start("pod"),
            "Platform": lambda: controller.platform("pod"),
            "Status": lambda: controller.status("pod", verbose=True),
            "Wait": lambda: controller.wait("pod"),
            "Stop": lambda: controller.stop("pod", grace=1.5),
            "Shutdown": lambda: controller.shutdown("pod"),
            "Metrics": lambda: controller.metrics("pod"),
            "Create ": sandbox.start,  # Sandbox.start creates first
            "Shutdown ": sandbox.shutdown,
        }
        for name, call in calls.items():
            with pytest.raises(errors.Unimplemented) as info:
                await call()
            method = f"/containerd.services.sandbox.v1.Controller/{name.strip()}"
            assert info.value.method == method
            assert str(info.value).startswith(f"{method}: {NOT_LOADED}"), str(info.value)
        assert await containerd_client.sandboxes.get("pod") == sandbox  # shutdown kept it
        await sandbox.delete()
        return

    # containerd 1.7: one controller, which ignores the name. It runs no
    # instance of the sandbox, and says so in its own ways.
    status = await controller.status("pod")
    assert (status.sandbox_id, status.pid, status.state) == ("pod", 0, "")
    assert status.created_at is None
    assert status.exited_at is not None
    assert status.extra is None
    assert (await sandbox.status()).sandbox_id == "pod"
    missing: list[Callable[[str], Awaitable[Any]]] = [
        controller.stop,
        controller.shutdown,
        controller.wait,
    ]
    for stop_shutdown_or_wait in missing:
        with pytest.raises(errors.NotFound):
            await stop_shutdown_or_wait("pod")
    with pytest.raises(errors.Unknown, match='unable to find sandbox "pod"'):
        await controller.start("pod")
    # The service has no Platform handler: no newer release is named.
    with pytest.raises(errors.Unimplemented) as info:
        await controller.platform("pod")
    assert str(info.value) == "method Platform not implemented"
    with pytest.raises(errors.Unimplemented, match=r"Metrics needs containerd 2\.0 or newer"):
        await controller.metrics("pod")
    await sandbox.shutdown()  # the controller knows no instance: the record goes
    assert await containerd_client.sandboxes.list() == []


async def test_cleanup_removes_sandboxes(
    containerd_client: Client, containerd_daemon: ContainerdDaemon
) -> None:
    name = f"{containerd_client.namespace}-extra"
    other = containerd_client.with_namespace(name)
    await containerd_client.namespaces.create(name)
    try:
        if has_store(containerd_daemon):
            await other.sandboxes.create("left-behind", labels={"a": "1"})
            await other.containers.create("in-it", spec={}, sandbox="left-behind")
            stock = await inventory(other)
            assert (stock.sandboxes, stock.containers) == (("left-behind",), ("in-it",))
        else:
            assert (await inventory(other)).sandboxes == ()
    finally:
        await empty_namespace(other)
    # containerd 1.7 deletes a namespace that still holds sandboxes and keeps
    # their records: a namespace made again under the name would show them.
    await containerd_client.namespaces.create(name)
    try:
        assert (await inventory(other)).empty
    finally:
        await empty_namespace(other)
