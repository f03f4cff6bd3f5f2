"""A write that fails part way leaves the store exactly as it was: rows, secondary
indexes, table and sub-indexes (bumped, new or forgotten), and wakes no one."""

from __future__ import annotations

import random

import pytest

from proconsul.state.store import Store
from proconsul.structs.catalog import HealthCheck, NodeService, RegisterRequest
from proconsul.structs.kv import DirEntry


class Boom(Exception):
    pass


def register(store: Store, tx, node: str, service: str, status: str) -> None:
    store.ensure_registration(tx, RegisterRequest(
        Node=node, Address="10.0.0.1", Service=NodeService(ID=service, Service=service),
        Check=HealthCheck(Node=node, CheckID=f"{service}-check", ServiceID=service,
                          Status=status)))


def state(store: Store) -> tuple:
    tables = []
    for table in store._tables:
        secondary = {name: {value: sorted(map(repr, table._indexes[name][value]))
                            for value in table.values_of(name)} for name in table._index_fns}
        tables.append((table.name, sorted(map(repr, table.items())), secondary))
    return tables, dict(store.indexes)


def random_write(store: Store, tx, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 8)):
        node, service = rng.choice(("a", "b", "c")), rng.choice(("web", "db"))
        what = rng.random()
        if what < 0.35:
            register(store, tx, node, service, rng.choice(("passing", "warning")))
        elif what < 0.5:
            store.delete_node(tx, node)  # forgets the node's own index
        elif what < 0.6:
            store.delete_service(tx, node, service)
        elif what < 0.85:
            store.kv_set(tx, DirEntry(Key=rng.choice(("k", "k/1", "k/2")), Value=b"%d" % what))
        else:
            store.kv_delete_tree(tx, "k")


@pytest.mark.parametrize("seed", range(20))
def test_a_failed_write_leaves_no_trace(seed):
    rng = random.Random(seed)
    store = Store()
    woken: list[int] = []
    store.watches.register([("rows", "nodes"), ("index", "kvs"), ("kv", "k")],
                           lambda: woken.append(1))
    for index in range(1, 40):
        if rng.random() < 0.5:
            with store.write(index) as tx:
                random_write(store, tx, rng)
            continue
        before, woken_before = state(store), len(woken)
        with pytest.raises(Boom), store.write(index) as tx:
            random_write(store, tx, rng)
            raise Boom()
        assert state(store) == before
        assert len(woken) == woken_before
