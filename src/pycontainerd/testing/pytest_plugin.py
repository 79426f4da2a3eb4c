"""pytest fixtures around a private containerd (see `pycontainerd.testing`).

Fixtures:
    containerd_daemon: one `ContainerdDaemon` for the whole session.
    containerd_namespace: a fresh namespace name for the test.
    containerd_client: a `pycontainerd.Client` on the session daemon in that
        namespace, whose task FIFOs go under the daemon's
        `ContainerdDaemon.fifo_dir`; after the test the namespace is emptied
        and deleted, and the test fails if that cleanup fails, or if the
        daemon died during it (a request crashed it: the failure quotes its log).

The daemon is the ``containerd`` on ``PATH`` unless the environment variable
``PYCONTAINERD_TEST_CONTAINERD`` names another: a path to its binary, or
``debian:SUITE`` for Debian's build in that suite (fetched with
`pycontainerd.testing.debian_containerd`), for example ``debian:sid``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from .._client import Client
from ._cleanup import empty_namespace
from ._daemon import ContainerdDaemon, DaemonError, require_tools
from ._debian import debian_containerd

ENV_CONTAINERD = "PYCONTAINERD_TEST_CONTAINERD"


def _chosen_containerd() -> str | None:
    choice = os.environ.get(ENV_CONTAINERD) or None
    if choice is not None and choice.startswith("debian:"):
        return str(debian_containerd(choice.removeprefix("debian:")))
    return choice


@pytest.fixture(scope="session")
def containerd_daemon() -> Iterator[ContainerdDaemon]:
    """A private containerd shared by the session, stopped at its end."""
    try:
        binary = _chosen_containerd()
        require_tools(containerd=binary is None)
    except DaemonError as exc:
        pytest.fail(str(exc), pytrace=False)
    with ContainerdDaemon(containerd=binary) as daemon:
        yield daemon


@pytest.fixture
def containerd_namespace(request: pytest.FixtureRequest) -> str:
    """A namespace name unique to this test (not yet created)."""
    stem = "".join(ch if ch.isalnum() else "-" for ch in request.node.name.lower())
    stem = "-".join(part for part in stem.split("-") if part)[:50].rstrip("-")
    return f"{stem}-{uuid.uuid4().hex[:8]}".strip("-")


@pytest.fixture
async def containerd_client(
    containerd_daemon: ContainerdDaemon, containerd_namespace: str
) -> AsyncIterator[Client]:
    """A client in a fresh namespace of the session daemon, cleaned up after the test."""
    async with Client(
        containerd_daemon.address,
        namespace=containerd_namespace,
        fifo_dir=containerd_daemon.fifo_dir,
    ) as client:
        await client.namespaces.create(containerd_namespace)
        yield client
    # The test may have closed (or broken) its client: clean up with a new one.
    if not containerd_daemon.running:
        log = containerd_daemon.log()
        containerd_daemon.start()  # for the tests after this one
        panic = log[log.rfind("panic:") :] if "panic:" in log else log
        pytest.fail(f"containerd died during the test:\n{panic[-3000:]}", pytrace=False)
    async with Client(containerd_daemon.address, namespace=containerd_namespace) as cleaner:
        await empty_namespace(cleaner)
