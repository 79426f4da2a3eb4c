"""OCI platforms (``os/architecture[/variant]``)."""

from __future__ import annotations

import platform as _platform

import attrs

from ._api.containerd.types import Platform as _Platform
from ._identifiers import shown

__all__ = ["Platform"]

# Python's machine names to the GOARCH names OCI images use.
_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


@attrs.frozen(kw_only=True)
class Platform:
    """An OCI platform such as ``linux/amd64`` or ``linux/arm/v7``.

    Example:
        ```python
        >>> Platform.parse("linux/arm64/v8")
        Platform(os='linux', architecture='arm64', variant='v8')
        >>> str(Platform.host()).startswith("linux/")
        True
        ```
    """

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def host(cls) -> Platform:
        """The platform of this machine (Linux, with the CPU's OCI architecture name)."""
        machine = _platform.machine().lower()
        arch = _ARCH.get(machine, machine)
        return cls(os="linux", architecture=arch, variant="v7" if arch == "arm" else "")

    @classmethod
    def parse(cls, value: str) -> Platform:
        """Parse ``os/arch[/variant]`` (an architecture alone means Linux).

        Raises:
            ValueError: the value has more than three parts or an empty part.
        """
        parts = value.strip().lower().split("/")
        if len(parts) == 1:
            parts = ["linux", *parts]
        if len(parts) > 3 or not all(parts):
            raise ValueError(f"invalid platform {shown(value)}: expected os/architecture[/variant]")
        arch = _ARCH.get(parts[1], parts[1])
        return cls(os=parts[0], architecture=arch, variant=parts[2] if len(parts) == 3 else "")

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base

    @classmethod
    def _from_proto(cls, msg: _Platform) -> Platform:
        return cls(os=msg.os, architecture=msg.architecture, variant=msg.variant)

    def _to_proto(self) -> _Platform:
        return _Platform(os=self.os, architecture=self.architecture, variant=self.variant)
