"""HCL 1 parsing (Consul's config dialect) on top of pyhcl, with repeated blocks kept whole."""

from __future__ import annotations

from typing import Any

from hcl.parser import HclParser


class _Parser(HclParser):
    """pyhcl, except that repeated blocks stay whole.

    pyhcl merges a repeated key's blocks attribute by attribute, which turns
    two ``service { ... }`` blocks into a list of one-attribute fragments.
    Consul reads them as a list of blocks, so that is what this returns.
    """

    def objectlist_flat(self, lt, replace):
        tree: dict[str, Any] = {}
        repeated: set[str] = set()
        for key, value in lt:
            if key not in tree:
                tree[key] = value
            elif key in repeated:
                tree[key].append(value)
            else:
                tree[key] = [tree[key], value]
                repeated.add(key)
        return tree


_parser: _Parser | None = None


def loads(text: str) -> dict[str, Any]:
    """Parse HCL text into a plain tree; raises ValueError (or pyhcl's errors) when invalid."""
    global _parser
    if _parser is None:
        _parser = _Parser()
    return _parser.parse(text)
