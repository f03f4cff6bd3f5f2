"""Reaps KV tombstones once they are older than the tombstone TTL (leader only)."""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING

from proconsul.structs.kv import TombstoneRequest
from proconsul.structs.messages import MessageType

if TYPE_CHECKING:
    from proconsul.server.server import Server


class TombstoneGC:
    """Groups tombstone creation into time buckets and reaps each bucket after the TTL.

    Tombstones let a prefix's index move forward when keys under it are
    deleted; they are kept long enough for blocked readers to see that.
    """

    def __init__(self, server: Server, ttl: float, granularity: float) -> None:
        self._server = server
        self._ttl = ttl
        self._granularity = granularity
        self._enabled = False
        self._buckets: dict[float, tuple[int, asyncio.TimerHandle]] = {}

    def enable(self) -> None:
        self._enabled = True

    def disable(self) -> None:
        self._enabled = False
        for _, timer in self._buckets.values():
            timer.cancel()
        self._buckets.clear()

    def hint(self, index: int) -> None:
        """A tombstone was written at ``index``; schedule its reaping."""
        if not self._enabled:
            return
        loop = asyncio.get_running_loop()
        expires = math.ceil((loop.time() + self._ttl) / self._granularity) * self._granularity
        bucket = self._buckets.get(expires)
        if bucket is not None:
            self._buckets[expires] = (max(bucket[0], index), bucket[1])
            return
        timer = loop.call_at(expires, self._expire, expires)
        self._buckets[expires] = (index, timer)

    def _expire(self, expires: float) -> None:
        index, _ = self._buckets.pop(expires)
        self._server.routines.start(f"tombstone-reap-{index}", lambda: self._reap(index),
                                    label="tombstone-reap")

    async def _reap(self, index: int) -> None:
        await self._server.raft_apply(MessageType.TOMBSTONE, TombstoneRequest(
            Op="reap", ReapIndex=index, Datacenter=self._server.config.datacenter))
