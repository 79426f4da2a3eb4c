"""Media types and manifest parsing for distribution (OCI and Docker schema 2)."""

from __future__ import annotations

import json
from typing import Final

from ._errors import UnsupportedMediaTypeError

OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
DOCKER_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_SCHEMA1: Final = (
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v1+json",
)

INDEXES: Final = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFESTS: Final = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
CONFIGS: Final = frozenset({OCI_CONFIG, DOCKER_CONFIG})
ACCEPT: Final = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])

# Manifests and indexes are read into memory; refuse anything larger.
MAX_MANIFEST_SIZE: Final = 8 << 20


def sniff(media_type: str, data: bytes, where: str) -> str:
    """The media type of a manifest, from the registry's answer or from the document itself.

    Raises:
        UnsupportedMediaTypeError: Docker schema 1, or neither a manifest nor an index.
    """
    if media_type in INDEXES or media_type in MANIFESTS:
        return media_type
    if media_type in DOCKER_SCHEMA1:
        raise UnsupportedMediaTypeError(
            f"{where} is a Docker schema 1 manifest, which is not supported "
            "(push it again with a current client)"
        )
    try:
        doc = json.loads(data)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        declared = doc.get("mediaType")
        if isinstance(declared, str) and (declared in INDEXES or declared in MANIFESTS):
            return declared
        if doc.get("schemaVersion") == 2 and "manifests" in doc:
            return OCI_INDEX
        if doc.get("schemaVersion") == 2 and "layers" in doc:
            return OCI_MANIFEST
        if doc.get("schemaVersion") == 1:
            return sniff(DOCKER_SCHEMA1[0], b"", where)
    raise UnsupportedMediaTypeError(f"{where} has unsupported media type {media_type!r}")


DISTRIBUTION_SOURCE: Final = "containerd.io/distribution.source."
_LABEL_MAX: Final = 4096


def distribution_source(domain: str) -> str:
    """The label key containerd records a blob's source registry under (host without port)."""
    if domain.startswith("["):
        host = domain[1 : domain.index("]")]
    else:
        host = domain.split(":", 1)[0]
    return DISTRIBUTION_SOURCE + host


def append_source(current: str | None, repository: str) -> str:
    """Add `repository` to a distribution-source label value (sorted, without duplicates)."""
    repos = {r for r in (current or "").split(",") if r}
    repos.add(repository)
    return ",".join(sorted(repos))


def label_fits(key: str, value: str) -> bool:
    """Whether containerd accepts a label of this size."""
    return len(key) + len(value) <= _LABEL_MAX
