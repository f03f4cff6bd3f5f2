"""The imported catalog: rows a cluster peer exported to us, kept apart from local ones."""

from __future__ import annotations

import io

from proconsul.fsm.fsm import FSM
from proconsul.state.store import Store
from proconsul.state.watch import WatchSet
from proconsul.structs.catalog import (
    DeregisterRequest,
    HealthCheck,
    NodeService,
    RegisterRequest,
)
from proconsul.structs.messages import MessageType, encode_command


def register(fsm: FSM, index: int, node: str, address: str, peer: str = "",
             service: str = "web", status: str = "passing") -> None:
    fsm.apply(index, encode_command(MessageType.REGISTER, RegisterRequest(
        Node=node, Address=address, PeerName=peer, NodeMeta={"side": peer or "local"},
        Service=NodeService(ID=service, Service=service, Tags=[peer or "local"], Port=80),
        Checks=[HealthCheck(Node=node, CheckID="svc", Name="svc", ServiceID=service,
                            Status=status)])))


def deregister(fsm: FSM, index: int, node: str, peer: str) -> None:
    fsm.apply(index, encode_command(MessageType.DEREGISTER,
                                    DeregisterRequest(Node=node, PeerName=peer)))


def both() -> FSM:
    """The node name "n1" registered locally and imported from peers p1 and p2."""
    fsm = FSM(Store())
    register(fsm, 1, "n1", "10.0.0.1")
    register(fsm, 2, "n1", "10.1.0.1", peer="p1", status="critical")
    register(fsm, 3, "n2", "10.1.0.2", peer="p1", service="api")
    register(fsm, 4, "n1", "10.2.0.1", peer="p2")
    return fsm


def test_same_node_name_local_and_in_each_peer():
    store = both().store
    assert [n.Address for n in store.list_nodes(None)[1]] == ["10.0.0.1"]
    assert not store.nodes.get("n1").PeerName
    p1 = store.catalog_reader("p1")
    assert [(n.Node, n.Address, n.PeerName) for n in p1.list_nodes(None)[1]] == [
        ("n1", "10.1.0.1", "p1"), ("n2", "10.1.0.2", "p1")]
    assert [n.Address for n in store.catalog_reader("p2").list_nodes(None)[1]] == ["10.2.0.1"]
    [row] = p1.check_service_nodes(None, "web")[1]
    assert (row.Node.PeerName, row.Service.PeerName, [c.PeerName for c in row.Checks]) == (
        "p1", "p1", ["p1"])
    assert [c.Status for c in row.Checks] == ["critical"]
    assert [r.Node.Address for r in store.check_service_nodes(None, "web")[1]] == ["10.0.0.1"]
    assert [c.Status for c in store.checks_in_state(None, "any")[1]] == ["passing"]
    assert store.catalog_reader("p3").list_nodes(None)[1] == []


def test_peered_reads_filter_as_local_ones():
    store = both().store
    p1 = store.catalog_reader("p1")
    assert [r.Node for r in p1.service_nodes(None, "web", ["p1"])[1]] == ["n1"]
    assert p1.service_nodes(None, "web", ["local"])[1] == []
    assert [n.Node for n in p1.list_nodes(None, {"side": "p1"})[1]] == ["n1", "n2"]
    assert p1.list_nodes(None, {"side": "local"})[1] == []
    assert sorted(s.ServiceName for s in p1.list_services(None)[1]) == ["api", "web"]
    assert set(p1.node_services(None, "n2")[1].Services) == {"api"}


def test_local_index_does_not_move_on_peered_writes():
    fsm = both()
    store = fsm.store
    before = (store.list_nodes(None)[0], store.service_index("web", checks=True),
              store.checks_in_state(None, "any")[0])
    register(fsm, 10, "n9", "10.1.0.9", peer="p1")
    assert (store.list_nodes(None)[0], store.service_index("web", checks=True),
            store.checks_in_state(None, "any")[0]) == before
    p1 = store.catalog_reader("p1")
    assert p1.list_nodes(None)[0] == 10
    assert p1.check_service_nodes(None, "web")[0] == 10


def test_blocking_readers_wake_on_their_peer_only():
    fsm = both()
    store = fsm.store
    local, peered = WatchSet(), WatchSet()
    store.check_service_nodes(local, "web")
    store.catalog_reader("p1").check_service_nodes(peered, "web")
    woken: list[str] = []
    store.watches.register(local.topics, lambda: woken.append("local"))
    store.watches.register(peered.topics, lambda: woken.append("p1"))
    register(fsm, 10, "n1", "10.2.0.1", peer="p2", status="warning")
    assert woken == []
    register(fsm, 11, "n1", "10.1.0.1", peer="p1", status="passing")
    assert woken == ["p1"]
    register(fsm, 12, "n1", "10.0.0.1", status="warning")
    assert woken == ["p1", "local"]


def test_first_write_of_a_new_peer_wakes_its_readers():
    fsm = FSM(Store())
    ws = WatchSet()
    assert fsm.store.catalog_reader("p1").check_service_nodes(ws, "web")[1] == []
    woken: list[bool] = []
    fsm.store.watches.register(ws.topics, lambda: woken.append(True))
    register(fsm, 1, "n1", "10.1.0.1", peer="p1")
    assert woken


def test_deregister_with_peer_leaves_the_local_node():
    fsm = both()
    deregister(fsm, 10, "n1", "p1")
    store = fsm.store
    assert [n.Node for n in store.catalog_reader("p1").list_nodes(None)[1]] == ["n2"]
    assert [n.Node for n in store.list_nodes(None)[1]] == ["n1"]
    assert [n.Node for n in store.catalog_reader("p2").list_nodes(None)[1]] == ["n1"]
    deregister(fsm, 11, "n1", "nobody")  # an unknown peer: nothing to do


def test_deleting_every_row_of_a_peer():
    fsm = both()
    store = fsm.store
    for at, node in enumerate(store.catalog_reader("p1").list_nodes(None)[1], start=10):
        deregister(fsm, at, node.Node, "p1")
    p1 = store.catalog_reader("p1")
    assert p1.list_nodes(None)[1] == []
    assert p1.check_service_nodes(None, "web")[1] == []
    assert p1.checks_in_state(None, "any")[1] == []
    assert len(store.services) == 1 and len(store.checks) == 1
    assert [n.Node for n in store.catalog_reader("p2").list_nodes(None)[1]] == ["n1"]


def test_snapshot_round_trip_keeps_peer_rows_and_indexes():
    store = both().store
    stream = io.BytesIO()
    store.snapshot().write(stream)
    restored = Store()
    restored.restore(io.BytesIO(stream.getvalue()))
    for peer in ("", "p1", "p2"):
        ours, theirs = store.catalog_reader(peer), restored.catalog_reader(peer)
        assert theirs.list_nodes(None) == ours.list_nodes(None)
        assert theirs.check_service_nodes(None, "web") == ours.check_service_nodes(None, "web")
        assert theirs.checks_in_state(None, "any") == ours.checks_in_state(None, "any")
    # the restored peer catalogs fire into the restored store's registry
    ws = WatchSet()
    restored.catalog_reader("p1").list_nodes(ws)
    woken: list[bool] = []
    restored.watches.register(ws.topics, lambda: woken.append(True))
    fsm = FSM(restored)
    register(fsm, 20, "n3", "10.1.0.3", peer="p1")
    assert woken
