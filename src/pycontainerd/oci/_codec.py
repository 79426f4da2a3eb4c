"""Lossless JSON <-> attrs conversion for the OCI runtime spec model.

Every model class derives from `Model`. A field takes part in JSON when its
attrs metadata carries ``json(name, codec)``: the OCI (camelCase) key, a codec
that checks and converts the value, and whether an empty value is left out
(Go's ``omitempty``). Keys the model does not know are kept, untouched, in the
private ``_extras`` mapping and written back after the known ones.
"""

from __future__ import annotations

import json as _json
from collections.abc import Iterable, Mapping
from itertools import repeat
from typing import Any, Generic, Self, TypeVar

import attrs

__all__ = [
    "BOOL",
    "INT",
    "INTS",
    "OPT_INT",
    "RAW",
    "STR",
    "STRS",
    "STR_MAP",
    "Model",
    "Obj",
    "Objs",
    "ints",
    "json",
    "str_map",
    "strs",
]

_META = "oci"
_T = TypeVar("_T")
_M = TypeVar("_M", bound="Model")


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


MISSING: Any = object()


class DecodeError(ValueError):
    """A JSON value of the wrong type; the path to it is filled in on the way up."""

    def __init__(self, expected: str, value: object, *path: str | int) -> None:
        super().__init__(expected, value)
        self.expected = expected
        self.value = value
        self.path: list[str | int] = list(path)

    def __str__(self) -> str:
        where = ""
        for part in self.path:
            where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else part)
        if self.value is MISSING:
            return f"OCI spec field {where!r} is required but missing"
        return (
            f"OCI spec field {where or '(top level)'!r}: expected {self.expected},"
            f" got {_describe(self.value)}"
        )


class Codec(Generic[_T]):
    """Checks a JSON value and converts it to and from its Python form.

    `decode` raises `DecodeError` (path relative to the value) on a bad type.
    """

    def decode(self, value: Any) -> _T:
        raise NotImplementedError

    def encode(self, value: _T) -> Any:
        return value

    def empty(self, value: _T) -> bool:
        return not value


class _Str(Codec[str]):
    def decode(self, value: Any) -> str:
        if type(value) is not str:
            raise DecodeError("a string", value)
        return value


class _Int(Codec[int]):
    def decode(self, value: Any) -> int:
        if type(value) is not int:
            raise DecodeError("an integer", value)
        return value


class _Bool(Codec[bool]):
    def decode(self, value: Any) -> bool:
        if type(value) is not bool:
            raise DecodeError("true or false", value)
        return value


class _OptInt(Codec[int | None]):
    def decode(self, value: Any) -> int | None:
        if value is None or type(value) is int:
            return value
        raise DecodeError("an integer", value)

    def empty(self, value: int | None) -> bool:
        return value is None


def _check_items(value: Any, kind: type, expected: str, expected_item: str) -> None:
    if type(value) is not list:
        raise DecodeError(expected, value)
    if not all(map(isinstance, value, repeat(kind))) or (
        kind is int and any(map(isinstance, value, repeat(bool)))
    ):
        for index, item in enumerate(value):
            if type(item) is not kind:
                raise DecodeError(expected_item, item, index)


class _Strs(Codec[tuple[str, ...]]):
    def decode(self, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        _check_items(value, str, "a list of strings", "a string")
        return tuple(value)

    def encode(self, value: tuple[str, ...]) -> Any:
        return list(value)


class _Ints(Codec[tuple[int, ...]]):
    def decode(self, value: Any) -> tuple[int, ...]:
        if value is None:
            return ()
        _check_items(value, int, "a list of integers", "an integer")
        return tuple(value)

    def encode(self, value: tuple[int, ...]) -> Any:
        return list(value)


class _StrMap(Codec[dict[str, str]]):
    def decode(self, value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if type(value) is not dict:
            raise DecodeError("an object of strings", value)
        for key, item in value.items():
            if type(item) is not str:
                raise DecodeError("a string", item, key)
        return dict(value)

    def encode(self, value: dict[str, str]) -> Any:
        return dict(value)


class _Raw(Codec[Any]):
    """Any JSON value, kept as decoded (``None`` means absent)."""

    def decode(self, value: Any) -> Any:
        return value

    def empty(self, value: Any) -> bool:
        return value is None


class Obj(Codec[_M | None]):
    """A nested model object; ``None`` (absent) is left out."""

    def __init__(self, cls: type[_M], *, required: bool = False) -> None:
        self.cls = cls
        self.required = required

    def decode(self, value: Any) -> _M | None:
        if value is None:
            return self.cls() if self.required else None
        return self.cls._decode(value)

    def encode(self, value: _M | None) -> Any:
        assert value is not None
        return value.to_dict()

    def empty(self, value: _M | None) -> bool:
        return value is None


class Objs(Codec[tuple[_M, ...]]):
    """A list of nested model objects."""

    def __init__(self, cls: type[_M]) -> None:
        self.cls = cls

    def decode(self, value: Any) -> tuple[_M, ...]:
        if value is None:
            return ()
        if type(value) is not list:
            raise DecodeError("a list of objects", value)
        decode = self.cls._decode
        items = []
        for index, item in enumerate(value):
            try:
                items.append(decode(item))
            except DecodeError as exc:
                exc.path.insert(0, index)
                raise
        return tuple(items)

    def encode(self, value: tuple[_M, ...]) -> Any:
        return [item.to_dict() for item in value]


STR = _Str()
INT = _Int()
BOOL = _Bool()
OPT_INT = _OptInt()
STRS = _Strs()
INTS = _Ints()
STR_MAP = _StrMap()
RAW = _Raw()


def json(name: str, codec: Codec[Any], *, omitempty: bool = True) -> dict[str, Any]:
    """Field metadata: the OCI JSON key, its codec, and whether empty values are left out."""
    return {_META: (name, codec, omitempty)}


def strs(values: Iterable[str]) -> tuple[str, ...]:
    """Converter: any iterable of strings to a tuple (a lone string is refused)."""
    if isinstance(values, str):
        raise TypeError(f"expected a sequence of strings, got the string {values!r}")
    return tuple(values)


def ints(values: Iterable[int]) -> tuple[int, ...]:
    """Converter: any iterable of integers to a tuple."""
    return tuple(values)


def str_map(values: Mapping[str, str] | None) -> dict[str, str]:
    """Converter: a mapping copied into a new dict."""
    return dict(values or {})


def raw_map(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Converter for the unknown-field mapping."""
    return dict(values or {})


@attrs.frozen(kw_only=True)
class Model:
    """Base of the OCI spec model classes: JSON conversion and unknown-field keeping."""

    # JSON keys this model does not know, kept as decoded and written back unchanged.
    _extras: Mapping[str, Any] = attrs.field(
        factory=dict, converter=raw_map, repr=False, hash=False, alias="_extras"
    )

    @classmethod
    def _json_fields(cls) -> dict[str, tuple[str, Codec[Any]]]:
        cache: dict[str, tuple[str, Codec[Any]]] | None = cls.__dict__.get("_json_cache")
        if cache is None:
            cache = {}
            for field in attrs.fields(cls):
                meta = field.metadata.get(_META)
                if meta is not None:
                    cache[meta[0]] = (field.alias, meta[1])
            type.__setattr__(cls, "_json_cache", cache)
        return cache

    @classmethod
    def _json_required(cls) -> tuple[str, ...]:
        required: tuple[str, ...] | None = cls.__dict__.get("_json_required_cache")
        if required is None:
            required = tuple(
                field.metadata[_META][0]
                for field in attrs.fields(cls)
                if _META in field.metadata and field.default is attrs.NOTHING
            )
            type.__setattr__(cls, "_json_required_cache", required)
        return required

    @classmethod
    def _decode(cls, value: Any) -> Self:
        if type(value) is not dict:
            raise DecodeError("an object", value)
        known = cls._json_fields()
        kwargs: dict[str, Any] = {}
        extras: dict[str, Any] = {}
        for key, item in value.items():
            entry = known.get(key)
            if entry is None:
                extras[key] = item
                continue
            try:
                kwargs[entry[0]] = entry[1].decode(item)
            except DecodeError as exc:
                exc.path.insert(0, key)
                raise
        for key in cls._json_required():
            if key not in value:
                raise DecodeError("a value", MISSING, key)
        return cls(**kwargs, _extras=extras)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from decoded JSON (a dict with the OCI runtime-spec's camelCase keys).

        Raises:
            ValueError: a known field has the wrong JSON type; the message names it.

        Example:
            ```python
            >>> from pycontainerd import oci
            >>> oci.Mount.from_dict({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
            Mount(destination='/tmp', type='tmpfs', source='tmpfs', options=())
            ```
        """
        return cls._decode(dict(data))

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        """Parse OCI runtime-spec JSON. Unknown fields are kept and written back by `to_json`.

        Raises:
            ValueError: the data is not JSON, or a known field has the wrong type.

        Example:
            ```python
            spec = oci.Spec.from_json(Path("bundle/config.json").read_bytes())
            ```
        """
        try:
            value = _json.loads(data)
        except (UnicodeDecodeError, _json.JSONDecodeError) as exc:
            raise ValueError(f"invalid OCI spec JSON: {exc}") from exc
        return cls._decode(value)

    def to_dict(self) -> dict[str, Any]:
        """The OCI JSON object (camelCase keys, empty optional fields left out, as Go does).

        Example:
            ```python
            >>> from pycontainerd import oci
            >>> oci.Process(args=["sh"]).to_dict()
            {'user': {'uid': 0, 'gid': 0}, 'args': ['sh'], 'cwd': '/'}
            ```
        """
        out: dict[str, Any] = {}
        for field in attrs.fields(type(self)):
            meta = field.metadata.get(_META)
            if meta is None:
                continue
            name, codec, omitempty = meta
            value = getattr(self, field.name)
            if omitempty and codec.empty(value):
                continue
            out[name] = codec.encode(value)
        for key, item in self._extras.items():
            out.setdefault(key, item)
        return out

    def to_json(self, *, indent: int | None = None) -> bytes:
        """Serialise to OCI runtime-spec JSON (UTF-8 bytes, compact unless `indent` is given).

        Example:
            ```python
            Path("bundle/config.json").write_bytes(spec.to_json(indent=2))
            ```
        """
        separators = (",", ":") if indent is None else (",", ": ")
        return _json.dumps(
            self.to_dict(), indent=indent, separators=separators, ensure_ascii=False
        ).encode()
