"""The OCI runtime spec: typed, immutable, and lossless through JSON.

A container's spec is the runtime-spec ``config.json`` containerd hands to
runc. `Spec.default` is containerd's default Linux spec; `Spec.from_image`
applies an image config to it the way containerd's Go client does; the
``Spec.with_*`` methods make the common changes, each returning a new spec.

Example:
    ```python
    from pycontainerd import oci

    spec = (
        oci.Spec.default(namespace="default", id="demo")
        .with_args(["sh", "-c", "echo hello"])
        .with_env({"GREETING": "hello"})
        .with_mounts([oci.Mount.parse("type=bind,src=/srv,dst=/srv,options=rbind:ro")])
        .with_memory_limit(64 * 2**20)
    )
    data = spec.to_json()
    assert oci.Spec.from_json(data) == spec
    ```
"""

from ._env import DEFAULT_PATH_ENV, EnvLike
from ._image import ImageConfigLike
from ._model import (
    CPU,
    OCI_VERSION,
    Capabilities,
    ConsoleSize,
    Device,
    DeviceRule,
    IDMapping,
    Linux,
    Memory,
    Mount,
    Namespace,
    Pids,
    Process,
    Resources,
    Rlimit,
    Root,
    User,
)
from ._spec import DEFAULT_CAPABILITIES, KNOWN_CAPABILITIES, NAMESPACE_TYPES, Spec
from ._user import Rootfs
from ._userns import GID_MAPPING_LABEL, UID_MAPPING_LABEL, UserNamespace

SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
"""The type URL containerd stores a container's spec under (an ``Any`` holding the JSON)."""

PROCESS_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process"
"""The type URL of an exec process spec (an ``Any`` holding `Process` JSON)."""

__all__ = [
    "CPU",
    "DEFAULT_CAPABILITIES",
    "DEFAULT_PATH_ENV",
    "GID_MAPPING_LABEL",
    "KNOWN_CAPABILITIES",
    "NAMESPACE_TYPES",
    "OCI_VERSION",
    "PROCESS_TYPE_URL",
    "SPEC_TYPE_URL",
    "UID_MAPPING_LABEL",
    "Capabilities",
    "ConsoleSize",
    "Device",
    "DeviceRule",
    "EnvLike",
    "IDMapping",
    "ImageConfigLike",
    "Linux",
    "Memory",
    "Mount",
    "Namespace",
    "Pids",
    "Process",
    "Resources",
    "Rlimit",
    "Root",
    "Rootfs",
    "Spec",
    "User",
    "UserNamespace",
]
