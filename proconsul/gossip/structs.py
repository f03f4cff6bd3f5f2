"""Mapping between Python dataclasses and go-msgpack struct maps.

A wire struct is a dataclass whose fields carry ``go`` metadata: the Go field
name, a converter, and whether the field is ``omitempty``.  Encoding writes a
map keyed by Go field name in alphabetical order (the old go-msgpack codec
used by Consul-era memberlist/serf); decoding accepts any key order, ignores
unknown keys, and leaves missing fields at their defaults.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import struct
from typing import Any

from proconsul.gossip.msgpack import DecodeError, pack, pack_int, pack_raw, unpack_from

__all__ = [
    "BOOL", "BYTES", "FLOAT", "INT", "IP", "STR", "DecodeError", "ListOf", "MapOf", "StructOf",
    "decode_struct", "encode_struct", "go", "struct_to_wire", "unpack_struct_from",
]


class Converter:
    """Turns a Python field value into a msgpack value and back."""

    zero: Any = None

    def encode(self, value: Any) -> Any:
        return value

    def decode(self, raw: Any) -> Any:
        raise NotImplementedError


class _Int(Converter):
    zero = 0

    def decode(self, raw: Any) -> int:
        if raw is None:
            return 0
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise DecodeError(f"expected integer, got {type(raw).__name__}")
        return raw


class _Float(Converter):
    zero = 0.0

    def decode(self, raw: Any) -> float:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise DecodeError(f"expected float, got {type(raw).__name__}")
        return float(raw)


class _Bool(Converter):
    zero = False

    def decode(self, raw: Any) -> bool:
        if raw is None:
            return False
        if not isinstance(raw, bool):
            raise DecodeError(f"expected bool, got {type(raw).__name__}")
        return raw


class _Bytes(Converter):
    zero = b""

    def decode(self, raw: Any) -> bytes:
        if raw is None:
            return b""
        if not isinstance(raw, bytes):
            raise DecodeError(f"expected bytes, got {type(raw).__name__}")
        return raw


class _Str(_Bytes):
    zero = ""

    def decode(self, raw: Any) -> str:
        return super().decode(raw).decode("utf-8", "surrogateescape")


class _IP(_Bytes):
    """A Go ``net.IP``: 4 or 16 raw bytes on the wire, text in Python ("" = none)."""

    zero = ""

    def encode(self, value: str) -> bytes:
        return _packed_ip(value) if value else b""

    def decode(self, raw: Any) -> str:
        data = super().decode(raw)
        if not data:
            return ""
        if len(data) == 4:
            return f"{data[0]}.{data[1]}.{data[2]}.{data[3]}"
        if len(data) != 16:
            raise DecodeError(f"bad IP address length {len(data)}")
        ip = ipaddress.ip_address(data)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return str(ip)


@functools.lru_cache(maxsize=4096)
def _packed_ip(value: str) -> bytes:
    return ipaddress.ip_address(value).packed


INT = _Int()
FLOAT = _Float()
BOOL = _Bool()
BYTES = _Bytes()
STR = _Str()
IP = _IP()


class ListOf(Converter):
    """A Go slice; nil decodes to an empty list."""

    def __init__(self, item: Converter) -> None:
        self.item = item

    def encode(self, value: list | None) -> list | None:
        return None if value is None else [self.item.encode(v) for v in value]

    def decode(self, raw: Any) -> list:
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise DecodeError(f"expected array, got {type(raw).__name__}")
        return [self.item.decode(v) for v in raw]


class MapOf(Converter):
    """A Go ``map[string]T``; nil decodes to an empty dict."""

    def __init__(self, value: Converter) -> None:
        self.value = value

    def encode(self, value: dict | None) -> dict | None:
        return None if value is None else {k: self.value.encode(v) for k, v in value.items()}

    def decode(self, raw: Any) -> dict:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise DecodeError(f"expected map, got {type(raw).__name__}")
        return {STR.decode(k): self.value.decode(v) for k, v in raw.items()}


class StructOf(Converter):
    """A nested wire struct (or ``None`` for a nil pointer/slice element)."""

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def encode(self, value: Any) -> Any:
        return None if value is None else struct_to_wire(value)

    def decode(self, raw: Any) -> Any:
        return None if raw is None else decode_struct(self.cls, raw)


def go(name: str, conv: Converter, *, omitempty: bool = False, default: Any = dataclasses.MISSING,
       factory: Any = dataclasses.MISSING) -> Any:
    """Declare a dataclass field that maps to Go struct field ``name``."""
    meta = {"go": (name, conv, omitempty)}
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    if default is dataclasses.MISSING and conv.zero is not None and not isinstance(conv, StructOf):
        default = conv.zero
    return dataclasses.field(default=default, metadata=meta)


_LAYOUT_CACHE: dict[type, tuple[list, dict]] = {}


def _layout(cls: type) -> tuple[list, dict]:
    layout = _LAYOUT_CACHE.get(cls)
    if layout is None:
        fields = []
        for f in dataclasses.fields(cls):
            name, conv, omitempty = f.metadata["go"]
            fields.append((name, f.name, conv, omitempty))
        fields.sort(key=lambda item: item[0])
        by_key = {name.encode(): (attr, conv.decode) for name, attr, conv, _ in fields}
        layout = (fields, by_key)
        _LAYOUT_CACHE[cls] = layout
    return layout


def struct_to_wire(obj: Any) -> dict:
    fields, _ = _layout(type(obj))
    out = {}
    for name, attr, conv, omitempty in fields:
        value = getattr(obj, attr)
        if omitempty and not value:
            continue
        out[name] = conv.encode(value)
    return out


def encode_struct(obj: Any) -> bytes:
    """``pack(struct_to_wire(obj))``, by an encoder made once per class."""
    encoder = _ENCODERS.get(obj.__class__)
    if encoder is None:
        encoder = _ENCODERS[obj.__class__] = _make_encoder(obj.__class__)
    return encoder(obj)


_ENCODERS: dict[type, Any] = {}


def _field_packer(conv: Converter):
    """The bytes ``pack(conv.encode(value))`` gives, for the common scalar fields
    without the intermediate map; other values take the general way."""

    def general(value: Any) -> bytes:
        return pack(conv.encode(value))

    if conv is INT:
        return lambda v: pack_int(v) if v.__class__ is int else general(v)
    if conv is STR:
        return (lambda v: pack_raw(v.encode("utf-8", "surrogateescape"))
                if v.__class__ is str else general(v))
    if conv is BYTES:
        return lambda v: pack_raw(v) if v.__class__ is bytes else general(v)
    if conv is IP:
        return lambda v: pack_raw(_packed_ip(v) if v else b"") if v.__class__ is str else general(v)
    if conv is FLOAT:
        return lambda v: b"\xcb" + _DOUBLE.pack(v) if v.__class__ is float else general(v)
    return general


def _make_encoder(cls: type):
    fields, _ = _layout(cls)
    plan = tuple((pack(name), attr, _field_packer(conv), omitempty)
                 for name, attr, conv, omitempty in fields)
    if len(plan) >= 16:
        return lambda obj: pack(struct_to_wire(obj))

    def encode(obj: Any) -> bytes:
        parts = [b""]
        for key, attr, packer, omitempty in plan:
            value = getattr(obj, attr)
            if omitempty and not value:
                continue
            parts.append(key)
            parts.append(packer(value))
        parts[0] = _FIXMAP[len(parts) // 2]
        return b"".join(parts)

    return encode


_FIXMAP = [bytes((0x80 | n,)) for n in range(16)]
_DOUBLE = struct.Struct(">d")


def decode_struct(cls: type, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise DecodeError(f"expected map for {cls.__name__}, got {type(raw).__name__}")
    _, by_key = _layout(cls)
    kwargs = {}
    for key, value in raw.items():
        target = by_key.get(key)
        if target is not None:
            attr, decode = target
            kwargs[attr] = decode(value)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise DecodeError(f"incomplete {cls.__name__}: {exc}") from None


def unpack_struct_from(cls: type, data: bytes, offset: int = 0) -> tuple[Any, int]:
    raw, end = unpack_from(data, offset)
    return decode_struct(cls, raw), end
