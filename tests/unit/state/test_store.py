"""The state store: catalog, KV, sessions, transactions, indexes and watches."""

from __future__ import annotations

import pytest

from proconsul.state.catalog import StateError
from proconsul.state.watch import WatchSet
from proconsul.structs.base import UNSET
from proconsul.structs.catalog import HealthCheck, NodeService, RegisterRequest
from proconsul.structs.kv import DirEntry
from proconsul.structs.session import Session
from proconsul.structs.txn import TxnKVOp, TxnOp


def register(write, node="n1", service=None, checks=(), address="10.0.0.1"):
    write(write.store.ensure_registration, RegisterRequest(
        Node=node, Address=address, Service=service, Checks=list(checks) or None))


def watch_fired(store, read, *args) -> tuple[WatchSet, list[bool]]:
    """Run a read with a WatchSet and register a waker that records firing."""
    ws = WatchSet()
    read(ws, *args)
    fired = [False]

    def wake():
        fired[0] = True

    store.watches.register(ws.topics, wake)
    return ws, fired


# ---- catalog -----------------------------------------------------------------

def test_register_keeps_create_index_and_skips_identical_writes(store, write):
    register(write, service=NodeService(ID="web1", Service="web"))
    register(write, service=NodeService(ID="web1", Service="web"))
    assert store.max_index("nodes") == 1
    register(write, service=NodeService(ID="web1", Service="web", Port=80))
    service = store.service_nodes(None, "web")[1][0]
    assert (service.CreateIndex, service.ModifyIndex, service.ServicePort) == (1, 3, 80)


def test_service_requires_node_and_check_requires_service(store, write):
    with pytest.raises(StateError, match="Missing node registration"):
        write(store.ensure_service, "ghost", NodeService(ID="a", Service="a"))
    register(write)
    with pytest.raises(StateError, match="Missing service registration"):
        write(store.ensure_check, HealthCheck(Node="n1", CheckID="c", ServiceID="nope"))


def test_check_inherits_service_name_and_tags_and_defaults_critical(store, write):
    register(write, service=NodeService(ID="web1", Service="web", Tags=["v1"]),
             checks=[HealthCheck(Node="n1", CheckID="c1", ServiceID="web1")])
    check = store.node_checks(None, "n1")[1][0]
    assert (check.ServiceName, check.ServiceTags, check.Status) == ("web", ["v1"], "critical")


def test_node_id_alias_is_rejected(store, write):
    write(store.ensure_registration, RegisterRequest(Node="a", ID="11111111-1111-1111-1111-111111111111", Address="1.1.1.1"))
    with pytest.raises(StateError, match="aliases existing node"):
        write(store.ensure_registration, RegisterRequest(
            Node="b", ID="11111111-1111-1111-1111-111111111111", Address="1.1.1.2"))
    assert store.node(None, "b")[1] is None


def test_delete_node_removes_services_checks_and_sessions(store, write):
    register(write, service=NodeService(ID="web1", Service="web"),
             checks=[HealthCheck(Node="n1", CheckID="serfHealth", Status="passing")])
    write(store.session_create, Session(ID="s1", Node="n1", NodeChecks=["serfHealth"]))
    write(store.delete_node, "n1")
    assert len(store.services) == len(store.checks) == len(store.sessions) == 0
    assert len(store.session_checks) == 0


def test_per_service_index_ignores_other_services(store, write):
    register(write, service=NodeService(ID="web1", Service="web"))
    web_index = store.service_index("web")
    register(write, node="n2", service=NodeService(ID="db1", Service="db"))
    assert store.service_index("web") == web_index
    assert store.service_index("db") > web_index


def test_missing_service_index_is_last_extinction(store, write):
    register(write, service=NodeService(ID="web1", Service="web"))
    write(store.delete_service, "n1", "web1")
    gone = write.index
    register(write, node="n2", service=NodeService(ID="db1", Service="db"))
    assert store.service_index("web") == gone


def test_node_check_change_moves_index_of_services_on_that_node(store, write):
    register(write, service=NodeService(ID="web1", Service="web"))
    before = store.service_index("web")
    write(store.ensure_check, HealthCheck(Node="n1", CheckID="serfHealth", Status="passing"))
    assert store.service_index("web") > before


def test_service_watch_is_precise(store, write):
    register(write, service=NodeService(ID="web1", Service="web"))
    register(write, node="n2", service=NodeService(ID="db1", Service="db"))
    _, fired = watch_fired(store, store.check_service_nodes, "web")
    register(write, node="n2", service=NodeService(ID="db1", Service="db", Port=5432))
    assert fired == [False]
    write(store.ensure_check, HealthCheck(Node="n1", CheckID="c", ServiceID="web1"))
    assert fired == [True]


def test_case_insensitive_names(store, write):
    register(write, node="Node-A", service=NodeService(ID="w", Service="Web"))
    assert store.node(None, "node-a")[1].Node == "Node-A"
    assert len(store.service_nodes(None, "WEB")[1]) == 1


# ---- KV --------------------------------------------------------------------

def test_kv_set_get_and_create_index(store, write):
    write(store.kv_set, DirEntry(Key="a", Value=b"1"))
    write(store.kv_set, DirEntry(Key="a", Value=b"2", Flags=7))
    index, entry = store.kv_get(None, "a")
    assert (entry.Value, entry.Flags, entry.CreateIndex, entry.ModifyIndex) == (b"2", 7, 1, 2)
    assert index == 2


def test_kv_cas(store, write):
    assert write(store.kv_set_cas, DirEntry(Key="a", Value=b"1", ModifyIndex=0))
    assert not write(store.kv_set_cas, DirEntry(Key="a", Value=b"2", ModifyIndex=0))
    assert not write(store.kv_set_cas, DirEntry(Key="a", Value=b"2", ModifyIndex=99))
    assert write(store.kv_set_cas, DirEntry(Key="a", Value=b"3", ModifyIndex=1))
    assert store.kv_get(None, "a")[1].Value == b"3"


def test_kv_delete_cas(store, write):
    write(store.kv_set, DirEntry(Key="a", Value=b"1"))
    assert not write(store.kv_delete_cas, "a", 99)
    assert write(store.kv_delete_cas, "a", 1)
    assert store.kv_get(None, "a")[1] is None


def test_kv_list_keys_with_separator(store, write):
    for key in ("web/a", "web/b/1", "web/b/2", "web/c/x/y", "webz"):
        write(store.kv_set, DirEntry(Key=key))
    assert store.kv_keys(None, "web/", "/")[1] == ["web/a", "web/b/", "web/c/"]
    assert store.kv_keys(None, "web", "")[1] == ["web/a", "web/b/1", "web/b/2", "web/c/x/y",
                                                 "webz"]
    assert [e.Key for e in store.kv_list(None, "web/b")[1]] == ["web/b/1", "web/b/2"]


def test_tombstone_moves_prefix_index_after_delete(store, write):
    write(store.kv_set, DirEntry(Key="p/a"))
    write(store.kv_set, DirEntry(Key="q/a"))
    write(store.kv_delete, "p/a")
    index, entries = store.kv_list(None, "p/")
    assert entries == [] and index == 3
    write(store.reap_tombstones, 3)
    assert store.kv_list(None, "p/")[0] == store.kv_max_index()


def test_kv_delete_tree_wakes_prefix_watchers_only(store, write):
    for key in ("a/1", "a/2", "b/1"):
        write(store.kv_set, DirEntry(Key=key))
    _, a_fired = watch_fired(store, store.kv_list, "a/")
    _, sub_fired = watch_fired(store, store.kv_list, "a/2")
    _, b_fired = watch_fired(store, store.kv_list, "b/")
    write(store.kv_delete_tree, "a/")
    assert a_fired == [True] and sub_fired == [True] and b_fired == [False]


def test_kv_get_watch_wakes_on_its_key_only(store, write):
    write(store.kv_set, DirEntry(Key="k"))
    _, fired = watch_fired(store, store.kv_get, "k")
    write(store.kv_set, DirEntry(Key="k2"))
    assert fired == [False]
    write(store.kv_set, DirEntry(Key="k", Value=b"x"))
    assert fired == [True]


# ---- sessions and locks -------------------------------------------------------

def session_on_node(store, write, **kw):
    register(write, checks=[HealthCheck(Node="n1", CheckID="serfHealth", Status="passing")])
    write(store.session_create, Session(ID="s1", Node="n1", NodeChecks=["serfHealth"], **kw))


def test_lock_and_unlock(store, write):
    session_on_node(store, write)
    write(store.session_create, Session(ID="s2", Node="n1"))
    assert write(store.kv_lock, DirEntry(Key="l", Session="s1"))
    assert not write(store.kv_lock, DirEntry(Key="l", Session="s2"))
    assert write(store.kv_lock, DirEntry(Key="l", Session="s1", Value=b"v"))
    entry = store.kv_get(None, "l")[1]
    assert (entry.LockIndex, entry.Session, entry.Value) == (1, "s1", b"v")
    assert not write(store.kv_unlock, DirEntry(Key="l", Session="s2"))
    assert write(store.kv_unlock, DirEntry(Key="l", Session="s1"))
    assert store.kv_get(None, "l")[1].Session is UNSET
    assert write(store.kv_lock, DirEntry(Key="l", Session="s2"))
    assert store.kv_get(None, "l")[1].LockIndex == 2


def test_lock_with_unknown_session_is_an_error(store, write):
    with pytest.raises(StateError, match="invalid session"):
        write(store.kv_lock, DirEntry(Key="l", Session="nope"))


def test_plain_set_keeps_lock_holder(store, write):
    session_on_node(store, write)
    write(store.kv_lock, DirEntry(Key="l", Session="s1"))
    write(store.kv_set, DirEntry(Key="l", Value=b"new"))
    assert store.kv_get(None, "l")[1].Session == "s1"


def test_session_needs_healthy_registered_checks(store, write):
    register(write, checks=[HealthCheck(Node="n1", CheckID="bad", Status="critical")])
    with pytest.raises(StateError, match="Missing check 'nope' registration"):
        write(store.session_create, Session(ID="s", Node="n1", NodeChecks=["nope"]))
    with pytest.raises(StateError, match="Check 'bad' is in critical state"):
        write(store.session_create, Session(ID="s", Node="n1", NodeChecks=["bad"]))
    with pytest.raises(StateError, match="Missing node registration"):
        write(store.session_create, Session(ID="s", Node="ghost"))


def test_critical_check_invalidates_session_and_releases_locks(store, write):
    session_on_node(store, write, LockDelay=15_000_000_000)
    write(store.kv_lock, DirEntry(Key="l", Session="s1"))
    write(store.ensure_check, HealthCheck(Node="n1", CheckID="serfHealth", Status="critical"))
    assert store.sessions.get("s1") is None
    entry = store.kv_get(None, "l")[1]
    assert entry.Session is UNSET and entry.LockIndex == 1
    assert store.lock_delay_remaining("l") > 14


def test_delete_behavior_deletes_held_keys(store, write):
    session_on_node(store, write, Behavior="delete")
    write(store.kv_lock, DirEntry(Key="l", Session="s1"))
    write(store.delete_session, "s1")
    assert store.kv_get(None, "l")[1] is None


# ---- transactions -------------------------------------------------------------

def kv_op(verb, key, **kw):
    return TxnOp(KV=TxnKVOp(Verb=verb, DirEnt=DirEntry(Key=key, **kw)))


def test_txn_failure_rolls_back_everything(store, write):
    write(store.kv_set, DirEntry(Key="keep", Value=b"old"))
    before = dict(store.indexes)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), store.write(99) as tx:
        result = store.txn_apply(tx, [
            kv_op("set", "keep", Value=b"new"),
            kv_op("delete", "keep"),
            kv_op("set", "fresh"),
            kv_op("cas", "keep", ModifyIndex=12345),
        ])
        assert result.Errors and result.Errors[0].OpIndex == 3
        raise Abort
    assert store.kv_get(None, "keep")[1].Value == b"old"
    assert store.kv_get(None, "fresh")[1] is None
    assert store.indexes == before
    assert len(store.tombstones) == 0


def test_txn_results_and_errors(store, write):
    response = write(store.txn_apply, [kv_op("set", "a", Value=b"1"), kv_op("get", "a")])
    assert response.Errors is None
    assert response.Results[0].KV.Value is None
    assert response.Results[1].KV.Value == b"1"
    response = store.txn_apply(None, [kv_op("get", "missing"), kv_op("check-not-exists", "a")])
    assert [e.OpIndex for e in response.Errors] == [0, 1]
    assert response.Errors[0].What == 'key "missing" doesn\'t exist'
