"""OCI image plumbing shared by images, unpack, archives and the registry client (private).

Media types (the only place they are named), platform normalisation and matching (as containerd's
``platforms`` package does it), identity chain IDs, Go-compatible JSON and
the JSON shape of descriptors, manifests and indexes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import errors
from ._descriptors import Descriptor
from ._identifiers import shown
from ._platforms import Platform

# Media types -----------------------------------------------------------------

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDISTRIBUTABLE_GZIP = OCI_LAYER_NONDISTRIBUTABLE + "+gzip"
OCI_LAYER_NONDISTRIBUTABLE_ZSTD = OCI_LAYER_NONDISTRIBUTABLE + "+zstd"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar"
DOCKER_LAYER_FOREIGN_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1_MANIFESTS = (
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v1+json",
)
CHECKPOINT = "application/vnd.containerd.container.criu.checkpoint.criu.tar"
CHECKPOINT_CONFIG = "application/vnd.containerd.container.checkpoint.config.v1+proto"

ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"

LABEL_UNCOMPRESSED = "containerd.io/uncompressed"
LABEL_SNAPSHOT_REF = "containerd.io/snapshot.ref"
LABEL_GC_SNAPSHOT = "containerd.io/gc.ref.snapshot."

MAX_JSON = 20 * 1024 * 1024


def is_index(media_type: str) -> bool:
    """An OCI index or Docker manifest list."""
    return media_type in (OCI_INDEX, DOCKER_MANIFEST_LIST)


def is_manifest(media_type: str) -> bool:
    """An OCI or Docker schema 2 image manifest."""
    return media_type in (OCI_MANIFEST, DOCKER_MANIFEST)


def is_config(media_type: str) -> bool:
    """An image config (OCI or Docker)."""
    return media_type in (OCI_CONFIG, DOCKER_CONFIG)


def _known_config(media_type: str) -> bool:
    return is_config(media_type) or media_type in (CHECKPOINT, CHECKPOINT_CONFIG)


def is_layer(media_type: str) -> bool:
    """A layer media type (OCI ``layer.*`` or a Docker rootfs diff, any suffix)."""
    if media_type.startswith("application/vnd.oci.image.layer."):
        return True
    base = media_type.split("+", 1)[0]
    return base in (
        DOCKER_LAYER,
        DOCKER_LAYER_GZIP,
        DOCKER_LAYER_FOREIGN,
        DOCKER_LAYER_FOREIGN_GZIP,
    )


def is_non_distributable(media_type: str) -> bool:
    """A layer registries may not redistribute (Windows base layers): containerd's ``IsNonDistributable``."""
    return media_type.startswith(
        (
            "application/vnd.oci.image.layer.nondistributable.",
            "application/vnd.docker.image.rootfs.foreign.",
        )
    )


def child_gc_labels(children: Sequence[Descriptor]) -> dict[str, str]:
    """The ``containerd.io/gc.ref.content.*`` labels a parent carries for its children.

    Same keys as containerd's ``images.ChildGCLabels`` with
    ``SetChildrenMappedLabels``: ``config``, ``m.<i>``, ``l.<i>`` or ``<i>``,
    numbered per prefix; a repeated ``config`` key gets a number from the second on.
    """
    labels: dict[str, str] = {}
    counts: dict[str, int] = {}
    for child in children:
        mt = child.media_type
        if _known_config(mt):
            key = "containerd.io/gc.ref.content.config"
        elif is_manifest(mt):
            key = "containerd.io/gc.ref.content.m."
        elif is_layer(mt):
            key = "containerd.io/gc.ref.content.l."
        else:
            key = "containerd.io/gc.ref.content."
        idx = counts.get(key, 0)
        counts[key] = idx + 1
        if idx > 0 or key.endswith("."):
            key = f"{key}{idx}"
        labels[key] = child.digest
    return labels


# Digests -------------------------------------------------------------------

# Matched with fullmatch: '$' would let a trailing newline through.
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}|sha384:[a-f0-9]{96}")


def valid_digest(value: str) -> bool:
    """Whether `value` is a canonical ``algorithm:hex`` digest we can verify."""
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


def sha256(data: bytes) -> str:
    """The ``sha256:`` digest of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def chain_id(diff_ids: Sequence[str]) -> str:
    """The identity chain ID of a layer stack (OCI image-spec ``identity.ChainID``).

    ``ChainID(L0) = DiffID(L0)``; ``ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln))``.
    """
    if not diff_ids:
        return ""
    chain = diff_ids[0]
    for diff_id in diff_ids[1:]:
        chain = sha256(f"{chain} {diff_id}".encode())
    return chain


# Go-compatible JSON ----------------------------------------------------------


def go_json(value: Any) -> bytes:
    """JSON as Go's ``encoding/json`` writes it: compact, HTML characters escaped.

    Dict key order is kept (Go writes struct fields in declaration order and
    map keys sorted; callers build dicts accordingly).
    """
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    text = (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
    return text.encode()


def load_json(data: bytes, what: str) -> dict[str, Any]:
    """Decode a JSON object of at most 20 MiB, or raise ValueError naming `what`."""
    if len(data) > MAX_JSON:
        raise ValueError(f"{what} is larger than 20 MiB ({len(data)} bytes)")
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"{what} is not a JSON object")
    return doc


# Platforms -------------------------------------------------------------------


def normalize(p: Platform) -> Platform:
    """Normalise OS, architecture and variant names as containerd's ``platforms.Normalize``."""
    os_name = p.os.lower()
    if os_name == "macos":
        os_name = "darwin"
    arch, variant = p.architecture.lower(), p.variant.lower()
    if arch == "i386":
        arch, variant = "386", ""
    elif arch in ("x86_64", "x86-64", "amd64"):
        arch = "amd64"
        if variant == "v1":
            variant = ""
    elif arch in ("aarch64", "arm64"):
        arch = "arm64"
        if variant in ("8", "v8"):
            variant = ""
    elif arch == "armhf":
        arch, variant = "arm", "v7"
    elif arch == "armel":
        arch, variant = "arm", "v6"
    elif arch == "arm":
        if variant in ("", "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
    return Platform(os=os_name, architecture=arch, variant=variant)


def _vector(p: Platform) -> list[Platform]:
    vector = [p]
    if p.architecture == "amd64":
        level = _version(p.variant)
        if level is not None and level > 1:
            vector += [
                Platform(os=p.os, architecture="amd64", variant=f"v{v}")
                for v in range(level - 1, 0, -1)
            ]
        vector.append(Platform(os=p.os, architecture="386"))
    elif p.architecture == "arm":
        level = _version(p.variant)
        if level is not None and level > 5:
            vector += [
                Platform(os=p.os, architecture="arm", variant=f"v{v}")
                for v in range(level - 1, 4, -1)
            ]
    elif p.architecture == "arm64":
        vector += _vector(Platform(os=p.os, architecture="arm", variant=p.variant or "v8"))
    return vector


def _version(variant: str) -> int | None:
    try:
        return int(variant.removeprefix("v"))
    except ValueError:
        return None


class PlatformMatcher:
    """Matches and orders platforms (containerd's ``platforms.Only`` / ``OnlyStrict`` / ``All``)."""

    def __init__(self, platforms: Iterable[Platform] | None) -> None:
        self._wanted = None if platforms is None else [normalize(p) for p in platforms]

    @classmethod
    def only(cls, platform: Platform) -> PlatformMatcher:
        """The platform and the ones it can run (amd64 runs 386, arm64 runs arm/v8..v5)."""
        return cls(_vector(normalize(platform)))

    @classmethod
    def strict(cls, platform: Platform) -> PlatformMatcher:
        """Exactly this platform (after normalisation)."""
        return cls([platform])

    @classmethod
    def all(cls) -> PlatformMatcher:
        """Every platform."""
        return cls(None)

    def _rank(self, platform: Platform | None) -> int:
        if self._wanted is None:
            return 0
        if platform is None:
            return len(self._wanted) + 1
        n = normalize(platform)
        for i, want in enumerate(self._wanted):
            if want == n:
                return i
        return len(self._wanted)

    def match(self, platform: Platform) -> bool:
        """Whether `platform` is one this matcher accepts."""
        return self._wanted is None or self._rank(platform) < len(self._wanted)

    def sort(self, descs: Sequence[IndexEntry]) -> list[IndexEntry]:
        """Stable sort: best match first, descriptors without a platform last."""
        return sorted(descs, key=lambda d: self._rank(d.platform))

    def __repr__(self) -> str:
        wanted = "all" if self._wanted is None else ", ".join(map(str, self._wanted))
        return f"<PlatformMatcher {wanted}>"


def parse_platform(value: object) -> Platform:
    """`value` as a platform: a `Platform`, or a string such as ``linux/arm64``.

    Raises:
        pycontainerd.errors.InvalidArgument: `value` is neither, or does not parse.
    """
    if isinstance(value, Platform):
        return value
    if not isinstance(value, str):
        raise errors.InvalidArgument(f"invalid platform {shown(value)}: not a Platform or a string")
    try:
        return Platform.parse(value)
    except ValueError as exc:
        raise errors.InvalidArgument(str(exc)) from None


def matcher_for(platform: Platform | str | None) -> PlatformMatcher:
    """The matcher image operations use: the host by default, else `platform` and compatibles.

    Raises:
        pycontainerd.errors.InvalidArgument: `platform` is not a platform.
    """
    return PlatformMatcher.only(Platform.host() if platform is None else parse_platform(platform))


def refuse_platform_with_all(platform: object, all_platforms: bool) -> None:
    """Refuse a `platform` given beside ``all_platforms=True``, which would silently ignore it.

    Raises:
        pycontainerd.errors.InvalidArgument: both are given.
    """
    if all_platforms and platform is not None:
        raise errors.InvalidArgument(
            f"platform {shown(platform)} given with all_platforms=True: give one or the other"
        )


def exact_matcher(
    platform: Platform | str | Sequence[Platform | str] | None, *, all_platforms: bool = False
) -> PlatformMatcher:
    """Exactly the platforms given, the first best (Go's ``platforms.Ordered``); none: the host's.

    What ``ctr`` uses for ``--platform`` (repeatable) when it exports or converts,
    and ``platforms.DefaultStrict()`` without it; with `all_platforms`, every
    platform (``--all-platforms``).

    Raises:
        pycontainerd.errors.InvalidArgument: a platform does not parse, or
            `platform` is given with `all_platforms`.
    """
    refuse_platform_with_all(platform, all_platforms)
    if all_platforms:
        return PlatformMatcher.all()
    if platform is None:
        wanted: list[object] = []
    elif isinstance(platform, Platform | str):
        wanted = [platform]
    elif isinstance(platform, Sequence):
        wanted = list(platform)
    else:
        raise errors.InvalidArgument(
            f"invalid platform {shown(platform)}: not a platform or a sequence of them"
        )
    return PlatformMatcher([parse_platform(p) for p in wanted] or [Platform.host()])


# Descriptors, manifests, indexes --------------------------------------------


class IndexEntry:
    """A descriptor as found in an index (a `Descriptor` plus an optional platform)."""

    __slots__ = ("descriptor", "extra", "platform")

    def __init__(
        self,
        descriptor: Descriptor,
        platform: Platform | None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.descriptor = descriptor
        self.platform = platform
        self.extra = dict(extra or {})  # os.version / os.features etc. kept for re-encoding

    @property
    def digest(self) -> str:
        """The descriptor's digest."""
        return self.descriptor.digest


def parse_descriptor(value: Any, what: str) -> IndexEntry:
    """Decode a JSON descriptor (with its optional platform)."""
    if not isinstance(value, dict):
        raise ValueError(f"{what}: descriptor is not an object")
    digest = value.get("digest")
    size = value.get("size", 0)
    media_type = value.get("mediaType", "")
    annotations = value.get("annotations") or {}
    if not isinstance(digest, str) or not valid_digest(digest):
        raise ValueError(f"{what}: invalid digest {digest!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"{what}: invalid size {size!r} for {digest}")
    if not isinstance(media_type, str) or not isinstance(annotations, dict):
        raise ValueError(f"{what}: invalid descriptor for {digest}")
    platform = None
    extra: dict[str, Any] = {}
    raw_platform = value.get("platform")
    if isinstance(raw_platform, dict):
        platform = Platform(
            os=str(raw_platform.get("os", "")),
            architecture=str(raw_platform.get("architecture", "")),
            variant=str(raw_platform.get("variant", "")),
        )
        extra = {
            k: v for k, v in raw_platform.items() if k not in ("os", "architecture", "variant")
        }
    return IndexEntry(
        Descriptor(
            media_type=media_type,
            digest=digest,
            size=size,
            annotations={str(k): str(v) for k, v in annotations.items()},
        ),
        platform,
        extra,
    )


def descriptor_json(
    desc: Descriptor,
    platform: Platform | None = None,
    extra: Mapping[str, Any] | None = None,
    *,
    urls: Sequence[str] = (),
    data: bytes = b"",
    artifact_type: str = "",
) -> dict[str, Any]:
    """A descriptor as Go's ``ocispec.Descriptor`` marshals it.

    Its fields in the struct's order (``mediaType, digest, size, urls,
    annotations, data, platform, artifactType``), the empty ones left out,
    annotation keys sorted as Go sorts a map's, `data` in base64 as Go
    writes a byte slice.
    """
    out: dict[str, Any] = {}
    if desc.media_type:
        out["mediaType"] = desc.media_type
    out["digest"] = desc.digest
    out["size"] = desc.size
    if urls:
        out["urls"] = list(urls)
    if desc.annotations:
        out["annotations"] = dict(sorted(desc.annotations.items()))
    if data:
        out["data"] = base64.b64encode(data).decode()
    if platform is not None:
        p: dict[str, Any] = {"architecture": platform.architecture, "os": platform.os}
        extra = extra or {}
        if extra.get("os.version"):
            p["os.version"] = extra["os.version"]
        if extra.get("os.features"):
            p["os.features"] = extra["os.features"]
        if platform.variant:
            p["variant"] = platform.variant
        out["platform"] = p
    if artifact_type:
        out["artifactType"] = artifact_type
    return out


def manifest_json(config: Descriptor, layers: Sequence[Descriptor]) -> bytes:
    """An OCI image manifest document as containerd (Go) would serialise it."""
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor_json(config),
        "layers": [descriptor_json(layer) for layer in layers],
    }
    return go_json(doc)


def parse_manifest(
    data: bytes, media_type: str, what: str
) -> tuple[Descriptor, list[Descriptor], dict[str, Any]]:
    """Decode an image manifest: (config, layers, whole document). Refuses indexes."""
    doc = load_json(data, what)
    if doc.get("fsLayers"):
        raise ValueError(f"{what}: Docker schema 1 manifests are not supported")
    if doc.get("manifests") or is_index(str(doc.get("mediaType", ""))):
        raise ValueError(f"{what}: expected a manifest ({media_type}) but found an index")
    config = parse_descriptor(doc.get("config"), what).descriptor
    layers_raw = doc.get("layers") or []
    if not isinstance(layers_raw, list):
        raise ValueError(f"{what}: layers is not a list")
    layers = [parse_descriptor(layer, what).descriptor for layer in layers_raw]
    return config, layers, doc


def parse_index(data: bytes, media_type: str, what: str) -> tuple[list[IndexEntry], dict[str, Any]]:
    """Decode an index or manifest list: (entries, whole document). Refuses manifests."""
    doc = load_json(data, what)
    if doc.get("fsLayers"):
        raise ValueError(f"{what}: Docker schema 1 manifests are not supported")
    if doc.get("config") or doc.get("layers") or is_manifest(str(doc.get("mediaType", ""))):
        raise ValueError(f"{what}: expected an index ({media_type}) but found a manifest")
    raw = doc.get("manifests") or []
    if not isinstance(raw, list):
        raise ValueError(f"{what}: manifests is not a list")
    return [parse_descriptor(m, what) for m in raw], doc


def config_platform(data: bytes, what: str) -> Platform:
    """The normalised platform an image config declares (os/architecture, as containerd reads it)."""
    doc = load_json(data, what)
    return normalize(
        Platform(os=str(doc.get("os", "")), architecture=str(doc.get("architecture", "")))
    )


# References ------------------------------------------------------------------

_REF = re.compile(
    r"(?:(?P<domain>[a-zA-Z0-9.-]+(?::[0-9]+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}))?",
    re.ASCII,
)


def normalize_reference(ref: str) -> str:
    """A Docker-style reference in full form (``busybox`` -> ``docker.io/library/busybox:latest``).

    Raises:
        ValueError: not a valid reference.
    """
    first, sep, rest = ref.partition("/")
    if not sep or not (
        "." in first or ":" in first or first == "localhost" or first != first.lower()
    ):
        ref = "docker.io/" + ref
        first, _, rest = ref.partition("/")
    if first == "docker.io" and "/" not in rest:
        ref = f"docker.io/library/{rest}"
    m = _REF.fullmatch(ref)
    if m is None or not m.group("domain"):
        raise ValueError(f"invalid image reference {shown(ref)}")
    if m.group("tag") is None and m.group("digest") is None:
        ref += ":latest"
    return ref


def familiar_reference(name: str) -> str:
    """The short Docker form of a full reference (``docker.io/library/x:latest`` -> ``x:latest``)."""
    ref = normalize_reference(name)
    if ref.startswith("docker.io/library/"):
        return ref.removeprefix("docker.io/library/")
    if ref.startswith("docker.io/"):
        return ref.removeprefix("docker.io/")
    return ref


def oci_ref_name(name: str) -> str:
    """The OCI ``ref.name`` annotation for an image name, as containerd derives it.

    The object part of the reference: the tag (``latest``), ``tag@digest``
    or ``@digest``; empty when the name has neither.
    """
    _, sep, path = name.partition("/")
    if not sep:
        return ""
    m = re.search(r"[:@]", path)
    if m is None:
        return ""
    obj = path[m.start() :]
    return obj[1:] if obj.startswith(":") else obj
