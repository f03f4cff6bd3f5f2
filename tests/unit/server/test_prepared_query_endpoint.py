"""PreparedQuery.Execute on an in-process server: failover through the route hook."""

from __future__ import annotations

import pytest

from proconsul.server.server import Server, ServerConfig
from proconsul.structs.catalog import (
    CheckServiceNode,
    HealthCheck,
    Node,
    NodeService,
    RegisterRequest,
)
from proconsul.structs.errors import ConsulError
from proconsul.structs.prepared_query import (
    PreparedQuery,
    PreparedQueryExecuteRemoteRequest,
    PreparedQueryExecuteRequest,
    PreparedQueryExecuteResponse,
    PreparedQueryRequest,
    QueryDNSOptions,
    QueryFailoverOptions,
    QuerySource,
    QueryTarget,
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


def import_rows(server: Server, peer: str, node: str, status: str = "passing") -> None:
    """``node`` runs "web" in ``peer``'s exported catalog (the peering stream's write)."""
    with server.store.imported(peer).write(100) as tx:
        server.store.imported(peer).ensure_registration(tx, RegisterRequest(
            Node=node, Address="10.5.0.1", Service=NodeService(ID="web", Service="web"),
            Checks=[HealthCheck(Node=node, CheckID="alive", Name="alive", ServiceID="web",
                                Status=status)]))


async def test_a_query_with_a_peer_reads_that_peers_imported_rows(server):
    import_rows(server, "east", "e1")
    await create(server, Name="east-web", Service=ServiceQuery(Service="web", Peer="east"))
    reply = await server.rpc("PreparedQuery.Execute",
                             PreparedQueryExecuteRequest(QueryIDOrName="east-web"))
    assert [(n.Node.Node, n.Node.PeerName) for n in reply.Nodes] == [("e1", "east")]
    assert (reply.PeerName, reply.Datacenter, reply.Failovers) == ("east", "", 0)
    local = await server.rpc("PreparedQuery.ExecuteRemote", PreparedQueryExecuteRemoteRequest(
        Query=PreparedQuery(Service=ServiceQuery(Service="web"))))
    assert ([n.Node.Node for n in local.Nodes], local.PeerName) == (["n1"], "")


async def test_failover_to_peers_tries_each_until_one_has_healthy_instances(server):
    route = FakeRoute()
    server.query_failover = route
    import_rows(server, "east", "e1", status="critical")
    import_rows(server, "west", "w1")
    await create(server, Name="api", Service=ServiceQuery(Service="web", Tags=["none"], Failover=(
        QueryFailoverOptions(Targets=[QueryTarget(Peer="east"), QueryTarget(Peer="nobody"),
                                      QueryTarget(Peer="west"), QueryTarget(Datacenter="dc3")]))))
    reply = await server.rpc("PreparedQuery.Execute",
                             PreparedQueryExecuteRequest(QueryIDOrName="api"))
    # no peer's instance has the tag: every target is tried, dc3 (the fake) answers
    assert [n.Node.Node for n in reply.Nodes] == ["far"]
    assert (reply.Failovers, reply.Datacenter, reply.PeerName) == (4, "dc3", "")
    assert [r.Query.Service.Peer for r in route.asked] == [""]
    await create(server, Name="web", Service=ServiceQuery(Service="web", OnlyPassing=True,
                                                          Near="_agent", Failover=(
        QueryFailoverOptions(Targets=[QueryTarget(Peer="east"), QueryTarget(Peer="west"),
                                      QueryTarget(Datacenter="dc3")]))))
    # a critical node check on n1: the local instance is unhealthy, the query fails over
    await server.rpc("Catalog.Register", RegisterRequest(
        Node="n1", Address="10.0.0.1", Check=HealthCheck(Node="n1", CheckID="down", Name="down",
                                                          Status="critical")))
    reply = await server.rpc("PreparedQuery.Execute", PreparedQueryExecuteRequest(
        QueryIDOrName="web", Agent=QuerySource(Datacenter="dc1", Node="n1")))
    assert [(n.Node.Node, n.Node.PeerName) for n in reply.Nodes] == [("w1", "west")]
    assert (reply.Failovers, reply.Datacenter, reply.PeerName) == (2, "", "west")
    assert len(route.asked) == 1


@pytest.mark.parametrize("failover", [
    QueryFailoverOptions(NearestN=1, Targets=[QueryTarget(Peer="east")]),
    QueryFailoverOptions(Datacenters=["dc2"], Targets=[QueryTarget(Datacenter="dc3")]),
])
async def test_targets_exclude_nearest_n_and_datacenters(server, failover):
    with pytest.raises(ConsulError, match="^Invalid prepared query: Targets cannot be populated "
                                          "with NearestN or Datacenters$"):
        await create(server, Name="bad", Service=ServiceQuery(Service="web", Failover=failover))
