"""A table: rows by primary key, secondary indexes, and an undo log for rollback."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any

from sortedcontainers import SortedDict

IndexFn = Callable[[Any], Hashable | None]

SORTED_MIN = 16  # index entries with at least this many rows keep them sorted
_set_row = dict.__setitem__  # a key already present: a SortedDict's order need not change


class UndoLog:
    """Records how to reverse each change made during one write transaction: a
    callable, or a table's row change as a tuple (cheaper to record, see
    :meth:`Table.put`)."""

    __slots__ = ("steps",)

    def __init__(self) -> None:
        self.steps: list[Callable[[], None] | tuple] = []

    def record(self, step: Callable[[], None]) -> None:
        self.steps.append(step)

    def rollback(self) -> None:
        steps = self.steps
        while steps:
            step = steps.pop()
            if type(step) is tuple:
                store, key, new, old = step
                store(key, new, old)
            else:
                step()


class Table:
    """Rows keyed by a primary key, with non-unique secondary indexes.

    Rows are treated as immutable: an update inserts a new row object. With
    ``ordered=True`` the primary keys are kept sorted, for prefix scans. An index
    entry with many rows (a service's instances) keeps them in primary-key order
    once read, updated in place by each write, so a lookup costs a copy, not a sort.
    """

    def __init__(self, name: str, primary: IndexFn, indexes: dict[str, IndexFn] | None = None,
                 ordered: bool = False) -> None:
        self.name = name
        self._primary = primary
        self._index_fns = indexes or {}
        self._rows: dict | SortedDict = SortedDict() if ordered else {}
        # get(key): the row under ``key`` or None -- the rows' own dict.get, bound once (the
        # rows are never replaced): no Python frame on the store's most frequent read
        self.get: Callable[[Hashable], Any] = self._rows.get
        self._indexes: dict[str, dict[Hashable, set[Hashable]]] = {n: {} for n in self._index_fns}
        # index -> value -> (sorted primary keys, their rows), for big entries once read
        self._sorted: dict[str, dict[Hashable, tuple[list, list]]] = {
            n: {} for n in self._index_fns}

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> Iterator[Any]:
        return iter(self._rows.values())

    def items(self) -> Iterator[tuple[Hashable, Any]]:
        return iter(self._rows.items())

    def by(self, index: str, value: Hashable) -> list[Any]:
        """Rows whose ``index`` value equals ``value`` (in primary-key order for ordered tables)."""
        keys = self._indexes[index].get(value)
        if not keys:
            return []
        rows = self._rows
        if len(keys) == 1:
            return [rows[next(iter(keys))]]
        kept = self._sorted[index].get(value)
        if kept is not None:
            return list(kept[1])
        order = sorted(keys)
        found = [rows[k] for k in order]
        if len(order) >= SORTED_MIN:
            self._sorted[index][value] = (order, found)
            return list(found)
        return found

    def values_of(self, index: str) -> Iterator[Hashable]:
        """The values ``index`` has rows for."""
        return iter(self._indexes[index])

    def has(self, index: str, value: Hashable) -> bool:
        return bool(self._indexes[index].get(value))

    def prefix(self, prefix: str) -> Iterator[Any]:
        """Rows of an ordered table whose string key starts with ``prefix``."""
        rows = self._rows
        for key in rows.irange(minimum=prefix):
            if not key.startswith(prefix):
                break
            yield rows[key]

    def put(self, row: Any, undo: UndoLog | None = None) -> None:
        key = self._primary(row)
        old = self._rows.get(key)
        self._store(key, old, row)
        if undo is not None:
            undo.steps.append((self._store, key, row, old))

    def delete(self, key: Hashable, undo: UndoLog | None = None) -> Any:
        old = self._rows.get(key)
        if old is not None:
            self._store(key, old, None)
            if undo is not None:
                undo.steps.append((self._store, key, None, old))
        return old

    def load(self, rows: Iterable[Any]) -> None:
        """Fill an empty table with ``rows`` (a snapshot restore): as many puts, but an
        ordered table sorts its keys once instead of inserting them one by one."""
        assert not self._rows, f"{self.name}: load() needs an empty table"
        primary = self._primary
        loaded = {primary(row): row for row in rows}
        for name, fn in self._index_fns.items():
            index = self._indexes[name]
            for key, row in loaded.items():
                value = fn(row)
                if value is not None:
                    index.setdefault(value, set()).add(key)
        self._rows.update(loaded)

    def clear(self) -> None:
        self._rows.clear()
        for index in self._indexes.values():
            index.clear()
        for kept in self._sorted.values():
            kept.clear()

    def _store(self, key: Hashable, old: Any, new: Any) -> None:
        for name, fn in self._index_fns.items():
            index = self._indexes[name]
            old_value = fn(old) if old is not None else None
            new_value = fn(new) if new is not None else None
            kept = self._sorted[name]
            if old is not None and old_value is not None and old_value != new_value:
                keys = index[old_value]
                keys.discard(key)
                if not keys:
                    del index[old_value]
                if old_value in kept:
                    _unsort(kept, old_value, key)
            if new_value is not None:
                index.setdefault(new_value, set()).add(key)
                if new_value in kept:
                    _sort_in(kept[new_value], key, new)
        if new is None:
            self._rows.pop(key, None)
        elif old is None:
            self._rows[key] = new
        else:
            _set_row(self._rows, key, new)


def _sort_in(kept: tuple[list, list], key: Hashable, row: Any) -> None:
    """Put ``row`` in its place in a sorted index entry (replacing its old version)."""
    keys, rows = kept
    at = bisect_left(keys, key)
    if at < len(keys) and keys[at] == key:
        rows[at] = row
    else:
        keys.insert(at, key)
        rows.insert(at, row)


def _unsort(kept: dict[Hashable, tuple[list, list]], value: Hashable, key: Hashable) -> None:
    """Take ``key`` out of the sorted entry ``value``; drop the entry when it gets small."""
    keys, rows = kept[value]
    at = bisect_left(keys, key)
    if at < len(keys) and keys[at] == key:
        del keys[at], rows[at]
    if len(keys) < SORTED_MIN:
        del kept[value]
