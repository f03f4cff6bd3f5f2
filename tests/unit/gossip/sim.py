"""A deterministic network simulator for the sans-IO gossip cores.

Cores are memberlist (or serf) instances addressed by ``(ip, port)``.
Packets and streams are delivered after ``latency`` on a virtual clock;
packets may be lost at random; links can be cut; nodes can be killed (no more
input; with ``host_up`` their host answers port unreachable, like a crashed
process on a live machine) or stalled (their input arrives ``stall[addr]`` seconds late, like a
CPU-starved process working through a backlog).

Everything runs off one event heap: network deliveries and each core's next
timer deadline, so a step costs O(log events) however many cores there are.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable

from proconsul.gossip.memberlist import Memberlist, SendPacket, StreamRequest

Address = tuple[str, int]


class SimNetwork:
    def __init__(self, seed: int = 1, latency: float = 0.002, loss: float = 0.0) -> None:
        self.rng = random.Random(seed)
        self.latency = latency
        self.loss = loss
        self.now = 0.0
        self.cores: dict[Address, Memberlist] = {}
        self.dead: set[Address] = set()
        self.refusing: set[Address] = set()  # dead, but the host reports port unreachable
        self.cut: set[frozenset] = set()
        self.stall: dict[Address, float] = {}
        self.packets_sent = 0
        self._events: list = []
        self._order = itertools.count()
        self._armed: dict[Address, float] = {}

    def add(self, core: Memberlist) -> Memberlist:
        self.cores[core.address] = core
        core.start(self.now)
        self.pump(core)
        return core

    def kill(self, core: Memberlist, host_up: bool = False) -> None:
        self.dead.add(core.address)
        if host_up:
            self.refusing.add(core.address)

    def cut_link(self, a: Memberlist, b: Memberlist) -> None:
        self.cut.add(frozenset((a.address, b.address)))

    def _reachable(self, src: Address, dst: Address) -> bool:
        if dst not in self.cores or dst in self.dead or src in self.dead:
            return False
        return not self.cut or frozenset((src, dst)) not in self.cut

    def _at(self, when: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._events, (when, next(self._order), fn))

    def _arrival(self, dst: Address) -> float:
        return self.now + self.latency + self.stall.get(dst, 0.0)

    def pump(self, core: Memberlist) -> None:
        """Put the core's pending output on the wire and (re)arm its next timer."""
        src = core.address
        for action in core.take_actions():
            if isinstance(action, SendPacket):
                self.packets_sent += 1
                if self.loss and self.rng.random() < self.loss:
                    continue
                self._at(self._arrival(action.addr), self._packet(src, action))
            elif isinstance(action, StreamRequest):
                self._at(self._arrival(action.addr), self._stream(src, action))
        self._arm(src, core)

    def _arm(self, addr: Address, core: Memberlist) -> None:
        deadline = core.next_deadline()
        if deadline is not None and deadline < self._armed.get(addr, math.inf):
            self._armed[addr] = deadline
            self._at(deadline, lambda: self._fire(addr, deadline))

    def _fire(self, addr: Address, deadline: float) -> None:
        if self._armed.get(addr) == deadline:
            del self._armed[addr]
        core = self.cores.get(addr)
        if core is None or addr in self.dead:
            return
        due = core.next_deadline()
        if due is not None and due <= self.now:
            core.tick(self.now)
        self.pump(core)

    def _packet(self, src: Address, action: SendPacket):
        def deliver() -> None:
            if self._reachable(src, action.addr):
                dst = self.cores[action.addr]
                dst.handle_packet(action.data, src, self.now)
                self.pump(dst)
            elif action.addr in self.refusing and src not in self.dead:
                self._at(self._arrival(src), self._unreachable(src, action.addr))
        return deliver

    def _unreachable(self, src: Address, dst: Address):
        def report() -> None:
            if src not in self.dead:
                self.cores[src].handle_unreachable(dst, self.now)
                self.pump(self.cores[src])
        return report

    def _stream(self, src: Address, action: StreamRequest):
        def deliver() -> None:
            client = self.cores[src]
            if not self._reachable(src, action.addr):
                if src not in self.dead:
                    refused = action.addr in self.refusing
                    client.stream_failed(action.request_id, self.now, refused)
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
            self._at(self._arrival(src), answer)
        return deliver

    def run_until(self, end: float) -> None:
        # Cores may have been poked directly (join, leave...) since the last pump.
        for addr, core in self.cores.items():
            if addr not in self.dead:
                self._arm(addr, core)
        events = self._events
        while events and events[0][0] <= end:
            when, _, fn = heapq.heappop(events)
            self.now = max(self.now, when)
            fn()
        self.now = max(self.now, end)

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    def run_until_true(self, predicate: Callable[[], bool], limit: float,
                       step: float = 0.05) -> bool:
        """Advance in ``step`` increments until ``predicate()`` or ``limit`` virtual seconds pass."""
        end = self.now + limit
        while self.now < end:
            if predicate():
                return True
            self.run_until(min(end, self.now + step))
        return predicate()
