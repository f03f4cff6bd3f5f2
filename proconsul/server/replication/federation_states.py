"""Federation states as a replicated type (Consul's federation_state_replication.go):
a secondary keeps the primary's states of every datacenter, each marked with the
primary's ModifyIndex in ``PrimaryModifyIndex``."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from msgspec.structs import replace

from proconsul.server.replication.diff import Remote
from proconsul.structs.federation_state import (
    FEDERATION_STATE_DELETE,
    FEDERATION_STATE_UPSERT,
    FederationState,
    FederationStateRequest,
)
from proconsul.structs.messages import MessageType
from proconsul.structs.requests import DCSpecificRequest

if TYPE_CHECKING:
    from proconsul.server.server import Server


def _content(state: FederationState) -> FederationState:
    return replace(state, CreateIndex=0, ModifyIndex=0, PrimaryModifyIndex=0)


class FederationStates:
    """Every datacenter's federation state, keyed by datacenter."""

    name = "federation-state"

    def __init__(self, server: Server) -> None:
        self._server = server
        self._fetched: dict[Hashable, FederationState] = {}

    async def fetch(self, primary: str, index: int) -> tuple[int, dict[Hashable, Remote]]:
        reply = await self._server.rpc("FederationState.List", DCSpecificRequest(
            Datacenter=primary, MinQueryIndex=index, AllowStale=True,
            Token=self._server.config.acl_replication_token))
        self._fetched = {s.Datacenter: s for s in reply.States}
        return reply.Index, {dc: Remote(s.ModifyIndex, _content(s))
                             for dc, s in self._fetched.items()}

    def local(self) -> dict[Hashable, Any]:
        return {s.Datacenter: _content(s)
                for s in self._server.store.federation_state_list(None)[1]}

    async def upsert(self, keys: list[Hashable]) -> None:
        for dc in keys:
            remote = self._fetched[dc]
            await self._server.raft_apply(MessageType.FEDERATION_STATE, FederationStateRequest(
                Op=FEDERATION_STATE_UPSERT,
                State=replace(remote, PrimaryModifyIndex=remote.ModifyIndex)))

    async def delete(self, keys: list[Hashable]) -> None:
        for dc in keys:
            await self._server.raft_apply(MessageType.FEDERATION_STATE, FederationStateRequest(
                Op=FEDERATION_STATE_DELETE, State=FederationState(Datacenter=str(dc))))
