"""Federation state anti-entropy (Consul's leader_federation_state_ae.go).

In every datacenter the leader watches its catalog's ``mesh-gateway`` instances
and this datacenter's federation state; when they differ it writes a new state:
through raft in the primary, through ``FederationState.Apply`` (forwarded to the
primary, with the replication token) in a secondary, whose copy then comes back
by replication.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from proconsul.server.replication.replicator import FAILURES, RateLimiter
from proconsul.state.node_dump import service_dump
from proconsul.structs.federation_state import (
    FEDERATION_STATE_UPSERT,
    FederationState,
    FederationStateRequest,
)
from proconsul.structs.messages import MessageType
from proconsul.structs.query import QueryMeta, QueryOptions
from proconsul.structs.service_kinds import MESH_GATEWAY

if TYPE_CHECKING:
    from proconsul.server.server import Server

log = logging.getLogger(__name__)

RATE, BURST = 0.2, 5  # syncs a second, as Consul's limiter
BACKOFF_MAX = 256.0
WAIT_NS = 10 * 60 * 1_000_000_000  # one blocking wait


def local_state(server: Server, ws) -> tuple[int, FederationState, FederationState | None]:
    """The index to block on, the state this datacenter's catalog implies, and the
    one stored for it."""
    store = server.store
    dc = server.config.datacenter
    dump_index, gateways, _ = service_dump(store, ws, MESH_GATEWAY)
    state_index, stored = store.federation_state_get(ws, dc)
    return (max(dump_index, state_index),
            FederationState(Datacenter=dc, MeshGateways=gateways), stored)


class FederationStateAntiEntropy:
    """The leader routine pushing this datacenter's mesh gateways into its state."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.syncs = 0

    async def run(self) -> None:
        limiter = RateLimiter(RATE, BURST)
        index, failures = 0, 0
        while True:
            try:
                index = await self.sync_once(index, limiter)
            except FAILURES as err:
                failures += 1
                log.warning("error performing anti-entropy sync of federation state: %s", err)
                await asyncio.sleep(min(BACKOFF_MAX, 2.0 ** (failures - 1)))
            else:
                failures = 0

    async def sync_once(self, index: int, limiter: RateLimiter | None = None) -> int:
        """Wait for the catalog or the state to pass ``index``, write the state if it
        differs (at the pace of ``limiter``: only writes take its tokens, since every
        catalog change wakes this); returns the index seen."""
        found: list = []

        def query(ws) -> int:
            seen, wanted, stored = local_state(self.server, ws)
            found[:] = [wanted, stored]
            return seen

        meta = QueryMeta()
        await self.server.blocking_query(
            QueryOptions(MinQueryIndex=index, MaxQueryTime=WAIT_NS), meta, query)
        wanted, stored = found
        if stored is not None and stored.is_same(wanted):
            log.debug("federation state anti-entropy sync skipped; already up to date")
            return meta.Index
        if limiter is not None:
            await limiter.wait()
        await self.write(wanted)
        self.syncs += 1
        log.info("federation state anti-entropy synced")
        return meta.Index

    async def write(self, state: FederationState) -> None:
        server = self.server
        stamped = FederationState(Datacenter=state.Datacenter, MeshGateways=state.MeshGateways,
                                  UpdatedAt=datetime.now(UTC))
        request = FederationStateRequest(Datacenter=server.config.datacenter,
                                         Op=FEDERATION_STATE_UPSERT, State=stamped)
        if server.is_primary:
            await server.raft_apply(MessageType.FEDERATION_STATE, request)
            return
        request.Token = server.config.acl_replication_token
        await server.rpc("FederationState.Apply", request)
