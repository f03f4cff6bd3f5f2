"""Shared building blocks for the wire and API types.

Attribute names are Consul's Go field names, so JSON, msgpack and ``?filter``
selectors all see exactly the names Consul's users know. Go's ``omitempty``
fields default to :data:`UNSET`, which msgspec never encodes.

Integer fields use the aliases below, named for the Go type Consul declares,
so decoding (JSON or msgpack) refuses a number that Go could not hold instead
of storing it and failing later (msgpack cannot even encode past 2**64 - 1).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

__all__ = ["INT64_MAX", "INT64_MIN", "UINT64_MAX", "UNSET", "Int", "Record", "Uint64",
           "UnsetType"]

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1

Int = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
"""Go ``int``/``int64`` (and ``time.Duration`` in nanoseconds)."""

Uint64 = Annotated[int, msgspec.Meta(ge=0)]
"""Go ``uint64``/``uint``: raft indexes, KV flags. msgspec cannot express the upper
bound; msgpack cannot carry more, and the HTTP decoder refuses more than
:data:`UINT64_MAX` for any integer."""


class Record(msgspec.Struct, forbid_unknown_fields=True):
    """Base of every API/wire struct: unknown fields are rejected as Consul does."""
