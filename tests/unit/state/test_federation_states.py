"""Federation states through the FSM (raft message 30), their blocking-query topic and
a snapshot round trip (record kind 51)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from proconsul.fsm.fsm import FSM
from proconsul.state.store import Store
from proconsul.state.watch import WatchSet
from proconsul.structs.catalog import CheckServiceNode, HealthCheck, Node, NodeService
from proconsul.structs.federation_state import FederationState, FederationStateRequest
from proconsul.structs.messages import MessageType, encode_command

WHEN = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)


def gateway(node: str, port: int = 8443, status: str = "passing") -> CheckServiceNode:
    return CheckServiceNode(
        Node=Node(Node=node, Address="10.0.0.1", Datacenter="dc2"),
        Service=NodeService(ID="mesh-gateway", Service="mesh-gateway", Kind="mesh-gateway",
                            Port=port, Meta={"consul-wan-federation": "1"}),
        Checks=[HealthCheck(Node=node, CheckID="c", Status=status, ServiceID="mesh-gateway")])


def apply(fsm: FSM, index: int, op: str, dc: str, *gateways: CheckServiceNode,
          primary_index: int = 0):
    state = FederationState(Datacenter=dc, MeshGateways=list(gateways), UpdatedAt=WHEN,
                            PrimaryModifyIndex=primary_index)
    return fsm.apply(index, encode_command(MessageType.FEDERATION_STATE,
                                           FederationStateRequest(Op=op, State=state)))


def test_upsert_stamps_indexes_and_delete_removes():
    store = Store()
    fsm = FSM(store)
    assert apply(fsm, 5, "upsert", "dc2", gateway("gw1")) is True
    assert apply(fsm, 9, "upsert", "dc2", gateway("gw1", 9443)) is True
    state = store.federation_state_get(None, "dc2")[1]
    assert (state.CreateIndex, state.ModifyIndex, state.PrimaryModifyIndex) == (5, 9, 9)
    assert state.MeshGateways[0].Service.Port == 9443 and state.UpdatedAt == WHEN
    assert apply(fsm, 10, "delete", "dc2") is True
    assert store.federation_state_get(None, "dc2") == (10, None)


def test_a_replicated_copy_keeps_the_primary_modify_index():
    store = Store()
    apply(FSM(store), 3, "upsert", "dc1", primary_index=42)
    assert store.federation_state_get(None, "dc1")[1].PrimaryModifyIndex == 42


def test_list_is_sorted_by_datacenter():
    store = Store()
    fsm = FSM(store)
    for i, dc in enumerate(["dc3", "dc1", "dc2"]):
        apply(fsm, i + 1, "upsert", dc)
    index, states = store.federation_state_list(None)
    assert index == 3 and [s.Datacenter for s in states] == ["dc1", "dc2", "dc3"]


def test_bad_requests_are_refused_and_change_nothing():
    store = Store()
    fsm = FSM(store)
    assert "Invalid federation state operation: bogus" in str(apply(fsm, 3, "bogus", "dc2"))
    assert "Missing federation state datacenter" in str(apply(fsm, 4, "upsert", ""))
    assert store.federation_state_list(None) == (0, [])


def test_a_write_wakes_a_reader_blocked_on_the_table():
    store = Store()
    fsm = FSM(store)
    ws = WatchSet()
    store.federation_state_get(ws, "dc2")
    woken = []
    store.watches.register(ws.topics, lambda: woken.append(True))
    apply(fsm, 2, "upsert", "dc2", gateway("gw1"))
    assert woken == [True]


def test_is_same_ignores_indexes_and_time_but_not_health():
    a = FederationState(Datacenter="dc2", MeshGateways=[gateway("gw1")], UpdatedAt=WHEN)
    stamped = gateway("gw1")
    stamped.Node.ModifyIndex = stamped.Service.ModifyIndex = 77
    b = FederationState(Datacenter="dc2", MeshGateways=[stamped])
    assert a.is_same(b)
    assert not a.is_same(FederationState(Datacenter="dc2",
                                         MeshGateways=[gateway("gw1", status="critical")]))
    assert not a.is_same(FederationState(Datacenter="dc3", MeshGateways=[gateway("gw1")]))
    assert not a.is_same(FederationState(Datacenter="dc2"))


def test_states_survive_a_snapshot():
    store = Store()
    fsm = FSM(store)
    apply(fsm, 1, "upsert", "dc1", gateway("gw1"))
    apply(fsm, 2, "upsert", "dc2", gateway("gw2"), primary_index=17)
    buffer = io.BytesIO()
    store.snapshot().write(buffer)
    restored = Store()
    restored.restore(io.BytesIO(buffer.getvalue()))
    assert restored.federation_state_list(None) == store.federation_state_list(None)
    assert restored.federation_state_get(None, "dc2")[1].PrimaryModifyIndex == 17
