"""Snapshot to a stream and restore from it: a round trip loses nothing."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proconsul.state.snapshot import SnapshotError
from proconsul.state.store import Store
from proconsul.state.watch import WatchSet
from proconsul.structs.catalog import HealthCheck, NodeService, RegisterRequest
from proconsul.structs.kv import DirEntry
from proconsul.structs.session import Session

names = st.text("abcdef/", min_size=1, max_size=6)
values = st.binary(max_size=20)

operations = st.lists(st.one_of(
    st.tuples(st.just("kv"), names, values, st.integers(0, 2**64 - 1)),
    st.tuples(st.just("del"), names),
    st.tuples(st.just("deltree"), names),
    st.tuples(st.just("node"), names, st.sampled_from(["10.0.0.1", "10.0.0.2"])),
    st.tuples(st.just("service"), names, names, st.lists(names, max_size=3)),
    st.tuples(st.just("check"), names, names, st.sampled_from(["passing", "warning"])),
    st.tuples(st.just("session"), names),
), max_size=40)


def build(ops) -> Store:
    store = Store()
    for index, op in enumerate(ops, start=1):
        with store.write(index) as tx:
            kind = op[0]
            if kind == "kv":
                store.kv_set(tx, DirEntry(Key=op[1], Value=op[2], Flags=op[3]))
            elif kind == "del":
                store.kv_delete(tx, op[1])
            elif kind == "deltree":
                store.kv_delete_tree(tx, op[1])
            elif kind == "node":
                store.ensure_registration(tx, RegisterRequest(Node=op[1], Address=op[2]))
            elif kind == "service" and store.nodes.get(op[1].lower()):
                store.ensure_service(tx, op[1], NodeService(ID=op[2], Service=op[2],
                                                            Tags=op[3]))
            elif kind == "check" and store.nodes.get(op[1].lower()):
                store.ensure_check(tx, HealthCheck(Node=op[1], CheckID=op[2], Status=op[3]))
            elif kind == "session" and store.nodes.get(op[1].lower()):
                store.session_create(tx, Session(ID=f"s{index}", Node=op[1]))
    return store


def dump(store: Store) -> dict:
    return {
        "indexes": dict(store.indexes),
        "tables": [sorted(map(repr, t.rows())) for t in store._tables],
        # Restore loads tables in bulk: their secondary indexes and key order must match.
        "secondary": [{name: sorted((repr(v), sorted(map(repr, keys)))
                                    for v, keys in index.items())
                       for name, index in t._indexes.items()} for t in store._tables],
        "order": [[repr(k) for k, _ in t.items()] for t in store._tables],
    }


def round_trip(store: Store) -> Store:
    buffer = io.BytesIO()
    store.snapshot().write(buffer)
    buffer.seek(0)
    restored = Store()
    restored.restore(buffer)
    return restored


@settings(max_examples=150, deadline=None)
@given(operations)
def test_round_trip_preserves_every_table_and_index(ops):
    store = build(ops)
    assert dump(round_trip(store)) == dump(store)


def test_snapshot_is_point_in_time():
    store = build([("kv", "a", b"1", 0)])
    snapshot = store.snapshot()
    with store.write(10) as tx:
        store.kv_set(tx, DirEntry(Key="b", Value=b"2"))
    buffer = io.BytesIO()
    snapshot.write(buffer)
    buffer.seek(0)
    restored = Store()
    restored.restore(buffer)
    assert restored.kv_get(None, "b")[1] is None
    assert restored.kv_get(None, "a")[1].Value == b"1"


def test_restore_wakes_blocked_readers_and_bumps_generation():
    store = build([("kv", "a", b"1", 0)])
    ws = WatchSet()
    store.kv_get(ws, "a")
    fired = []
    store.watches.register(ws.topics, lambda: fired.append(True))
    generation = store.generation
    store.restore(io.BytesIO(_snapshot_bytes(build([]))))
    assert fired == [True] and store.generation == generation + 1


def _snapshot_bytes(store: Store) -> bytes:
    buffer = io.BytesIO()
    store.snapshot().write(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("cut", [0, 3, 9, 20])
def test_truncated_or_corrupt_snapshot_is_rejected_and_state_kept(cut):
    data = _snapshot_bytes(build([("kv", "a", b"1", 0), ("kv", "b", b"2", 0)]))
    store = build([("kv", "keep", b"x", 0)])
    with pytest.raises(SnapshotError):
        store.restore(io.BytesIO(data[:cut]))
    assert store.kv_get(None, "keep")[1] is not None
