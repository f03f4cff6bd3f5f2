"""Each read's index and watch follow Consul's state store: per key, per node,
per service or per table, and a write wakes only readers of what it changed."""

from __future__ import annotations

from proconsul.state.store import Store
from proconsul.state.watch import WatchSet
from proconsul.structs.catalog import HealthCheck, NodeService, RegisterRequest
from proconsul.structs.coordinate import Coordinate, CoordinateEntry
from proconsul.structs.kv import DirEntry
from proconsul.structs.session import Session


def register(write, node="n1", service=None, checks=(), meta=None):
    write(write.store.ensure_registration, RegisterRequest(
        Node=node, Address="10.0.0.1", Service=service, Checks=list(checks) or None,
        NodeMeta=meta))


class Probe:
    """A read run once with a watch set: its index, and whether a write woke it."""

    def __init__(self, store: Store, read, *args) -> None:
        self.store, self.read, self.args = store, read, args
        ws = WatchSet()
        self.index = read(ws, *args)[0]
        self.fired = False
        store.watches.register(ws.topics, self._wake)

    def _wake(self) -> None:
        self.fired = True

    def now(self) -> int:
        return self.read(None, *self.args)[0]


# ---- KV ------------------------------------------------------------------------

def test_kv_get_index_is_the_keys_own_modify_index(store, write):
    write(store.kv_set, DirEntry(Key="k", Value=b"1"))
    write(store.kv_set, DirEntry(Key="other", Value=b"1"))
    assert store.kv_get(None, "k")[0] == 1
    assert store.kv_max_index() == 2


def test_kv_get_of_a_missing_key_is_the_kv_index_with_tombstones(store, write):
    assert store.kv_get(None, "nope")[0] == 0  # the endpoint answers 1
    write(store.kv_set, DirEntry(Key="a"))
    write(store.kv_delete, "a")
    assert store.kv_get(None, "nope")[0] == 2
    write(store.reap_tombstones, 2)
    assert store.kv_get(None, "nope")[0] == 3


def test_kv_get_of_a_missing_key_wakes_only_on_that_key(store, write):
    probe = Probe(store, store.kv_get, "k")
    write(store.kv_set, DirEntry(Key="k2"))
    write(store.kv_set, DirEntry(Key="j"))
    assert not probe.fired
    write(store.kv_set, DirEntry(Key="k"))
    assert probe.fired and probe.now() == write.index


def test_deleting_a_key_moves_its_index_past_its_modify_index(store, write):
    write(store.kv_set, DirEntry(Key="k"))
    probe = Probe(store, store.kv_get, "k")
    write(store.kv_delete, "k")
    assert probe.fired and probe.now() == 2 > probe.index


def test_identical_kv_write_keeps_modify_index_and_wakes_no_one(store, write):
    write(store.kv_set, DirEntry(Key="k", Value=b"v", Flags=3))
    probe = Probe(store, store.kv_get, "k")
    listing = Probe(store, store.kv_list, "")
    write(store.kv_set, DirEntry(Key="k", Value=b"v", Flags=3))
    assert not probe.fired and not listing.fired
    assert probe.now() == 1 and store.kv_max_index() == 1
    write(store.kv_set, DirEntry(Key="k", Value=b"v", Flags=4))
    assert probe.fired and probe.now() == 3


def test_kv_prefix_index_ignores_other_prefixes(store, write):
    write(store.kv_set, DirEntry(Key="a/1"))
    probe = Probe(store, store.kv_keys, "a/", "/")
    write(store.kv_set, DirEntry(Key="b/1"))
    write(store.kv_delete, "b/1")
    assert not probe.fired and probe.now() == 1
    write(store.kv_set, DirEntry(Key="a/2"))
    assert probe.fired and probe.now() == 4


# ---- catalog ---------------------------------------------------------------------

def test_node_services_index_is_per_node(store, write):
    register(write, node="n1", service=NodeService(ID="web", Service="web"))
    probe = Probe(store, store.node_services, "n1")
    assert probe.index == 1
    register(write, node="n2", service=NodeService(ID="db", Service="db"))
    write(store.ensure_check, HealthCheck(Node="n1", CheckID="c", Status="passing"))
    assert not probe.fired and probe.now() == 1
    register(write, node="n1", service=NodeService(ID="api", Service="api"))
    assert probe.fired and probe.now() == 4


def test_missing_node_answers_the_last_node_deletion(store, write):
    register(write, node="n1")
    register(write, node="gone")
    write(store.delete_node, "gone")
    probe = Probe(store, store.node_services, "nope")
    assert probe.index == 3
    register(write, node="n2")
    assert not probe.fired and probe.now() == 3
    register(write, node="nope")
    assert probe.fired and probe.now() == 5


def test_deleted_node_forgets_its_own_index(store, write):
    register(write, node="n1", service=NodeService(ID="web", Service="web"))
    write(store.delete_node, "n1")
    assert "node.n1" not in store.indexes
    register(write, node="n1")
    assert store.node_services(None, "n1")[0] == 3


def test_service_writes_move_the_nodes_index_without_waking_node_lists(store, write):
    register(write, node="n1")
    probe = Probe(store, store.list_nodes)
    register(write, node="n1", service=NodeService(ID="web", Service="web"))
    assert not probe.fired and probe.now() == 2
    write(store.delete_service, "n1", "web")
    assert not probe.fired and probe.now() == 3
    register(write, node="n2")
    assert probe.fired


def test_service_delete_moves_the_checks_index(store, write):
    register(write, node="n1", service=NodeService(ID="web", Service="web"))
    write(store.delete_service, "n1", "web")
    assert store.max_index("checks") == 2


def test_node_check_delete_moves_the_services_index(store, write):
    register(write, node="n1", checks=[HealthCheck(Node="n1", CheckID="c")])
    probe = Probe(store, store.list_services)
    write(store.delete_check, "n1", "c")
    assert not probe.fired and probe.now() == 2


def test_catalog_service_is_not_woken_by_its_checks(store, write):
    register(write, node="n1", service=NodeService(ID="web", Service="web"))
    catalog = Probe(store, store.service_nodes, "web")
    health = Probe(store, store.check_service_nodes, "web")
    write(store.ensure_check, HealthCheck(Node="n1", CheckID="c", ServiceID="web"))
    assert health.fired and health.now() == 2
    assert not catalog.fired and catalog.now() == 2  # Consul's index moves all the same


def test_node_checks_wake_on_that_nodes_checks_only(store, write):
    register(write, node="n1")
    register(write, node="n2")
    probe = Probe(store, store.node_checks, "n1")
    write(store.ensure_check, HealthCheck(Node="n2", CheckID="c"))
    register(write, node="n1", service=NodeService(ID="web", Service="web"))
    assert not probe.fired
    write(store.ensure_check, HealthCheck(Node="n1", CheckID="c"))
    assert probe.fired and probe.now() == 5


def test_service_checks_wake_on_that_services_checks_only(store, write):
    register(write, node="n1", service=NodeService(ID="web", Service="web"))
    register(write, node="n1", service=NodeService(ID="db", Service="db"))
    probe = Probe(store, store.service_checks, "web")
    write(store.ensure_check, HealthCheck(Node="n1", CheckID="dbc", ServiceID="db"))
    assert not probe.fired
    write(store.ensure_check, HealthCheck(Node="n1", CheckID="webc", ServiceID="web"))
    assert probe.fired


def test_service_checks_with_node_meta_answer_the_service_index(store, write):
    register(write, node="n1", service=NodeService(ID="web", Service="web"), meta={"r": "a"})
    register(write, node="n1", service=NodeService(ID="db", Service="db"), meta={"r": "a"})
    assert store.service_checks(None, "web", {"r": "a"})[0] == 1


def test_checks_in_state_wake_on_that_state_only(store, write):
    register(write, node="n1", checks=[HealthCheck(Node="n1", CheckID="c", Status="passing")])
    probe = Probe(store, store.checks_in_state, "warning")
    write(store.ensure_check, HealthCheck(Node="n1", CheckID="c", Status="critical"))
    assert not probe.fired
    write(store.ensure_check, HealthCheck(Node="n1", CheckID="c", Status="warning"))
    assert probe.fired
    leaving = Probe(store, store.checks_in_state, "warning")
    write(store.ensure_check, HealthCheck(Node="n1", CheckID="c", Status="passing"))
    assert leaving.fired


# ---- sessions and coordinates ------------------------------------------------------

def test_session_reads_answer_the_sessions_index_and_wake_precisely(store, write):
    register(write, node="n1")
    register(write, node="n2")
    write(store.session_create, Session(ID="s1", Node="n1"))
    one = Probe(store, store.session_get, "s1")
    on_node = Probe(store, store.node_sessions, "n1")
    write(store.session_create, Session(ID="s2", Node="n2"))
    assert not one.fired and not on_node.fired and one.now() == 4
    write(store.delete_session, "s1")
    assert one.fired and on_node.fired


def test_node_coordinates_wake_on_that_node_only(store, write):
    register(write, node="n1")
    register(write, node="n2")
    probe = Probe(store, store.node_coordinates, "n1")
    coord = Coordinate(Vec=[0.1] * 8)
    write(store.coordinate_batch_update, [CoordinateEntry(Node="n2", Coord=coord)])
    assert not probe.fired and probe.now() == 3
    write(store.coordinate_batch_update, [CoordinateEntry(Node="n1", Coord=coord)])
    assert probe.fired
