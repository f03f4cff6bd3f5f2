"""The read-side indexes (sorted index entries, the read cache and the views built on it)
answer exactly what a scan of the tables does, through random writes, rollbacks and a
snapshot/restore."""

from __future__ import annotations

import contextlib
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from proconsul.state import table as table_module
from proconsul.state.catalog import StateError
from proconsul.state.store import Store
from proconsul.state.watch import WatchSet
from proconsul.structs.catalog import HealthCheck, NodeService, RegisterRequest

NODES = [f"n{i}" for i in range(6)] + ["N1"]  # N1 and n1 are the same node
SERVICES = ["web", "Web", "db", "api"]
TAGS = ["a", "b", "A", "c"]

service_op = st.tuples(st.just("service"), st.sampled_from(NODES), st.integers(0, 5),
                       st.sampled_from(SERVICES), st.lists(st.sampled_from(TAGS), max_size=3))
operations = st.lists(st.one_of(
    st.tuples(st.just("node"), st.sampled_from(NODES), st.sampled_from(["10.0.0.1", "10.0.0.2"])),
    service_op, service_op, service_op, service_op,
    st.tuples(st.just("check"), st.sampled_from(NODES), st.integers(0, 5),
              st.sampled_from(["passing", "warning", "critical"])),
    st.tuples(st.just("deregister service"), st.sampled_from(NODES), st.integers(0, 5)),
    st.tuples(st.just("deregister node"), st.sampled_from(NODES)),
    st.tuples(st.just("failing write"), st.sampled_from(NODES), st.integers(0, 5),
              st.sampled_from(SERVICES)),
    st.tuples(st.just("read"),),
), min_size=5, max_size=80)


def apply(store: Store, index: int, op: tuple) -> None:
    kind = op[0]
    try:
        with store.write(index) as tx:
            if kind == "node":
                store.ensure_registration(tx, RegisterRequest(Node=op[1], Address=op[2]))
            elif kind == "service":
                store.ensure_registration(tx, RegisterRequest(
                    Node=op[1], Address="10.0.0.1", SkipNodeUpdate=True,
                    Service=NodeService(ID=f"s{op[2]}", Service=op[3], Tags=op[4])))
            elif kind == "check" and store.services.get((op[1].lower(), f"s{op[2]}")):
                store.ensure_check(tx, HealthCheck(Node=op[1], CheckID=f"c{op[2]}",
                                                   ServiceID=f"s{op[2]}", Status=op[3]))
            elif kind == "deregister service":
                store.delete_service(tx, op[1], f"s{op[2]}")
            elif kind == "deregister node":
                store.delete_node(tx, op[1])
            elif kind == "failing write":  # changes made, then rolled back
                store.ensure_registration(tx, RegisterRequest(Node=op[1], Address="10.9.9.9"))
                store.ensure_service(tx, op[1], NodeService(ID=f"s{op[2]}", Service=op[3]))
                raise StateError("refused")
            elif kind == "read":
                read_all(store)
    except StateError:
        pass


@contextlib.contextmanager
def sorted_from(rows: int):
    """Index entries of at least ``rows`` rows are kept sorted (small, so random tests
    with a few dozen rows exercise the in-place updates)."""
    saved, table_module.SORTED_MIN = table_module.SORTED_MIN, rows
    try:
        yield
    finally:
        table_module.SORTED_MIN = saved


def scanned_tags(store: Store) -> dict[str, list[str]]:
    """catalog/services as a scan of every instance builds it."""
    services: dict[str, list[str]] = {}
    for row in store.list_services(None)[1]:
        tags = services.setdefault(row.ServiceName, [])
        tags.extend(t for t in row.ServiceTags or () if t not in tags)
    return services


def read_all(store: Store) -> None:
    store.shared_nodes(WatchSet())
    store.service_tags(WatchSet())
    for name in SERVICES:
        store.shared_check_service_nodes(WatchSet(), name)
        store.services.by("name", name.lower())


def assert_consistent(store: Store) -> None:
    # sorted index entries: the same rows, in primary-key order, as a fresh sort
    for table in (store.services, store.checks, store.nodes):
        for index, entries in table._indexes.items():
            for value, keys in entries.items():
                expected = [table.get(k) for k in sorted(keys)]
                assert table.by(index, value) == expected, (table.name, index, value)
    # views: equal to the scans they stand for (order included), with the same index
    assert store.shared_nodes(None) == store.list_nodes(None)
    assert store.service_tags(None) == (store.max_index("services"), scanned_tags(store))
    assert list(store.service_tags(None)[1]) == list(scanned_tags(store))
    for name in SERVICES:
        assert store.shared_check_service_nodes(None, name) == \
            store.check_service_nodes(None, name)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_indexes_match_scans_through_random_writes(ops):
    with sorted_from(2):
        store = Store()
        for index, op in enumerate(ops, start=1):
            apply(store, index, op)
            assert_consistent(store)


@settings(max_examples=60, deadline=None)
@given(operations, operations)
def test_indexes_match_scans_after_restore(before, after):
    with sorted_from(3):
        check_restore(before, after)


def check_restore(before, after) -> None:
    source = Store()
    for index, op in enumerate(before, start=1):
        apply(source, index, op)
    read_all(source)
    restored = Store()
    read_all(restored)  # a cache from before the restore must not survive it
    buffer = io.BytesIO()
    source.snapshot().write(buffer)
    buffer.seek(0)
    restored.restore(buffer)
    assert_consistent(restored)
    for index, op in enumerate(after, start=len(before) + 1):
        apply(restored, index, op)
    assert_consistent(restored)


def test_small_sorted_entries_are_kept_too(monkeypatch):
    """With the threshold at 2 every multi-row entry is kept sorted and updated in place."""
    monkeypatch.setattr(table_module, "SORTED_MIN", 2)
    store = Store()
    for index, op in enumerate([("node", "n1", "10.0.0.1"), ("node", "n2", "10.0.0.1"),
                                ("service", "n2", 1, "web", []), ("service", "n1", 2, "web", []),
                                ("read",), ("service", "n1", 3, "web", ["a"]),
                                ("service", "n1", 2, "db", []), ("deregister node", "n2"),
                                ("read",), ("service", "n2", 4, "web", [])], start=1):
        apply(store, index, op)
        assert_consistent(store)


def test_a_write_drops_the_cached_rows_before_it_returns():
    store = Store()
    apply(store, 1, ("node", "n1", "10.0.0.1"))
    apply(store, 2, ("service", "n1", 1, "web", ["a"]))
    first = store.shared_check_service_nodes(None, "web")[1]
    assert store.shared_check_service_nodes(None, "web")[1] is first  # shared while unchanged
    apply(store, 3, ("node", "n2", "10.0.0.2"))  # another node: the rows stay
    assert store.shared_check_service_nodes(None, "web")[1] is first
    apply(store, 4, ("check", "n1", 1, "critical"))
    rows = store.shared_check_service_nodes(None, "web")[1]
    assert rows is not first and rows[0].Checks[0].Status == "critical"
    apply(store, 5, ("node", "n1", "10.0.0.9"))  # the instance's node moved
    assert store.shared_check_service_nodes(None, "web")[1][0].Node.Address == "10.0.0.9"
    tags = store.service_tags(None)[1]
    apply(store, 6, ("service", "n2", 2, "web", ["b"]))
    assert store.service_tags(None)[1] == {"web": ["a", "b"]} != tags
