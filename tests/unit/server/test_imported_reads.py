"""The server's catalog and health endpoints with PeerName, over the stream's apply path:
rows written by raft_apply of REGISTER/DEREGISTER with PeerName, as the peering stream
will write them."""

from __future__ import annotations

import asyncio

import pytest

from proconsul.server.server import Server, ServerConfig
from proconsul.structs.catalog import (
    ConnectProxyConfig,
    DeregisterRequest,
    HealthCheck,
    NodeService,
    RegisterRequest,
)
from proconsul.structs.errors import ConsulError
from proconsul.structs.messages import MessageType
from proconsul.structs.requests import DCSpecificRequest, ServiceSpecificRequest


def imported(node: str, address: str, status: str, peer: str = "p1") -> RegisterRequest:
    return RegisterRequest(
        Node=node, Address=address, PeerName=peer,
        Service=NodeService(ID="web", Service="web", Port=80),
        Checks=[HealthCheck(Node=node, CheckID="alive", Name="alive", ServiceID="web",
                            Status=status)])


@pytest.fixture
async def server():
    server = Server(ServerConfig())
    server.start()
    await server.raft_apply(MessageType.REGISTER, RegisterRequest(
        Node="n1", Address="10.0.0.1", Service=NodeService(ID="web", Service="web")))
    await server.raft_apply(MessageType.REGISTER, imported("n1", "10.1.0.1", "passing"))
    yield server
    await server.stop()


def web(peer: str, index: int = 0) -> ServiceSpecificRequest:
    return ServiceSpecificRequest(ServiceName="web", PeerName=peer, MinQueryIndex=index,
                                  MaxQueryTime=10_000_000_000)


async def test_reads_by_peer(server):
    local = await server.rpc("Health.ServiceNodes", web(""))
    peered = await server.rpc("Health.ServiceNodes", web("p1"))
    assert [n.Node.Address for n in local.Nodes] == ["10.0.0.1"]
    assert [(n.Node.Address, n.Node.PeerName) for n in peered.Nodes] == [("10.1.0.1", "p1")]
    assert (await server.rpc("Health.ServiceNodes", web("p2"))).Nodes == []
    nodes = await server.rpc("Catalog.ListNodes", DCSpecificRequest(PeerName="p1"))
    assert [n.Address for n in nodes.Nodes] == ["10.1.0.1"]


async def test_a_blocked_peer_read_wakes_on_that_peers_write(server):
    first = await server.rpc("Health.ServiceNodes", web("p1"))
    local_index = (await server.rpc("Health.ServiceNodes", web(""))).Index
    blocked = asyncio.ensure_future(server.rpc("Health.ServiceNodes", web("p1", first.Index)))
    await server.raft_apply(MessageType.REGISTER, imported("n1", "10.1.0.1", "critical"))
    woken = await asyncio.wait_for(blocked, 10)
    assert woken.Index > first.Index
    assert [c.Status for c in woken.Nodes[0].Checks] == ["critical"]
    assert (await server.rpc("Health.ServiceNodes", web(""))).Index == local_index


async def test_deregistering_every_node_of_a_peer(server):
    await server.raft_apply(MessageType.REGISTER, imported("n2", "10.1.0.2", "passing"))
    peered = await server.rpc("Catalog.ListNodes", DCSpecificRequest(PeerName="p1"))
    for node in peered.Nodes:  # what deleting a peering does, node by node
        await server.raft_apply(MessageType.DEREGISTER,
                                DeregisterRequest(Node=node.Node, PeerName="p1"))
    assert (await server.rpc("Health.ServiceNodes", web("p1"))).Nodes == []
    assert [n.Node.Address for n in (await server.rpc("Health.ServiceNodes", web(""))).Nodes] \
        == ["10.0.0.1"]


async def test_the_register_endpoint_refuses_peer_names(server):
    for request in (imported("n3", "10.1.0.3", "passing"),
                    RegisterRequest(Node="n3", Address="10.1.0.3",
                                    Service=NodeService(Service="x", PeerName="p1")),
                    RegisterRequest(Node="n3", Address="10.1.0.3", Checks=[
                        HealthCheck(Name="c", PeerName="p1")])):
        with pytest.raises(ConsulError, match="^cannot register requests with PeerName in them$"):
            await server.rpc("Catalog.Register", request)


async def test_connect_reads_find_the_imported_sidecar_proxies(server):
    await server.raft_apply(MessageType.REGISTER, RegisterRequest(
        Node="n1", Address="10.1.0.1", PeerName="p1", Service=NodeService(
            ID="web-sidecar-proxy", Service="web-sidecar-proxy", Kind="connect-proxy",
            Port=21000, Proxy=ConnectProxyConfig(DestinationServiceName="web"))))
    connect = ServiceSpecificRequest(ServiceName="web", PeerName="p1", Connect=True)
    [proxy] = (await server.rpc("Health.ServiceNodes", connect)).Nodes
    assert (proxy.Service.ID, proxy.Service.PeerName, proxy.Node.Address) == (
        "web-sidecar-proxy", "p1", "10.1.0.1")
    [row] = (await server.rpc("Catalog.ServiceNodes", connect)).ServiceNodes
    assert (row.ServiceID, row.PeerName) == ("web-sidecar-proxy", "p1")
    local = ServiceSpecificRequest(ServiceName="web", Connect=True)
    assert (await server.rpc("Health.ServiceNodes", local)).Nodes == []
    with pytest.raises(ConsulError, match="peer is not supported"):
        await server.rpc("Health.ServiceNodes", ServiceSpecificRequest(
            ServiceName="web", PeerName="p1", Ingress=True))
