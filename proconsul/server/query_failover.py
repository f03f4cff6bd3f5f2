"""Prepared-query failover over the WAN: other datacenters by RTT, ExecuteRemote there.

Consul's ``queryServerWrapper`` (agent/consul/prepared_query_endpoint.go) in two
methods: the datacenters a failing query may try (every known one except this,
nearest first by WAN coordinates) and ``PreparedQuery.ExecuteRemote`` run on a
server of the chosen datacenter through the forwarder's WAN routing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from proconsul.structs.prepared_query import (
    PreparedQueryExecuteRemoteRequest,
    PreparedQueryExecuteResponse,
)

if TYPE_CHECKING:
    from proconsul.server.server import Server


class WANFailoverRoute:
    """The failover route of a server that is a member of the WAN pool."""

    def __init__(self, server: Server) -> None:
        self._server = server

    def datacenters_by_distance(self) -> list[str]:
        local = self._server.config.datacenter
        return [dc for dc in self._server.datacenters_by_distance() if dc != local]

    async def execute_remote(self, datacenter: str, req: PreparedQueryExecuteRemoteRequest
                             ) -> PreparedQueryExecuteResponse:
        reply = await self._server.forwarder.forward_dc(
            datacenter, "PreparedQuery.ExecuteRemote", req)
        return cast(PreparedQueryExecuteResponse, reply)
