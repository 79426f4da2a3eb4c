pytest_plugins = ["pycontainerd.testing.pytest_plugin"]

# Container/task test helpers (host-directory busybox rootfs).
from _taskutil import busybox_rootfs, host_container  # noqa: E402, F401
