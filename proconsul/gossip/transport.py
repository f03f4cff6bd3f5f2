"""The network seam of the gossip driver: UDP packets and TCP streams on one host:port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

__all__ = ["NetTransport", "PacketHandler", "StreamHandler", "Transport"]

Address = tuple[str, int]
PacketHandler = Callable[[bytes, Address], None]
StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
UDP_RECV_BUFFER = 65536


class Transport(Protocol):
    """What the driver needs from the network (memberlist's Transport, asyncio-flavoured)."""

    @property
    def port(self) -> int: ...

    async def start(self, on_packet: PacketHandler, on_stream: StreamHandler) -> None: ...

    def send_packet(self, addr: Address, data: bytes) -> None: ...

    async def connect(self, addr: Address,
                      timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]: ...

    async def close(self) -> None: ...


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, on_packet: PacketHandler) -> None:
        self.on_packet = on_packet

    def datagram_received(self, data: bytes, addr) -> None:
        self.on_packet(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable etc.: gossip is lossy
        pass


class NetTransport:
    """Real sockets: a UDP endpoint and a TCP listener bound to the same address and port.

    With ``port=0`` a free port is chosen that is free for both protocols.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self._port = port
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.base_events.Server | None = None

    @property
    def port(self) -> int:
        return self._port

    async def start(self, on_packet: PacketHandler, on_stream: StreamHandler) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(20):
            server = await asyncio.start_server(on_stream, self.host, self._port)
            port = server.sockets[0].getsockname()[1]
            try:
                self._udp, _ = await loop.create_datagram_endpoint(
                    lambda: _Datagrams(on_packet), local_addr=(self.host, port))
            except OSError:
                server.close()
                await server.wait_closed()
                if self._port:
                    raise
                continue
            self._server, self._port = server, port
            return
        raise OSError("no port free for both UDP and TCP")

    def send_packet(self, addr: Address, data: bytes) -> None:
        if self._udp is not None and not self._udp.is_closing():
            self._udp.sendto(data, addr)

    async def connect(self, addr: Address,
                      timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        local = (self.host, 0) if self.host not in ("", "0.0.0.0", "::") else None
        return await asyncio.wait_for(
            asyncio.open_connection(addr[0], addr[1], local_addr=local), timeout)

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
