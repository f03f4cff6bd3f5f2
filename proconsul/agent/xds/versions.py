"""The Envoy versions this xDS server drives (newest first), and the check of a proxy's."""

from __future__ import annotations

import re

SUPPORTED_ENVOY_VERSIONS = ("1.40.0", "1.39.0", "1.38.0", "1.37.0", "1.36.0", "1.35.0",
                            "1.34.0")
_MINORS = sorted({tuple(int(p) for p in v.split(".")[:2]) for v in SUPPORTED_ENVOY_VERSIONS})
OLDEST, NEWEST = _MINORS[0], _MINORS[-1]

_VERSION = re.compile(r"(?:^|[/\s])(\d+)\.(\d+)\.(\d+)(?:[/\s-]|$)")


def parse(text: str) -> tuple[int, int, int] | None:
    m = _VERSION.search(text)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def too_old(version: tuple[int, int, int]) -> bool:
    return version[:2] < OLDEST


def unsupported_reason(version: tuple[int, int, int]) -> str:
    """Why ``connect envoy`` refuses this Envoy ("" if it does not)."""
    text = ".".join(map(str, version))
    supported = f"{OLDEST[0]}.{OLDEST[1]}.x to {NEWEST[0]}.{NEWEST[1]}.x"
    if version[:2] < OLDEST or version[:2] > NEWEST:
        return (f"Envoy version {text} is not supported. If there is a reason you need to "
                f"use this version of envoy use the ignore-envoy-compatibility flag. "
                f"Using an unsupported version of Envoy is not recommended and your "
                f"experience may vary. Supported: {supported}")
    return ""
