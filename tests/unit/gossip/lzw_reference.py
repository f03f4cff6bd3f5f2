"""The straightforward bit-by-bit LZW (proconsul.gossip.lzw before it was made fast),
kept as the oracle the fast one is checked against: one code at a time, exactly as
Go's compress/lzw writer and reader step (LSB order, 8-bit literals)."""
from __future__ import annotations

_CLEAR = 256
_EOF = 257
_MAX_WIDTH = 12
_WRITER_MAX_CODE = (1 << _MAX_WIDTH) - 1


class LZWError(ValueError):
    """Malformed LZW stream or output over the size limit."""


def compress(data: bytes) -> bytes:
    # Codes are packed LSB-first into ``bits`` and flushed 32 bits at a time
    # (the byte stream is the same as flushing byte by byte).
    out = bytearray()
    bits, nbits = _CLEAR, 9
    width, hi, overflow = 9, _EOF, 1 << 9
    table: dict[int, int] = {}
    if data:
        code = data[0]
        for literal in data[1:]:
            key = (code << 8) | literal
            found = table.get(key)
            if found is not None:
                code = found
                continue
            bits |= code << nbits
            nbits += width
            if nbits >= 32:
                out += (bits & 0xFFFFFFFF).to_bytes(4, "little")
                bits >>= 32
                nbits -= 32
            code = literal
            hi += 1
            if hi == overflow:
                width += 1
                overflow <<= 1
            if hi == _WRITER_MAX_CODE:
                bits |= _CLEAR << nbits
                nbits += width
                width, hi, overflow = 9, _EOF, 1 << 9
                table.clear()
            else:
                table[key] = hi
        bits |= code << nbits
        nbits += width
        hi += 1
        if hi == overflow:
            width += 1
        if hi == _WRITER_MAX_CODE:
            bits |= _CLEAR << nbits
            nbits += width
            width = 9
    bits |= _EOF << nbits
    nbits += width
    out += bits.to_bytes((nbits + 7) // 8, "little")
    return bytes(out)


def decompress(data: bytes, limit: int = 40 << 20) -> bytes:
    """Decode a complete stream (must end with EOF); raise LZWError if longer than ``limit``."""
    out = bytearray()
    width = 9
    mask = (1 << width) - 1
    hi = _EOF
    overflow = 1 << width
    last: bytes | None = None
    table: dict[int, bytes] = {}
    bits = 0
    nbits = 0
    pos = 0
    size = len(data)
    while True:
        if nbits < width:
            if pos >= size:
                raise LZWError("LZW stream ends without EOF code")
            chunk = data[pos : pos + 4]
            bits |= int.from_bytes(chunk, "little") << nbits
            pos += len(chunk)
            nbits += 8 * len(chunk)
            if nbits < width:
                raise LZWError("LZW stream ends without EOF code")
        code = bits & mask
        bits >>= width
        nbits -= width
        if code < _CLEAR:
            entry = _LITERALS[code]
        elif code == _CLEAR:
            width, hi, overflow, last = 9, _EOF, 1 << 9, None
            mask = (1 << width) - 1
            continue
        elif code == _EOF:
            return bytes(out)
        elif code < hi and code in table:
            entry = table[code]
        elif code == hi and last is not None:
            entry = last + last[:1]
        else:
            raise LZWError(f"invalid LZW code {code}")
        out += entry
        if len(out) > limit:
            raise LZWError("decompressed data over the size limit")
        if last is not None:
            table[hi] = last + entry[:1]
        last = entry
        hi += 1
        if hi >= overflow:
            if width == _MAX_WIDTH:
                last = None
                hi -= 1
            else:
                width += 1
                overflow <<= 1
                mask = (1 << width) - 1


_LITERALS = [bytes((i,)) for i in range(256)]
