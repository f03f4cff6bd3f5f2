"""What one replication round must change: a pure diff of the primary's objects and ours.

Objects are compared by key; one of the primary's is upserted here when we lack it,
or when it changed since the last replicated index and its content differs from ours
(so a new leader, starting again from index 0, re-applies nothing that is already
equal).  Ours that the primary no longer has are deleted.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Remote:
    """One object as the primary holds it: its ModifyIndex there and comparable content."""

    modify_index: int
    content: Any


@dataclass(frozen=True)
class Changes:
    upserts: list[Hashable]
    deletes: list[Hashable]

    def __bool__(self) -> bool:
        return bool(self.upserts or self.deletes)


def diff(local: Mapping[Hashable, Any], remote: Mapping[Hashable, Remote],
         last_index: int) -> Changes:
    """Keys to upsert (in ``remote``'s order) and to delete (in ``local``'s order)."""
    upserts = [key for key, obj in remote.items()
               if key not in local
               or (obj.modify_index > last_index and local[key] != obj.content)]
    deletes = [key for key in local if key not in remote]
    return Changes(upserts, deletes)
