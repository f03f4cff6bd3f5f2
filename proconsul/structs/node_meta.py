"""Consul's ``ValidateNodeMetadata``: the limits on a metadata map (peering Meta, node-meta
filters of prepared queries)."""

from __future__ import annotations

import re

META_MAX_PAIRS = 64
META_KEY_MAX = 128
META_VALUE_MAX = 512
RESERVED_PREFIX = "consul-"
_META_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _pair_problem(key: str, value: str, allow_reserved: bool) -> str:
    if not key:
        return "Key cannot be blank"
    if not _META_KEY.fullmatch(key):
        return "Key contains invalid characters"
    if len(key) > META_KEY_MAX:
        return f"Key is too long (limit: {META_KEY_MAX} characters)"
    if not allow_reserved and key.startswith(RESERVED_PREFIX):
        return f"Key prefix '{RESERVED_PREFIX}' is reserved for internal use"
    if len(value) > META_VALUE_MAX:
        return f"Value is too long (limit: {META_VALUE_MAX} characters)"
    return ""


def node_meta_problem(meta: dict[str, str] | None, allow_reserved: bool) -> str:
    """Consul's error text for the first rule ``meta`` breaks, or "" if it keeps them all."""
    meta = meta or {}
    if len(meta) > META_MAX_PAIRS:
        return f"Node metadata cannot contain more than {META_MAX_PAIRS} key/value pairs"
    for key, value in meta.items():
        why = _pair_problem(key, value, allow_reserved)
        if why:
            return f"Couldn't load metadata pair ('{key}', '{value}'): {why}"
    return ""
