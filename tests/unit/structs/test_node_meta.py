"""Consul's ValidateNodeMetadata texts, for peering Meta (consul- reserved) and node-meta
filters (consul- allowed)."""

from __future__ import annotations

import pytest

from proconsul.structs.node_meta import node_meta_problem


@pytest.mark.parametrize("meta, allow_reserved, problem", [
    (None, False, ""),
    ({"env": "prod", "a_b-9": ""}, False, ""),
    ({"consul-version": "1"}, True, ""),
    ({"consul-version": "1"}, False, "Couldn't load metadata pair ('consul-version', '1'): "
                                     "Key prefix 'consul-' is reserved for internal use"),
    ({"": "x"}, True, "Couldn't load metadata pair ('', 'x'): Key cannot be blank"),
    ({"a.b": "x"}, True, "Couldn't load metadata pair ('a.b', 'x'): Key contains invalid "
                         "characters"),
    ({"k" * 129: "x"}, True, f"Couldn't load metadata pair ('{'k' * 129}', 'x'): Key is too "
                             "long (limit: 128 characters)"),
    ({"k": "v" * 513}, True, f"Couldn't load metadata pair ('k', '{'v' * 513}'): Value is too "
                             "long (limit: 512 characters)"),
    ({f"k{i}": "" for i in range(65)}, True,
     "Node metadata cannot contain more than 64 key/value pairs"),
])
def test_node_meta_problems(meta, allow_reserved, problem):
    assert node_meta_problem(meta, allow_reserved) == problem
