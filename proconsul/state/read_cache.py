"""Results of hot reads, kept until a write touches one of the topics they read.

An entry is computed with its own :class:`~proconsul.state.watch.WatchSet` and
registered as a reader of those topics; the write that fires one of them drops
it before the write's caller hears back, so a read after a write never sees the
old result. A restore fires every topic, emptying the cache. The same topics
are what a blocking query on the read waits for, so a cached result is exactly
as fresh as a blocking query's. Cached results are shared by every caller:
they must not be changed.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from proconsul.state.watch import WatchRegistry, WatchSet

MAX_ENTRIES = 16384  # a catalog/services view holds one per service name


class ReadCache:
    """Read results by key, each dropped when a topic it read fires."""

    def __init__(self, watches: WatchRegistry, max_entries: int = MAX_ENTRIES) -> None:
        self._watches = watches
        self._max = max_entries
        self._entries: dict[Hashable, tuple[Any, frozenset, Callable[[], None]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, ws: WatchSet | None,
            compute: Callable[[WatchSet], Any]) -> Any:
        """``compute(ws)``'s result for ``key``, from the cache while still valid;
        the topics it read are added to ``ws``."""
        entry = self._entries.get(key)
        if entry is None:
            inner = WatchSet()
            result = compute(inner)
            topics = frozenset(inner.topics)
            if not topics:  # nothing would ever drop it
                return result
            if len(self._entries) >= self._max:
                self._drop(next(iter(self._entries)))

            def drop(key: Hashable = key) -> None:
                self._drop(key)

            entry = self._entries[key] = (result, topics, drop)
            self._watches.register(topics, drop)
        if ws is not None:
            ws.topics.update(entry[1])
        return entry[0]

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._watches.unregister(entry[1], entry[2])
