"""A KV set alone in its write (the FSM's way) against the same set in a transaction.

Both stores get the same writes; the rows, the indexes and which watchers woke
must come out identical, for new keys, changed values, identical rewrites, keys
held by a session and keys under watched prefixes.
"""

from __future__ import annotations

import random

import pytest

from proconsul.state.store import Store
from proconsul.state.watch import WatchRegistry, WatchSet
from proconsul.structs.catalog import HealthCheck, RegisterRequest
from proconsul.structs.kv import DirEntry
from proconsul.structs.session import Session

KEYS = ["a", "a/b", "a/b/c", "a/bc", "b", "b/x", ""]
PREFIXES = ["", "a", "a/", "a/b", "a/b/", "b/", "c"]


class Watched:
    """A store with a waker on every KV topic a reader can wait on; records who woke."""

    def __init__(self, prefixes: list[str]) -> None:
        self.store = Store()
        self.woken: list[str] = []
        for key in KEYS:
            self._watch(f"key {key}", lambda ws, key=key: self.store.kv_get(ws, key))
        for prefix in prefixes:
            self._watch(f"list {prefix}", lambda ws, p=prefix: self.store.kv_list(ws, p))
        self.store.watches.register([("index", "kvs")], lambda: self.woken.append("index"))

    def _watch(self, name: str, read) -> None:
        ws = WatchSet()
        read(ws)
        self.store.watches.register(ws.topics, lambda: self.woken.append(name))

    def state(self) -> tuple:
        kvs = self.store.kvs
        return (list(kvs.items()), dict(self.store.indexes), sorted(self.woken),
                {s: sorted(e.Key for e in kvs.by("session", s)) for s in kvs.values_of("session")})


def both(prefixes: list[str]) -> tuple[Watched, Watched]:
    alone, in_txn = Watched(prefixes), Watched(prefixes)
    for target in (alone, in_txn):
        with target.store.write(1) as tx:
            target.store.ensure_registration(tx, RegisterRequest(
                Node="n1", Address="10.0.0.1",
                Check=HealthCheck(Node="n1", CheckID="serfHealth", Status="passing")))
            target.store.session_create(tx, Session(ID="s1", Node="n1"))
        target.woken.clear()
    return alone, in_txn


def set_both(alone: Watched, in_txn: Watched, index: int, entry: DirEntry) -> None:
    alone.store.kv_set_alone(index, entry)
    with in_txn.store.write(index) as tx:
        in_txn.store.kv_set(tx, entry)


@pytest.mark.parametrize("prefixes", [PREFIXES, PREFIXES[:2], []],
                         ids=["many-prefixes", "few-prefixes", "no-prefixes"])
@pytest.mark.parametrize("seed", range(20))
def test_alone_matches_the_transaction(seed, prefixes):
    rng = random.Random(seed)
    alone, in_txn = both(prefixes)
    index = 1
    for _ in range(60):
        index += rng.choice((1, 1, 0))  # sometimes a second write at the same index
        entry = DirEntry(Key=rng.choice(KEYS), Value=rng.choice((b"x", b"y", None)),
                         Flags=rng.choice((0, 7)))
        if rng.random() < 0.15:  # a lock: the next plain sets must keep its session
            for target in (alone, in_txn):
                with target.store.write(index) as tx:
                    target.store.kv_lock(tx, DirEntry(Key=entry.Key, Session="s1"))
            continue
        set_both(alone, in_txn, index, entry)
        assert alone.state() == in_txn.state()
        alone.woken.clear()
        in_txn.woken.clear()


def test_identical_rewrite_keeps_the_index_and_wakes_no_one():
    alone, _ = both(PREFIXES)
    alone.store.kv_set_alone(2, DirEntry(Key="a/b", Value=b"v", Flags=3))
    assert alone.woken and alone.store.kvs.get("a/b").ModifyIndex == 2
    alone.woken.clear()
    alone.store.kv_set_alone(3, DirEntry(Key="a/b", Value=b"v", Flags=3))
    assert alone.woken == []
    assert alone.store.kvs.get("a/b").ModifyIndex == 2
    assert alone.store.kv_max_index() == 2


def test_a_set_wakes_its_key_its_prefixes_and_the_index_only():
    alone, _ = both(PREFIXES)
    alone.store.kv_set_alone(2, DirEntry(Key="a/b", Value=b"v"))
    assert sorted(alone.woken) == ["index", "key a/b", "list ", "list a", "list a/",
                                   "list a/b"]


@pytest.mark.parametrize("watched", [PREFIXES, PREFIXES[:3], ["a/b/c/d/e/f"], []])
@pytest.mark.parametrize("key", KEYS)
def test_a_write_wakes_exactly_the_prefixes_of_its_key(watched, key):
    """Both ways of collecting prefixes (by the key's prefixes when many are watched,
    by the watched ones when few are) wake exactly the watched prefixes of the key."""
    registry = WatchRegistry()
    woken: list[str] = []
    for prefix in watched:
        registry.register([("kv", prefix)], lambda p=prefix: woken.append(p))
    registry.fire_kv(key, None)
    assert sorted(woken) == sorted(p for p in watched if key.startswith(p))
    woken.clear()
    registry.fire((), [key])
    assert sorted(woken) == sorted(p for p in watched if key.startswith(p))
