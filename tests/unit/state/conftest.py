"""Fixtures for state store tests: a fresh store and a writer at rising raft indexes."""

from __future__ import annotations

import pytest

from proconsul.state.store import Store


class Writer:
    """Applies writes at increasing raft indexes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.index = 0

    def __call__(self, fn, *args):
        self.index += 1
        with self.store.write(self.index) as tx:
            return fn(tx, *args)


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def write(store) -> Writer:
    return Writer(store)
