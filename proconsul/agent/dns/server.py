"""The DNS listeners: one UDP socket and one TCP server on the same address."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct

from proconsul.agent.dns.resolver import Resolver

log = logging.getLogger(__name__)

MAX_PENDING_UDP = 4096  # requests waiting on a lookup; beyond that new ones are dropped
TCP_READ_TIMEOUT = 2.0  # miekg/dns: the first request must arrive within this
TCP_IDLE_TIMEOUT = 8.0  # ... and each following one within this
_LENGTH = struct.Struct(">H")


class _UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: set[asyncio.Task] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr) -> None:
        reply = self.resolver.cached(data, False)
        if reply is not None:
            self.transport.sendto(reply, addr)
            return
        if len(self.pending) >= MAX_PENDING_UDP:
            self.resolver.stats.overloaded += 1
            return
        task = asyncio.get_running_loop().create_task(self._answer(data, addr))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _answer(self, data: bytes, addr) -> None:
        reply = await self.resolver.resolve(data, False, addr[0])
        if reply is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("DNS UDP socket error: %s", exc)


class DNSServer:
    """Serves ``resolver`` over UDP and TCP on ``host:port``."""

    def __init__(self, resolver: Resolver, host: str, port: int) -> None:
        self.resolver = resolver
        self.host = host
        self.port = port
        self._udp: _UDPProtocol | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[asyncio.Task] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        _, self._udp = await loop.create_datagram_endpoint(
            lambda: _UDPProtocol(self.resolver), local_addr=(self.host, self.port))
        try:
            self._tcp = await asyncio.start_server(self._serve_tcp, self.host, self.port,
                                                   reuse_address=True)
        except OSError:
            self._udp.transport.close()
            raise

    async def stop(self) -> None:
        if self._tcp is not None:
            self._tcp.close()
        if self._udp is not None:
            self._udp.transport.close()
        tasks = [*self._connections, *(self._udp.pending if self._udp else ())]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._tcp is not None:
            await self._tcp.wait_closed()

    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        """Length-prefixed requests, answered in order, until the client goes quiet."""
        task = asyncio.current_task()
        self._connections.add(task)
        timeout = TCP_READ_TIMEOUT
        peer = writer.get_extra_info("peername")
        client_ip = peer[0] if isinstance(peer, tuple) else ""
        try:
            while True:
                async with asyncio.timeout(timeout):
                    (length,) = _LENGTH.unpack(await reader.readexactly(2))
                    data = await reader.readexactly(length)
                timeout = TCP_IDLE_TIMEOUT
                reply = (self.resolver.cached(data, True)
                         or await self.resolver.resolve(data, True, client_ip))
                if reply is not None:
                    writer.write(_LENGTH.pack(len(reply)) + reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()
