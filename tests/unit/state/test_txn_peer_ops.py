"""Transaction catalog operations naming a PeerName read and write that peer's
imported rows (Consul's state/txn.go passes PeerName to every catalog lookup and
write), atomically with the local ones."""

from __future__ import annotations

from proconsul.fsm.fsm import FSM
from proconsul.lib.acl.authorizer import new_authorizer
from proconsul.lib.acl.rules import parse_rules
from proconsul.server.acl_enforce import Identity
from proconsul.server.acl_vet import vet_txn
from proconsul.state.store import Store
from proconsul.state.watch import WatchSet
from proconsul.structs.catalog import HealthCheck, Node, NodeService
from proconsul.structs.kv import DirEntry
from proconsul.structs.messages import MessageType, encode_command
from proconsul.structs.txn import TxnCheckOp, TxnKVOp, TxnNodeOp, TxnOp, TxnRequest, TxnServiceOp
from tests.unit.state.test_imported_catalog import both


def node(verb: str, name: str, peer: str = "", address: str = "10.9.0.1") -> TxnOp:
    return TxnOp(Node=TxnNodeOp(Verb=verb, Node=Node(Node=name, Address=address,
                                                     PeerName=peer)))


def service(verb: str, node_name: str, sid: str, peer: str = "") -> TxnOp:
    return TxnOp(Service=TxnServiceOp(Verb=verb, Node=node_name, Service=NodeService(
        ID=sid, Service=sid, PeerName=peer)))


def check(verb: str, node_name: str, cid: str, peer: str = "", status: str = "passing"
          ) -> TxnOp:
    return TxnOp(Check=TxnCheckOp(Verb=verb, Check=HealthCheck(
        Node=node_name, CheckID=cid, Name=cid, Status=status, PeerName=peer)))


def txn(fsm: FSM, index: int, *ops: TxnOp):
    return fsm.apply(index, encode_command(MessageType.TXN, TxnRequest(Ops=list(ops))))


def test_gets_read_the_named_peers_rows():
    store = both().store
    result = store.txn_apply(None, [node("get", "n1", "p1"), node("get", "n1"),
                                    service("get", "n2", "api", "p1"),
                                    check("get", "n1", "svc", "p1")])
    assert result.Errors is None
    peered, local, api, svc = result.Results
    assert (peered.Node.Address, peered.Node.PeerName) == ("10.1.0.1", "p1")
    assert (local.Node.Address, local.Node.PeerName or "") == ("10.0.0.1", "")
    assert (api.Service.Service, api.Service.PeerName) == ("api", "p1")
    assert (svc.Check.Status, svc.Check.PeerName) == ("critical", "p1")
    missing = store.txn_apply(None, [service("get", "n2", "api")])
    assert [e.What for e in missing.Errors] == ['service "api" on node "n2" doesn\'t exist']
    unknown = store.txn_apply(None, [node("get", "n1", "p9")])
    assert [e.What for e in unknown.Errors] == ['node "n1" doesn\'t exist']
    assert "p9" not in store.peer_catalogs


def test_writes_go_to_the_peers_catalog_only():
    fsm = both()
    store = fsm.store
    local_index = store.list_nodes(None)[0]
    result = txn(fsm, 10, node("set", "n1", "p1", "10.1.9.9"),
                 service("set", "n1", "db", "p1"), check("set", "n1", "db", "p1"),
                 service("delete", "n2", "api", "p1"))
    assert result.Errors is None
    assert [r.Node.PeerName for r in result.Results if r.Node] == ["p1"]
    p1 = store.catalog_reader("p1")
    assert p1.node(None, "n1")[1].Address == "10.1.9.9"
    assert sorted(p1.node_services(None, "n1")[1].Services) == ["db", "web"]
    assert p1.node_services(None, "n2")[1].Services == {}
    assert p1.list_nodes(None)[0] == 10
    assert store.nodes.get("n1").Address == "10.0.0.1"
    assert sorted(s.Service.ID for s in store.services.rows()) == ["web"]
    assert store.list_nodes(None)[0] == local_index
    txn(fsm, 11, node("delete", "n1", "p2"))
    assert store.catalog_reader("p2").list_nodes(None)[1] == []
    assert [n.Node for n in store.list_nodes(None)[1]] == ["n1"]


def test_a_failed_op_rolls_back_the_peers_writes_and_the_local_ones():
    fsm = both()
    store = fsm.store
    before = store.catalog_reader("p1").list_nodes(None)
    result = txn(fsm, 10, node("set", "n7", "p1"), node("set", "n7"),
                 TxnOp(KV=TxnKVOp(Verb="set", DirEnt=DirEntry(Key="k", Value=b"v"))),
                 node("set", "n8", "p9"), node("cas", "n1", "p1"))
    assert [(e.OpIndex, e.What) for e in result.Errors] == [
        (4, 'failed to set node "n1", index is stale')]
    assert store.catalog_reader("p1").list_nodes(None) == before
    assert store.nodes.get("n7") is None and store.kvs.get("k") is None
    assert "p9" not in store.peer_catalogs


def test_committed_peer_writes_wake_that_peers_readers():
    fsm = both()
    store = fsm.store
    local, p1, p2 = WatchSet(), WatchSet(), WatchSet()
    store.check_service_nodes(local, "web")
    store.catalog_reader("p1").check_service_nodes(p1, "web")
    store.catalog_reader("p2").check_service_nodes(p2, "web")
    woken: list[str] = []
    for name, ws in (("local", local), ("p1", p1), ("p2", p2)):
        store.watches.register(ws.topics, lambda name=name: woken.append(name))
    txn(fsm, 10, check("set", "n1", "svc", "p1", status="passing"))
    assert woken == ["p1"]
    assert store.catalog_reader("p1").checks_in_state(None, "critical")[1] == []


def test_a_check_on_a_node_the_peer_lacks_is_refused():
    store = Store()
    fsm = FSM(store)
    txn(fsm, 1, node("set", "n1"))
    result = txn(fsm, 2, check("set", "n1", "c", "p1"))
    assert result.Errors and result.Errors[0].OpIndex == 0
    assert "p1" not in store.peer_catalogs


def test_a_peer_checks_service_is_looked_up_in_that_peers_rows_for_acls():
    store = both().store  # n2 runs "api" in p1 only
    who = Identity(new_authorizer([("p", parse_rules('service "api" { policy = "write" }'))],
                                  "deny"), "6a1253d2-1785-24fd-91c2-f8e78c745511")
    peered = TxnOp(Check=TxnCheckOp(Verb="set", Check=HealthCheck(
        Node="n2", CheckID="c", ServiceID="api", PeerName="p1")))
    local = TxnOp(Check=TxnCheckOp(Verb="set", Check=HealthCheck(
        Node="n2", CheckID="c", ServiceID="api")))
    errors = vet_txn(who, store, [peered, local])
    assert [(e.OpIndex, e.What.split("lacks permission ")[1]) for e in errors] == [
        (1, "'node:write' on \"n2\"")]
