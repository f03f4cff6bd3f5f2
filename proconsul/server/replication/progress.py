"""How far each replicated type has got, kept in raft as a system metadata entry.

The index is committed after the round that reached it has been applied, so a
restarted secondary (even after kill -9) or a new leader resumes its blocking
fetch from there instead of from 0: a primary with nothing new costs it no round
at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from proconsul.structs.messages import MessageType
from proconsul.structs.system_metadata import (
    SYSTEM_METADATA_UPSERT,
    SystemMetadataEntry,
    SystemMetadataRequest,
)

if TYPE_CHECKING:
    from proconsul.server.server import Server

KEY_PREFIX = "replication-index/"


class RaftProgress:
    """Loads and saves a replicated type's last index through this datacenter's raft."""

    def __init__(self, server: Server) -> None:
        self._server = server

    def load(self, name: str) -> int:
        entry = self._server.store.system_metadata_get(KEY_PREFIX + name)
        try:
            return int(entry.Value) if entry is not None else 0
        except ValueError:
            return 0

    async def save(self, name: str, index: int) -> None:
        await self._server.raft_apply(MessageType.SYSTEM_METADATA, SystemMetadataRequest(
            Op=SYSTEM_METADATA_UPSERT,
            Entry=SystemMetadataEntry(Key=KEY_PREFIX + name, Value=str(index))))
