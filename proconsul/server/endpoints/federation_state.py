"""FederationState.* (Apply, Get, List, ListMeshGateways): the federation states the
primary keeps and every secondary replicates.

Apply always runs in the primary (the forwarder sends it there, see
:data:`proconsul.server.forward.GLOBAL_WRITES`); the reads answer from this
datacenter's copy, or from ``TargetDatacenter``'s for Get.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from msgspec.structs import replace

from proconsul.lib.metrics import timed
from proconsul.server import acl_filter
from proconsul.structs.errors import BadRequest
from proconsul.structs.federation_state import (
    FEDERATION_STATE_DELETE,
    FEDERATION_STATE_UPSERT,
    ZERO_TIME,
    DatacenterIndexedCheckServiceNodes,
    FederationStateQuery,
    FederationStateRequest,
    FederationStateResponse,
    IndexedFederationStates,
)
from proconsul.structs.messages import MessageType
from proconsul.structs.requests import DCSpecificRequest

if TYPE_CHECKING:
    from proconsul.server.server import Server


class FederationStateEndpoint:
    """The FederationState RPC service."""

    NAME = "FederationState"
    METHODS = ("Apply", "Get", "List", "ListMeshGateways")

    def __init__(self, server: Server) -> None:
        self.server = server

    @timed("consul.federation_state.apply")
    async def Apply(self, req: FederationStateRequest) -> bool:
        """Upsert or delete one state; ``operator:write``."""
        self.server.authz.resolve(req.Token).require("operator_write")
        state = req.State
        if state is None or not state.Datacenter:
            raise BadRequest("invalid request: missing federation state datacenter")
        if req.Op not in (FEDERATION_STATE_UPSERT, FEDERATION_STATE_DELETE):
            raise BadRequest(f"Invalid federation state operation: {req.Op}")
        if req.Op == FEDERATION_STATE_UPSERT and state.UpdatedAt == ZERO_TIME:
            state = replace(state, UpdatedAt=datetime.now(UTC))
        command = FederationStateRequest(Datacenter=req.Datacenter, Op=req.Op, State=state)
        return bool(await self.server.raft_apply(MessageType.FEDERATION_STATE, command))

    @timed("consul.federation_state.get")
    async def Get(self, req: FederationStateQuery) -> FederationStateResponse:
        """The state of ``req.Datacenter`` (None when there is none); ``operator:read``."""
        self.server.authz.resolve(req.Token).require("operator_read")
        store = self.server.store
        return await self.server.read_into(
            req, FederationStateResponse(), "State",
            lambda ws: store.federation_state_get(ws, req.Datacenter))

    @timed("consul.federation_state.list")
    async def List(self, req: DCSpecificRequest) -> IndexedFederationStates:
        """Every state, by datacenter; ``operator:read``."""
        self.server.authz.resolve(req.Token).require("operator_read")
        return await self.server.read_into(
            req, IndexedFederationStates(), "States",
            self.server.store.federation_state_list)

    @timed("consul.federation_state.list_mesh_gateways")
    async def ListMeshGateways(self, req: DCSpecificRequest
                               ) -> DatacenterIndexedCheckServiceNodes:
        """Each datacenter's mesh gateways, those the token may read (node and service
        read); datacenters left with none are omitted."""
        ident = self.server.authz.resolve(req.Token)

        def visible(states, reply) -> dict:
            out = {}
            for state in states:
                rows = acl_filter.check_service_nodes(ident, state.MeshGateways, reply)
                if rows:
                    out[state.Datacenter] = rows
            return out

        return await self.server.read_into(
            req, DatacenterIndexedCheckServiceNodes(), "DatacenterNodes",
            self.server.store.federation_state_list, acl=visible)
