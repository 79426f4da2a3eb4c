"""Build, quote and check containerd filter expressions.

containerd selects events (and list results) with filter expressions such as
``topic=="/tasks/exit",event.container_id=="web"``:

* a filter is one or more *selectors* joined by commas, and **all** of them
  must match (AND);
* several filters given side by side (``subscribe(f1, f2)``) match when
  **any** of them matches (OR);
* a selector is ``fieldpath`` (present), ``fieldpath==value``,
  ``fieldpath!=value`` or ``fieldpath~=regexp``;
* a value that starts with ``/`` or ``|``, or holds a comma or a space, must
  be quoted: ``topic==/tasks/exit`` is a parse error, ``topic=="/tasks/exit"``
  is right.

This is the one meaning of filters throughout the SDK: `Events.subscribe`,
`Client.plugins` and every ``list()`` (containers, images, content and its
ingest statuses, snapshots, leases, namespaces, tasks) take several filters
as separate arguments, ORed, each a comma-separated AND of selectors. The
daemon applies them, except for namespaces and tasks, whose ``List`` calls
ignore filters: the SDK matches those itself with the same rules (an absent
field is ``""`` for ``!=`` and ``~=``). The fields a selector may name are
listed on each ``list()``.

The helpers here always quote values, so any string is safe to pass.
They return `Filter`, a `str` subclass: use them wherever a raw filter string
is accepted, and combine them with ``&`` (AND). Raw strings pass through
untouched, but `validate` checks them with the same grammar the daemon uses,
so a malformed filter is refused before any call.

Example:
    ```python
    from pycontainerd.events import filters

    exits = filters.topic("/tasks/exit") & filters.field("event.container_id", "web")
    # 'topic=="/tasks/exit",event.container_id=="web"'
    async with client.events.subscribe(exits, filters.topic_matches("^/images/")) as stream:
        ...
    ```
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Final, Literal

import attrs

from .. import errors
from .._identifiers import shown

__all__ = [
    "Filter",
    "Selector",
    "all_of",
    "field",
    "namespace",
    "parse",
    "quote",
    "topic",
    "topic_matches",
    "validate",
]

Operator = Literal["==", "!=", "~="]

_FIELD = re.compile(r"[A-Za-z0-9_]+")


class Filter(str):
    """A filter expression built by these helpers: a `str`, combinable with ``&`` (AND).

    Example:
        ```python
        f = filters.topic("/containers/create") & filters.field("event.image", "busybox")
        assert f == 'topic=="/containers/create",event.image=="busybox"'
        ```
    """

    __slots__ = ()

    def __and__(self, other: str) -> Filter:
        return all_of(self, other)

    def __rand__(self, other: str) -> Filter:
        return all_of(other, self)


def quote(value: str) -> str:
    r"""Quote `value` as a filter value or field name (a Go double-quoted string).

    Backslashes and double quotes are escaped, control and other unprintable
    characters become ``\u``/``\U`` escapes; everything else is kept.

    Example:
        ```python
        >>> quote('/tasks/exit')
        '"/tasks/exit"'
        >>> quote('say "hi"')
        '"say \\"hi\\""'
        ```
    """
    out = ['"']
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\ufffd" or not ch.isprintable():
            code = ord(ch)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _fieldpath(path: str | Sequence[str]) -> str:
    parts = path.split(".") if isinstance(path, str) else list(path)
    if not parts or any(p == "" for p in parts):
        raise errors.InvalidArgument(f"invalid filter field path {shown(path)}: empty component")
    return ".".join(p if _FIELD.fullmatch(p) else quote(p) for p in parts)


def field(path: str | Sequence[str], value: str | None = None, *, op: Operator = "==") -> Filter:
    """A selector on `path`: ``path==value`` (or ``!=``, ``~=``), or presence when `value` is ``None``.

    Args:
        path: a dotted field path (``"event.container_id"``) or a sequence
            of components, for components that contain dots themselves
            (``("labels", "com.example.tier")``).
        value: the value to compare with; always quoted. ``None`` selects
            objects where the field is set.
        op: ``"=="``, ``"!="`` or ``"~="`` (a Go regular expression).

    Raises:
        pycontainerd.errors.InvalidArgument: empty path component or unknown operator.

    Example:
        ```python
        >>> field("event.container_id", "web")
        'event.container_id=="web"'
        >>> field(("labels", "com.example.tier"), "db", op="!=")
        'labels."com.example.tier"!="db"'
        ```
    """
    fp = _fieldpath(path)
    if value is None:
        return Filter(fp)
    if op not in ("==", "!=", "~="):
        raise errors.InvalidArgument(f"invalid filter operator {shown(op)}: use '==', '!=' or '~='")
    return Filter(f"{fp}{op}{quote(value)}")


def topic(value: str) -> Filter:
    """Events published on exactly the topic `value` (``topic=="/tasks/exit"``).

    Example:
        ```python
        >>> topic("/tasks/exit")
        'topic=="/tasks/exit"'
        ```
    """
    return field("topic", value)


def topic_matches(pattern: str) -> Filter:
    """Events whose topic matches the regular expression `pattern` (``topic~="^/tasks/"``).

    Example:
        ```python
        >>> topic_matches("^/tasks/")
        'topic~="^/tasks/"'
        ```
    """
    return field("topic", pattern, op="~=")


def namespace(name: str) -> Filter:
    """Events of the namespace `name` (``namespace=="build"``).

    Example:
        ```python
        >>> namespace("build")
        'namespace=="build"'
        ```
    """
    return field("namespace", name)


def all_of(*filters: str) -> Filter:
    """One filter that matches when every one of `filters` matches (joined by commas).

    Each part is checked with `validate`; empty parts (match everything)
    are dropped.

    Example:
        ```python
        >>> all_of(topic("/tasks/exit"), 'event.container_id=="web"')
        'topic=="/tasks/exit",event.container_id=="web"'
        ```
    """
    parts = [validate(f) for f in filters]
    return Filter(",".join(p for p in parts if p))


@attrs.frozen(kw_only=True)
class Selector:
    """One parsed selector: a field path, an operator and a value.

    ``operator`` and ``value`` are ``None`` for a presence test.
    """

    fieldpath: tuple[str, ...]
    operator: Operator | None = None
    value: str | None = None


def validate(expression: str) -> str:
    """Return `expression` unchanged if containerd can parse it.

    Raises:
        pycontainerd.errors.InvalidArgument: names the expression and where it fails.

    Example:
        ```python
        validate('topic=="/tasks/exit"')     # fine
        validate("topic==/tasks/exit")       # InvalidArgument: the value must be quoted
        ```
    """
    parse(expression)
    return expression


def parse(expression: str) -> tuple[Selector, ...]:
    """Parse a filter the way containerd does (its ``filters`` package grammar).

    The empty string matches everything and parses to ``()``.

    Raises:
        pycontainerd.errors.InvalidArgument: names the expression and where it fails.

    Example:
        ```python
        >>> parse('topic=="/tasks/exit",event.id')
        (Selector(fieldpath=('topic',), operator='==', value='/tasks/exit'), Selector(fieldpath=('event', 'id'), operator=None, value=None))
        ```
    """
    if not isinstance(expression, str):
        raise errors.InvalidArgument(f"invalid filter {shown(expression)}: not a string")
    if expression == "":
        return ()
    return _Parser(expression).selectors()


# A field's value by its path (``("labels", "app")``), ``None`` when absent.
FieldLookup = Callable[[tuple[str, ...]], "str | None"]


def _matcher(filters: Sequence[str]) -> Callable[[FieldLookup], bool]:
    """Match objects the daemon does not filter itself the way containerd would.

    Several filters are ORed, the selectors of one are ANDed, no filter at
    all matches everything (containerd's ``filters.ParseAll``); ``!=`` and
    ``~=`` see an absent field as ``""``. Regexps compile when the filters
    are parsed, so a bad one fails before anything is listed.

    Raises:
        pycontainerd.errors.InvalidArgument: a filter does not parse.
    """
    compiled: list[list[tuple[Selector, re.Pattern[str] | None]]] = []
    for expression in filters:
        selectors: list[tuple[Selector, re.Pattern[str] | None]] = []
        for selector in parse(expression):
            pattern = None
            if selector.operator == "~=":
                try:
                    pattern = re.compile(selector.value or "")
                except re.error as exc:
                    raise errors.InvalidArgument(
                        f"invalid filter {shown(expression)}: bad regexp {shown(selector.value)}: {exc}"
                    ) from None
            selectors.append((selector, pattern))
        compiled.append(selectors)

    def matches(field: FieldLookup) -> bool:
        return not compiled or any(
            all(_selected(selector, pattern, field) for selector, pattern in selectors)
            for selectors in compiled
        )

    return matches


def _selected(selector: Selector, pattern: re.Pattern[str] | None, field: FieldLookup) -> bool:
    value = field(selector.fieldpath)
    if selector.operator is None:
        return value is not None
    if selector.operator == "==":
        return value is not None and value == selector.value
    if selector.operator == "!=":
        return (value or "") != selector.value
    return pattern is not None and pattern.search(value or "") is not None


# --- a port of the grammar of containerd's filters package -------------------

_EOF: Final = -1
_ILLEGAL: Final = -2
_Rune = str | int  # a character, or _EOF / _ILLEGAL

_QUOTED: Final = "quoted"
_VALUE: Final = "value"
_FIELDTOK: Final = "field"
_SEPARATOR: Final = "separator"
_OPERATOR: Final = "operator"
_ILLEGALTOK: Final = "illegal"
_EOFTOK: Final = "eof"

# Go's unicode.IsSpace for Latin-1; beyond that the White_Space property.
_LATIN1_SPACE = frozenset("\t\n\v\f\r \x85\xa0")


def _is_space(ch: _Rune) -> bool:
    if not isinstance(ch, str):
        return False
    if ord(ch) <= 0xFF:
        return ch in _LATIN1_SPACE
    return ch.isspace()


def _is_field_rune(ch: _Rune) -> bool:
    return isinstance(ch, str) and (
        ch == "_" or ("A" <= ch <= "Z") or ("a" <= ch <= "z") or (ch.isdigit() and ch.isascii())
    )


def _is_value_rune(ch: _Rune) -> bool:
    if not isinstance(ch, str) or ch == "," or _is_space(ch):
        return False
    # letters, marks, numbers, punctuation, symbols and (non-space) Zs: Go's IsGraphic/IsPunct.
    return unicodedata.category(ch)[0] in "LMNPS" or unicodedata.category(ch) == "Zs"


class _ParseError(Exception):
    pass


class _Scanner:
    def __init__(self, text: str) -> None:
        self.input = text
        self.pos = 0
        self.ppos = 0
        self.value = False
        self.err = ""

    def next(self) -> _Rune:
        if self.pos >= len(self.input):
            return _EOF
        self.pos = self.ppos
        if self.ppos >= len(self.input):
            return _EOF
        ch = self.input[self.ppos]
        self.ppos += 1
        if ch == "\ufffd":
            self.error("rune error")
            return _ILLEGAL
        if ch == "\x00":
            self.error("unexpected null")
            return _ILLEGAL
        return ch

    def peek(self) -> _Rune:
        pos, ppos = self.pos, self.ppos
        ch = self.next()
        self.pos, self.ppos = pos, ppos
        return ch

    def error(self, msg: str) -> None:
        if not self.err:
            self.err = msg

    def scan(self) -> tuple[int, str, str]:
        ch = self.next()
        pos = self.pos
        while True:
            if ch == _EOF:
                return self.pos, _EOFTOK, ""
            if ch == _ILLEGAL:
                return self.pos, _ILLEGALTOK, ""
            assert isinstance(ch, str)
            if ch in '/|"':
                if not self.scan_quoted(ch):
                    return pos, _ILLEGALTOK, self.input[pos : self.ppos]
                return pos, _QUOTED, self.input[pos : self.ppos]
            if ch in ",.":
                self.value = False
                return pos, _SEPARATOR, self.input[pos : self.ppos]
            if ch in "=!~":
                while (c := self.peek()) in ("=", "!", "~"):
                    self.next()
                del c
                self.value = True
                return pos, _OPERATOR, self.input[pos : self.ppos]
            if _is_space(ch):
                ch = self.next()
                pos = self.pos
                continue
            if self.value:
                while _is_value_rune(self.peek()):
                    self.next()
                self.value = False
                return pos, _VALUE, self.input[pos : self.ppos]
            if _is_field_rune(ch):
                while _is_field_rune(self.peek()):
                    self.next()
                return pos, _FIELDTOK, self.input[pos : self.ppos]
            return self.pos, "char:" + ch, ""

    def scan_quoted(self, quote: str) -> bool:
        illegal = False
        ch = self.next()
        while ch != quote:
            if ch == "\n" or not isinstance(ch, str):
                self.error("quoted literal not terminated")
                return False
            if ch == "\\":
                ch, legal = self.scan_escape(quote)
                if not legal:
                    illegal = True
            else:
                ch = self.next()
        return not illegal

    def scan_escape(self, quote: str) -> tuple[_Rune, bool]:
        ch = self.next()
        if isinstance(ch, str) and (ch in "abfnrtv\\" or ch == quote):
            return self.next(), True
        if isinstance(ch, str) and ch in "01234567":
            return self.scan_digits(ch, 8, 3)
        if ch == "x":
            return self.scan_digits(self.next(), 16, 2)
        if ch == "u":
            return self.scan_digits(self.next(), 16, 4)
        if ch == "U":
            return self.scan_digits(self.next(), 16, 8)
        self.error("illegal escape sequence")
        return ch, False

    def scan_digits(self, ch: _Rune, base: int, n: int) -> tuple[_Rune, bool]:
        while n > 0 and _digit_value(ch) < base:
            ch = self.next()
            n -= 1
        if n > 0:
            self.error("illegal numeric escape sequence")
            return ch, False
        return ch, True


def _digit_value(ch: _Rune) -> int:
    if isinstance(ch, str) and ch.isascii() and ch.isalnum():
        v = int(ch, 36)
        return v if v < 16 else 16
    return 16


_SIMPLE_ESCAPES = {
    "a": 0x07,
    "b": 0x08,
    "f": 0x0C,
    "n": 0x0A,
    "r": 0x0D,
    "t": 0x09,
    "v": 0x0B,
    "\\": 0x5C,
}


def _unquote(s: str) -> str:
    """Unquote as containerd does: Go string syntax with ``/`` and ``|`` as extra quote characters."""
    if len(s) < 2 or s[0] != s[-1] or s[0] not in "\"'|/":
        raise _ParseError("quote syntax error")
    quote, body = s[0], s[1:-1]
    if "\n" in body:
        raise _ParseError("quote syntax error")
    if "\\" not in body and quote not in body:
        return body
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c == quote:
            raise _ParseError("quote syntax error")
        if c != "\\":
            out += c.encode("utf-8", "surrogatepass")
            i += 1
            continue
        if i + 1 >= len(body):
            raise _ParseError("quote syntax error")
        e = body[i + 1]
        i += 2
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
        elif e in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i : i + n]
            if len(digits) < n or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise _ParseError("quote syntax error")
            i += n
            v = int(digits, 16)
            if e == "x":
                out.append(v)
            elif v > 0x10FFFF:
                raise _ParseError("quote syntax error")
            else:
                out += chr(v).encode("utf-8", "replace")
        elif e in "01234567":
            digits = body[i - 1 : i + 2]
            if len(digits) < 3 or any(d not in "01234567" for d in digits):
                raise _ParseError("quote syntax error")
            i += 2
            v = int(digits, 8)
            if v > 255:
                raise _ParseError("quote syntax error")
            out.append(v)
        elif e in "'\"|/":
            if e != quote:
                raise _ParseError("quote syntax error")
            out.append(ord(e))
        else:
            raise _ParseError("quote syntax error")
    return out.decode("utf-8", "replace")


class _Parser:
    def __init__(self, text: str) -> None:
        self.input = text
        self.scanner = _Scanner(text)

    def fail(self, pos: int, msg: str) -> errors.InvalidArgument:
        where = f" at position {pos}" if pos < len(self.input) else " at its end"
        return errors.InvalidArgument(f"invalid filter {shown(self.input)}: {msg}{where}")

    def selectors(self) -> tuple[Selector, ...]:
        result = [self.selector()]
        while True:
            ch = self.scanner.peek()
            if ch == ",":
                pos, tok, _ = self.scanner.scan()
                if tok != _SEPARATOR:  # pragma: no cover - ',' always scans as one
                    raise self.fail(pos, "expected a separator")
                result.append(self.selector())
            elif ch == _EOF:
                return tuple(result)
            else:
                found = ch if isinstance(ch, str) else "illegal input"
                raise self.fail(self.scanner.ppos, f"unexpected input {found!r}")

    def selector(self) -> Selector:
        fieldpath = self.fieldpath()
        if self.scanner.peek() in (",", _EOF):
            return Selector(fieldpath=fieldpath)
        op = self.operator()
        value = self.value(allow_alt_quotes=op == "~=")
        return Selector(fieldpath=fieldpath, operator=op, value=value)

    def fieldpath(self) -> tuple[str, ...]:
        parts = [self.field()]
        while self.scanner.peek() == ".":
            pos, tok, _ = self.scanner.scan()
            if tok != _SEPARATOR:  # pragma: no cover
                raise self.fail(pos, "expected a field separator ('.')")
            parts.append(self.field())
        return tuple(parts)

    def field(self) -> str:
        pos, tok, text = self.scanner.scan()
        if tok == _FIELDTOK:
            return text
        if tok == _QUOTED:
            return self.unquote(pos, text, allow_alts=False)
        if tok == _ILLEGALTOK:
            raise self.fail(pos, self.scanner.err)
        raise self.fail(pos, "expected a field name or a quoted string")

    def operator(self) -> Operator:
        pos, tok, text = self.scanner.scan()
        if tok == _OPERATOR:
            if text in ("==", "!=", "~="):
                return text  # type: ignore[return-value]
            raise self.fail(pos, f"unsupported operator {shown(text)}")
        if tok == _ILLEGALTOK:
            raise self.fail(pos, self.scanner.err)
        raise self.fail(pos, "expected an operator ('==', '!=' or '~=')")

    def value(self, *, allow_alt_quotes: bool) -> str:
        pos, tok, text = self.scanner.scan()
        if tok in (_VALUE, _FIELDTOK):
            return text
        if tok == _QUOTED:
            return self.unquote(pos, text, allow_alts=allow_alt_quotes)
        if tok == _ILLEGALTOK:
            raise self.fail(pos, self.scanner.err)
        if tok == _EOFTOK:
            raise self.fail(pos, "missing value after the operator")
        raise self.fail(pos, "expected a value or a quoted string")

    def unquote(self, pos: int, text: str, *, allow_alts: bool) -> str:
        if not allow_alts and text[0] not in "'\"":
            raise self.fail(
                pos,
                f"a value starting with {text[0]!r} must be written in double quotes",
            )
        try:
            return _unquote(text)
        except _ParseError as exc:
            raise self.fail(pos, f"bad quoted string {shown(text)}: {exc}") from None
