from __future__ import annotations

import pytest
from _taskutil import busybox_rootfs, host_container, private_fifo_root  # noqa: F401  (container/task test fixtures)

import pycontainerd
from pycontainerd.testing import busybox_archive

pytest_plugins = ["pycontainerd.testing.pytest_plugin"]
pytest_plugins += ["registry_harness"]  # docker-registry fixtures for tests/test_registry*.py


@pytest.fixture(scope="session")
def busybox_archive_bytes() -> bytes:
    """The busybox test image as OCI archive bytes, built once per session."""
    return busybox_archive()


@pytest.fixture
async def busybox_image(
    containerd_client: pycontainerd.Client, busybox_archive_bytes: bytes
) -> pycontainerd.Image:
    """``docker.io/library/busybox:latest``, imported and unpacked in the test's namespace."""
    [image] = await containerd_client.images.import_archive(busybox_archive_bytes, unpack=True)
    return image
