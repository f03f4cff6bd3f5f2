"""Timeouts for many futures from one loop timer."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Callable
from typing import Any


class Deadlines:
    """Fails each registered future still pending at its deadline.

    A loop timer per future costs about as much as the work a Raft proposal
    does; here deadlines sit on a heap under one timer armed for the
    earliest. Futures that finished are dropped from the top of the heap as
    new ones come, so it stays as long as the work in flight.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 error: Callable[[], BaseException] = TimeoutError) -> None:
        self._loop = loop
        self._error = error
        self._heap: list[tuple[float, int, asyncio.Future[Any]]] = []
        self._ids = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def add(self, future: asyncio.Future[Any], timeout: float) -> None:
        heap = self._heap
        while heap and heap[0][2].done():
            heapq.heappop(heap)
        when = self._loop.time() + timeout
        heapq.heappush(heap, (when, next(self._ids), future))
        if when < self._timer_at:
            self._arm(when)

    def cancel(self) -> None:
        """Forget every deadline (the futures are left as they are)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at, self._heap = None, math.inf, []

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(when, self._expire)
        self._timer_at = when

    def _expire(self) -> None:
        self._timer, self._timer_at = None, math.inf
        heap, now = self._heap, self._loop.time()
        while heap and (heap[0][0] <= now or heap[0][2].done()):
            future = heapq.heappop(heap)[2]
            if not future.done():
                future.set_exception(self._error())
        if heap:
            self._arm(heap[0][0])
