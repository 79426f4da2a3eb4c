"""The OCI image configuration (``application/vnd.oci.image.config.v1+json``) as typed data."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from ._identifiers import shown

__all__ = ["ImageConfig"]

_MAX_CONFIG = 20 * 1024 * 1024


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise TypeError(f"expected a sequence of strings, got the string {values!r}")
    return tuple(values)


def _labels(values: Mapping[str, str]) -> Mapping[str, str]:
    return dict(values)


def _created(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


_FRACTION = re.compile(r"\.(\d+)")


def _parse_time(value: Any) -> datetime | None:
    """Parse an RFC 3339 time as Go writes it (nanoseconds allowed; kept to microseconds)."""
    if not isinstance(value, str) or not value:
        return None
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), value, count=1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return _created(datetime.fromisoformat(text))
    except ValueError as exc:
        raise ValueError(f"invalid image config: bad created time {shown(value)}") from exc


def _format_time(value: datetime) -> str:
    text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def _str_list(value: Any, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"invalid image config: {field} must be a list of strings")
    return tuple(value)


def _str_set(value: Any, field: str) -> tuple[str, ...]:
    # Go encodes sets (ExposedPorts, Volumes) as objects with empty-object values.
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ValueError(f"invalid image config: {field} must be an object")
    return tuple(sorted(value))


def _str(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"invalid image config: {field} must be a string")
    return value


def _str_map(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"invalid image config: {field} must be an object of strings")
    return dict(value)


@attrs.frozen(kw_only=True)
class ImageConfig:
    """An OCI image configuration: what an image says about how to run it.

    Fields mirror the OCI image spec's config (``config.User`` is `user`,
    ``rootfs.diff_ids`` is `diff_ids`, ...). Sets such as exposed ports and
    volumes are sorted tuples. `from_json` keeps fields this class does not
    model (history, author, ``ArgsEscaped``, ...) and `to_json` writes them
    back, so a config survives a round trip byte-for-byte in meaning.

    Example:
        ```python
        config = ImageConfig(
            architecture="amd64",
            entrypoint=("/bin/sh", "-c"),
            cmd=("echo hello",),
            env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",),
            working_dir="/",
        )
        data = config.to_json()
        assert ImageConfig.from_json(data) == config
        ```
    """

    architecture: str = ""
    os: str = "linux"
    variant: str = ""
    user: str = ""
    env: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    entrypoint: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    cmd: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    working_dir: str = ""
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=_labels)
    stop_signal: str = ""
    exposed_ports: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    volumes: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    diff_ids: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    created: datetime | None = attrs.field(default=None, converter=_created)
    # The decoded JSON this config came from: fields not modelled above survive
    # a round trip through it. Not part of equality.
    _raw: Mapping[str, Any] = attrs.field(
        factory=dict, alias="_raw", repr=False, eq=False, hash=False
    )

    @classmethod
    def from_json(cls, data: bytes | str) -> ImageConfig:
        """Decode an OCI image config JSON document.

        Raises:
            ValueError: the document is not JSON, not an object, larger than
                20 MiB, or a known field has the wrong type.

        Example:
            ```python
            config = ImageConfig.from_json(await client.content.read(desc.digest))
            print(config.entrypoint, config.cmd)
            ```
        """
        if len(data) > _MAX_CONFIG:
            raise ValueError(f"image config too large: {len(data)} bytes (limit 20 MiB)")
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise ValueError(f"invalid image config: not JSON ({exc})") from exc
        if not isinstance(doc, dict):
            raise ValueError("invalid image config: expected a JSON object")
        cfg = doc.get("config") or {}
        if not isinstance(cfg, dict):
            raise ValueError("invalid image config: config must be an object")
        rootfs = doc.get("rootfs") or {}
        if not isinstance(rootfs, dict):
            raise ValueError("invalid image config: rootfs must be an object")
        return cls(
            architecture=_str(doc.get("architecture"), "architecture"),
            os=_str(doc.get("os"), "os"),
            variant=_str(doc.get("variant"), "variant"),
            user=_str(cfg.get("User"), "config.User"),
            env=_str_list(cfg.get("Env"), "config.Env"),
            entrypoint=_str_list(cfg.get("Entrypoint"), "config.Entrypoint"),
            cmd=_str_list(cfg.get("Cmd"), "config.Cmd"),
            working_dir=_str(cfg.get("WorkingDir"), "config.WorkingDir"),
            labels=_str_map(cfg.get("Labels"), "config.Labels"),
            stop_signal=_str(cfg.get("StopSignal"), "config.StopSignal"),
            exposed_ports=_str_set(cfg.get("ExposedPorts"), "config.ExposedPorts"),
            volumes=_str_set(cfg.get("Volumes"), "config.Volumes"),
            diff_ids=_str_list(rootfs.get("diff_ids"), "rootfs.diff_ids"),
            created=_parse_time(doc.get("created")),
            _raw=doc,
        )

    def to_json(self) -> bytes:
        """Encode as OCI image config JSON (sorted keys, compact, deterministic).

        Fields left empty are omitted, as Go's ``omitempty`` does, except
        ``architecture``, ``os`` and ``rootfs`` which the spec requires.
        Unknown fields read by `from_json` are written back unchanged.

        Example:
            ```python
            digest = await client.content.write("config", config.to_json())
            ```
        """
        raw = self._raw
        doc: dict[str, Any] = dict(raw)
        raw_cfg = raw.get("config")
        cfg: dict[str, Any] = dict(raw_cfg) if isinstance(raw_cfg, dict) else {}
        raw_rootfs = raw.get("rootfs")
        rootfs: dict[str, Any] = dict(raw_rootfs) if isinstance(raw_rootfs, dict) else {}

        def put(
            target: dict[str, Any],
            key: str,
            value: Any,
            encode: Callable[[Any], Any],
            decode: Callable[[Any], Any],
            *,
            required: bool = False,
        ) -> None:
            # Keep the original spelling when it decodes to the same value
            # (e.g. nanosecond times, ``null`` lists); otherwise write ours.
            if key in target:
                try:
                    if decode(target[key]) == value:
                        return
                except ValueError:
                    pass
            if value or required:
                target[key] = encode(value)
            else:
                target.pop(key, None)

        def same(v: Any) -> Any:
            return v

        put(doc, "architecture", self.architecture, same, lambda v: _str(v, ""), required=True)
        put(doc, "os", self.os, same, lambda v: _str(v, ""), required=True)
        put(doc, "variant", self.variant, same, lambda v: _str(v, ""))
        put(cfg, "User", self.user, same, lambda v: _str(v, ""))
        put(cfg, "Env", self.env, list, lambda v: _str_list(v, ""))
        put(cfg, "Entrypoint", self.entrypoint, list, lambda v: _str_list(v, ""))
        put(cfg, "Cmd", self.cmd, list, lambda v: _str_list(v, ""))
        put(cfg, "WorkingDir", self.working_dir, same, lambda v: _str(v, ""))
        put(cfg, "Labels", dict(self.labels), dict, lambda v: _str_map(v, ""))
        put(cfg, "StopSignal", self.stop_signal, same, lambda v: _str(v, ""))
        put(
            cfg,
            "ExposedPorts",
            tuple(sorted(self.exposed_ports)),
            lambda v: {p: {} for p in v},
            lambda v: _str_set(v, ""),
        )
        put(
            cfg,
            "Volumes",
            tuple(sorted(self.volumes)),
            lambda v: {p: {} for p in v},
            lambda v: _str_set(v, ""),
        )
        if cfg:
            doc["config"] = cfg
        else:
            doc.pop("config", None)
        rootfs.setdefault("type", "layers")
        put(rootfs, "diff_ids", self.diff_ids, list, lambda v: _str_list(v, ""), required=True)
        doc["rootfs"] = rootfs
        put(doc, "created", self.created, _format_time, _parse_time)
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
