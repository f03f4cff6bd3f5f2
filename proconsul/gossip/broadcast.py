"""memberlist's transmit-limited broadcast queue.

Each queued message is piggy-backed at most ``retransmit_mult × ceil(log10(n+1))``
times.  Messages transmitted fewer times go first (then longer, then newer).
A message queued with a ``name`` invalidates older messages with that name.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["BroadcastQueue", "retransmit_limit"]


def retransmit_limit(retransmit_mult: int, num_nodes: int) -> int:
    return retransmit_mult * math.ceil(math.log10(num_nodes + 1))


@dataclass(slots=True)
class _Broadcast:
    message: bytes
    name: str | None
    notify: Hashable | None
    order: int
    transmits: int = 0


class BroadcastQueue:
    """Queued gossip with per-message transmit counts."""

    def __init__(self, retransmit_mult: int, num_nodes: Callable[[], int]) -> None:
        self.retransmit_mult = retransmit_mult
        self._num_nodes = num_nodes
        self._items: list[_Broadcast] = []
        self._order = itertools.count()
        self._finished: list[Hashable] = []

    def __len__(self) -> int:
        return len(self._items)

    def queue(self, message: bytes, name: str | None = None, notify: Hashable | None = None) -> None:
        if name is not None:
            kept = []
            for item in self._items:
                if item.name == name:
                    self._finish(item)
                else:
                    kept.append(item)
            self._items = kept
        self._items.append(_Broadcast(message, name, notify, next(self._order)))

    def get(self, overhead: int, limit: int) -> list[bytes]:
        """Take messages that fit ``limit`` bytes, counting ``overhead`` for each."""
        if not self._items:
            return []
        max_transmits = retransmit_limit(self.retransmit_mult, self._num_nodes())
        self._items.sort(key=lambda b: (b.transmits, -len(b.message), -b.order))
        used = 0
        chosen = []
        kept = []
        for item in self._items:
            cost = overhead + len(item.message)
            if used + cost > limit:
                kept.append(item)
                continue
            used += cost
            chosen.append(item.message)
            item.transmits += 1
            if item.transmits >= max_transmits:
                self._finish(item)
            else:
                kept.append(item)
        self._items = kept
        return chosen

    def _finish(self, item: _Broadcast) -> None:
        if item.notify is not None:
            self._finished.append(item.notify)

    def take_finished(self) -> list[Hashable]:
        """Notify keys of broadcasts that were fully transmitted or invalidated."""
        finished, self._finished = self._finished, []
        return finished

    def prune(self, keep: int) -> None:
        """Drop the oldest messages beyond ``keep`` (serf's MaxQueueDepth)."""
        if len(self._items) > keep:
            self._items.sort(key=lambda b: b.order)
            for item in self._items[: len(self._items) - keep]:
                self._finish(item)
            self._items = self._items[len(self._items) - keep :]

    def reset(self) -> None:
        for item in self._items:
            self._finish(item)
        self._items.clear()
