"""One blocking CA-roots query per datacenter, shared by every leaf this agent caches.

Cached leaves wait here for the roots to change instead of each holding its own
``ConnectCA.Roots`` query open (Consul's leaf manager does the same with its
root watcher): while at least one leaf waits, a single blocking query runs;
each answer with a higher index wakes every waiter at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from proconsul.lib.metrics import registry as metrics
from proconsul.structs.connect import IndexedCARoots
from proconsul.structs.query import MAX_QUERY_TIME_NS
from proconsul.structs.requests import DCSpecificRequest

__all__ = ["OPEN_QUERIES_GAUGE", "RootsWatch"]

Rpc = Callable[[str, Any], Awaitable[Any]]
OPEN_QUERIES_GAUGE = "consul.agent.connect.ca.roots_watch.queries"
RETRY_WAIT = 1.0  # seconds before asking again after a failed roots query

_open_queries = 0  # across every watch in this process, for the gauge


def _count_open(delta: int) -> None:
    global _open_queries
    _open_queries += delta
    metrics.set_gauge(OPEN_QUERIES_GAUGE, _open_queries)


class RootsWatch:
    """The latest CA roots of one datacenter, kept fresh while anyone waits on them."""

    def __init__(self, rpc: Rpc, datacenter: str) -> None:
        self._rpc = rpc
        self._datacenter = datacenter
        self.roots: IndexedCARoots | None = None
        self.open_queries = 0      # this watch's blocking queries in flight (0 or 1)
        self._waiters = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None

    def observe(self, roots: IndexedCARoots) -> None:
        """Take a newer answer (from any read) and wake the waiters."""
        if self.roots is None or roots.Index > self.roots.Index:
            self.roots = roots
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_change(self, since_index: int, timeout: float) -> IndexedCARoots | None:
        """The roots once their index passes ``since_index``, or the latest after
        ``timeout`` seconds (None if none are known yet)."""
        self._waiters += 1
        try:
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._run())
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while self.roots is None or self.roots.Index <= since_index:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
        finally:
            self._waiters -= 1
        return self.roots

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        """The shared blocking query; it ends when nobody waits any more."""
        while self._waiters > 0:
            index = self.roots.Index if self.roots is not None else 0
            self.open_queries += 1
            _count_open(1)
            try:
                roots = await self._rpc("ConnectCA.Roots", DCSpecificRequest(
                    Datacenter=self._datacenter, MinQueryIndex=index,
                    MaxQueryTime=MAX_QUERY_TIME_NS if index else 0, AllowStale=True))
            except Exception:  # the waiters keep their leaves; ask again shortly
                roots = None
            finally:
                self.open_queries -= 1
                _count_open(-1)
            if roots is None:
                await asyncio.sleep(RETRY_WAIT)
                continue
            self.observe(roots)
            await asyncio.sleep(0)  # let the woken waiters run before asking again
