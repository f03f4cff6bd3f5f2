"""Every transaction error reads exactly as Consul's state store words it (state/txn.go,
state/kvs.go), checked op by op against a small fixed store."""

from __future__ import annotations

import pytest

from proconsul.state.store import Store
from proconsul.structs.catalog import HealthCheck, Node, NodeService, RegisterRequest
from proconsul.structs.kv import DirEntry
from proconsul.structs.session import Session
from proconsul.structs.txn import TxnCheckOp, TxnKVOp, TxnNodeOp, TxnOp, TxnServiceOp

SESSION = "5e1b9c39-3a0d-4a55-9d8c-8f3b2f4e1a01"


@pytest.fixture(scope="module")
def store() -> Store:
    store = Store()
    with store.write(1) as tx:
        store.ensure_registration(tx, RegisterRequest(
            Node="n1", Address="10.0.0.1", Service=NodeService(ID="web", Service="web"),
            Checks=[HealthCheck(Node="n1", CheckID="c1", Name="c1")]))
    with store.write(2) as tx:
        store.session_create(tx, Session(ID=SESSION, Node="n1"))
    with store.write(3) as tx:
        store.kv_set(tx, DirEntry(Key="k", Value=b"v"))
    return store


def kv(verb: str, key: str = "k", **fields) -> TxnOp:
    return TxnOp(KV=TxnKVOp(Verb=verb, DirEnt=DirEntry(Key=key, **fields)))


def node(verb: str, name: str = "n1", **fields) -> TxnOp:
    return TxnOp(Node=TxnNodeOp(Verb=verb, Node=Node(Node=name, Address="10.0.0.9", **fields)))


def service(verb: str, node_name: str = "n1", sid: str = "web", **fields) -> TxnOp:
    return TxnOp(Service=TxnServiceOp(Verb=verb, Node=node_name,
                                      Service=NodeService(ID=sid, Service=sid, **fields)))


def check(verb: str, node_name: str = "n1", cid: str = "c1", **fields) -> TxnOp:
    return TxnOp(Check=TxnCheckOp(Verb=verb, Check=HealthCheck(Node=node_name, CheckID=cid,
                                                               Name=cid, **fields)))


CASES = [
    (kv("bogus"), 'unknown KV verb "bogus"'),
    (kv("cas", ModifyIndex=99), 'failed to set key "k", index is stale'),
    (kv("cas", key="k", ModifyIndex=0), 'failed to set key "k", index is stale'),
    (kv("delete-cas", ModifyIndex=99), 'failed to delete key "k", index is stale'),
    (kv("lock"), "missing session"),
    (kv("unlock"), "missing session"),
    (kv("lock", Session="nope"), 'invalid session "nope"'),
    (kv("unlock", Session=SESSION),
     'failed to unlock key "k", lock isn\'t held, or is held by another session'),
    (kv("get", key="missing"), 'key "missing" doesn\'t exist'),
    (kv("check-not-exists"), 'key "k" exists'),
    (kv("check-index", key="missing", ModifyIndex=3),
     'failed to check index, key "missing" doesn\'t exist'),
    (kv("check-index", ModifyIndex=7), 'failed index check for key "k", current modify index '
                                       "3 != 7"),
    (kv("check-session", key="missing", Session=SESSION),
     'failed to check session, key "missing" doesn\'t exist'),
    (kv("check-session", Session=SESSION),
     f'failed session check for key "k", current session "" != "{SESSION}"'),
    (kv("get", key="tab\there\x01"), 'key "tab\\there\\x01" doesn\'t exist'),
    (node("get", "n9"), 'node "n9" doesn\'t exist'),
    (node("cas", ModifyIndex=99), 'failed to set node "n1", index is stale'),
    (node("delete-cas", ModifyIndex=99), 'failed to delete node "n1", index is stale'),
    (node("bogus"), 'unknown Node verb "bogus"'),
    (service("get", sid="nope"), 'service "nope" on node "n1" doesn\'t exist'),
    (service("cas", ModifyIndex=99), 'failed to set service "web" on node "n1", index is stale'),
    (service("delete-cas", ModifyIndex=99),
     'failed to delete service "web" on node "n1", index is stale'),
    (service("set", node_name="n9"), "Missing node registration"),
    (service("bogus"), 'unknown Service verb "bogus"'),
    (check("get", cid="nope"), 'check "nope" on node "n1" doesn\'t exist'),
    (check("cas", ModifyIndex=99), 'failed to set check "c1" on node "n1", index is stale'),
    (check("delete-cas", ModifyIndex=99),
     'failed to delete check "c1" on node "n1", index is stale'),
    (check("set", node_name="n9"), "Missing node registration"),
    (check("set", cid="c2", ServiceID="nope"), "Missing service registration"),
    (check("bogus"), 'unknown Check verb "bogus"'),
    (TxnOp(), "no operation specified"),
]


@pytest.mark.parametrize("op,what", CASES, ids=[what for _, what in CASES])
def test_error_text(store, op, what):
    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), store.write(100) as tx:
        reply = store.txn_apply(tx, [kv("get"), op])
        assert reply.Results is None
        assert [(e.OpIndex, e.What) for e in reply.Errors] == [(1, what)]
        raise Rollback
