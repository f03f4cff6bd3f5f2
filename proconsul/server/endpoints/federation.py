"""Federation.Status: every datacenter as this server sees it over the WAN (beyond Consul)."""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING

from proconsul.structs.errors import ConsulError
from proconsul.structs.federation import (
    FederationDatacenter,
    FederationServer,
    FederationStatus,
    ReplicationStatus,
)
from proconsul.structs.requests import DCSpecificRequest

if TYPE_CHECKING:
    from proconsul.server.server import Server

LEADER_TIMEOUT = 5.0  # how long to wait for another datacenter to name its leader


class Federation:
    """The Federation RPC service (answered by the server that receives it)."""

    NAME = "Federation"
    METHODS = ("Status",)

    def __init__(self, server: Server) -> None:
        self.server = server

    async def Status(self, req: DCSpecificRequest) -> FederationStatus:
        """The federation as seen from here; needs ``operator:read`` (what Consul asks
        of its other views of the servers)."""
        self.server.authz.resolve(req.Token).require("operator_read")
        server = self.server
        router = server.wan_router
        rtts = router.rtt_by_datacenter(*server.wan_coordinate_map())
        names = server.datacenters_by_distance()
        leaders = await asyncio.gather(*(self._leader(dc) for dc in names))
        out = []
        for dc, (leader, error) in zip(names, leaders, strict=True):
            rtt = rtts.get(dc, math.inf)
            out.append(FederationDatacenter(
                Datacenter=dc, Local=dc == server.config.datacenter,
                RTTMillis=round(rtt * 1000, 3) if math.isfinite(rtt) else None,
                Leader=leader, KnownLeader=bool(leader), LastError=error,
                Servers=[FederationServer(
                    Name=s.name, Node=s.node, Address=s.address, Status=s.status,
                    Reachable=s.status == "alive" and not router.is_unreachable(s.address))
                    for s in router.servers(dc)],
                Replication=self._replication() if dc == server.config.datacenter else {},
                Gateway=self._gateway(dc)))
        return FederationStatus(Datacenter=server.config.datacenter, Server=server.wan_name,
                                Datacenters=out)

    def _replication(self) -> dict[str, ReplicationStatus]:
        """This datacenter's replicators (running on its leader), by replicated type."""
        now = time.time()
        out = {}
        states = [r.state for r in self.server.replicators]
        if self.server.ca.replication.enabled:
            states.append(self.server.ca.replication)
        for state in states:
            out[state.replication_type] = ReplicationStatus(
                Running=state.running, LastIndex=state.replicated_index,
                LagSeconds=round(now - state.last_success, 3) if state.last_success else 0.0,
                LastSuccess=state.to_json()["LastSuccess"] if state.last_success else "",
                LastError=state.last_error_message if state.last_error > state.last_success
                else "")
        return out

    def _gateway(self, dc: str) -> str:
        """The mesh gateway ``dc`` is reached through ("" when not through one)."""
        locator = self.server.gateway_locator
        if locator is None:
            return ""
        return locator.chosen(dc) or locator.pick(dc) or ""

    async def _leader(self, dc: str) -> tuple[str, str]:
        """The leader of ``dc`` and the error that kept it unknown."""
        if dc == self.server.config.datacenter:
            return self.server.consensus.leader_address() or "", ""
        try:
            async with asyncio.timeout(LEADER_TIMEOUT):
                leader = await self.server.forwarder.forward_dc(
                    dc, "Status.Leader", DCSpecificRequest(Datacenter=dc))
        except ConsulError as err:
            return "", err.message
        except TimeoutError:
            return "", f"no answer from {dc} within {LEADER_TIMEOUT:.0f}s"
        return leader or "", "" if leader else "No cluster leader"
