"""Pull images from and push them to OCI distribution registries.

Example:
    ```python
    from pycontainerd.registry import Credentials, Reference

    ref = Reference.parse("busybox")   # docker.io/library/busybox:latest
    image = await client.pull(str(ref))
    await client.push("registry.example.com/team/app:v1", image,
                      auth=Credentials(username="ci", password=token))
    ```
"""

from ._auth import Credentials
from ._errors import (
    AccessDeniedError,
    AuthenticationError,
    DigestError,
    InsecureURLError,
    NotFoundError,
    PlatformNotFoundError,
    RegistryError,
    UnavailableError,
    UnsupportedMediaTypeError,
)
from ._hosts import Capability, HostConfig, Hosts, HostsConfigError
from ._progress import BlobState, Progress, ProgressCallback
from ._reference import Reference
from ._remote import open_blob

__all__ = [
    "AccessDeniedError",
    "AuthenticationError",
    "BlobState",
    "Capability",
    "Credentials",
    "DigestError",
    "HostConfig",
    "Hosts",
    "HostsConfigError",
    "InsecureURLError",
    "NotFoundError",
    "PlatformNotFoundError",
    "Progress",
    "ProgressCallback",
    "Reference",
    "RegistryError",
    "UnavailableError",
    "UnsupportedMediaTypeError",
    "open_blob",
]
