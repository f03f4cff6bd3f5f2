"""Federation states as a replicated type: a secondary's rounds copy the primary's
states with the primary's ModifyIndex in PrimaryModifyIndex, and drop what it dropped."""

from __future__ import annotations

import msgspec
import pytest

from proconsul.server.replication.federation_states import FederationStates
from proconsul.server.replication.replicator import Replicator
from proconsul.server.server import Server, ServerConfig
from proconsul.structs.catalog import CheckServiceNode, Node, NodeService
from proconsul.structs.federation_state import FederationState, FederationStateRequest
from tests.support.in_process_server import wait_for


@pytest.fixture
async def pair():
    primary = Server(ServerConfig(datacenter="dc1"))
    secondary = Server(ServerConfig(datacenter="dc2", primary_datacenter="dc1"))
    for server in (primary, secondary):
        server.start()
        await wait_for(server.consensus.is_leader)

    def to_primary(method, request):  # the WAN hop, in process
        return primary.rpc(method, msgspec.structs.replace(request, Datacenter=""))

    yield primary, secondary, to_primary
    await secondary.stop()
    await primary.stop()


async def test_rounds_copy_and_drop_the_primarys_states(pair):
    primary, secondary, to_primary = pair
    for routine in ("replication-federation-state", "federation-state-anti-entropy"):
        await wait_for(lambda r=routine: secondary.routines.is_running(r))
        await secondary.routines.stop(routine)  # this test drives the rounds
    gateway = CheckServiceNode(Node=Node(Node="gw"), Checks=[], Service=NodeService(
        Service="mesh-gateway", Kind="mesh-gateway", Port=8443))
    for port in (8441, 8442, 8443):  # the primary's index moves ahead of the secondary's
        gateway.Service.Port = port
        await primary.rpc("FederationState.Apply", FederationStateRequest(
            Op="upsert", State=FederationState(Datacenter="dc3", MeshGateways=[gateway])))
    secondary.rpc = to_primary  # type: ignore[method-assign]
    replicator = Replicator(FederationStates(secondary), "dc1", 100.0, 5)
    await replicator.round()
    remote = primary.store.federation_state_get(None, "dc3")[1]
    local = secondary.store.federation_state_get(None, "dc3")[1]
    assert local.PrimaryModifyIndex == remote.ModifyIndex != local.ModifyIndex
    assert local.MeshGateways == remote.MeshGateways and local.UpdatedAt == remote.UpdatedAt
    await primary.rpc("FederationState.Apply", FederationStateRequest(
        Op="delete", State=FederationState(Datacenter="dc3")))
    changes = await replicator.round()
    assert changes.deletes == ["dc3"]
    assert secondary.store.federation_state_get(None, "dc3")[1] is None
