"""Consul's ``?filter=`` language (hashicorp/go-bexpr), compiled against msgspec types.

    f = compile_filter('Service.Tags contains primary and Node.Meta.env == prod', CheckServiceNode)
    kept = f.apply(results)

Grammar (go-bexpr v0.1.2, plus ``/`` in identifiers and ``is [not] nil`` from later
releases)::

    Or    := And ("or" And)*
    And   := Not ("and" Not)*
    Not   := "not" Not | "(" Or ")" | Match
    Match := Sel ("==" | "!=") Val | Sel ["not"] ("contains" | "matches") Val
           | Sel "is" ["not"] ("empty" | "nil") | Val ["not"] "in" Sel
    Sel   := Ident ("." Ident | "[" String "]")*        Ident := [A-Za-z_][A-Za-z0-9_/]*
    Val   := Sel (taken as the plain string "a.b") | Number | "go \"quoted\"" | `raw`

Word operators need whitespace around them.  Selectors name the msgspec field names
(Consul's Go/JSON names) and are checked at compile time against the schema, together
with the operator and the literal, which is coerced once to the field's type.

Evaluation follows go-bexpr:

* ``==``/``!=`` compare with the literal coerced to the field type (str, int, float, bool).
* ``in``/``contains`` test element membership on lists, key membership on maps and
  substring on strings.  ``is empty`` is zero length.  ``matches`` is an unanchored
  regular-expression search (Python ``re`` in ASCII mode; RE2-only rejections applied).
* Selecting *through* a list means "any element": ``Checks.Status == passing`` holds when
  some check passes, ``Checks.Status != passing`` when some check does not, and both are
  false for an empty list; ``not Checks.Status == passing`` means "no check passes".
  An operator on the list itself (``Service.Tags contains x``) acts on the whole list;
  ``matches`` and ``==`` on a list of strings are rejected, as in go-bexpr.
* A missing map key matches nothing: ``==``, ``in``, ``matches``, ``is not empty`` and
  ``is not nil`` are false, the other operators true.
* ``None`` is the Go zero value: strings/numbers compare as ""/0/false, lists and maps
  are empty, a ``None`` struct has zero-valued fields.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from msgspec import inspect as mi

__all__ = ["And", "Expr", "Filter", "FilterError", "Match", "Not", "Or", "compile_filter", "parse"]


class FilterError(ValueError):
    """An invalid filter; ``str(err)`` is the one-line message go-bexpr would give.

    Consul's HTTP layer prefixes it with ``Failed to create boolean expression evaluator: ``.
    ``offset`` is the character position of a syntax error (None for validation errors).
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


# -- AST ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    """``selector op value``; op is one of ``OPERATORS`` (``contains`` is stored as ``in``)."""

    selector: tuple[str, ...]
    op: str
    value: str | None  # the unquoted literal; None for "is [not] empty/nil"


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr


@dataclass(frozen=True, slots=True)
class And:
    terms: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    terms: tuple[Expr, ...]


Expr = Match | Not | And | Or

# Operator -> go-bexpr's display name (used in "Invalid match operator" errors).
OPERATORS = {
    "==": "Equal", "!=": "Not Equal", "in": "In", "not in": "Not In",
    "is empty": "Is Empty", "is not empty": "Is Not Empty",
    "matches": "Matches", "not matches": "Not Matches", "is nil": "Is Nil", "is not nil": "Is Not Nil",
}  # fmt: skip
_POSITIVE = {
    "!=": "==",
    "not in": "in",
    "is not empty": "is empty",
    "not matches": "matches",
    "is not nil": "is nil",
}
_TRUE_WHEN_ABSENT = {"!=", "not in", "is empty", "not matches", "is nil"}


# -- tokenizer ---------------------------------------------------------------------------

_WS = " \t\r\n"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_/]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_EXPR_START = '"(", "not", a selector or a value'


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "sel" "num" "str" "==" "!=" "(" ")" "end"
    text: str  # source text
    value: Any  # sel: tuple of parts; num/str: the literal
    start: int
    space: bool  # whitespace precedes the token


def _syntax(src: str, offset: int, message: str) -> FilterError:
    line = src.count("\n", 0, offset) + 1
    col = offset - (src.rfind("\n", 0, offset) + 1) + 1
    nbytes = len(src[:offset].encode("utf-8", "surrogatepass"))
    return FilterError(f"{line}:{col} ({nbytes}): {message}", offset)


def _skip_ws(src: str, i: int) -> int:
    while i < len(src) and src[i] in _WS:
        i += 1
    return i


def _tokenize(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(src)
    while True:
        j = _skip_ws(src, i)
        space, i = j > i, j
        if i == n:
            toks.append(_Tok("end", "", None, i, space))
            return toks
        c = src[i]
        if m := _IDENT.match(src, i):
            parts, end = _scan_selector(src, m)
            toks.append(_Tok("sel", src[i:end], parts, i, space))
        elif c == "-" or "0" <= c <= "9":
            m = _NUMBER.match(src, i)
            if m is None:
                raise _syntax(src, i + 1, "no match found, expected: a number")
            end = m.end()
            if end < n and src[end] not in _WS and src[end] != ")":
                raise _syntax(src, end, 'rule "number": Invalid number literal')
            toks.append(_Tok("num", m.group(), m.group(), i, space))
        elif c in '"`':
            value, end = _scan_string(src, i)
            toks.append(_Tok("str", src[i:end], value, i, space))
        elif src.startswith(("==", "!="), i):
            end = i + 2
            toks.append(_Tok(src[i:end], src[i:end], None, i, space))
        elif c in "()":
            end = i + 1
            toks.append(_Tok(c, c, None, i, space))
        else:
            raise _syntax(src, i, f'no match found, expected: {_EXPR_START}, an operator or ")"')
        i = end


def _scan_selector(src: str, m: re.Match[str]) -> tuple[tuple[str, ...], int]:
    parts, i = [m.group()], m.end()
    while i < len(src):
        if src[i] == "." and (m := _IDENT.match(src, i + 1)):
            parts.append(m.group())
            i = m.end()
        elif src[i] == "[":
            j = _skip_ws(src, i + 1)
            if j == len(src) or src[j] not in '"`':
                raise _syntax(src, j, 'rule "index": Invalid index')
            key, j = _scan_string(src, j)
            j = _skip_ws(src, j)
            if j == len(src) or src[j] != "]":
                raise _syntax(src, j, 'rule "index": Unclosed index expression')
            parts.append(key)
            i = j + 1
        else:
            break
    return tuple(parts), i


def _scan_string(src: str, i: int) -> tuple[str, int]:
    quote = src[i]
    end = src.find(quote, i + 1)
    if end < 0:
        raise _syntax(src, len(src), 'rule "string": Unterminated string literal')
    try:
        return _unquote(src[i + 1 : end], quote), end + 1
    except ValueError:
        raise _syntax(src, i, 'rule "string": invalid syntax') from None


_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}
_HEX = frozenset("0123456789abcdefABCDEF")


def _unquote(body: str, quote: str) -> str:
    """Go's strconv.Unquote for the body of a `raw` or "double quoted" literal."""
    if quote == "`":
        return body.replace("\r", "")
    if "\n" in body:
        raise ValueError("newline in string")
    if "\\" not in body:
        return body
    out, i, n = bytearray(), 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        e = body[i + 1] if i + 1 < n else ""
        i += 2
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
        elif e in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i : i + width]
            if len(digits) != width or not _HEX.issuperset(digits):
                raise ValueError("bad hex escape")
            code, i = int(digits, 16), i + width
            if e == "x":
                out.append(code)
            elif code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise ValueError("invalid code point")
            else:
                out += chr(code).encode()
        elif e and e in "01234567":
            digits = body[i - 1 : i + 2]
            if len(digits) != 3 or not set(digits) <= set("01234567") or int(digits, 8) > 255:
                raise ValueError("bad octal escape")
            out.append(int(digits, 8))
            i += 2
        else:
            raise ValueError("unknown escape")
    return out.decode("utf-8", "surrogateescape")


# -- parser ------------------------------------------------------------------------------

_MAX_DEPTH = 100


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = _tokenize(src)
        self.i = 0
        self.depth = 0

    def fail(self, tok: _Tok, message: str) -> FilterError:
        return _syntax(self.src, tok.start, message)

    def peek(self, k: int = 0) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def at_keyword(self, word: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t.kind == "sel" and t.text == word and t.space

    def take_keyword(self) -> None:
        """Consume a word operator; the token after it must be separated by whitespace."""
        self.i += 1
        t = self.peek()
        if not t.space and t.kind != "end":
            raise self.fail(t, "no match found, expected: whitespace")

    def parse(self) -> Expr:
        expr = self.or_()
        t = self.peek()
        if t.kind != "end":
            raise self.fail(t, 'no match found, expected: "and", "or" or end of input')
        return expr

    def or_(self) -> Expr:
        terms = [self.and_()]
        while self.at_keyword("or"):
            self.take_keyword()
            terms.append(self.and_())
        return terms[0] if len(terms) == 1 else Or(tuple(terms))

    def and_(self) -> Expr:
        terms = [self.not_()]
        while self.at_keyword("and"):
            self.take_keyword()
            terms.append(self.not_())
        return terms[0] if len(terms) == 1 else And(tuple(terms))

    def not_(self) -> Expr:
        self.depth += 1
        try:
            if self.depth > _MAX_DEPTH:
                raise self.fail(self.peek(), "expression is nested too deeply")
            t, nxt = self.peek(), self.peek(1)
            if not (t.kind == "sel" and t.text == "not" and nxt.space and nxt.kind != "end"):
                return self.primary()
            # Like the PEG: try "not <expr>", else fall back to "not" as a selector/value
            # (e.g. `not in Tags` is the value "not" in Tags).
            save = self.i
            self.i += 1
            try:
                return Not(self.not_())
            except FilterError as first:
                self.i = save
                try:
                    return self.primary()
                except FilterError as second:
                    raise (
                        second if (second.offset or 0) > (first.offset or 0) else first
                    ) from None
        finally:
            self.depth -= 1

    def primary(self) -> Expr:
        if self.peek().kind != "(":
            return self.match()
        self.i += 1
        expr = self.or_()
        if self.peek().kind != ")":
            raise self.fail(self.peek(), 'rule "grouping": Unmatched parentheses')
        self.i += 1
        return expr

    def match(self) -> Match:
        t = self.peek()
        if t.kind in ("num", "str"):
            self.i += 1
            return self.value_in(t.value)
        if t.kind != "sel":
            raise self.fail(t, f"no match found, expected: {_EXPR_START}")
        self.i += 1
        nxt = self.peek()
        if nxt.kind in ("==", "!="):
            self.i += 1
            return Match(t.value, nxt.kind, self.value())
        for word, op in (("contains", "in"), ("matches", "matches")):
            if self.at_keyword(word):
                self.take_keyword()
                return Match(t.value, op, self.value())
            if self.at_keyword("not") and self.at_keyword(word, 1):
                self.take_keyword()
                self.take_keyword()
                return Match(t.value, "not " + op, self.value())
        if self.at_keyword("is"):
            self.take_keyword()
            negated = self.at_keyword("not")
            if negated:
                self.take_keyword()
            for word in ("empty", "nil"):
                if self.at_keyword(word):
                    self.i += 1
                    return Match(t.value, f"is not {word}" if negated else f"is {word}", None)
            expected = '"empty" or "nil"' if negated else '"empty", "not" or "nil"'
            raise self.fail(self.peek(), f"no match found, expected: {expected}")
        if self.at_keyword("in") or (self.at_keyword("not") and self.at_keyword("in", 1)):
            return self.value_in(".".join(t.value))
        raise self.fail(
            nxt, 'no match found, expected: "==", "!=", "contains", "not", "matches", "is" or "in"'
        )

    def value_in(self, value: str) -> Match:
        op = "in"
        if self.at_keyword("not") and self.at_keyword("in", 1):
            self.take_keyword()
            op = "not in"
        elif not self.at_keyword("in"):
            raise self.fail(self.peek(), 'no match found, expected: "in" or "not in"')
        self.take_keyword()
        t = self.peek()
        if t.kind != "sel":
            raise self.fail(t, 'rule "match": Invalid selector')
        self.i += 1
        return Match(t.value, op, value)

    def value(self) -> str:
        t = self.peek()
        if t.kind == "sel":
            self.i += 1
            return ".".join(t.value)
        if t.kind in ("num", "str"):
            self.i += 1
            return t.value
        raise self.fail(t, "no match found, expected: a value (word, number or string)")


def parse(expression: str) -> Expr:
    """Parse a filter expression into its AST; raises FilterError on a syntax error."""
    return _Parser(expression).parse()


# -- schema types --------------------------------------------------------------------------

_ZERO: dict[str, Any] = {"str": "", "int": 0, "float": 0.0, "bool": False, "list": (), "map": {}}
_PRIMS = {mi.StrType: "str", mi.IntType: "int", mi.FloatType: "float", mi.BoolType: "bool"}
_LISTS = (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)


@lru_cache(maxsize=512)
def _type_info(schema: Any) -> mi.Type:
    return mi.type_info(schema)


def _unwrap(t: mi.Type) -> tuple[mi.Type, bool]:
    """Strip Annotated metadata and Optional; return (type, nullable)."""
    nullable = False
    while True:
        if isinstance(t, mi.Metadata):
            t = t.type
        elif isinstance(t, mi.UnionType):
            rest = [x for x in t.types if not isinstance(x, mi.NoneType)]
            nullable = nullable or len(rest) < len(t.types)
            if len(rest) != 1:
                return t, nullable
            t = rest[0]
        else:
            return t, nullable


def _kind(t: mi.Type) -> str:
    """One of str, int, float, bool, list, map, struct, other."""
    if (prim := _PRIMS.get(type(t))) is not None:
        return prim
    if isinstance(t, mi.LiteralType | mi.EnumType):
        values = t.values if isinstance(t, mi.LiteralType) else tuple(t.cls)
        if all(isinstance(v, str) for v in values):
            return "str"
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return "int"
        return "other"
    if isinstance(t, _LISTS):
        return "list"
    if isinstance(t, mi.DictType):
        return "map"
    if isinstance(t, mi.StructType | mi.DataclassType):
        return "struct"
    return "other"


def _item_kind(t: mi.Type) -> str:
    return _kind(_unwrap(t)[0])


# -- literals --------------------------------------------------------------------------------

_GO_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t",
               "\v": r"\v", "\\": r"\\", '"': r"\""}  # fmt: skip
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}  # fmt: skip
_GO_INT = re.compile(
    r"[+-]?(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|0(?:_?[0-7])*|[1-9](?:_?[0-9])*)"
)


def _goquote(s: str) -> str:
    """Go's %q, near enough for error messages."""
    out = []
    for ch in s:
        code = ord(ch)
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x80 or 0xDC80 <= code <= 0xDCFF:  # surrogateescape'd raw byte
            out.append(f"\\x{code & 0xFF:02x}")
        else:
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def _coerce(raw: str, kind: str) -> Any:
    """Convert a literal to the field's type the way go-bexpr's strconv coercions do."""
    q = _goquote(raw)
    if kind == "bool":
        if raw in _GO_BOOLS:
            return _GO_BOOLS[raw]
        raise ValueError(f"strconv.ParseBool: parsing {q}: invalid syntax")
    if kind == "int":
        if not _GO_INT.fullmatch(raw):
            raise ValueError(f"strconv.ParseInt: parsing {q}: invalid syntax")
        digits = raw.lstrip("+-").replace("_", "")
        base = 0 if digits[:2].lower() in ("0x", "0o", "0b") else 8 if digits[:1] == "0" else 10
        value = int(digits, base) * (-1 if raw.startswith("-") else 1)
        if not -(2**63) <= value < 2**64:
            raise ValueError(f"strconv.ParseInt: parsing {q}: value out of range")
        return value
    if kind == "float":
        try:
            if "_" in raw or raw != raw.strip():
                raise ValueError
            value = float.fromhex(raw) if "0x" in raw.lower() else float(raw)
        except ValueError:
            raise ValueError(f"strconv.ParseFloat: parsing {q}: invalid syntax") from None
        if math.isinf(value) and "inf" not in raw.lower():
            raise ValueError(f"strconv.ParseFloat: parsing {q}: value out of range")
        return value
    return raw


_PERL_ONLY = ("(?=", "(?!", "(?<=", "(?<!", "(?>")


def _compile_regexp(pattern: str) -> re.Pattern[str]:
    """Compile a Go (RE2) pattern with ``re``: reject Perl-only syntax, map ``\\z``."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            e = pattern[i + 1]
            if e in "123456789Z" and not in_class:
                raise ValueError(f"invalid escape sequence: `\\{e}`")
            out.append("\\Z" if e == "z" and not in_class else pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            j = i + 1 + pattern.startswith("^", i + 1)
            j += pattern.startswith("]", j)  # a leading "]" is literal
            out.append(pattern[i:j])
            i = j
            continue
        elif c == "(" and (perl := next((p for p in _PERL_ONLY if pattern.startswith(p, i)), None)):
            raise ValueError(f"invalid or unsupported Perl syntax: `{perl}`")
        out.append(c)
        i += 1
    try:
        return re.compile("".join(out), re.ASCII)
    except re.error as exc:
        raise ValueError(str(exc)) from None


# -- compiler ---------------------------------------------------------------------------------

Predicate = Callable[[Any], bool]
_MISSING = object()


def _compile(node: Expr, root: mi.Type) -> Predicate:
    if isinstance(node, Match):
        return _compile_match(node, root)
    if isinstance(node, Not):
        inner = _compile(node.operand, root)
        return lambda item: not inner(item)
    fns = tuple(_compile(term, root) for term in node.terms)
    if len(fns) == 2:
        a, b = fns
        if isinstance(node, And):
            return lambda item: a(item) and b(item)
        return lambda item: a(item) or b(item)
    if isinstance(node, And):
        return lambda item: all(f(item) for f in fns)
    return lambda item: any(f(item) for f in fns)


def _compile_match(m: Match, root: mi.Type) -> Predicate:
    t, nullable = _unwrap(root)
    steps: list[tuple[str, str]] = []  # ("any", "") / ("attr", name) / ("key", key)
    for n, part in enumerate(m.selector):
        while _kind(t) == "list":
            steps.append(("any", ""))
            t, nullable = _unwrap(t.item_type)
        kind = _kind(t)
        if kind == "struct" and (field := next((f for f in t.fields if f.name == part), None)):
            steps.append(("attr", part))
            t, nullable = _unwrap(field.type)
        elif (
            kind == "map"
            and _item_kind(t.key_type) == "str"
            and _item_kind(t.value_type) != "other"
        ):
            steps.append(("key", part))
            t, nullable = _unwrap(t.value_type)
        else:
            raise FilterError(f"Selector {_goquote('.'.join(m.selector[: n + 1]))} is not valid")

    fn = _leaf(m, t, nullable or bool(steps) and steps[-1][0] == "key")
    absent = m.op in _TRUE_WHEN_ABSENT
    for step, name in reversed(steps):
        fn = (
            _any(fn)
            if step == "any"
            else _attr(name, fn)
            if step == "attr"
            else _key(name, fn, absent)
        )
    return fn


def _leaf(m: Match, t: mi.Type, nullable: bool) -> Predicate:
    """The test on the selected value; nullable: it may be None or an absent map key."""
    kind, op = _kind(t), m.op
    positive = _POSITIVE.get(op, op)
    sel = _goquote(".".join(m.selector))
    # Which operators each kind supports, and the type the literal is coerced to.
    item = _item_kind(t.item_type) if kind == "list" else None
    key = _item_kind(t.key_type) if kind == "map" else None
    targets: dict[str, str | None] = {
        "str": {"==": "str", "in": "str", "matches": "str", "is empty": None},
        "int": {"==": "int"}, "float": {"==": "float"}, "bool": {"==": "bool"},
        "list": {"is empty": None, **({"in": item} if item in _PRIMS.values() else {})},
        "map": {"is empty": None, **({"in": "str"} if key == "str" else {})},
    }.get(kind, {})  # fmt: skip
    if nullable or kind in ("list", "map", "struct", "other"):
        targets["is nil"] = None
    if positive not in targets:
        raise FilterError(f'Invalid match operator "{OPERATORS[op]}" for selector {sel}')

    lit: Any = None
    if (target := targets[positive]) is not None:
        assert m.value is not None
        try:
            lit = _coerce(m.value, target)
        except ValueError as exc:
            raise FilterError(
                f"Failed to coerce value {_goquote(m.value)} for selector {sel}: {exc}"
            ) from None
    if positive == "matches":
        try:
            lit = _compile_regexp(lit)
        except ValueError as exc:
            raise FilterError(
                f"Failed to compile regular expression {_goquote(lit)}: error parsing regexp: {exc}"
            ) from None

    fn: Predicate
    if positive == "is nil":
        fn = _is_none
    elif positive == "is empty":
        fn = _is_falsy
    else:
        if positive == "==":
            base: Predicate = lambda v: v == lit  # noqa: E731
        elif positive == "in":
            base = lambda v: lit in v  # noqa: E731
        else:
            search = lit.search
            base = lambda v: search(v) is not None  # noqa: E731
        when_none = base(_ZERO[kind])  # None is the zero value
        fn = lambda v: when_none if v is None else base(v)  # noqa: E731
    if op != positive:
        inner = fn
        fn = lambda v: not inner(v)  # noqa: E731
    return fn


def _is_none(v: Any) -> bool:
    return v is None


def _is_falsy(v: Any) -> bool:
    return not v


def _attr(name: str, inner: Predicate) -> Predicate:
    # getattr(None, name, None) is None: a None struct has zero-valued fields.
    return lambda obj: inner(getattr(obj, name, None))


def _key(key: str, inner: Predicate, absent: bool) -> Predicate:
    def step(obj: Any) -> bool:
        value = obj.get(key, _MISSING) if obj else _MISSING
        return absent if value is _MISSING else inner(value)

    return step


def _any(inner: Predicate) -> Predicate:
    def step(obj: Any) -> bool:
        return any(inner(x) for x in obj) if obj else False

    return step


# -- public API -------------------------------------------------------------------------------


class Filter:
    """A compiled filter bound to one schema type.

    ``matches(item)`` evaluates one result; ``apply(items)`` keeps the matching ones in order.
    Compile once per request: evaluation does no parsing or type checks.
    """

    __slots__ = ("_fn", "ast", "expression", "schema")

    def __init__(self, expression: str, schema: Any, ast: Expr, fn: Predicate) -> None:
        self.expression = expression
        self.schema = schema
        self.ast = ast
        self._fn = fn

    def matches(self, item: Any) -> bool:
        return bool(self._fn(item))

    def apply(self, items: Iterable[Any]) -> list[Any]:
        fn = self._fn
        return [item for item in items if fn(item)]

    def __repr__(self) -> str:
        return f"Filter({self.expression!r}, {getattr(self.schema, '__name__', self.schema)})"


def compile_filter(expression: str, schema: Any) -> Filter:
    """Parse ``expression`` and check it against ``schema`` (a msgspec Struct type, or a
    ``dict[str, T]`` type). Raises FilterError with go-bexpr's message if it is invalid."""
    root = _type_info(schema)
    if _kind(_unwrap(root)[0]) not in ("struct", "map"):
        raise TypeError(f"cannot filter values of type {schema!r}: need a Struct or dict[str, T]")
    ast = parse(expression)
    return Filter(expression, schema, ast, _compile(ast, root))
