"""PreparedQuery.Execute on an in-process server: failover through the route hook."""

from __future__ import annotations

import pytest

from proconsul.server.server import Server, ServerConfig
from proconsul.structs.catalog import CheckServiceNode, Node, NodeService, RegisterRequest
from proconsul.structs.errors import ConsulError
from proconsul.structs.prepared_query import (
    PreparedQuery,
    PreparedQueryExecuteRemoteRequest,
    PreparedQueryExecuteRequest,
    PreparedQueryExecuteResponse,
    PreparedQueryRequest,
    QueryDNSOptions,
    QueryFailoverOptions,
    ServiceQuery,
)


class FakeRoute:
    """Two other datacenters: dc2 (down) nearer than dc3 (has the service)."""

    def __init__(self) -> None:
        self.asked: list[PreparedQueryExecuteRemoteRequest] = []

    def datacenters_by_distance(self) -> list[str]:
        return ["dc2", "dc3"]

    async def execute_remote(self, datacenter: str, req: PreparedQueryExecuteRemoteRequest
                             ) -> PreparedQueryExecuteResponse:
        self.asked.append(req)
        if datacenter == "dc2":
            raise ConsulError("rpc error: connection refused")
        node = CheckServiceNode(Node=Node(Node="far", Datacenter=datacenter),
                                Service=NodeService(Service=req.Query.Service.Service), Checks=[])
        return PreparedQueryExecuteResponse(Service=req.Query.Service.Service, Nodes=[node],
                                            Datacenter=datacenter, DNS=req.Query.DNS)


@pytest.fixture
async def server():
    srv = Server(ServerConfig())
    srv.start()
    await srv.rpc("Catalog.Register", RegisterRequest(
        Node="n1", Address="10.0.0.1", Service=NodeService(Service="web")))
    yield srv
    await srv.stop()


async def create(server: Server, **fields) -> str:
    return await server.rpc("PreparedQuery.Apply", PreparedQueryRequest(
        Op="create", Query=PreparedQuery(**fields)))


async def test_failover_tries_datacenters_in_order_until_one_answers(server):
    route = FakeRoute()
    server.query_failover = route
    await create(server, Name="gone", Token="query-token", DNS=QueryDNSOptions(TTL="3s"),
                 Service=ServiceQuery(Service="nowhere", Failover=QueryFailoverOptions(
                     NearestN=2)))
    reply = await server.rpc("PreparedQuery.Execute", PreparedQueryExecuteRequest(
        QueryIDOrName="gone", Limit=4, Token="caller"))
    assert reply.Failovers == 2 and reply.Datacenter == "dc3"
    assert [n.Node.Node for n in reply.Nodes] == ["far"] and reply.DNS.TTL == "3s"
    assert [(r.Datacenter, r.Limit, r.Token, r.Query.Token) for r in route.asked] == [
        ("dc2", 4, "caller", "query-token"), ("dc3", 4, "caller", "query-token")]


async def test_without_remote_datacenters_failovers_stay_zero(server):
    await create(server, Name="gone", Service=ServiceQuery(
        Service="nowhere", Failover=QueryFailoverOptions(NearestN=3, Datacenters=["dc2"])))
    reply = await server.rpc("PreparedQuery.Execute",
                             PreparedQueryExecuteRequest(QueryIDOrName="gone"))
    assert (reply.Failovers, reply.Nodes, reply.Datacenter) == (0, [], "dc1")


async def test_local_results_never_fail_over(server):
    route = FakeRoute()
    server.query_failover = route
    await create(server, Name="here", Service=ServiceQuery(
        Service="web", Failover=QueryFailoverOptions(NearestN=2)))
    reply = await server.rpc("PreparedQuery.Execute",
                             PreparedQueryExecuteRequest(QueryIDOrName="here"))
    assert reply.Failovers == 0 and len(reply.Nodes) == 1 and route.asked == []


async def test_execute_remote_runs_the_shipped_query_here(server):
    reply = await server.rpc("PreparedQuery.ExecuteRemote", PreparedQueryExecuteRemoteRequest(
        Query=PreparedQuery(Service=ServiceQuery(Service="web"))))
    assert reply.Datacenter == "dc1" and [n.Service.Service for n in reply.Nodes] == ["web"]
