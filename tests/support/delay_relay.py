"""A TCP relay that holds every chunk for a fixed time each way: a WAN delay where the
kernel has no ``netem`` qdisc (nor ``fq``, whose departure times could stand in).

    python -m tests.support.delay_relay LISTEN_HOST MS LISTEN_PORT:TARGET_HOST:TARGET_PORT...

Each direction delays by ``MS / 2``, so a request and its reply take ``MS`` more
than without the relay. One event loop serves every mapping; a chunk costs one
timer (``loop.call_at``) and no task, and chunks of one direction leave in
arrival order, each at its arrival time plus the delay. (Plain asyncio, not
uvloop: libuv's millisecond timers count from a cached clock and can fire a
little early.)
The relay measures its own lateness: how long after its due time each chunk was
actually written. ``SIGUSR1`` prints those figures since the last report as one
JSON line (``{"chunks": N, "late_p50_ms": ..., "late_p99_ms": ...}``) and starts
again. Prints ``ready`` once listening on every port.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import statistics
import sys


class Stats:
    """Lateness of delayed writes (seconds past their due time)."""

    def __init__(self) -> None:
        self.late: list[float] = []

    def report(self) -> str:
        late, self.late = sorted(self.late), []
        if not late:
            return json.dumps({"chunks": 0, "late_p50_ms": 0.0, "late_p99_ms": 0.0})
        p99 = late[min(len(late) - 1, int(len(late) * 0.99))]
        return json.dumps({"chunks": len(late),
                           "late_p50_ms": round(statistics.median(late) * 1000, 3),
                           "late_p99_ms": round(p99 * 1000, 3)})


class Leg(asyncio.Protocol):
    """One side of a relayed connection; what it receives is written to ``peer``
    ``delay`` seconds later."""

    def __init__(self, delay: float, stats: Stats) -> None:
        self.delay, self.stats = delay, stats
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.peer: Leg | None = None
        self.pending: list[bytes] = []  # received before the peer was connected

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP,
                                                      socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        due = self.loop.time() + self.delay
        self.loop.call_at(due, self._deliver, data, due)

    def eof_received(self) -> bool:
        due = self.loop.time() + self.delay
        self.loop.call_at(due, self._deliver, b"", due)
        return True

    def connection_lost(self, exc) -> None:
        self.eof_received()

    def _deliver(self, data: bytes, due: float) -> None:
        self.stats.late.append(self.loop.time() - due)
        peer = self.peer
        if peer is None or peer.transport is None:
            self.pending.append(data)
            return
        if data:
            peer.transport.write(data)
        elif not peer.transport.is_closing():
            peer.transport.close()

    def attach(self, peer: Leg) -> None:
        self.peer = peer
        for data in self.pending:
            if data:
                peer.transport.write(data)
            else:
                peer.transport.close()
        self.pending.clear()


async def serve(host: str, port: int, target: tuple[str, int], delay: float,
                stats: Stats) -> asyncio.Server:
    loop = asyncio.get_running_loop()

    def accepted() -> Leg:
        down = Leg(delay, stats)
        loop.create_task(connect(down))
        return down

    async def connect(down: Leg) -> None:
        try:
            _, up = await loop.create_connection(lambda: Leg(delay, stats), *target)
        except OSError:
            if down.transport is not None:
                down.transport.close()
            return
        up.attach(down)
        down.attach(up)

    return await loop.create_server(accepted, host, port)


async def main(host: str, delay_ms: float, mappings: list[tuple[int, str, int]]) -> None:
    stats = Stats()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: print(stats.report(), flush=True))
    servers = [await serve(host, port, (target_host, target_port), delay_ms / 2000, stats)
               for port, target_host, target_port in mappings]
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def _mapping(text: str) -> tuple[int, str, int]:
    port, target_host, target_port = text.split(":")
    return int(port), target_host, int(target_port)


if __name__ == "__main__":
    listen_host, ms, *pairs = sys.argv[1:]
    asyncio.run(main(listen_host, float(ms), [_mapping(p) for p in pairs]))
