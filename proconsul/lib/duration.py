"""Go ``time.Duration`` strings: parsing ("1m30s", "250ms") and Go's formatting."""

from __future__ import annotations

import re

NANOSECOND = 1
MICROSECOND = 1_000
MILLISECOND = 1_000_000
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

_UNITS = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "µs": MICROSECOND,
    "μs": MICROSECOND,
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}
_MAX_NANOS = (1 << 63) - 1
_MAX_DIGITS = 20  # more digits than any int64 number of nanoseconds has
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


class DurationError(ValueError):
    """A string is not a Go duration."""


def parse_duration(text: str) -> int:
    """Parse a Go duration string into integer nanoseconds."""
    original = text
    sign = 1
    if text and text[0] in "+-":
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise DurationError(f'time: invalid duration "{original}"')
    total = 0
    pos = 0
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None:
            raise DurationError(f'time: invalid duration "{original}"')
        number, unit = match.groups()
        whole, _, frac = number.partition(".")
        frac = frac[:_MAX_DIGITS]  # digits past a nanosecond change nothing
        if len(whole) > _MAX_DIGITS:
            raise DurationError(f'time: invalid duration "{original}"')
        scale = _UNITS[unit]
        total += int(whole or "0") * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        pos = match.end()
    if total > _MAX_NANOS + (sign < 0):  # Go's int64 overflow check
        raise DurationError(f'time: invalid duration "{original}"')
    return sign * total


def format_duration(nanos: int) -> str:
    """Format nanoseconds as Go's ``Duration.String`` does ("1m0s", "500ms", "0s")."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    n = abs(nanos)
    if n < SECOND:
        for unit, scale in (("ms", MILLISECOND), ("µs", MICROSECOND), ("ns", NANOSECOND)):
            if n >= scale:
                return sign + _fraction(n, scale) + unit
    hours, rest = divmod(n, HOUR)
    minutes, rest = divmod(rest, MINUTE)
    seconds = _fraction(rest, SECOND) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def format_seconds(seconds: float) -> str:
    """Format a float number of seconds as Go would print the same nanosecond duration."""
    return format_duration(round(seconds * SECOND))


def _fraction(value: int, scale: int) -> str:
    whole, frac = divmod(value, scale)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(scale)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"
