"""The leader's removal of peerings marked for deletion (Consul's
runPeeringDeletions): for each, its trust bundle goes, then whatever else was
registered to clean up after a peering (the imported catalog rows), then the peering
itself, which reads then answer 404 for."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from proconsul.server.blocking import run_blocking
from proconsul.server.replication.replicator import RateLimiter
from proconsul.structs.messages import MessageType
from proconsul.structs.peering import (
    Peering,
    PeeringDeleteRequest,
    PeeringTrustBundleDeleteRequest,
)
from proconsul.structs.query import QueryOptions

if TYPE_CHECKING:
    from proconsul.server.server import Server

log = logging.getLogger(__name__)

WAIT_NS = 300_000_000_000  # a blocking wait on the peerings, re-armed when it times out
RATE, BURST = 100.0, 100  # raft writes a second (Consul's deletion limiter)

Cleanup = Callable[[Peering], Awaitable[None]]


class PeeringDeleter:
    """Leader routine: waits for peerings marked for deletion and removes them.

    ``cleanups`` run (in order) for each peering before its record goes; another part
    of the server appends to it what it owns under the peer's name."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.cleanups: list[Cleanup] = []

    async def run(self) -> None:
        limiter = RateLimiter(RATE, BURST)
        index = 0
        while True:
            index, marked = await self._wait(index)
            for peering in marked:
                await self.delete(peering, limiter)

    async def _wait(self, index: int) -> tuple[int, list[Peering]]:
        """Once the peerings pass ``index``: their index and those marked for deletion
        (not a blocking query clients made: not counted as one)."""
        found: list[Peering] = []

        def query(ws) -> int:
            seen, rows = self.server.store.peering_list_deleted(ws)
            found[:] = rows
            return seen

        store = self.server.store
        seen = await run_blocking(store.watches, lambda: store.generation,
                                  QueryOptions(MinQueryIndex=index, MaxQueryTime=WAIT_NS), query)
        return seen, found

    async def delete(self, peering: Peering, limiter: RateLimiter) -> None:
        """Remove one marked peering and everything kept for it."""
        name, partition = peering.Name, peering.Partition or ""
        if self.server.store.peering_trust_bundle_read(None, name, partition)[1] is not None:
            await limiter.wait()
            await self.server.raft_apply(MessageType.PEERING_TRUST_BUNDLE_DELETE,
                                         PeeringTrustBundleDeleteRequest(Name=name,
                                                                         Partition=partition))
        for cleanup in self.cleanups:
            await cleanup(peering)
        await limiter.wait()
        await self.server.raft_apply(MessageType.PEERING_DELETE,
                                     PeeringDeleteRequest(Name=name, Partition=partition))
        log.info("deleted peering name=%s id=%s", name, peering.ID)
