"""Shared building blocks for the wire and API types.

Attribute names are Consul's Go field names, so JSON, msgpack and ``?filter``
selectors all see exactly the names Consul's users know. Go's ``omitempty``
fields default to :data:`UNSET`, which msgspec never encodes.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

__all__ = ["UNSET", "UnsetType", "Record"]


class Record(msgspec.Struct, forbid_unknown_fields=True):
    """Base of every API/wire struct: unknown fields are rejected as Consul does."""
