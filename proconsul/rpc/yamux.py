"""yamux stream multiplexing (hashicorp/yamux), client and server sessions.

Frames start with a 12-byte big-endian header: version (0), type, flags,
stream id, length.  The opener picks odd ids (client) or even ids (server);
id 0 carries pings and go-aways.  Each stream starts with a 256 KiB receive
window that the reader re-opens with window updates as it consumes data.
A :class:`Stream` is a :class:`~proconsul.rpc.conn.Conn`; ``close`` is a
half-close (FIN), ``reset`` aborts (RST).

Frames are queued and one writer task sends everything queued so far in a
single write, so the many small frames of concurrent streams cost one
syscall per loop iteration rather than one each.  Received bytes are parsed
from a buffer, several frames per read.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import struct
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from proconsul.rpc.conn import READ_CHUNK, Conn, ConnClosed

__all__ = [
    "Config",
    "RemoteGoAway",
    "Session",
    "SessionClosed",
    "Stream",
    "StreamClosed",
    "StreamReset",
    "YamuxError",
    "YamuxProtocolError",
    "YamuxTimeout",
    "encode_header",
]

log = logging.getLogger(__name__)

PROTO_VERSION = 0
TYPE_DATA, TYPE_WINDOW_UPDATE, TYPE_PING, TYPE_GO_AWAY = 0, 1, 2, 3
FLAG_SYN, FLAG_ACK, FLAG_FIN, FLAG_RST = 1, 2, 4, 8
GO_AWAY_NORMAL, GO_AWAY_PROTO_ERR, GO_AWAY_INTERNAL_ERR = 0, 1, 2
INITIAL_STREAM_WINDOW = 256 * 1024
HEADER = struct.Struct(">BBHII")
MAX_STREAM_ID = 0xFFFFFFFF
SEND_HIGH_WATER = 1 << 20  # queued bytes above which senders wait for the writer


@dataclass(frozen=True, slots=True)
class Config:
    """Session tunables; defaults are yamux's (``DefaultConfig``)."""

    accept_backlog: int = 256
    enable_keepalive: bool = True
    keepalive_interval: float = 30.0
    connection_write_timeout: float = 10.0
    max_stream_window: int = INITIAL_STREAM_WINDOW
    stream_open_timeout: float = 75.0
    stream_close_timeout: float = 300.0

    def __post_init__(self) -> None:
        if self.max_stream_window < INITIAL_STREAM_WINDOW:
            raise ValueError("max_stream_window must be at least 256 KiB")
        if self.accept_backlog <= 0:
            raise ValueError("accept_backlog must be positive")


class YamuxError(ConnectionError):
    """Base of yamux failures."""


class SessionClosed(YamuxError):
    """The session is shut down."""


class RemoteGoAway(YamuxError):
    """The remote sent a normal go-away: no new streams may be opened."""


class StreamClosed(YamuxError):
    """Write after the local side closed the stream."""


class StreamReset(YamuxError):
    """The stream was reset (RST)."""


class YamuxProtocolError(YamuxError):
    """The peer violated the protocol; the session is torn down."""


class YamuxTimeout(YamuxError, TimeoutError):
    """A ping was not answered in time."""


def encode_header(typ: int, flags: int, stream_id: int, length: int) -> bytes:
    return HEADER.pack(PROTO_VERSION, typ, flags, stream_id, length)


class State(enum.Enum):
    INIT = enum.auto()
    SYN_SENT = enum.auto()
    SYN_RECEIVED = enum.auto()
    ESTABLISHED = enum.auto()
    LOCAL_CLOSE = enum.auto()
    REMOTE_CLOSE = enum.auto()
    CLOSED = enum.auto()
    RESET = enum.auto()


_OPEN = (State.INIT, State.SYN_SENT, State.SYN_RECEIVED, State.ESTABLISHED)


class Stream:
    """One logical stream.  One reader task and one writer task at a time."""

    def __init__(self, session: Session, stream_id: int, state: State) -> None:
        self.id = stream_id
        self.state = state
        self._session = session
        self._recv_buf = bytearray()
        self._recv_window = INITIAL_STREAM_WINDOW
        self._send_window = INITIAL_STREAM_WINDOW
        # Futures made on the session's loop: asyncio.Event looks the loop up
        # on each wait, which costs a getpid() syscall on Python 3.11.
        self._recv_waiter: asyncio.Future[None] | None = None
        self._send_waiter: asyncio.Future[None] | None = None
        self._write_lock = asyncio.Lock()
        self._close_timer: asyncio.TimerHandle | None = None

    async def read(self, n: int = READ_CHUNK) -> bytes:
        """Up to ``n`` bytes; ``b""`` once the remote closed and all is read."""
        while True:
            if self._recv_buf:
                data = bytes(self._recv_buf[:n])
                del self._recv_buf[:n]
                with contextlib.suppress(SessionClosed):
                    self._send_window_update()
                return data
            if self.state in (State.REMOTE_CLOSE, State.CLOSED):
                return b""
            if self.state is State.RESET:
                raise StreamReset(f"stream {self.id} reset")
            self._recv_waiter = self._session._loop.create_future()
            await self._recv_waiter

    @property
    def is_open(self) -> bool:
        """Neither side has closed or reset the stream."""
        return self.state in _OPEN

    async def write(self, data: bytes) -> None:
        """Send all of ``data``, waiting for window updates as needed."""
        n = len(data)
        if n <= self._send_window and self.state in _OPEN and not self._write_lock.locked():
            self._send_window -= n  # fits the window: one frame, no lock needed
            await self._session._send(encode_header(TYPE_DATA, self._send_flags(), self.id, n), data)
            return
        view = memoryview(data)
        async with self._write_lock:
            while view:
                if self.state in (State.LOCAL_CLOSE, State.CLOSED):
                    raise StreamClosed(f"stream {self.id} closed")
                if self.state is State.RESET:
                    raise StreamReset(f"stream {self.id} reset")
                if self._send_window == 0:
                    self._send_waiter = self._session._loop.create_future()
                    await self._send_waiter
                    continue
                n = min(self._send_window, len(view))
                self._send_window -= n
                flags = self._send_flags()
                await self._session._send(encode_header(TYPE_DATA, flags, self.id, n), view[:n])
                view = view[n:]

    async def close(self) -> None:
        """Half-close: send FIN; reads continue until the remote's FIN."""
        if self.state in _OPEN:
            self.state = State.LOCAL_CLOSE
            timeout = self._session.config.stream_close_timeout
            if timeout > 0:
                loop = asyncio.get_running_loop()
                self._close_timer = loop.call_later(timeout, self._close_timed_out)
            done = False
        elif self.state is State.REMOTE_CLOSE:
            self.state = State.CLOSED
            done = True
        else:
            return
        flags = self._send_flags() | FLAG_FIN
        with contextlib.suppress(YamuxError):
            await self._session._send(encode_header(TYPE_WINDOW_UPDATE, flags, self.id, 0))
        self._notify()
        if done:
            self._session._remove(self.id)

    async def reset(self) -> None:
        """Abort the stream in both directions (RST)."""
        if self.state in (State.CLOSED, State.RESET):
            return
        self.state = State.RESET
        self._cancel_close_timer()
        self._notify()
        self._session._remove(self.id)
        with contextlib.suppress(YamuxError):
            await self._session._send(encode_header(TYPE_WINDOW_UPDATE, FLAG_RST, self.id, 0))

    def _send_flags(self) -> int:
        if self.state is State.INIT:
            self.state = State.SYN_SENT
            return FLAG_SYN
        if self.state is State.SYN_RECEIVED:
            self.state = State.ESTABLISHED
            return FLAG_ACK
        return 0

    def _send_window_update(self) -> None:
        window = self._session.config.max_stream_window
        delta = window - len(self._recv_buf) - self._recv_window
        flags = self._send_flags()
        if delta < window // 2 and not flags:
            return
        self._recv_window += delta
        self._session._enqueue(encode_header(TYPE_WINDOW_UPDATE, flags, self.id, delta))

    def _process_flags(self, flags: int) -> None:
        if flags & FLAG_ACK:
            if self.state is State.SYN_SENT:
                self.state = State.ESTABLISHED
            self._session._release_syn(self.id)
        if flags & FLAG_FIN:
            if self.state in _OPEN:
                self.state = State.REMOTE_CLOSE
            elif self.state is State.LOCAL_CLOSE:
                self.state = State.CLOSED
                self._cancel_close_timer()
                self._session._remove(self.id)
            else:
                raise YamuxProtocolError(f"unexpected FIN on stream {self.id} in {self.state.name}")
            self._notify()
        if flags & FLAG_RST:
            self.state = State.RESET
            self._cancel_close_timer()
            self._session._remove(self.id)
            self._notify()

    def _grow_send_window(self, flags: int, delta: int) -> None:
        self._process_flags(flags)
        self._send_window += delta
        _wake(self._send_waiter)

    def _receive(self, data: bytes | memoryview) -> None:
        self._recv_buf += data
        self._recv_window -= len(data)
        _wake(self._recv_waiter)

    def _force_close(self) -> None:
        self.state = State.CLOSED
        self._cancel_close_timer()
        self._notify()

    def _close_timed_out(self) -> None:
        self._close_timer = None
        self._force_close()
        self._session._remove(self.id)
        self._session._enqueue_nowait(encode_header(TYPE_WINDOW_UPDATE, FLAG_RST, self.id, 0))

    def _cancel_close_timer(self) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None

    def _notify(self) -> None:
        _wake(self._recv_waiter)
        _wake(self._send_waiter)


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class Session:
    """A yamux session over ``conn``; must be created inside a running loop."""

    def __init__(self, conn: Conn, *, client: bool, config: Config | None = None) -> None:
        self.config = config or Config()
        self.client = client
        self.close_reason: BaseException | None = None
        self._conn = conn
        self._loop = asyncio.get_running_loop()
        self._next_id = 1 if client else 2
        self._streams: dict[int, Stream] = {}
        self._inflight: dict[int, asyncio.TimerHandle | None] = {}
        self._syn_released = asyncio.Event()
        self._accept_queue: asyncio.Queue[Stream | None] = asyncio.Queue()
        self._out: list[bytes] = []
        self._out_size = 0
        self._out_waiter: asyncio.Future[None] | None = None
        self._write_started: float | None = None  # while a write is under way
        self._write_watchdog: asyncio.TimerHandle | None = None
        self._drained = asyncio.Event()
        self._pings: dict[int, asyncio.Future[None]] = {}
        self._ping_id = 0
        self._local_go_away = False
        self._remote_go_away = False
        self._closed = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        self._recv_task = self._loop.create_task(self._recv_loop())
        self._write_task = self._loop.create_task(self._write_loop())
        self._keepalive_task = (
            self._loop.create_task(self._keepalive()) if self.config.enable_keepalive else None
        )

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def num_streams(self) -> int:
        return len(self._streams)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def open(self) -> Stream:
        """Open a stream (SYN is sent now; the ACK arrives asynchronously)."""
        while True:
            if self.closed:
                raise SessionClosed("session closed")
            if self._remote_go_away:
                raise RemoteGoAway("remote end is not accepting streams")
            if len(self._inflight) < self.config.accept_backlog:
                break
            self._syn_released.clear()
            await self._syn_released.wait()
        stream_id = self._next_id
        if stream_id >= MAX_STREAM_ID - 1:
            raise YamuxError("stream ids exhausted")
        self._next_id += 2
        stream = Stream(self, stream_id, State.INIT)
        self._streams[stream_id] = stream
        timeout = self.config.stream_open_timeout
        self._inflight[stream_id] = (
            self._loop.call_later(timeout, self._open_timed_out, stream_id) if timeout > 0 else None
        )
        try:
            stream._send_window_update()
        except YamuxError:
            self._remove(stream_id)
            raise
        return stream

    async def accept(self) -> Stream:
        """Wait for the remote to open a stream, and acknowledge it."""
        stream = await self._accept_queue.get()
        if stream is None or self.closed:
            self._accept_queue.put_nowait(None)  # wake the next acceptor too
            raise SessionClosed("session closed")
        stream._send_window_update()
        return stream

    async def ping(self) -> float:
        """Round-trip time in seconds; :class:`YamuxTimeout` after the write timeout."""
        ping_id = self._ping_id
        self._ping_id = (ping_id + 1) & 0xFFFFFFFF
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._pings[ping_id] = waiter
        start = self._loop.time()
        try:
            await self._send(encode_header(TYPE_PING, FLAG_SYN, 0, ping_id))
            await asyncio.wait_for(waiter, self.config.connection_write_timeout)
        except TimeoutError:
            raise YamuxTimeout("ping timed out") from None
        finally:
            self._pings.pop(ping_id, None)
        return self._loop.time() - start

    async def go_away(self) -> None:
        """Refuse new incoming streams (they get RST); existing ones continue."""
        self._local_go_away = True
        await self._send(encode_header(TYPE_GO_AWAY, 0, 0, GO_AWAY_NORMAL))

    async def close(self, reason: BaseException | None = None) -> None:
        """Shut down: every stream reads EOF, the conn is closed."""
        if self.closed:
            return
        self._closed.set()
        self.close_reason = reason
        for stream in self._streams.values():
            stream._force_close()
        self._streams.clear()
        for timer in self._inflight.values():
            if timer is not None:
                timer.cancel()
        self._inflight.clear()
        self._syn_released.set()
        self._drained.set()
        self._accept_queue.put_nowait(None)
        for waiter in self._pings.values():
            if not waiter.done():
                waiter.set_exception(SessionClosed("session closed"))
        current = asyncio.current_task()
        if self._write_watchdog is not None:
            self._write_watchdog.cancel()
        for task in (self._recv_task, self._write_task, self._keepalive_task):
            if task is not None and task is not current:
                task.cancel()
        if self._out and current is not self._write_task:
            await self._flush_on_close()
        await self._conn.close()

    async def _send(self, header: bytes, body: bytes | memoryview = b"") -> None:
        """Queue a frame; wait only while the writer is far behind."""
        self._enqueue(header + body if body else header)
        if self._out_size > SEND_HIGH_WATER:
            self._drained.clear()
            await self._drained.wait()
            if self.closed:
                raise SessionClosed("session closed")

    def _enqueue(self, frame: bytes) -> None:
        if self.closed:
            raise SessionClosed("session closed")
        self._out.append(frame)
        self._out_size += len(frame)
        _wake(self._out_waiter)

    def _enqueue_nowait(self, frame: bytes) -> None:
        with contextlib.suppress(SessionClosed):
            self._enqueue(frame)

    def _take_out(self) -> bytes:
        data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
        self._out.clear()
        self._out_size = 0
        return data

    async def _write_loop(self) -> None:
        while True:
            if not self._out:
                self._out_waiter = self._loop.create_future()
                await self._out_waiter
            data = self._take_out()
            self._write_started = self._loop.time()
            if self._write_watchdog is None:
                self._write_watchdog = self._loop.call_later(
                    self.config.connection_write_timeout, self._check_write)
            try:
                await self._conn.write(data)
            except Exception as exc:  # any failure ends the session
                self._spawn(self.close(exc))
                return
            self._write_started = None
            self._drained.set()

    def _check_write(self) -> None:
        """Close the session if a write has been stuck for the write timeout.

        One timer per timeout period while there is traffic, not one per
        write; it re-arms for what is left, so a stuck write is caught one
        timeout after it began.
        """
        self._write_watchdog = None
        if self._write_started is None or self.closed:
            return
        stuck_for = self._loop.time() - self._write_started
        if stuck_for >= self.config.connection_write_timeout:
            self._spawn(self.close(YamuxTimeout("connection write timeout")))
            return
        self._write_watchdog = self._loop.call_later(
            self.config.connection_write_timeout - stuck_for, self._check_write)

    async def _flush_on_close(self) -> None:
        """Best effort: deliver what was queued (a FIN, a go-away) before the conn closes."""
        data = self._take_out()
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            async with asyncio.timeout(self.config.connection_write_timeout):
                await self._conn.write(data)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _remove(self, stream_id: int) -> None:
        self._streams.pop(stream_id, None)
        self._release_syn(stream_id)

    def _release_syn(self, stream_id: int) -> None:
        if stream_id in self._inflight:
            timer = self._inflight.pop(stream_id)
            if timer is not None:
                timer.cancel()
            self._syn_released.set()

    def _open_timed_out(self, stream_id: int) -> None:
        log.error("yamux: stream %d was not acknowledged; closing session", stream_id)
        self._spawn(self.close(YamuxTimeout("stream open timed out")))

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.config.keepalive_interval)
            try:
                await self.ping()
            except SessionClosed:
                return
            except YamuxError as exc:
                log.error("yamux: keepalive failed: %s", exc)
                self._spawn(self.close(exc))
                return

    async def _recv_loop(self) -> None:
        reason: BaseException | None = None
        try:
            await self._receive_frames()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure ends the session, never the process
            reason = exc
        await self.close(reason)

    async def _receive_frames(self) -> None:
        """Parse frames from each read; a data payload may span reads."""
        pending = b""  # an incomplete header
        payload_left = 0
        target: Stream | None = None  # where the current payload goes (None: dropped)
        while True:
            data = await self._conn.read()
            if not data:
                raise ConnClosed("connection closed")
            if pending:
                data, pending = pending + data, b""
            view = memoryview(data)
            pos, end = 0, len(data)
            while pos < end:
                if payload_left:
                    n = min(payload_left, end - pos)
                    if target is not None:
                        target._receive(view[pos : pos + n])
                    pos += n
                    payload_left -= n
                    continue
                if end - pos < HEADER.size:
                    pending = data[pos:]
                    break
                version, typ, flags, stream_id, length = HEADER.unpack_from(data, pos)
                pos += HEADER.size
                if version != PROTO_VERSION:
                    raise YamuxProtocolError(f"invalid protocol version {version}")
                if typ in (TYPE_DATA, TYPE_WINDOW_UPDATE):
                    target = self._on_stream_frame(typ, flags, stream_id, length)
                    if typ == TYPE_DATA:
                        payload_left = length
                elif typ == TYPE_PING:
                    self._on_ping(flags, length)
                elif typ == TYPE_GO_AWAY:
                    self._on_go_away(length)
                else:
                    raise YamuxProtocolError(f"invalid message type {typ}")

    def _on_stream_frame(self, typ: int, flags: int, stream_id: int, length: int) -> Stream | None:
        """Apply a frame's header; returns the stream its data payload is for."""
        if flags & FLAG_SYN:
            self._on_syn(stream_id)
        stream = self._streams.get(stream_id)
        if stream is None:
            return None
        try:
            if typ == TYPE_WINDOW_UPDATE:
                stream._grow_send_window(flags, length)
                return None
            stream._process_flags(flags)
            if length > stream._recv_window:
                raise YamuxProtocolError(
                    f"receive window exceeded on stream {stream_id}: {length} > {stream._recv_window}"
                )
        except YamuxProtocolError:
            self._send_go_away_error()
            raise
        return stream

    def _on_syn(self, stream_id: int) -> None:
        rst = encode_header(TYPE_WINDOW_UPDATE, FLAG_RST, stream_id, 0)
        if self._local_go_away:
            self._enqueue_nowait(rst)
            return
        if stream_id in self._streams:
            self._send_go_away_error()
            raise YamuxProtocolError(f"duplicate stream {stream_id}")
        if self._accept_queue.qsize() >= self.config.accept_backlog:
            log.warning("yamux: backlog exceeded, resetting stream %d", stream_id)
            self._enqueue_nowait(rst)
            return
        stream = Stream(self, stream_id, State.SYN_RECEIVED)
        self._streams[stream_id] = stream
        self._accept_queue.put_nowait(stream)

    def _on_ping(self, flags: int, ping_id: int) -> None:
        if flags & FLAG_SYN:
            self._enqueue_nowait(encode_header(TYPE_PING, FLAG_ACK, 0, ping_id))
            return
        waiter = self._pings.pop(ping_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_go_away(self, code: int) -> None:
        if code == GO_AWAY_NORMAL:
            self._remote_go_away = True
        elif code == GO_AWAY_PROTO_ERR:
            raise YamuxProtocolError("remote reported a protocol error")
        elif code == GO_AWAY_INTERNAL_ERR:
            raise YamuxError("remote reported an internal error")
        else:
            raise YamuxProtocolError(f"unexpected go away code {code}")

    def _send_go_away_error(self) -> None:
        self._local_go_away = True
        self._enqueue_nowait(encode_header(TYPE_GO_AWAY, 0, 0, GO_AWAY_PROTO_ERR))
