"""LZW exactly as Go's ``compress/lzw`` with LSB bit order and 8-bit literals.

Clear code 256, EOF 257, first dictionary code 258; code width grows from 9
to 12 bits when the next code reaches ``2**width``; the writer emits a clear
code and starts over when its next code would be 4095.  This is memberlist's
``compress`` message algorithm 0.
"""

from __future__ import annotations

__all__ = ["LZWError", "compress", "decompress"]

_CLEAR = 256
_EOF = 257
_MAX_WIDTH = 12
_WRITER_MAX_CODE = (1 << _MAX_WIDTH) - 1


class LZWError(ValueError):
    """Malformed LZW stream or output over the size limit."""


class _BitWriter:
    __slots__ = ("bits", "nbits", "out")

    def __init__(self) -> None:
        self.bits = 0
        self.nbits = 0
        self.out = bytearray()

    def write(self, code: int, width: int) -> None:
        self.bits |= code << self.nbits
        self.nbits += width
        while self.nbits >= 8:
            self.out.append(self.bits & 0xFF)
            self.bits >>= 8
            self.nbits -= 8

    def flush(self) -> bytes:
        if self.nbits > 0:
            self.out.append(self.bits & 0xFF)
        return bytes(self.out)


def compress(data: bytes) -> bytes:
    writer = _BitWriter()
    width = 9
    hi = _EOF
    overflow = 1 << width
    table: dict[int, int] = {}

    def inc_hi() -> bool:
        """Advance the next implied code; True when the table was reset."""
        nonlocal hi, width, overflow
        hi += 1
        if hi == overflow:
            width += 1
            overflow <<= 1
        if hi == _WRITER_MAX_CODE:
            writer.write(_CLEAR, width)
            width, hi, overflow = 9, _EOF, 1 << 9
            table.clear()
            return True
        return False

    writer.write(_CLEAR, width)
    if not data:
        writer.write(_EOF, width)
        return writer.flush()
    code = data[0]
    for literal in data[1:]:
        key = (code << 8) | literal
        found = table.get(key)
        if found is not None:
            code = found
            continue
        writer.write(code, width)
        code = literal
        if inc_hi():
            continue
        table[key] = hi
    writer.write(code, width)
    inc_hi()
    writer.write(_EOF, width)
    return writer.flush()


def decompress(data: bytes, limit: int = 40 << 20) -> bytes:
    """Decode a complete stream (must end with EOF); raise LZWError if longer than ``limit``."""
    out = bytearray()
    width = 9
    hi = _EOF
    overflow = 1 << width
    last: bytes | None = None
    table: dict[int, bytes] = {}
    bits = 0
    nbits = 0
    pos = 0
    size = len(data)
    while True:
        while nbits < width:
            if pos >= size:
                raise LZWError("LZW stream ends without EOF code")
            bits |= data[pos] << nbits
            pos += 1
            nbits += 8
        code = bits & ((1 << width) - 1)
        bits >>= width
        nbits -= width
        if code < _CLEAR:
            entry = bytes((code,))
        elif code == _CLEAR:
            width, hi, overflow, last = 9, _EOF, 1 << 9, None
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
