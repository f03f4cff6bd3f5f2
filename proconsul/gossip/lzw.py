"""LZW exactly as Go's ``compress/lzw`` with LSB bit order and 8-bit literals.

Clear code 256, EOF 257, first dictionary code 258; code width grows from 9
to 12 bits when the next code reaches ``2**width``; the writer emits a clear
code and starts over when its next code would be 4095.  This is memberlist's
``compress`` message algorithm 0.

The widths follow from a code's place after the last clear: 255 codes of 9
bits, 512 of 10, 1024 of 11, then 12.  So the per-symbol loops only walk the
dictionary, and the bits are handled in bulk by C code: the writer turns each
code into its fixed-width binary digits (a table lookup) and reads all the
digits joined as one integer; the reader cuts a block of equal-width codes out
of the stream as one integer and spreads it to 16-bit fields with a few
mask-and-shift steps.
"""

from __future__ import annotations

import array
import functools
import sys

__all__ = ["LZWError", "compress", "decompress", "min_codes"]

_CLEAR = 256
_EOF = 257
_CLEAR_DIGITS = "100000000"  # the clear code that opens every stream, 9 bits
# After a clear: (width, codes of that width); the writer's clear comes at 3838 codes.
_WIDTHS = ((9, 255), (10, 512), (11, 1024), (12, 2048))
_SEGMENT = 3839  # 3838 codes and the clear that ends them
_GROWING = ((9, 254), *_WIDTHS[1:])  # a reader's widths after a segment's first code
_LAST_BEFORE_CLEAR = 4095


class LZWError(ValueError):
    """Malformed LZW stream or output over the size limit."""


@functools.cache
def _plan(count: int, width: int) -> tuple[tuple[int, int, int], ...]:
    """Steps between ``count`` (a power of two) fields of ``width`` bits packed and the
    same fields 16 bits apart: each step moves the upper half of every block."""
    steps = []
    block = count
    while block > 1:
        half = block // 2
        stride = block * 16
        mask = 0
        field = (1 << half * width) - 1
        for start in range(0, count * 16, stride):
            mask |= field << start
        steps.append((mask, half * width, half * 16))
        block = half
    return tuple(steps)


def _unpack(packed: int, count: int, width: int) -> tuple[list[int], int]:
    """The ``count`` ``width``-bit fields of ``packed``, least significant first, and
    the index of the first clear or EOF code among them (``count`` if none)."""
    size = 1 << (count - 1).bit_length()
    for mask, packed_shift, spread_shift in _plan(size, width):
        packed = (packed & mask) | ((packed >> packed_shift) & mask) << spread_shift
    spread = packed.to_bytes(2 * size, "little")
    stop = count
    for marker in _MARKERS:  # searched in the 16-bit little-endian fields
        at = spread.find(marker, 0, 2 * stop)
        while at > 0 and at & 1:
            at = spread.find(marker, at + 1, 2 * stop)
        if at >= 0:
            stop = at // 2
    fields = array.array("H", spread)
    if _BIG_ENDIAN:
        fields.byteswap()
    return fields.tolist()[:count], stop


_MARKERS = (_CLEAR.to_bytes(2, "little"), _EOF.to_bytes(2, "little"))


_BIG_ENDIAN = sys.byteorder == "big"


def compress(data: bytes, give_up: int | None = None) -> bytes | None:
    """Compress ``data``; None as soon as the output is sure to hold ``give_up``
    codes or more (clear and EOF codes aside), when given.

    ``give_up`` is only checked on inputs too short to need a clear code.
    """
    # The current string is kept as ``code << 8``: a dictionary key is then
    # ``base | literal`` and the stored values are shifted the same way.
    if not data:
        codes = [_EOF]
    elif len(data) < _SEGMENT:  # fewer codes than a segment: no clear can come
        table: dict[int, int] = {}
        # Each code written adds one key, made of that code and the next byte: the
        # keys, in order, are the codes.  With k codes written at a miss, k + 2 at
        # least are coming, and k < position: no need to check before give_up - 2.
        free = len(data) if give_up is None else max(give_up - 2, 0) + 1
        base, nxt = _parse(table, data[0] << 8, 258 << 8, data[1:free])
        if free < len(data):
            base = _parse_until(table, base, nxt, data[free:], (258 + free - 1) << 8)
            if base is None:
                return None
        codes = list(map(_EIGHT.__rrshift__, table))
        codes += (base >> 8, _EOF)
    else:
        codes = _parse_long(data)
    # Each block of one width as binary digits, the last code's first; the blocks
    # joined the same way (most significant first) and read as one integer.
    digits = [_CLEAR_DIGITS]
    for start in range(0, len(codes), _SEGMENT):
        segment = codes[start : start + _SEGMENT]
        first = 0
        for width, count in _WIDTHS:
            block = segment[first : first + count]
            if not block:
                break
            block.reverse()
            digits.append("".join(map(_digits(width).__getitem__, block)))
            first += count
    digits.reverse()
    text = "".join(digits)
    return int(text, 2).to_bytes((len(text) + 7) // 8, "little")


def _parse(table: dict[int, int], base: int, nxt: int, data: bytes) -> tuple[int, int]:
    for literal in data:
        key = base | literal
        if key in table:
            base = table[key]
        else:
            table[key] = nxt
            nxt += 256
            base = literal << 8
    return base, nxt


def _parse_until(table: dict[int, int], base: int, nxt: int, data: bytes,
                 stop: int) -> int | None:
    """``_parse`` that returns None instead of writing the code at ``stop``."""
    for literal in data:
        key = base | literal
        if key in table:
            base = table[key]
        elif nxt == stop:
            return None
        else:
            table[key] = nxt
            nxt += 256
            base = literal << 8
    return base


def _parse_long(data: bytes) -> list[int]:
    """The codes of ``data``, clear codes included (the writer's at 4095)."""
    bases: list[int] = []
    emit = bases.append
    table: dict[int, int] = {}
    base = data[0] << 8
    nxt = 258 << 8
    for literal in data[1:]:
        key = base | literal
        if key in table:
            base = table[key]
            continue
        emit(base)
        base = literal << 8
        if nxt == _LAST_BEFORE_CLEAR << 8:
            emit(_CLEAR << 8)
            table.clear()
            nxt = 258 << 8
        else:
            table[key] = nxt
            nxt += 256
    emit(base)
    if nxt == _LAST_BEFORE_CLEAR << 8:
        emit(_CLEAR << 8)
    emit(_EOF << 8)
    return list(map(_EIGHT.__rrshift__, bases))


def min_codes(data: bytes) -> int:
    """A lower bound on the codes ``compress(data)`` writes, EOF and clears aside.

    Extending a match needs the byte pair it ends with to have occurred before,
    so every distinct adjacent pair's first occurrence ends a code.
    """
    n = len(data)
    if n < 2:
        return n
    pairs = set(array.array("H", data[: n - n % 2]))
    pairs.update(array.array("H", data[1 : n - (n - 1) % 2]))
    return len(pairs) + 1


_EIGHT = 8


@functools.cache
def _digits(width: int) -> list[str]:
    """Code -> its ``width`` binary digits."""
    return [format(code, f"0{width}b") for code in range(1 << width)]


def decompress(data: bytes, limit: int = 40 << 20) -> bytes:
    """Decode a complete stream (must end with EOF); raise LZWError if longer than ``limit``."""
    reader = _Reader(data)
    out = bytearray()
    while _segment(reader, out, limit):
        pass
    return bytes(out)


class _Reader:
    """Reads codes from the stream's bits, least significant first."""

    __slots__ = ("data", "bit", "size")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.bit = 0
        self.size = 8 * len(data)

    def codes(self, width: int, count: int) -> tuple[list[int], int]:
        """Up to ``count`` codes of ``width`` bits (fewer where the stream ends), in order,
        and the index of the first clear or EOF code (the number of codes if none)."""
        count = min(count, (self.size - self.bit) // width)
        if count <= 0:
            return [], 0
        first, skip = divmod(self.bit, 8)
        end = (self.bit + count * width + 7) // 8
        packed = int.from_bytes(self.data[first:end], "little") >> skip
        return _unpack(packed & ((1 << count * width) - 1), count, width)

    def consumed(self, count: int, width: int) -> None:
        self.bit += count * width


def _segment(reader: _Reader, out: bytearray, limit: int) -> bool:
    """Decode from a clear (or the start) to the next clear (True) or EOF (False)."""
    first, _ = reader.codes(9, 1)
    if not first:
        raise LZWError("LZW stream ends without EOF code")
    reader.consumed(1, 9)
    code = first[0]
    if code == _CLEAR:
        return True
    if code == _EOF:
        return False
    if code > _EOF:
        raise LZWError(f"invalid LZW code {code}")
    table: list = [*_LITERALS, None, None]
    append, getitem, literals = table.append, table.__getitem__, _LITERALS
    last = _LITERALS[code]
    out += last
    for width, count in _GROWING:
        codes, stop = reader.codes(width, count)
        valid = codes[:stop] if stop < len(codes) else codes
        for code in valid:  # grow the dictionary; the output is its entries, joined after
            try:
                entry = table[code]
            except IndexError:
                if code != len(table):
                    raise LZWError(f"invalid LZW code {code}") from None
                entry = last + last[:1]
            append(last + literals[entry[0]])
            last = entry
        out += b"".join(map(getitem, valid))
        if len(out) > limit:
            raise LZWError("decompressed data over the size limit")
        if stop < len(codes):
            reader.consumed(stop + 1, width)
            return codes[stop] == _CLEAR
        reader.consumed(len(codes), width)
        if len(codes) < count:
            raise LZWError("LZW stream ends without EOF code")
    # The dictionary is full (4096 codes) and the writer did not clear: Go's reader
    # goes on with 12-bit codes and adds nothing more.
    while True:
        codes, stop = reader.codes(12, 1024)
        out += b"".join(map(getitem, codes[:stop]))
        if len(out) > limit:
            raise LZWError("decompressed data over the size limit")
        if stop < len(codes):
            reader.consumed(stop + 1, 12)
            return codes[stop] == _CLEAR
        if not codes:
            raise LZWError("LZW stream ends without EOF code")
        reader.consumed(len(codes), 12)


_LITERALS = [bytes((i,)) for i in range(256)]
