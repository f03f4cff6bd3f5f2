"""Go's ``%q`` (``strconv.Quote``) for error messages that must read exactly as Consul's."""

from __future__ import annotations

_NAMED = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
          "\v": "\\v", "\\": "\\\\", '"': '\\"'}


def go_quote(text: str) -> str:
    """Double-quote ``text`` as Go's ``%q`` does: printable runes as they are, the rest
    escaped (``\\x`` below 0x80, ``\\u``/``\\U`` above). Lone surrogates from
    ``surrogateescape`` decoding stand for the raw bytes Go would print as ``\\xNN``."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _NAMED:
            out.append(_NAMED[char])
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char.isprintable():
            out.append(char)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)
