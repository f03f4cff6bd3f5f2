"""Status.*: leader, peers, ping."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from proconsul.server.server import Server


class Status:
    """The Status RPC service."""

    NAME = "Status"
    METHODS = ("Leader", "Peers", "Ping")

    def __init__(self, server: Server) -> None:
        self.server = server

    async def Leader(self, req: Any) -> str:
        return self.server.consensus.leader_address() or ""

    async def Peers(self, req: Any) -> list[str]:
        """Every server of this server's raft configuration, non-voters too (as Consul's)."""
        return [view.address for view in self.server.consensus.servers()]

    async def Ping(self, req: Any) -> bool:
        return True
