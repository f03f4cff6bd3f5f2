"""Client side of server RPC: a pool of multiplexed connections, and a fake.

:class:`MuxPool` keeps one yamux session (type byte 4) per server address.
Each stream is an ``RPCConsul`` conn, which Consul's servers serve request
after request, so a stream whose call completed is kept for the next call
instead of paying an open and a close per call.  A session that dies is
dropped and the next call redials.  :class:`FakePool` runs
registered endpoints in memory with the same encoding and error rules.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import ssl
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from proconsul.rpc import yamux
from proconsul.rpc.codec import (
    MAX_MESSAGE_SIZE,
    ClientCodec,
    Handler,
    RPCServer,
    decode_reply,
    encode,
)
from proconsul.rpc.conn import StreamConn, TLSConn
from proconsul.rpc.errors import RPCConnectionError, RPCDialError, RPCError, RPCTimeout
from proconsul.rpc.mux import ConnType

__all__ = ["ALPN_RPC_MULTI", "ConnPool", "FakePool", "MuxPool", "split_address"]

ALPN_RPC_MULTI = "consul/rpc-multi"
DEFAULT_CALL_TIMEOUT = 60.0
DIAL_TIMEOUT = 10.0
MAX_IDLE_STREAMS = 128  # per server; more concurrent calls close their streams after use


@runtime_checkable
class ConnPool(Protocol):
    """What layers above need from the RPC client side."""

    async def call(
        self,
        address: str,
        method: str,
        args: Any,
        reply_type: Any = Any,
        timeout: float | None = None,
    ) -> Any:
        """Call ``method`` on the server at ``address`` ("host:port").

        Raises :class:`RPCError` (remote error, Consul's text),
        :class:`RPCConnectionError` (try another server) or :class:`RPCTimeout`.
        """
        ...

    async def drop(self, address: str) -> None:
        """Close the connection to ``address`` (it stopped answering); the next call redials."""
        ...

    async def close(self) -> None: ...


def split_address(address: str) -> tuple[str, int]:
    """``"host:port"`` / ``"[v6]:port"`` → ``(host, port)``."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise RPCConnectionError(f"bad server address {address!r}")
    return host.strip("[]"), int(port)


class CallTimeouts:
    """Call deadlines served by one timer, armed for the earliest of them.

    A loop timer per call (what ``asyncio.timeout`` makes) costs about as
    much as a whole call over a reused stream.  Calls here push their
    deadline on a heap; finished calls are dropped from it lazily.
    """

    def __init__(self) -> None:
        self._ids = itertools.count()
        self._start(None)

    def _start(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, asyncio.Task[Any]]] = []
        self._pending: set[int] = set()
        self._expired: set[int] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    async def run(self, coro: Any, timeout: float | None, what: str) -> Any:
        """Await ``coro``; past ``timeout`` seconds cancel it and raise :class:`RPCTimeout`."""
        if timeout is None:
            return await coro
        loop, task = self._bind()
        call_id = next(self._ids)
        deadline = loop.time() + timeout
        heapq.heappush(self._heap, (deadline, call_id, task))
        self._pending.add(call_id)
        if deadline < self._timer_at:
            self._arm(loop, deadline)
        cancelling = task.cancelling()
        try:
            return await coro
        except asyncio.CancelledError:
            if call_id in self._expired and task.uncancel() <= cancelling:
                raise RPCTimeout(f"{what}: timed out after {timeout}s") from None
            raise
        finally:
            self._pending.discard(call_id)
            self._expired.discard(call_id)
            if len(self._heap) > 2 * len(self._pending) + 64:
                self._heap = [entry for entry in self._heap if entry[1] in self._pending]
                heapq.heapify(self._heap)

    def _bind(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]:
        """The loop (looked up once: that costs a getpid() on Python 3.11) and the calling task."""
        task = asyncio.current_task(self._loop) if self._loop is not None else None
        if task is None:  # first call, or a new loop: start afresh on it
            self._start(asyncio.get_running_loop())
            task = asyncio.current_task(self._loop)
            assert task is not None
        return self._loop, task

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(when, self._expire, loop)
        self._timer_at = when

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._timer_at = None, math.inf
        now = loop.time()
        while self._heap:
            deadline, call_id, task = self._heap[0]
            if call_id in self._pending and deadline > now:
                self._arm(loop, deadline)
                return
            heapq.heappop(self._heap)
            if call_id in self._pending:
                self._pending.discard(call_id)
                self._expired.add(call_id)
                task.cancel()


class MuxPool:
    """One yamux session per server; a stream per concurrent call, reused.

    With ``tls`` the pool writes byte 3, handshakes and sends byte 4 inside
    TLS; with ``native_tls`` it handshakes straight away offering ALPN
    ``consul/rpc-multi`` (the context's ALPN list is set accordingly).
    ``verify`` checks each new TLS connection after its handshake (raising
    ``ssl.SSLError`` refuses it).
    """

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        native_tls: bool = False,
        server_name: str | None = None,
        default_timeout: float = DEFAULT_CALL_TIMEOUT,
        dial_timeout: float = DIAL_TIMEOUT,
        yamux_config: yamux.Config | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE,
        source_host: str | None = None,
        verify: Callable[[TLSConn], None] | None = None,
    ) -> None:
        self._local_addr = (source_host, 0) if source_host else None
        if native_tls and tls is None:
            raise ValueError("native_tls needs a TLS context")
        if native_tls:
            tls.set_alpn_protocols([ALPN_RPC_MULTI])
        self.tls = tls
        self.native_tls = native_tls
        self.server_name = server_name
        self.verify = verify
        self.default_timeout = default_timeout
        self.dial_timeout = dial_timeout
        self.yamux_config = yamux_config
        self.max_message_size = max_message_size
        self._timeouts = CallTimeouts()
        self._sessions: dict[str, yamux.Session] = {}
        self._idle: dict[yamux.Session, list[ClientCodec]] = {}
        self._dialing: dict[str, asyncio.Task[yamux.Session]] = {}
        self._closed = False

    async def call(
        self,
        address: str,
        method: str,
        args: Any,
        reply_type: Any = Any,
        timeout: float | None = None,
    ) -> Any:
        timeout = self.default_timeout if timeout is None else timeout
        return await self._timeouts.run(
            self._call(address, method, args, reply_type), timeout, f"{method} to {address}"
        )

    async def drop(self, address: str) -> None:
        session = self._sessions.get(address)
        if session is not None:
            await self._discard(address, session)

    async def close(self) -> None:
        self._closed = True
        for task in self._dialing.values():
            task.cancel()
        sessions, self._sessions = list(self._sessions.values()), {}
        self._idle.clear()
        for session in sessions:
            await session.close()

    async def _call(self, address: str, method: str, args: Any, reply_type: Any) -> Any:
        session = await self._session(address)
        codec = await self._codec(address, session)
        done = False
        try:
            reply = await codec.call(method, args, reply_type)
            done = True
            return reply
        except RPCError:
            done = True
            raise
        except RPCConnectionError:
            if session.closed:
                await self._discard(address, session)
            raise
        finally:
            if done:
                await self._release(session, codec)
            else:
                await codec.conn.reset()

    async def _codec(self, address: str, session: yamux.Session) -> ClientCodec:
        """An idle stream of ``session``, or a new one."""
        idle = self._idle.get(session)
        while idle:
            codec = idle.pop()
            if codec.conn.is_open:
                return codec
            await codec.conn.close()
        try:
            stream = await session.open()
        except yamux.YamuxError as exc:  # nothing was sent on the dead session
            await self._discard(address, session)
            raise RPCDialError(f"{address}: {exc}") from exc
        return ClientCodec(stream, self.max_message_size)

    async def _release(self, session: yamux.Session, codec: ClientCodec) -> None:
        """Keep a stream whose call completed for the next call, within limits."""
        idle = self._idle.get(session)
        if idle is not None and len(idle) < MAX_IDLE_STREAMS and codec.conn.is_open:
            idle.append(codec)
        else:
            await codec.conn.close()

    async def _session(self, address: str) -> yamux.Session:
        if self._closed:
            raise RPCConnectionError("connection pool is closed")
        session = self._sessions.get(address)
        if session is not None and not session.closed:
            return session
        dial = self._dialing.get(address)
        if dial is None:
            dial = asyncio.get_running_loop().create_task(self._dial(address))
            self._dialing[address] = dial
            dial.add_done_callback(lambda _: self._dialing.pop(address, None))
        return await asyncio.shield(dial)

    async def _discard(self, address: str, session: yamux.Session) -> None:
        if self._sessions.get(address) is session:
            del self._sessions[address]
        self._idle.pop(session, None)
        await session.close()

    async def dial_stream(self, address: str, conn_type: ConnType) -> StreamConn | TLSConn:
        """A new connection of ``conn_type`` of its own (such as the snapshot stream),
        with the pool's TLS; the caller closes it."""
        if self.native_tls:
            raise RPCDialError(f"dial {address}: {conn_type.name} connections are not "
                               "offered over native TLS")
        return await self._connect(address, conn_type)

    async def _connect(self, address: str, conn_type: ConnType) -> StreamConn | TLSConn:
        host, port = split_address(address)
        try:
            async with asyncio.timeout(self.dial_timeout):
                reader, writer = await asyncio.open_connection(host, port,
                                                               local_addr=self._local_addr)
                conn: StreamConn | TLSConn = StreamConn(reader, writer)
                try:
                    conn = await self._upgrade(conn, conn_type)
                except BaseException:
                    await conn.close()
                    raise
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            raise RPCDialError(f"dial {address}: {exc}") from exc
        return conn

    async def _dial(self, address: str) -> yamux.Session:
        conn = await self._connect(address, ConnType.MULTIPLEX_V2)
        session = yamux.Session(conn, client=True, config=self.yamux_config)
        if self._closed:
            await session.close()
            raise RPCConnectionError("connection pool is closed")
        self._sessions[address] = session
        self._idle[session] = []
        return session

    async def _upgrade(self, conn: StreamConn, conn_type: ConnType) -> StreamConn | TLSConn:
        if self.tls is None:
            await conn.write(bytes([conn_type]))
            return conn
        if not self.native_tls:
            await conn.write(bytes([ConnType.TLS]))
        tls_conn = TLSConn(conn, self.tls, server_side=False, server_hostname=self.server_name)
        await tls_conn.handshake()
        if self.verify is not None:
            self.verify(tls_conn)
        if self.native_tls:
            if tls_conn.alpn_protocol != ALPN_RPC_MULTI:
                raise ssl.SSLError(f"server did not negotiate {ALPN_RPC_MULTI}")
        else:
            await tls_conn.write(bytes([conn_type]))
        return tls_conn


class FakePool:
    """A deterministic in-memory :class:`ConnPool` for tests of upper layers.

    Each address has an :class:`RPCServer`; calls go through the same
    msgpack encoding and error texts as the wire.  ``fail`` injects errors;
    ``calls`` records ``(address, method, args)`` in order.
    """

    def __init__(self) -> None:
        self.servers: dict[str, RPCServer] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self.dropped: list[str] = []
        self._failures: dict[str, list[Exception]] = {}
        self._down: dict[str, Exception] = {}
        self._timeouts = CallTimeouts()
        self.closed = False

    def register(
        self, address: str, method: str, handler: Handler, request_type: Any = None
    ) -> None:
        self.servers.setdefault(address, RPCServer()).register(method, handler, request_type)

    def fail(self, address: str, error: Exception, times: int = 1) -> None:
        """Make the next ``times`` calls to ``address`` raise ``error``."""
        self._failures.setdefault(address, []).extend([error] * times)

    def down(self, address: str, error: Exception | None = None) -> None:
        """Every call to ``address`` fails (a connection error by default) until :meth:`up`."""
        self._down[address] = error or RPCDialError(f"dial {address}: connection refused")

    def up(self, address: str) -> None:
        self._down.pop(address, None)

    async def call(
        self,
        address: str,
        method: str,
        args: Any,
        reply_type: Any = Any,
        timeout: float | None = None,
    ) -> Any:
        self.calls.append((address, method, args))
        return await self._timeouts.run(
            self._call(address, method, args, reply_type), timeout, f"{method} to {address}"
        )

    async def drop(self, address: str) -> None:
        self.dropped.append(address)

    async def close(self) -> None:
        self.closed = True

    async def _call(self, address: str, method: str, args: Any, reply_type: Any) -> Any:
        if self.closed:
            raise RPCConnectionError("connection pool is closed")
        if address in self._down:
            raise self._down[address]
        pending = self._failures.get(address)
        if pending:
            raise pending.pop(0)
        server = self.servers.get(address)
        if server is None:
            raise RPCDialError(f"dial {address}: connection refused")
        error, body = await server.handle(method, encode(args))
        if error:
            raise RPCError(error)
        return decode_reply(method, body, reply_type)
