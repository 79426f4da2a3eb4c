"""Fixtures for the daemon tests, and the ``integration`` mark on every test of this folder.

pytest reads ``pytest_plugins`` only from the conftest files it loads at start-up,
which this one (below ``tests/``) is not: the fixtures of
``pycontainerd.testing.pytest_plugin`` and of ``registry_harness`` are imported
here instead, so they exist for the tests of this folder only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _faults import FAULT_LOG
from _taskutil import busybox_rootfs, current_fifo_root, host_container  # noqa: F401  (container/task test fixtures)
from registry_harness import (  # noqa: F401  (docker-registry fixtures for test_registry*.py)
    auth_registry,
    registry,
    tls_registry,
    token_registry,
)

import pycontainerd
from pycontainerd.testing import busybox_archive
from pycontainerd.testing.pytest_plugin import (  # noqa: F401
    containerd_client,
    containerd_daemon,
    containerd_namespace,
)

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of this folder ``integration`` (``-m "not integration"`` leaves them out)."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault matrix's table (test_faults.py), when its cases ran."""
    if FAULT_LOG:
        seed = os.environ.get("PYCONTAINERD_FAULT_SEED", "15")
        terminalreporter.write_sep("-", f"fault matrix (seed {seed})")
        terminalreporter.write_line("| operation | kill point | outcome | leftovers |")
        terminalreporter.write_line("|---|---|---|---|")
        for line in FAULT_LOG:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def busybox_archive_bytes() -> bytes:
    """The busybox test image as OCI archive bytes, built once per session."""
    return busybox_archive()


@pytest.fixture
async def busybox_image(
    containerd_client: pycontainerd.Client,  # noqa: F811  (the fixture imported above)
    busybox_archive_bytes: bytes,
) -> pycontainerd.Image:
    """``docker.io/library/busybox:latest``, imported and unpacked in the test's namespace."""
    [image] = await containerd_client.images.import_archive(busybox_archive_bytes, unpack=True)
    return image
