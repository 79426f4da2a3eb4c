"""Distribution's side of media types: the manifest Accept header, sniffing, source labels.

The media types themselves are named once, in `pycontainerd._oci`.
"""

from __future__ import annotations

import json
from typing import Final

from .. import _oci
from ._errors import UnsupportedMediaTypeError

ACCEPT: Final = ", ".join(
    [_oci.OCI_INDEX, _oci.DOCKER_MANIFEST_LIST, _oci.OCI_MANIFEST, _oci.DOCKER_MANIFEST]
)

# Manifests and indexes are read into memory; refuse anything larger. The same
# bound as containerd's resolver (remotes/docker MaxManifestSize, 4 * 1048 * 1048).
MAX_MANIFEST_SIZE: Final = 4 * 1048 * 1048


def sniff(media_type: str, data: bytes, where: str) -> str:
    """The media type of a manifest, from the registry's answer or from the document itself.

    Raises:
        UnsupportedMediaTypeError: Docker schema 1, or neither a manifest nor an index.
    """
    if _oci.is_index(media_type) or _oci.is_manifest(media_type):
        return media_type
    if media_type in _oci.DOCKER_SCHEMA1_MANIFESTS:
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
        if isinstance(declared, str) and (_oci.is_index(declared) or _oci.is_manifest(declared)):
            return declared
        if doc.get("schemaVersion") == 2 and "manifests" in doc:
            return _oci.OCI_INDEX
        if doc.get("schemaVersion") == 2 and "layers" in doc:
            return _oci.OCI_MANIFEST
        if doc.get("schemaVersion") == 1:
            return sniff(_oci.DOCKER_SCHEMA1_MANIFESTS[0], b"", where)
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
