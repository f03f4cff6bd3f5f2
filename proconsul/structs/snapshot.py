"""The snapshot stream's request and response (Consul's SnapshotRequest/SnapshotResponse)."""

from __future__ import annotations

from proconsul.structs.base import Int, Record
from proconsul.structs.query import QueryMeta

SNAPSHOT_SAVE = 0
SNAPSHOT_RESTORE = 1


class SnapshotRequest(Record):
    """Save (Op 0) or restore (Op 1) a snapshot; a restore's archive follows the request."""

    Datacenter: str = ""
    Token: str = ""
    AllowStale: bool = False
    Op: Int = SNAPSHOT_SAVE


class SnapshotResponse(QueryMeta):
    """The answer; a save's archive follows it. ``Error`` is empty on success."""

    Error: str = ""
