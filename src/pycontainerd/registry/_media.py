"""Media types and manifest parsing for distribution (OCI and Docker schema 2)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from .._descriptors import Descriptor
from .._platforms import Platform
from ._errors import PlatformNotFoundError, UnsupportedMediaTypeError

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

_LAYER_PREFIXES = (
    "application/vnd.oci.image.layer.",
    "application/vnd.docker.image.rootfs.",
)


def is_layer(media_type: str) -> bool:
    """Whether `media_type` is a filesystem layer (OCI or Docker, any compression)."""
    return media_type.startswith(_LAYER_PREFIXES)


@attrs.frozen(kw_only=True)
class Child:
    """A descriptor found in a manifest or index, with its platform if the index gave one."""

    descriptor: Descriptor
    platform: Platform | None = None


def _descriptor(raw: Any, where: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise UnsupportedMediaTypeError(f"{where}: a descriptor is not a JSON object")
    try:
        return Descriptor(
            media_type=str(raw.get("mediaType", "")),
            digest=str(raw["digest"]),
            size=int(raw["size"]),
            annotations={str(k): str(v) for k, v in (raw.get("annotations") or {}).items()},
        )
    except (KeyError, TypeError, ValueError):
        raise UnsupportedMediaTypeError(f"{where}: a descriptor lacks a digest or size") from None


def load(data: bytes, where: str) -> dict[str, Any]:
    """Decode a manifest or index (a JSON object)."""
    try:
        doc = json.loads(data)
    except ValueError:
        raise UnsupportedMediaTypeError(f"{where} is not valid JSON") from None
    if not isinstance(doc, dict):
        raise UnsupportedMediaTypeError(f"{where} is not a JSON object")
    return doc


def sniff(media_type: str, data: bytes, where: str) -> str:
    """The media type of a manifest, from the registry's answer or from the document itself."""
    if media_type in INDEXES or media_type in MANIFESTS:
        return media_type
    if media_type in DOCKER_SCHEMA1:
        raise UnsupportedMediaTypeError(
            f"{where} is a Docker schema 1 manifest, which is not supported (push it again with a current client)"
        )
    doc = load(data, where)
    declared = doc.get("mediaType")
    if isinstance(declared, str) and (declared in INDEXES or declared in MANIFESTS):
        return declared
    if doc.get("schemaVersion") == 2 and "manifests" in doc:
        return OCI_INDEX
    if doc.get("schemaVersion") == 2 and "layers" in doc:
        return OCI_MANIFEST
    raise UnsupportedMediaTypeError(f"{where} has unsupported media type {media_type!r}")


def children(media_type: str, data: bytes, where: str) -> list[Child]:
    """The descriptors an index or manifest points to (config first, then layers, in order)."""
    doc = load(data, where)
    if media_type in INDEXES:
        found = []
        for raw in doc.get("manifests") or []:
            desc = _descriptor(raw, where)
            plat = raw.get("platform") if isinstance(raw, dict) else None
            platform = None
            if isinstance(plat, dict) and plat.get("os") and plat.get("architecture"):
                platform = Platform(
                    os=str(plat["os"]),
                    architecture=str(plat["architecture"]),
                    variant=str(plat.get("variant") or ""),
                )
            found.append(Child(descriptor=desc, platform=platform))
        return found
    if media_type in MANIFESTS:
        if "config" not in doc:
            raise UnsupportedMediaTypeError(f"{where}: manifest without a config")
        config = _descriptor(doc["config"], where)
        layers = [_descriptor(raw, where) for raw in doc.get("layers") or []]
        return [Child(descriptor=d) for d in [config, *layers]]
    return []


def _normal(p: Platform) -> tuple[str, str, str]:
    variant = p.variant
    if p.architecture == "arm64" and variant == "v8":
        variant = ""
    if p.architecture == "amd64" and variant == "v1":
        variant = ""
    return p.os, p.architecture, variant


def platform_matches(wanted: Platform, candidate: Platform | None) -> bool:
    """Whether an index entry's platform serves `wanted` (same OS and architecture; variant if given).

    Example:
        ```python
        >>> platform_matches(Platform.parse("linux/arm64"), Platform.parse("linux/arm64/v8"))
        True
        ```
    """
    if candidate is None:
        return False
    w, c = _normal(wanted), _normal(candidate)
    return w[:2] == c[:2] and (not w[2] or not c[2] or w[2] == c[2])


def select_manifest(entries: Iterable[Child], wanted: Platform, where: str) -> Descriptor:
    """The first index entry for `wanted`, preferring an exact variant match.

    Raises:
        PlatformNotFoundError: no entry matches; the message lists what the index offers.
    """
    entries = list(entries)
    matches = [e for e in entries if platform_matches(wanted, e.platform)]
    if not matches:
        offered = sorted({str(e.platform) for e in entries if e.platform is not None})
        raise PlatformNotFoundError(
            f"{where} has no manifest for platform {wanted} (it offers: {', '.join(offered) or 'none'})"
        )
    exact = [
        e for e in matches if e.platform is not None and _normal(e.platform) == _normal(wanted)
    ]
    return (exact or matches)[0].descriptor


def child_gc_label(media_type: str) -> str:
    """Containerd's GC label (or label prefix, ending in ``.``) referencing a child of this type."""
    if media_type in CONFIGS:
        return "containerd.io/gc.ref.content.config"
    if media_type in MANIFESTS:
        return "containerd.io/gc.ref.content.m."
    if is_layer(media_type):
        return "containerd.io/gc.ref.content.l."
    return "containerd.io/gc.ref.content."


def gc_labels(kids: Iterable[Descriptor]) -> dict[str, str]:
    """GC reference labels for a parent holding `kids`, numbered per prefix as containerd does."""
    labels: dict[str, str] = {}
    counts: dict[str, int] = {}
    for kid in kids:
        key = child_gc_label(kid.media_type)
        n = counts.get(key, 0)
        counts[key] = n + 1
        if n > 0 or key.endswith("."):
            key = f"{key}{n}"
        labels[key] = kid.digest
    return labels


def descriptor_json(desc: Descriptor, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A descriptor as manifests write it."""
    out: dict[str, Any] = {"mediaType": desc.media_type, "digest": desc.digest, "size": desc.size}
    if desc.annotations:
        out["annotations"] = dict(desc.annotations)
    if extra:
        out.update(extra)
    return out


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
