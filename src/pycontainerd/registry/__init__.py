"""Pull images from and push them to OCI distribution registries.

Example:
    ```python
    from pycontainerd.registry import Reference

    ref = Reference.parse("busybox")   # docker.io/library/busybox:latest
    ```
"""

from ._reference import Reference

__all__ = ["Reference"]
