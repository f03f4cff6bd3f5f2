"""The agent cache behind ``?cached`` reads (Consul's ``agent/cache``).

Entries are keyed by (type, datacenter, token, request key). The first read
of an entry is a miss that fetches through the agent's RPC; refreshing types
then keep a blocking query running with the last index, so later reads are
hits that track the servers. Errors back off exponentially; an entry nobody
has read for ``ttl`` seconds is evicted and its refresh stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from proconsul.agent.cache.types import CacheType, FetchResult, Rpc
from proconsul.lib.routine import supervise
from proconsul.structs.query import DEFAULT_QUERY_TIME_NS, MAX_QUERY_TIME_NS

log = logging.getLogger(__name__)

DEFAULT_TTL = 3 * 24 * 3600.0       # Consul's LastGetTTL
BACKOFF_FREE_ATTEMPTS = 3           # failures retried at once before backing off
BACKOFF_MAX = 60.0

_SECONDS = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")


def backoff(failures: int) -> float:
    """Wait before the next refresh: none for a few failures, then 2s, 4s ... 1m, plus jitter."""
    if failures <= BACKOFF_FREE_ATTEMPTS:
        return 0.0
    wait = min(float(2 ** min(failures - BACKOFF_FREE_ATTEMPTS, 31)), BACKOFF_MAX)
    return wait + random.uniform(0, wait)


@dataclass(frozen=True)
class CacheControl:
    """The request's ``Cache-Control`` directives that the cache honours."""

    max_age: float = 0.0
    must_revalidate: bool = False
    stale_if_error: float = 0.0

    @classmethod
    def parse(cls, header: str) -> CacheControl:
        """Parse the header; ValueError on a bad number. ``max-age=0`` means revalidate."""
        max_age, revalidate, stale_if_error = 0.0, False, 0.0
        for directive in header.lower().split(","):
            name, _, value = directive.strip().partition("=")
            if name == "must-revalidate":
                revalidate = True
            elif name in ("max-age", "stale-if-error"):
                if not _SECONDS.fullmatch(value):
                    raise ValueError(f"invalid {name} value {value!r}")
                if name == "max-age":
                    max_age = float(value)
                    revalidate = revalidate or max_age == 0
                else:
                    stale_if_error = float(value)
        return cls(max_age, revalidate, stale_if_error)


@dataclass
class CacheResult:
    """A value served by the cache, with what ``X-Cache``/``Age`` report."""

    value: Any
    index: int
    hit: bool
    age: float = 0.0


@dataclass(eq=False)
class _Entry:
    value: Any = None
    index: int = 0
    valid: bool = False
    error: Exception | None = None
    fetched_at: float = 0.0
    lost_contact_at: float | None = None
    last_get: float = 0.0
    waiter: asyncio.Event = field(default_factory=asyncio.Event)  # set when a fetch ends
    task: asyncio.Task | None = None


class Cache:
    """Cached reads for the agent; ``rpc`` is how entries are fetched from servers."""

    def __init__(self, rpc: Rpc, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._rpc = rpc
        self._clock = clock
        self._entries: dict[tuple, _Entry] = {}
        self._reaper: asyncio.Task | None = None

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, ctype: CacheType, request: Any,
                  control: CacheControl = CacheControl()) -> CacheResult:
        """Serve ``request`` (a query-options struct) from the cache, fetching on a miss.

        With ``request.MinQueryIndex`` set (and a blocking type) this waits until
        the entry's index passes it, or until ``MaxQueryTime`` has gone by.
        """
        self._start_reaper()
        key = (ctype.name, request.Datacenter, request.Token, ctype.key(request))
        min_index = request.MinQueryIndex if ctype.blocking else 0
        deadline = None
        first = True
        while True:
            now = self._clock()
            entry = self._entries.get(key)
            if entry is not None and self._servable(ctype, entry, min_index, control, first):
                entry.last_get = now
                return CacheResult(entry.value, entry.index, hit=first,
                                   age=self._age(ctype, entry, now))
            if not first and entry is not None and entry.error is not None:
                if entry.valid and control.stale_if_error > 0 and \
                        now - entry.fetched_at <= control.stale_if_error:
                    return CacheResult(entry.value, entry.index, hit=True,
                                       age=now - entry.fetched_at)
                raise entry.error
            if entry is None:
                entry = self._entries[key] = _Entry()
            entry.last_get = now
            if entry.task is None:
                entry.task = asyncio.create_task(self._run(key, entry, ctype, request))
            if min_index and deadline is None:
                deadline = now + _query_time(request.MaxQueryTime)
            first = False
            timeout = max(deadline - now, 0.0) if deadline is not None and entry.valid else None
            try:
                await asyncio.wait_for(entry.waiter.wait(), timeout)
            except TimeoutError:
                return CacheResult(entry.value, entry.index, hit=False)

    def values(self, ctype: CacheType) -> list[Any]:
        """The current values of every valid entry of ``ctype``."""
        return [entry.value for key, entry in self._entries.items()
                if key[0] == ctype.name and entry.valid]

    async def stop(self) -> None:
        """Cancel the refreshes and the reaper; entries stay readable but go stale."""
        tasks = [e.task for e in self._entries.values() if e.task is not None]
        if self._reaper is not None:
            tasks.append(self._reaper)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---- internals ------------------------------------------------------------

    def _servable(self, ctype: CacheType, entry: _Entry, min_index: int,
                  control: CacheControl, first: bool) -> bool:
        if not entry.valid:
            return False
        if min_index and min_index >= entry.index:
            return False
        if ctype.refresh:  # refreshed entries are as fresh as the servers: no max-age
            return True
        if control.max_age > 0 and self._clock() - entry.fetched_at > control.max_age:
            return False
        return not (control.must_revalidate and first)

    def _age(self, ctype: CacheType, entry: _Entry, now: float) -> float:
        """Refreshed entries: time since the refresh lost contact; others: since fetched."""
        if ctype.refresh:
            return 0.0 if entry.lost_contact_at is None else now - entry.lost_contact_at
        return now - entry.fetched_at

    async def _run(self, key: tuple, entry: _Entry, ctype: CacheType, request: Any) -> None:
        """Fetch once, or (refreshing types) keep fetching until the entry is evicted."""
        failures = 0
        try:
            while True:
                last = FetchResult(entry.value, entry.index) if entry.valid else None
                min_index = entry.index if entry.valid and ctype.blocking else 0
                try:
                    result = await ctype.fetch(self._rpc, request, min_index, last)
                except Exception as err:  # kept for the readers; the refresh retries
                    entry.error = err
                    failures += 1
                    if ctype.refresh and entry.lost_contact_at is None:
                        entry.lost_contact_at = self._clock()
                else:
                    entry.error = None
                    entry.value, entry.index = result.value, max(result.index, 1)
                    entry.valid, entry.fetched_at = True, self._clock()
                    entry.lost_contact_at = None
                    failures = 0 if result.index > 0 else failures + 1
                entry.waiter, done = asyncio.Event(), entry.waiter
                done.set()
                if not ctype.refresh or self._entries.get(key) is not entry:
                    return
                await asyncio.sleep(backoff(failures))
        finally:
            entry.task = None

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(supervise("cache-reaper", self._reap))

    async def _reap(self) -> None:
        """Evict entries unread for ``ttl``; their readers wake and fetch anew."""
        while True:
            await asyncio.sleep(self.ttl / 2)
            cutoff = self._clock() - self.ttl
            for key, entry in list(self._entries.items()):
                if entry.last_get < cutoff:
                    del self._entries[key]
                    if entry.task is not None:
                        entry.task.cancel()
                    entry.waiter.set()


def _query_time(max_query_time_ns: int) -> float:
    """How long a blocking cached read may wait (Consul's defaults and cap)."""
    ns = max_query_time_ns if max_query_time_ns > 0 else DEFAULT_QUERY_TIME_NS
    return min(ns, MAX_QUERY_TIME_NS) / 1e9
