"""memberlist's transmit-limited broadcast queue.

Each queued message is piggy-backed at most ``retransmit_mult × ceil(log10(n+1))``
times.  Messages transmitted fewer times go first, then longer, then newer
(memberlist's btree order, kept here as a sorted list).  A message queued with
a ``name`` invalidates the queued message with that name.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["BroadcastQueue", "retransmit_limit"]


def retransmit_limit(retransmit_mult: int, num_nodes: int) -> int:
    return retransmit_mult * math.ceil(math.log10(num_nodes + 1))


@dataclass(eq=False, slots=True)
class _Broadcast:
    message: bytes
    name: str | None
    notify: Hashable | None
    order: int
    transmits: int = 0

    def key(self) -> tuple:
        return (self.transmits, -len(self.message), -self.order, self)


class BroadcastQueue:
    """Queued gossip with per-message transmit counts."""

    def __init__(self, retransmit_mult: int, num_nodes: Callable[[], int],
                 on_queue: Callable[[], None] | None = None) -> None:
        self.retransmit_mult = retransmit_mult
        self._num_nodes = num_nodes
        self._on_queue = on_queue  # told after each message is queued
        self._keys: list[tuple] = []  # sorted _Broadcast.key() values
        self._by_name: dict[str, _Broadcast] = {}
        self._order = itertools.count()
        self._finished: list[Hashable] = []

    def __len__(self) -> int:
        return len(self._keys)

    def queue(self, message: bytes, name: str | None = None, notify: Hashable | None = None) -> None:
        item = _Broadcast(message, name, notify, next(self._order))
        if name is not None:
            old = self._by_name.pop(name, None)
            if old is not None:
                self._remove(old)
                self._finish(old)
            self._by_name[name] = item
        bisect.insort(self._keys, item.key())
        if self._on_queue is not None:
            self._on_queue()

    def get(self, overhead: int, limit: int) -> list[bytes]:
        """Take messages that fit ``limit`` bytes, counting ``overhead`` for each.

        Walks the transmit tiers from the least transmitted, taking in each the
        largest message that still fits, like memberlist's ``GetBroadcasts``.
        """
        keys = self._keys
        if not keys:
            return []
        max_transmits = retransmit_limit(self.retransmit_mult, self._num_nodes())
        used = 0
        chosen: list[bytes] = []
        bumped: list[_Broadcast] = []
        tier = keys[0][0]
        while True:
            free = limit - used - overhead
            if free <= 0:
                break
            i = bisect.bisect_left(keys, (tier, -free))
            if i == len(keys):
                break
            if keys[i][0] != tier:
                tier = keys[i][0]
                continue
            item = keys.pop(i)[3]
            used += overhead + len(item.message)
            chosen.append(item.message)
            item.transmits += 1
            if item.transmits >= max_transmits:
                self._forget(item)
                self._finish(item)
            else:
                bumped.append(item)
        for item in bumped:
            bisect.insort(keys, item.key())
        return chosen

    def fresh(self, overhead: int, limit: int) -> list[bytes]:
        """Messages not yet transmitted that fit ``limit`` bytes (``overhead`` each), left
        queued and uncounted: an extra round that spends none of their transmissions."""
        chosen: list[bytes] = []
        used = 0
        for transmits, _, _, item in self._keys:
            if transmits:
                break
            size = overhead + len(item.message)
            if used + size <= limit:
                chosen.append(item.message)
                used += size
        return chosen

    def _remove(self, item: _Broadcast) -> None:
        i = bisect.bisect_left(self._keys, item.key())
        del self._keys[i]

    def _forget(self, item: _Broadcast) -> None:
        if item.name is not None and self._by_name.get(item.name) is item:
            del self._by_name[item.name]

    def _finish(self, item: _Broadcast) -> None:
        if item.notify is not None:
            self._finished.append(item.notify)

    def take_finished(self) -> list[Hashable]:
        """Notify keys of broadcasts that were fully transmitted or invalidated."""
        finished, self._finished = self._finished, []
        return finished

    def prune(self, keep: int) -> None:
        """Drop messages beyond ``keep``, most transmitted (then smallest, oldest) first,
        like memberlist's ``Prune`` (serf's MaxQueueDepth)."""
        while len(self._keys) > keep:
            item = self._keys.pop()[3]
            self._forget(item)
            self._finish(item)

    def reset(self) -> None:
        for _, _, _, item in self._keys:
            self._finish(item)
        self._keys.clear()
        self._by_name.clear()
