"""The federation leader routines on an in-process server: anti-entropy of this
datacenter's mesh gateways into its state, and pruning of departed datacenters."""

from __future__ import annotations

import pytest

from proconsul.server.federation.pruning import stale
from proconsul.server.reconcile import MemberState
from proconsul.server.server import Server, ServerConfig
from proconsul.structs.catalog import DeregisterRequest, NodeService, RegisterRequest
from proconsul.structs.federation_state import FederationState, FederationStateRequest
from tests.support.in_process_server import wait_for


def wan_server(dc: str, status: str = "alive") -> MemberState:
    return MemberState(f"s-{dc}.{dc}", "10.0.0.1", {"role": "consul", "dc": dc,
                                                     "port": "8300"}, status)


@pytest.fixture
async def server():
    srv = Server(ServerConfig(datacenter="dc1"))
    members = [wan_server("dc1")]
    srv.wan_members = lambda: members
    srv.start()
    await wait_for(lambda: srv.store.federation_state_get(None, "dc1")[1] is not None)
    yield srv
    await srv.stop()


def gateways(server: Server, dc: str) -> list[str]:
    state = server.store.federation_state_get(None, dc)[1]
    return [] if state is None else [row.Node.Node for row in state.MeshGateways]


async def test_anti_entropy_follows_the_mesh_gateways_of_the_catalog(server):
    await server.rpc("Catalog.Register", RegisterRequest(
        Node="gw1", Address="10.0.0.2", Service=NodeService(
            Service="mesh-gateway", Kind="mesh-gateway", Port=8443)))
    await server.rpc("Catalog.Register", RegisterRequest(
        Node="web1", Address="10.0.0.3", Service=NodeService(Service="web", Port=80)))
    await wait_for(lambda: gateways(server, "dc1") == ["gw1"])
    syncs = server.federation_anti_entropy.syncs
    await server.rpc("Catalog.Register", RegisterRequest(  # not a gateway: no write
        Node="web2", Address="10.0.0.4", Service=NodeService(Service="web", Port=80)))
    await server.rpc("Catalog.Deregister", DeregisterRequest(Node="gw1"))
    await wait_for(lambda: gateways(server, "dc1") == [])
    assert server.federation_anti_entropy.syncs == syncs + 1


def test_stale_keeps_the_own_and_the_known_datacenters():
    assert stale(["dc1", "dc2", "dc3"], {"dc1", "dc3"}, "dc1") == ["dc2"]
    assert stale(["dc1"], set(), "dc1") == []


async def test_a_datacenter_that_leaves_the_wan_is_pruned(server):
    members = server.wan_members()  # the fixture's list
    members += [wan_server("dc2"), wan_server("dc3")]
    server.wan_changed()
    for dc in ("dc2", "dc3", "dc4"):  # dc4: never seen in the WAN by this leader
        await server.rpc("FederationState.Apply", FederationStateRequest(
            Op="upsert", State=FederationState(Datacenter=dc)))
    members[1:] = [wan_server("dc2", "left"), wan_server("dc3", "failed")]
    server.wan_changed()
    await wait_for(lambda: server.store.federation_state_get(None, "dc2")[1] is None)
    listed = [s.Datacenter for s in server.store.federation_state_list(None)[1]]
    assert listed == ["dc1", "dc3", "dc4"]  # failed is still known; dc4 waits for a sweep
    assert await server.federation_pruner.prune(set(server.wan_router.datacenters())) == \
        ["dc4"]
