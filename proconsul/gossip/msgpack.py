"""The msgpack dialect spoken by HashiCorp's go-msgpack (memberlist, serf).

Strings and byte slices are both written with the *old raw* family
(fixraw ``0xa0|n``, raw16 ``0xda``, raw32 ``0xdb``); there is no str8 and no
bin family on the way out.  Non-negative integers take the smallest unsigned
form, negative ones the smallest signed form.  The decoder accepts every
family (including str8 and bin) and returns every string as ``bytes`` because
Go strings are arbitrary bytes; callers convert what they know to be text.
"""

from __future__ import annotations

import struct

__all__ = ["DecodeError", "Incomplete", "pack", "pack_int", "pack_raw", "unpack", "unpack_from"]

MAX_CONTAINER_LEN = 1 << 20


class DecodeError(ValueError):
    """The bytes are not a valid msgpack value in this dialect."""


class Incomplete(DecodeError):
    """The bytes end before the value does (more may arrive on a stream)."""


def pack(obj: object) -> bytes:
    out = bytearray()
    _pack(obj, out)
    return bytes(out)


def pack_raw(data: bytes) -> bytes:
    """``pack(data)`` for ``bytes``."""
    n = len(data)
    if n < 32:
        return _FIXRAW[n] + data
    if n < 0x10000:
        return b"\xda" + n.to_bytes(2, "big") + data
    return b"\xdb" + n.to_bytes(4, "big") + data


def pack_int(value: int) -> bytes:
    """``pack(value)`` for an ``int`` (not a ``bool``)."""
    if 0 <= value < 0x80:
        return _FIXINT[value]
    out = bytearray()
    _pack(value, out)
    return bytes(out)


_FIXRAW = [bytes((0xA0 | n,)) for n in range(32)]
_FIXINT = [bytes((n,)) for n in range(0x80)]


def _pack_raw(data: bytes, out: bytearray) -> None:
    n = len(data)
    if n < 32:
        out.append(0xA0 | n)
    elif n < 0x10000:
        out += b"\xda" + n.to_bytes(2, "big")
    else:
        out += b"\xdb" + n.to_bytes(4, "big")
    out += data


def _pack(obj: object, out: bytearray) -> None:
    if obj is None:
        out.append(0xC0)
    elif obj is True:
        out.append(0xC3)
    elif obj is False:
        out.append(0xC2)
    elif isinstance(obj, int):
        if obj >= 0:
            if obj < 0x80:
                out.append(obj)
            elif obj < 0x100:
                out += b"\xcc" + obj.to_bytes(1, "big")
            elif obj < 0x10000:
                out += b"\xcd" + obj.to_bytes(2, "big")
            elif obj < 0x100000000:
                out += b"\xce" + obj.to_bytes(4, "big")
            else:
                out += b"\xcf" + obj.to_bytes(8, "big")
        elif obj >= -32:
            out.append(obj & 0xFF)
        elif obj >= -0x80:
            out += b"\xd0" + obj.to_bytes(1, "big", signed=True)
        elif obj >= -0x8000:
            out += b"\xd1" + obj.to_bytes(2, "big", signed=True)
        elif obj >= -0x80000000:
            out += b"\xd2" + obj.to_bytes(4, "big", signed=True)
        else:
            out += b"\xd3" + obj.to_bytes(8, "big", signed=True)
    elif isinstance(obj, float):
        out += b"\xcb" + struct.pack(">d", obj)
    elif isinstance(obj, str):
        _pack_raw(obj.encode("utf-8", "surrogateescape"), out)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        _pack_raw(bytes(obj), out)
    elif isinstance(obj, (list, tuple)):
        n = len(obj)
        if n < 16:
            out.append(0x90 | n)
        elif n < 0x10000:
            out += b"\xdc" + n.to_bytes(2, "big")
        else:
            out += b"\xdd" + n.to_bytes(4, "big")
        for item in obj:
            _pack(item, out)
    elif isinstance(obj, dict):
        n = len(obj)
        if n < 16:
            out.append(0x80 | n)
        elif n < 0x10000:
            out += b"\xde" + n.to_bytes(2, "big")
        else:
            out += b"\xdf" + n.to_bytes(4, "big")
        for key, value in obj.items():
            _pack(key, out)
            _pack(value, out)
    else:
        raise TypeError(f"cannot msgpack-encode {type(obj).__name__}")


def unpack(data: bytes) -> object:
    """Decode exactly one value; trailing bytes are an error."""
    value, end = unpack_from(data, 0)
    if end != len(data):
        raise DecodeError(f"{len(data) - end} trailing bytes")
    return value


def unpack_from(data: bytes, offset: int = 0) -> tuple[object, int]:
    """Decode one value at ``offset``; return it and the offset just past it."""
    if not isinstance(data, bytes):
        data = bytes(data)
    try:
        return _unpack(data, offset, 0)
    except (IndexError, struct.error) as exc:
        raise Incomplete("truncated msgpack value") from exc


_FIXED = {0xC0: None, 0xC2: False, 0xC3: True}
_INT_FORMATS = {
    0xCC: (1, False), 0xCD: (2, False), 0xCE: (4, False), 0xCF: (8, False),
    0xD0: (1, True), 0xD1: (2, True), 0xD2: (4, True), 0xD3: (8, True),
}
_RAW_LEN = {0xD9: 1, 0xDA: 2, 0xDB: 4, 0xC4: 1, 0xC5: 2, 0xC6: 4}
_EXT_LEN = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
_EXT_VAR = {0xC7: 1, 0xC8: 2, 0xC9: 4}


def _take(buf: bytes, pos: int, n: int) -> bytes:
    end = pos + n
    if end > len(buf):
        raise Incomplete("truncated msgpack value")
    return buf[pos:end]


def _length(buf: bytes, pos: int, width: int) -> int:
    return int.from_bytes(_take(buf, pos, width), "big")


def _unpack(buf: bytes, pos: int, depth: int) -> tuple[object, int]:
    # The common tags first: positive fixint, fixraw, fixmap, fixarray.
    if depth > 64:
        raise DecodeError("msgpack nesting too deep")
    tag = buf[pos]
    pos += 1
    if tag < 0x80:
        return tag, pos
    if tag >= 0xA0:
        if tag < 0xC0:
            end = pos + (tag & 0x1F)
            if end > len(buf):
                raise Incomplete("truncated msgpack value")
            return buf[pos:end], end
        if tag >= 0xE0:
            return tag - 0x100, pos
    elif tag < 0x90:
        return _unpack_map(buf, pos, tag & 0x0F, depth)
    else:
        return _unpack_array(buf, pos, tag & 0x0F, depth)
    if tag in _FIXED:
        return _FIXED[tag], pos
    if tag in _INT_FORMATS:
        width, signed = _INT_FORMATS[tag]
        return int.from_bytes(_take(buf, pos, width), "big", signed=signed), pos + width
    if tag in _RAW_LEN:
        width = _RAW_LEN[tag]
        n = _length(buf, pos, width)
        pos += width
        return _take(buf, pos, n), pos + n
    if tag == 0xCA:
        return struct.unpack(">f", _take(buf, pos, 4))[0], pos + 4
    if tag == 0xCB:
        return struct.unpack(">d", _take(buf, pos, 8))[0], pos + 8
    if tag in (0xDC, 0xDD):
        width = 2 if tag == 0xDC else 4
        return _unpack_array(buf, pos + width, _length(buf, pos, width), depth)
    if tag in (0xDE, 0xDF):
        width = 2 if tag == 0xDE else 4
        return _unpack_map(buf, pos + width, _length(buf, pos, width), depth)
    if tag in _EXT_LEN or tag in _EXT_VAR:
        raise DecodeError("msgpack extension types are not used by this protocol")
    raise DecodeError(f"invalid msgpack tag 0x{tag:02x}")


def _unpack_array(buf: bytes, pos: int, n: int, depth: int) -> tuple[list, int]:
    if n > MAX_CONTAINER_LEN or n > len(buf) - pos:
        if n <= MAX_CONTAINER_LEN:
            raise Incomplete("truncated msgpack array")
        raise DecodeError("msgpack array too long")
    items = []
    depth += 1
    for _ in range(n):
        item, pos = _unpack(buf, pos, depth)
        items.append(item)
    return items, pos


def _unpack_map(buf: bytes, pos: int, n: int, depth: int) -> tuple[dict, int]:
    if n > MAX_CONTAINER_LEN or 2 * n > len(buf) - pos:
        if n <= MAX_CONTAINER_LEN:
            raise Incomplete("truncated msgpack map")
        raise DecodeError("msgpack map too long")
    result: dict = {}
    depth += 1
    for _ in range(n):
        key, pos = _unpack(buf, pos, depth)
        if key.__class__ is not bytes and isinstance(key, (list, dict)):
            raise DecodeError("unhashable msgpack map key")
        value, pos = _unpack(buf, pos, depth)
        result[key] = value
    return result, pos
