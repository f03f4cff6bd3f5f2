"""A deterministic network simulator for the sans-IO gossip cores.

Cores are memberlist instances addressed by ``(ip, port)``.  Packets and
streams are delivered after ``latency`` on a virtual clock; packets may be
lost at random; links can be cut; nodes can be killed (no more input).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable

from proconsul.gossip.memberlist import Memberlist, SendPacket, StreamRequest


class SimNetwork:
    def __init__(self, seed: int = 1, latency: float = 0.002, loss: float = 0.0) -> None:
        self.rng = random.Random(seed)
        self.latency = latency
        self.loss = loss
        self.now = 0.0
        self.cores: dict[tuple[str, int], Memberlist] = {}
        self.dead: set[tuple[str, int]] = set()
        self.cut: set[frozenset] = set()
        self._events: list = []
        self._order = itertools.count()
        self.packets_sent = 0

    def add(self, core: Memberlist) -> Memberlist:
        self.cores[core.address] = core
        core.start(self.now)
        self.pump(core)
        return core

    def kill(self, core: Memberlist) -> None:
        self.dead.add(core.address)

    def cut_link(self, a: Memberlist, b: Memberlist) -> None:
        self.cut.add(frozenset((a.address, b.address)))

    def _reachable(self, src, dst) -> bool:
        return dst in self.cores and dst not in self.dead and src not in self.dead \
            and frozenset((src, dst)) not in self.cut

    def _at(self, when: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._events, (when, next(self._order), fn))

    def pump(self, core: Memberlist) -> None:
        src = core.address
        for action in core.take_actions():
            if isinstance(action, SendPacket):
                self.packets_sent += 1
                if self.rng.random() < self.loss:
                    continue
                self._at(self.now + self.latency, self._packet(src, action))
            elif isinstance(action, StreamRequest):
                self._at(self.now + self.latency, self._stream(src, action))

    def _packet(self, src, action: SendPacket):
        def deliver() -> None:
            if self._reachable(src, action.addr):
                dst = self.cores[action.addr]
                dst.handle_packet(action.data, src, self.now)
                self.pump(dst)
        return deliver

    def _stream(self, src, action: StreamRequest):
        def deliver() -> None:
            client = self.cores[src]
            if not self._reachable(src, action.addr):
                if src not in self.dead:
                    client.stream_failed(action.request_id, self.now)
                    self.pump(client)
                return
            server = self.cores[action.addr]
            end = server.codec.frame_stream(action.data)
            reply = server.handle_stream(action.data[:end], src, self.now)
            self.pump(server)
            if not action.expect_reply:
                return

            def answer() -> None:
                if src in self.dead:
                    return
                if reply is None:
                    client.stream_failed(action.request_id, self.now)
                else:
                    client.stream_reply(action.request_id, reply, self.now)
                self.pump(client)
            self._at(self.now + self.latency, answer)
        return deliver

    def run_until(self, end: float) -> None:
        while True:
            candidates = []
            if self._events:
                candidates.append(self._events[0][0])
            for addr, core in self.cores.items():
                if addr in self.dead:
                    continue
                deadline = core.next_deadline()
                if deadline is not None:
                    candidates.append(deadline)
            if not candidates:
                self.now = end
                return
            nxt = min(candidates)
            if nxt > end:
                self.now = end
                return
            self.now = max(self.now, nxt)
            if self._events and self._events[0][0] <= self.now:
                _, _, fn = heapq.heappop(self._events)
                fn()
            for addr, core in list(self.cores.items()):
                if addr in self.dead:
                    continue
                deadline = core.next_deadline()
                if deadline is not None and deadline <= self.now:
                    core.tick(self.now)
                    self.pump(core)

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    def run_until_true(self, predicate: Callable[[], bool], limit: float) -> bool:
        """Advance in small steps until ``predicate()`` or ``limit`` virtual seconds pass."""
        end = self.now + limit
        while self.now < end:
            if predicate():
                return True
            self.run_until(min(end, self.now + 0.05))
        return predicate()
