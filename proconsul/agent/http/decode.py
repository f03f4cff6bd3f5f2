"""Request bodies decoded as Consul's Go code does: keys match fields case-insensitively
(snake_case accepted too), unknown fields are rejected, types are checked, and ``null``
is taken wherever Go's encoding/json takes it.

Go leaves a field at its zero value when the JSON says ``null`` (a nil slice, map or
pointer; an untouched string or number), so a ``null`` struct field is treated as
absent and a ``null`` list item or map value as its type's zero value. Go decodes a
number inside ``interface{}`` as float64; a number too large for any Go integer is
made a float there too, and refused (naming the field) anywhere an integer is wanted.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import msgspec
from msgspec import inspect

from proconsul.structs.base import INT64_MIN, UINT64_MAX
from proconsul.structs.errors import BadRequest

MAX_DEPTH = 128
"""Deepest nesting a request body may have (Consul's own bodies use a handful of levels)."""

_SEQUENCES = (inspect.ListType, inspect.VarTupleType, inspect.SetType, inspect.FrozenSetType)
_ZEROS = {inspect.StrType: "", inspect.IntType: 0, inspect.FloatType: 0.0,
          inspect.BoolType: False, inspect.BytesType: ""}
# 19 digits in a row: maybe an integer outside int64/uint64, which only the general way
# words as Consul does (a 19-digit run inside a string just takes that way too)
_LONG_DIGITS = re.compile(rb"\d{19}")


class _Invalid(Exception):
    """A value the Go type cannot hold; ``path`` is built up while unwinding."""

    def __init__(self, message: str, locate: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.locate = locate
        self.path: list[str] = []


def _fold(name: str) -> str:
    return name.replace("_", "").lower()


@functools.cache
def _struct_fields(struct_type: type) -> dict[str, tuple[str, Any]]:
    info = inspect.type_info(struct_type)
    return {_fold(f.encode_name): (f.encode_name, f.type) for f in info.fields}


def _nullable(type_info: Any) -> bool:
    if isinstance(type_info, inspect.AnyType | inspect.NoneType):
        return True
    return isinstance(type_info, inspect.UnionType) and any(
        isinstance(t, inspect.AnyType | inspect.NoneType) for t in type_info.types)


def _zero(type_info: Any) -> Any:
    """What Go's decoder leaves for a ``null`` list item or map value of this type."""
    if isinstance(type_info, inspect.UnionType):
        return _zero(type_info.types[0])
    if isinstance(type_info, _SEQUENCES):
        return []
    if isinstance(type_info, inspect.DictType | inspect.StructType):
        return {}
    return _ZEROS.get(type(type_info))


def normalize(value: Any, type_info: Any) -> Any:
    """Rename keys of ``value`` to the exact field names of ``type_info``, recursively,
    resolving ``null`` and out-of-range integers as Go would.

    Raises :class:`msgspec.ValidationError` naming the field for a value no Go type of
    the field could hold, or nesting deeper than :data:`MAX_DEPTH`.
    """
    try:
        return _normalize(value, type_info, 0)
    except _Invalid as err:
        where = f" - at `${''.join(reversed(err.path))}`" if err.locate else ""
        raise msgspec.ValidationError(err.message + where) from None


def _item(value: Any, type_info: Any, depth: int, segment: str) -> Any:
    try:
        if value is None and not _nullable(type_info):
            return _zero(type_info)
        return _normalize(value, type_info, depth)
    except _Invalid as err:
        if err.locate:
            err.path.append(segment)
        raise


def _normalize(value: Any, type_info: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise _Invalid(f"nesting deeper than {MAX_DEPTH} levels", locate=False)
    if isinstance(value, int) and not isinstance(value, bool):
        if INT64_MIN <= value <= UINT64_MAX:
            return value
        if isinstance(type_info, inspect.AnyType):
            return float(value)
        raise _Invalid(f"Expected `int` <= {UINT64_MAX}" if value > 0
                       else f"Expected `int` >= {INT64_MIN}")
    if isinstance(type_info, inspect.UnionType):
        for member in type_info.types:
            if isinstance(value, dict) and isinstance(member, inspect.StructType | inspect.DictType):
                return _normalize(value, member, depth)
            if isinstance(value, list) and isinstance(member, _SEQUENCES):
                return _normalize(value, member, depth)
        if any(isinstance(member, inspect.AnyType) for member in type_info.types):
            return _normalize(value, inspect.AnyType(), depth)
        return value
    depth += 1
    if isinstance(value, dict):
        if isinstance(type_info, inspect.StructType):
            fields = _struct_fields(type_info.cls)
            renamed = {}
            for key, item in value.items():
                match = fields.get(_fold(key)) if isinstance(key, str) else None
                if match is None:
                    renamed[key] = item  # refused by the struct as an unknown field
                elif item is not None or _nullable(match[1]):
                    renamed[match[0]] = _item(item, match[1], depth, f".{match[0]}")
            return renamed
        if isinstance(type_info, inspect.DictType | inspect.AnyType):
            item_type = getattr(type_info, "value_type", type_info)
            return {k: _item(v, item_type, depth, f"[{k!r}]") for k, v in value.items()}
    elif isinstance(value, list) and isinstance(type_info, (*_SEQUENCES, inspect.AnyType)):
        item_type = getattr(type_info, "item_type", type_info)
        return [_item(v, item_type, depth, f"[{i}]") for i, v in enumerate(value)]
    return value


@functools.cache
def _type_info(target: Any) -> Any:
    return inspect.type_info(target)


def decode_raw(body: bytes, what: str = "Request decode failed") -> Any:
    """Decode a JSON request body to plain values (None when empty); a 400 on failure."""
    if not body.strip():
        return None
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as err:
        raise BadRequest(f"{what}: {err}") from None
    except RecursionError:
        raise BadRequest(f"{what}: nesting deeper than {MAX_DEPTH} levels") from None


def decode_json(body: bytes, target: Any, what: str = "Request decode failed") -> Any:
    """Decode a JSON request body into ``target``; a 400 naming the problem on failure.

    A body whose keys are the exact field names, with no ``null`` where Go would put
    a zero value, no integer too big and no deep nesting, decodes in one pass straight
    into ``target``; any other body fails that pass and takes :func:`normalize`'s way,
    which gives the same result, or the error."""
    if (body.count(b"[") + body.count(b"{") <= MAX_DEPTH
            and _LONG_DIGITS.search(body) is None):
        try:
            return msgspec.json.decode(body, type=target)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass  # the general way decides, and says why
    return decode_general(body, target, what)


def decode_general(body: bytes, target: Any, what: str = "Request decode failed") -> Any:
    """:func:`decode_json` for any body: plain values, :func:`normalize`, then ``target``."""
    try:
        raw = msgspec.json.decode(body)
        if raw is None and not _nullable(_type_info(target)):
            raw = _zero(_type_info(target))  # Go: a ``null`` body leaves the zero value
        return msgspec.convert(normalize(raw, _type_info(target)), target)
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        raise BadRequest(f"{what}: {err}") from None
    except RecursionError:
        raise BadRequest(f"{what}: nesting deeper than {MAX_DEPTH} levels") from None
