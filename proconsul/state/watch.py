"""Watches: how a write wakes exactly the readers whose results it may change.

A read records the *topics* it depended on in a :class:`WatchSet`; a write
fires the topics it touched. Topics are plain tuples, for example
``("rows", "nodes")``, ``("service_rows", "web")``, ``("index", "service.web")``
(an index entry moved) or ``("kv", "a/")`` for a KV prefix. KV prefixes are special: a write to ``a/b`` fires every registered
prefix of it (``""``, ``"a"``, ``"a/"``, ``"a/b"``) and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

Topic = Hashable
Waker = Callable[[], None]

KV_PREFIX = "kv"


class WatchSet:
    """The topics one read depended on."""

    __slots__ = ("topics",)

    def __init__(self) -> None:
        self.topics: set[Topic] = set()

    def add(self, topic: Topic) -> None:
        self.topics.add(topic)


class WatchRegistry:
    """Maps topics to the wakers of blocked readers; fires them on writes."""

    def __init__(self) -> None:
        self._wakers: dict[Topic, set[Waker]] = {}
        self._kv_prefixes: dict[str, set[Waker]] = {}

    def register(self, topics: Iterable[Topic], waker: Waker) -> None:
        for topic in topics:
            table = self._table_for(topic)
            key = topic[1] if table is self._kv_prefixes else topic
            table.setdefault(key, set()).add(waker)

    def unregister(self, topics: Iterable[Topic], waker: Waker) -> None:
        for topic in topics:
            table = self._table_for(topic)
            key = topic[1] if table is self._kv_prefixes else topic
            wakers = table.get(key)
            if wakers is not None:
                wakers.discard(waker)
                if not wakers:
                    del table[key]

    def fire(self, topics: Iterable[Topic], kv_keys: Iterable[str] = (),
             kv_trees: Iterable[str] = ()) -> None:
        """Wake readers of ``topics``, of every prefix of ``kv_keys``, and of
        every prefix of or under each deleted tree in ``kv_trees``."""
        if not self._wakers and not self._kv_prefixes:
            return
        woken: set[Waker] = set()
        for topic in topics:
            woken.update(self._wakers.get(topic, ()))
        if self._kv_prefixes:
            for key in kv_keys:
                self._collect_prefixes(key, woken)
            for tree in kv_trees:
                self._collect_prefixes(tree, woken)
                for prefix, wakers in self._kv_prefixes.items():
                    if prefix.startswith(tree):
                        woken.update(wakers)
        for waker in woken:
            waker()

    def fire_kv(self, key: str, index_topic: Topic | None) -> None:
        """:meth:`fire` for one written KV ``key``: its ``("kv_key", key)`` topic, every
        prefix of it, and ``index_topic`` (the KV index's, if the write moved it)."""
        wakers, prefixes = self._wakers, self._kv_prefixes
        if not wakers and not prefixes:
            return
        woken: set[Waker] = set()
        if wakers:
            found = wakers.get(("kv_key", key))
            if found:
                woken.update(found)
            if index_topic is not None:
                found = wakers.get(index_topic)
                if found:
                    woken.update(found)
        if prefixes:
            self._collect_prefixes(key, woken)
        for waker in woken:
            waker()

    def fire_all(self) -> None:
        """Wake every blocked reader (the state was replaced wholesale)."""
        woken = set().union(*self._wakers.values(), *self._kv_prefixes.values())
        for waker in woken:
            waker()

    def _collect_prefixes(self, key: str, woken: set[Waker]) -> None:
        prefixes = self._kv_prefixes
        if len(prefixes) <= len(key):  # fewer watched prefixes than prefixes of the key
            for prefix, wakers in prefixes.items():
                if key.startswith(prefix):
                    woken.update(wakers)
            return
        for end in range(len(key) + 1):
            wakers = prefixes.get(key[:end])
            if wakers:
                woken.update(wakers)

    def _table_for(self, topic: Topic) -> dict:
        if isinstance(topic, tuple) and topic and topic[0] == KV_PREFIX:
            return self._kv_prefixes
        return self._wakers
