"""The FederationState RPCs on an in-process server with ACLs on (default deny):
what each call needs, and what it answers."""

from __future__ import annotations

import asyncio

import pytest

from proconsul.server.server import Server
from proconsul.structs.catalog import CheckServiceNode, Node, NodeService
from proconsul.structs.errors import BadRequest, Forbidden
from proconsul.structs.federation_state import (
    ZERO_TIME,
    FederationState,
    FederationStateQuery,
    FederationStateRequest,
)
from proconsul.structs.requests import DCSpecificRequest
from tests.support.in_process_server import ROOT, acl_server, make_token, wait_for


def gateway(node: str, service: str = "mesh-gateway") -> CheckServiceNode:
    return CheckServiceNode(Node=Node(Node=node, Address="10.0.0.9"),
                            Service=NodeService(ID=service, Service=service,
                                                Kind="mesh-gateway", Port=8443), Checks=[])


@pytest.fixture
async def server():
    async with acl_server() as srv:
        # the leader's anti-entropy writes its own datacenter's state; tests use others
        await wait_for(lambda: srv.store.federation_state_get(None, "dc1")[1] is not None)
        yield srv


async def upsert(server: Server, secret: str, dc: str, *gateways: CheckServiceNode,
                 op: str = "upsert") -> bool:
    return await server.rpc("FederationState.Apply", FederationStateRequest(
        Op=op, State=FederationState(Datacenter=dc, MeshGateways=list(gateways)),
        Token=secret))


async def test_apply_needs_operator_write_and_stamps_updated_at(server):
    reader = await make_token(server, "r", 'operator = "read"')
    writer = await make_token(server, "w", 'operator = "write"')
    with pytest.raises(Forbidden, match="lacks permission 'operator:write'"):
        await upsert(server, reader, "dc2", gateway("gw"))
    assert await upsert(server, writer, "dc2", gateway("gw")) is True
    state = server.store.federation_state_get(None, "dc2")[1]
    assert state.UpdatedAt != ZERO_TIME and state.MeshGateways[0].Node.Node == "gw"
    assert await upsert(server, writer, "dc2", op="delete") is True
    assert server.store.federation_state_get(None, "dc2")[1] is None


async def test_apply_refuses_bad_requests_with_consuls_texts(server):
    with pytest.raises(BadRequest, match="Invalid federation state operation: bogus"):
        await upsert(server, ROOT, "dc2", op="bogus")
    with pytest.raises(BadRequest, match="missing federation state datacenter"):
        await upsert(server, ROOT, "")
    with pytest.raises(BadRequest, match="missing federation state datacenter"):
        await server.rpc("FederationState.Apply", FederationStateRequest(Op="upsert",
                                                                         Token=ROOT))


async def test_get_and_list_need_operator_read(server):
    reader = await make_token(server, "r", 'operator = "read"')
    other = await make_token(server, "o", 'node_prefix "" { policy = "read" }')
    await upsert(server, ROOT, "dc2", gateway("gw2"))
    await upsert(server, ROOT, "dc3", gateway("gw1"))
    for secret in (other, "anonymous"):
        with pytest.raises(Forbidden, match="lacks permission 'operator:read'"):
            await server.rpc("FederationState.Get", FederationStateQuery(
                Datacenter="dc2", Token=secret))
        with pytest.raises(Forbidden, match="lacks permission 'operator:read'"):
            await server.rpc("FederationState.List", DCSpecificRequest(Token=secret))
    got = await server.rpc("FederationState.Get", FederationStateQuery(
        Datacenter="dc2", Token=reader))
    assert got.State.Datacenter == "dc2" and got.Index > 0
    missing = await server.rpc("FederationState.Get", FederationStateQuery(
        Datacenter="dc9", Token=reader))
    assert missing.State is None
    listed = await server.rpc("FederationState.List", DCSpecificRequest(Token=reader))
    assert [s.Datacenter for s in listed.States] == ["dc1", "dc2", "dc3"]


async def test_list_mesh_gateways_keeps_what_the_token_may_read(server):
    await upsert(server, ROOT, "dc3", gateway("gw1"), gateway("gw1b", "secret-gw"))
    await upsert(server, ROOT, "dc2", gateway("gw2"))
    await upsert(server, ROOT, "dc4")  # no gateways: omitted
    allowed = await make_token(server, "g", 'node "gw1" { policy = "read" }\n'
                          'node "gw1b" { policy = "read" }\n'
                          'service "mesh-gateway" { policy = "read" }')
    full = await server.rpc("FederationState.ListMeshGateways", DCSpecificRequest(Token=ROOT))
    assert sorted(full.DatacenterNodes) == ["dc2", "dc3"] and not full.ResultsFilteredByACLs
    seen = await server.rpc("FederationState.ListMeshGateways",
                            DCSpecificRequest(Token=allowed))
    assert {dc: [r.Node.Node for r in rows] for dc, rows in seen.DatacenterNodes.items()} \
        == {"dc3": ["gw1"]}
    assert seen.ResultsFilteredByACLs
    none = await server.rpc("FederationState.ListMeshGateways",
                            DCSpecificRequest(Token="anonymous"))
    assert none.DatacenterNodes == {}


async def test_a_blocked_list_returns_when_a_state_is_written(server):
    first = await server.rpc("FederationState.List", DCSpecificRequest(Token=ROOT))
    blocked = asyncio.ensure_future(server.rpc("FederationState.List", DCSpecificRequest(
        Token=ROOT, MinQueryIndex=first.Index, MaxQueryTime=10_000_000_000)))
    await asyncio.sleep(0)
    assert not blocked.done()
    await upsert(server, ROOT, "dc2", gateway("gw2"))
    listed = await asyncio.wait_for(blocked, 5)
    assert listed.Index > first.Index
    assert [s.Datacenter for s in listed.States] == ["dc1", "dc2"]
