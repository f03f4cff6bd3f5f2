"""asyncio driver: runs a sans-IO ``Serf`` core on a real clock and a ``Transport``.

It feeds packets, streams and timer ticks to the core, performs the core's
actions (UDP sends, TCP push/pull and user streams), appends snapshot records
to disk and hands every serf event to the subscribed callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from proconsul.gossip.memberlist import SendPacket, StreamRequest
from proconsul.gossip.msgpack import DecodeError, Incomplete
from proconsul.gossip.serf import (
    Member,
    MemberEvent,
    MemberEventType,
    QueryEvent,
    QueryParams,
    Serf,
    SerfEvent,
    SerfState,
    UserEvent,
)
from proconsul.gossip.snapshot import SnapshotState, compaction_threshold
from proconsul.gossip.transport import Address, Transport
from proconsul.gossip.wire import WireError
from proconsul.lib.metrics import registry as metrics
from proconsul.lib.routine import RoutineManager

__all__ = ["GossipDriver", "JoinError", "SnapshotFile"]

READ_CHUNK = 65536
MAX_STREAM_BYTES = 64 << 20
MAX_INBOUND_STREAMS = 128  # memberlist's maxPushPullRequests

# serf's counter per member event type
_MEMBER_METRICS = {MemberEventType.JOIN: "consul.serf.member.join",
                   MemberEventType.LEAVE: "consul.serf.member.left",
                   MemberEventType.FAILED: "consul.serf.member.failed",
                   MemberEventType.UPDATE: "consul.serf.member.update"}


class JoinError(Exception):
    """No address could be joined."""


class SnapshotFile:
    """serf's append-only snapshot file, compacted when it grows too large."""

    def __init__(self, path: str | os.PathLike, rejoin_after_leave: bool = False) -> None:
        self.path = Path(path)
        self.rejoin_after_leave = rejoin_after_leave
        self.state = SnapshotState()

    def load(self) -> SnapshotState:
        if self.path.exists():
            self.state = SnapshotState.parse(self.path.read_text(errors="replace"),
                                             self.rejoin_after_leave)
        return self.state

    def append(self, lines: list[str]) -> None:
        if not lines:
            return
        for line in lines:
            self.state.apply(line, self.rejoin_after_leave)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write("".join(line + "\n" for line in lines))
        if self.path.stat().st_size > compaction_threshold(len(self.state.alive)):
            self.compact()

    def compact(self) -> None:
        tmp = self.path.with_name(self.path.name + ".compact")
        with tmp.open("w") as f:
            f.write("".join(line + "\n" for line in self.state.compacted_lines()))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)


class GossipDriver:
    """Runs one serf pool: ``await start()``, ``await join(...)``, ``await leave()``, ``await stop()``."""

    def __init__(self, serf: Serf, transport: Transport,
                 snapshot: SnapshotFile | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 routines: RoutineManager | None = None, name: str = "gossip-timers") -> None:
        self.serf = serf
        self.transport = transport
        self.snapshot = snapshot
        self.clock = clock
        self._subscribers: list[Callable[[SerfEvent], None]] = []
        # The timer loop sleeps on ``_waiter`` until ``_sleep_until``; a flush wakes it
        # only when the core's next deadline comes earlier than that.
        self._waiter: asyncio.Future | None = None
        self._sleep_until = 0.0
        self._changed = asyncio.Event()
        # The timer loop runs supervised, under ``name`` (the owner's manager shows it).
        self._routines = routines if routines is not None else RoutineManager()
        self._timers_name = name
        self._running = False
        self._inbound_streams = 0
        self._tasks: set[asyncio.Task] = set()
        self._stream_results: dict[int, asyncio.Future[bool]] = {}

    # ------------------------------------------------------------ lifecycle

    def subscribe(self, callback: Callable[[SerfEvent], None]) -> None:
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[SerfEvent], None]) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(callback)

    async def start(self) -> None:
        await self.transport.start(self._on_packet, self._on_stream, self._on_unreachable)
        ml = self.serf.config.memberlist
        if not ml.bind_port:
            ml.bind_port = self.transport.port
        self.serf.start(self.clock())
        self._flush()
        self._running = True
        self._routines.start(self._timers_name, self._run_timers)
        if self.serf.rejoin_addresses:
            self._spawn(self._rejoin(list(self.serf.rejoin_addresses)))

    @property
    def timers_running(self) -> bool:
        """Whether the timer loop (probes, gossip, reaping) is alive."""
        return self._routines.is_running(self._timers_name)

    async def _rejoin(self, addresses: list[Address]) -> None:
        with contextlib.suppress(JoinError):
            await self.join(addresses)

    async def stop(self) -> None:
        """Stop without leaving (like a crash, minus the lost packets)."""
        self._running = False
        self.serf.shutdown()
        self._wake()
        await self._routines.stop(self._timers_name)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.transport.close()

    # ------------------------------------------------------------ operations

    @property
    def now(self) -> float:
        return self.clock()

    def members(self) -> list[Member]:
        return list(self.serf.members.values())

    async def join(self, addresses: list[Address], ignore_old: bool = False) -> int:
        """Join through each address; returns how many answered, raises JoinError if none."""
        ids = self.serf.join(addresses, self.now, ignore_old=ignore_old)
        futures = [self._stream_results.setdefault(i, asyncio.get_running_loop().create_future())
                   for i in ids]
        self._flush()
        results = await asyncio.gather(*futures)
        joined = sum(results)
        if joined == 0:
            raise JoinError(f"failed to join any of {addresses}")
        return joined

    async def leave(self, timeout: float | None = None) -> None:
        """Graceful leave; returns once it has propagated (or after ``timeout``)."""
        cfg = self.serf.config
        limit = timeout or 2 * cfg.broadcast_timeout + cfg.leave_propagate_delay + 1.0
        self.serf.leave(self.now)
        self._flush()
        await self.wait_for(lambda: self.serf.state == SerfState.LEFT, limit)

    def user_event(self, name: str, payload: bytes, coalesce: bool = False) -> None:
        self.serf.user_event(name, payload, coalesce, self.now)
        self._flush()

    def query(self, name: str, payload: bytes, params: QueryParams | None = None) -> int:
        query_id = self.serf.query(name, payload, params, self.now)
        self._flush()
        return query_id

    def respond(self, query: QueryEvent, payload: bytes) -> None:
        self.serf.respond(query, payload, self.now)
        self._flush()

    def wake(self) -> None:
        """Carry out whatever the core queued after a direct call on it."""
        self._flush()

    def set_tags(self, tags: dict[str, str]) -> None:
        self.serf.set_tags(tags, self.now)
        self._flush()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds after some core activity, or the timeout passes."""
        deadline = self.clock() + timeout
        while not predicate():
            remaining = deadline - self.clock()
            if remaining <= 0:
                return False
            self._changed.clear()
            await _wait_event(self._changed, remaining)
        return True

    # -------------------------------------------------------------- plumbing

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _flush(self) -> None:
        """Carry out everything the core asked for, then deliver its events."""
        for action in self.serf.take_actions():
            if isinstance(action, SendPacket):
                self.transport.send_packet(action.addr, action.data)
                metrics.incr_counter("consul.memberlist.udp.sent", len(action.data))
            elif isinstance(action, StreamRequest):
                self._spawn(self._run_stream(action))
        if self.snapshot is not None:
            self.snapshot.append(self.serf.take_snapshot_lines())
        else:
            self.serf.take_snapshot_lines()
        for event in self.serf.take_events():
            _count(event)
            for callback in self._subscribers:
                callback(event)
        if self._waiter is not None:
            deadline = self.serf.next_deadline()
            if deadline is not None and deadline < self._sleep_until:
                self._wake()
        self._changed.set()

    def _wake(self) -> None:
        if self._waiter is not None:
            _resolve(self._waiter)

    async def _run_timers(self) -> None:
        loop = asyncio.get_running_loop()
        while self._running:
            deadline = self.serf.next_deadline()
            delay = 1.0 if deadline is None else max(0.0, deadline - self.clock())
            if delay > 0:
                # A plain future and one timer handle: cheaper than an Event under
                # asyncio.timeout, and this loop wakes up many times a second.
                self._sleep_until = self.clock() + delay
                self._waiter = waiter = loop.create_future()
                handle = loop.call_later(delay, _resolve, waiter)
                try:
                    await waiter
                finally:
                    handle.cancel()
                    self._waiter = None
            if not self._running:
                return
            self.serf.tick(self.clock())
            self._flush()

    def _on_packet(self, data: bytes, addr: Address) -> None:
        metrics.incr_counter("consul.memberlist.udp.received", len(data))
        self.serf.handle_packet(data, addr, self.clock())
        self._flush()

    def _on_unreachable(self, addr: Address) -> None:
        self.serf.handle_unreachable(addr, self.clock())
        self._flush()

    async def _read_message(self, reader: asyncio.StreamReader) -> bytes:
        codec = self.serf.codec
        buf = b""
        while True:
            try:
                end = codec.frame_stream(buf)
                return buf[:end]
            except Incomplete:
                pass
            if len(buf) > MAX_STREAM_BYTES:
                raise WireError("stream message too large")
            chunk = await reader.read(READ_CHUNK)
            if not chunk:
                raise WireError("connection closed mid-message")
            buf += chunk

    async def _on_stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("", 0)
        timeout = self.serf.config.memberlist.tcp_timeout
        if self._inbound_streams >= MAX_INBOUND_STREAMS:
            writer.close()
            return
        self._inbound_streams += 1
        metrics.incr_counter("consul.memberlist.tcp.accept")
        try:
            data = await asyncio.wait_for(self._read_message(reader), timeout)
            reply = self.serf.handle_stream(data, (peer[0], peer[1]), self.clock())
            self._flush()
            if reply is not None:
                writer.write(reply)
                await asyncio.wait_for(writer.drain(), timeout)
        except (TimeoutError, OSError, WireError, DecodeError):
            pass
        finally:
            self._inbound_streams -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _run_stream(self, request: StreamRequest) -> None:
        ok = False
        writer = None
        try:
            reader, writer = await self.transport.connect(request.addr, request.timeout)
            metrics.incr_counter("consul.memberlist.tcp.connect")
            writer.write(request.data)
            await asyncio.wait_for(writer.drain(), request.timeout)
            if request.expect_reply:
                data = await asyncio.wait_for(self._read_message(reader), request.timeout)
                ok = self.serf.stream_reply(request.request_id, data, self.clock()) is None
            else:
                ok = True
        except (TimeoutError, OSError, WireError, DecodeError) as exc:
            if request.expect_reply:
                refused = isinstance(exc, ConnectionRefusedError)
                self.serf.stream_failed(request.request_id, self.clock(), refused)
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
        future = self._stream_results.pop(request.request_id, None)
        if future is not None and not future.done():
            future.set_result(ok)
        self._flush()


def _count(event: SerfEvent) -> None:
    """serf's consul.serf.member.* and consul.serf.events[.<name>] counters."""
    if isinstance(event, MemberEvent):
        name = _MEMBER_METRICS.get(event.type)
        if name is not None:
            metrics.incr_counter(name, len(event.members))
    elif isinstance(event, UserEvent):
        metrics.incr_counter("consul.serf.events")
        metrics.incr_counter(f"consul.serf.events.{event.name}")


def _resolve(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _wait_event(event: asyncio.Event, timeout: float) -> None:
    """Wait for ``event`` at most ``timeout`` seconds (cancellation-safe, unlike 3.11's wait_for)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
