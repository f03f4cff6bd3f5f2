"""Shared building blocks for the wire and API types.

Attribute names are Consul's Go field names, so JSON, msgpack and ``?filter``
selectors all see exactly the names Consul's users know. Go's ``omitempty``
fields default to :data:`UNSET`, which msgspec never encodes.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

__all__ = ["UNSET", "UnsetType", "Record", "RaftIndex", "unset_if_empty"]


class Record(msgspec.Struct, forbid_unknown_fields=True):
    """Base of every API/wire struct: unknown fields are rejected as Consul does."""


class RaftIndex(Record):
    """CreateIndex/ModifyIndex as embedded in many Consul structs."""

    CreateIndex: int = 0
    ModifyIndex: int = 0


def unset_if_empty(value: Any) -> Any:
    """Map Go's zero values to UNSET for ``omitempty`` fields."""
    if value is None or value == "" or value == 0 or value == [] or value == {}:
        return UNSET
    return value
