"""The UI's whole-catalog dumps over imported rows: every peer's, or one peer's, and
blocking dump readers woken by a peer's writes (a new peer's first one included)."""

from __future__ import annotations

from proconsul.fsm.fsm import FSM
from proconsul.state import node_dump
from proconsul.state.store import Store
from proconsul.state.watch import WatchSet
from tests.unit.state.test_imported_catalog import both, register


def test_imported_dumps_cover_every_peer_by_name():
    store = both().store
    _, dump = node_dump.imported_node_dump(store, None)
    assert [(n.Node, n.Address, n.PeerName) for n in dump] == [
        ("n1", "10.1.0.1", "p1"), ("n2", "10.1.0.2", "p1"), ("n1", "10.2.0.1", "p2")]
    assert [n.PeerName for n in node_dump.node_dump(store, None)[1]] == [""]
    index, rows = node_dump.imported_service_dump(store, None)
    assert [(r.Service.Service, r.Node.PeerName) for r in rows] == [
        ("api", "p1"), ("web", "p1"), ("web", "p2")]
    assert index == 4
    _, only = node_dump.imported_service_dump(store, None, peer="p2")
    assert [(r.Node.Address, [c.Status for c in r.Checks]) for r in only] == [
        ("10.2.0.1", ["passing"])]
    assert node_dump.imported_service_dump(store, None, peer="p9") == (0, [])
    assert "p9" not in store.peer_catalogs


def test_dump_readers_wake_on_any_peers_writes_and_on_a_new_peer():
    fsm = FSM(Store())
    register(fsm, 1, "n1", "10.0.0.1")
    register(fsm, 2, "n1", "10.1.0.1", peer="p1")
    store = fsm.store
    woken: list[int] = []
    for at, peer_name in ((10, "p1"), (11, "p3"), (12, "")):
        ws = WatchSet()
        node_dump.imported_node_dump(store, ws)
        waker = lambda at=at: woken.append(at)  # noqa: E731
        store.watches.register(ws.topics, waker)
        register(fsm, at, "n9", "10.9.0.9", peer=peer_name)
        store.watches.unregister(ws.topics, waker)
    assert woken == [10, 11]  # a local write moves no imported dump
