"""Request bodies decoded as Consul's Go code does: keys match fields case-insensitively
(snake_case accepted too), unknown fields are rejected, types are checked."""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from msgspec import inspect

from proconsul.structs.errors import BadRequest


def _fold(name: str) -> str:
    return name.replace("_", "").lower()


@functools.cache
def _struct_fields(struct_type: type) -> dict[str, tuple[str, Any]]:
    info = inspect.type_info(struct_type)
    return {_fold(f.encode_name): (f.encode_name, f.type) for f in info.fields}


def _struct_types(type_info: Any) -> list[Any]:
    if isinstance(type_info, inspect.StructType):
        return [type_info]
    if isinstance(type_info, inspect.UnionType):
        return [t for t in type_info.types if isinstance(t, inspect.StructType)]
    return []


def normalize(value: Any, type_info: Any) -> Any:
    """Rename keys of ``value`` to the exact field names of ``type_info``, recursively."""
    if isinstance(type_info, inspect.UnionType):
        for member in type_info.types:
            if isinstance(value, dict) and isinstance(member, inspect.StructType | inspect.DictType):
                return normalize(value, member)
            if isinstance(value, list) and isinstance(member, inspect.ListType):
                return normalize(value, member)
        return value
    if isinstance(type_info, inspect.StructType) and isinstance(value, dict):
        fields = _struct_fields(type_info.cls)
        renamed = {}
        for key, item in value.items():
            match = fields.get(_fold(key)) if isinstance(key, str) else None
            if match is None:
                renamed[key] = item
            else:
                renamed[match[0]] = normalize(item, match[1])
        return renamed
    if isinstance(type_info, inspect.DictType) and isinstance(value, dict):
        return {k: normalize(v, type_info.value_type) for k, v in value.items()}
    if isinstance(type_info, inspect.ListType) and isinstance(value, list):
        return [normalize(v, type_info.item_type) for v in value]
    return value


@functools.cache
def _type_info(target: Any) -> Any:
    return inspect.type_info(target)


def decode_json(body: bytes, target: Any, what: str = "Request decode failed") -> Any:
    """Decode a JSON request body into ``target``; a 400 naming the problem on failure."""
    try:
        raw = msgspec.json.decode(body)
        return msgspec.convert(normalize(raw, _type_info(target)), target)
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        raise BadRequest(f"{what}: {err}") from None
