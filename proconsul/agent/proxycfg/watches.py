"""Shared watches: one blocking read per distinct datum, however many proxies need it.

A datum is identified by a hashable key (``("health", "api", "dc1", token)``);
its fetch is a coroutine taking the last index and returning ``(value, index)``,
blocking until the index moves. Subscribers are told the key when the value
changes; the watch stops when its last subscriber leaves. Values derived from a
datum (an Envoy resource built from a service's endpoints) are memoized on it, so
a change is turned into resources once, not once per proxy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Protocol

from proconsul.agent.cache.cache import backoff

log = logging.getLogger(__name__)

Fetch = Callable[[int], Awaitable[tuple[Any, int]]]


class Subscriber(Protocol):
    def datum_changed(self, key: Hashable) -> None: ...


class Datum:
    """One watched value, its index, its subscribers and what was derived from it."""

    __slots__ = ("key", "value", "index", "valid", "subscribers", "memo", "task")

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.value: Any = None
        self.index = 0
        self.valid = False
        self.subscribers: set[Subscriber] = set()
        self.memo: dict[Hashable, Any] = {}
        self.task: asyncio.Task | None = None

    def derive(self, name: Hashable, build: Callable[[Any], Any]) -> Any:
        """``build(value)``, computed once per value of this datum."""
        try:
            return self.memo[name]
        except KeyError:
            result = self.memo[name] = build(self.value)
            return result


class SharedWatches:
    """The registry of datums; see the module docstring."""

    def __init__(self) -> None:
        self.datums: dict[Hashable, Datum] = {}
        self.fetches = 0  # completed fetches, for tests and the bench

    def subscribe(self, key: Hashable, fetch: Fetch, subscriber: Subscriber) -> Datum:
        datum = self.datums.get(key)
        if datum is None:
            datum = self.datums[key] = Datum(key)
            datum.task = asyncio.get_running_loop().create_task(
                self._run(datum, fetch), name=f"proxycfg-watch {key!r}")
        datum.subscribers.add(subscriber)
        return datum

    def unsubscribe(self, key: Hashable, subscriber: Subscriber) -> None:
        datum = self.datums.get(key)
        if datum is None:
            return
        datum.subscribers.discard(subscriber)
        if not datum.subscribers:
            del self.datums[key]
            if datum.task is not None:
                datum.task.cancel()

    async def stop(self) -> None:
        tasks = [d.task for d in self.datums.values() if d.task is not None]
        self.datums.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, datum: Datum, fetch: Fetch) -> None:
        failures = 0
        while True:
            try:
                value, index = await fetch(datum.index if datum.valid else 0)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # the servers may be away: keep the last value, retry
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    log.warning("proxycfg: watch %r failed (%d in a row): %s", datum.key,
                                failures, err)
                await asyncio.sleep(max(backoff(failures), 0.2))
                continue
            failures = 0
            self.fetches += 1
            if datum.valid and index == datum.index:
                continue
            datum.value, datum.index, datum.valid = value, index, True
            datum.memo = {}
            for subscriber in list(datum.subscribers):
                subscriber.datum_changed(datum.key)
