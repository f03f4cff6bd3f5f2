"""A deterministic timer queue for sans-IO cores: callbacks fire when ``run_due(now)`` passes them."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Timer", "TimerQueue"]


@dataclass(eq=False, slots=True)
class Timer:
    """A scheduled callback; ``cancel()`` makes it a no-op."""

    when: float
    callback: Callable[[], None] = field(repr=False)
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class TimerQueue:
    """Timers ordered by due time, then by scheduling order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()

    def schedule(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(when, callback)
        heapq.heappush(self._heap, (when, next(self._order), timer))
        return timer

    def next_deadline(self) -> float | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def run_due(self, now: float) -> None:
        """Fire every timer due at or before ``now`` (including ones scheduled while firing)."""
        while self._heap and self._heap[0][0] <= now:
            _, _, timer = heapq.heappop(self._heap)
            if not timer.cancelled:
                timer.cancelled = True
                timer.callback()

    def clear(self) -> None:
        self._heap.clear()
