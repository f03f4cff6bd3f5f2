"""The network seam of the gossip driver: UDP packets and TCP streams on one host:port."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Protocol

__all__ = ["NetTransport", "PacketHandler", "StreamHandler", "Transport", "UnreachableHandler"]

Address = tuple[str, int]
PacketHandler = Callable[[bytes, Address], None]
StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
UnreachableHandler = Callable[[Address], None]
UDP_RECV_BUFFER = 65536

# Linux's extended socket errors (ip(7), ipv6(7)): with IP_RECVERR set, an ICMP error for
# a datagram we sent is queued on the socket with the datagram's destination address.
IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)
MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0)
SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6 = 2, 3
PORT_UNREACHABLE = {SO_EE_ORIGIN_ICMP: (3, 3), SO_EE_ORIGIN_ICMP6: (1, 4)}  # (type, code)
_EXTENDED_ERR = struct.Struct("=IBBBBII")  # errno, origin, type, code, pad, info, data


class Transport(Protocol):
    """What the driver needs from the network (memberlist's Transport, asyncio-flavoured)."""

    @property
    def port(self) -> int: ...

    async def start(self, on_packet: PacketHandler, on_stream: StreamHandler,
                    on_unreachable: UnreachableHandler | None = None) -> None:
        """Listen; ``on_unreachable(addr)`` is told when the network reports that nothing
        listens at an address we sent a packet to (where the transport can know)."""

    def send_packet(self, addr: Address, data: bytes) -> None: ...

    async def connect(self, addr: Address,
                      timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]: ...

    async def close(self) -> None: ...


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, sock: socket.socket, on_packet: PacketHandler,
                 on_unreachable: UnreachableHandler | None) -> None:
        self.sock = sock
        self.on_packet = on_packet
        self.on_unreachable = on_unreachable

    def datagram_received(self, data: bytes, addr) -> None:
        self.on_packet(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        """An ICMP error was queued: drain the queue (or the socket stays readable),
        reporting each port unreachable. Any other error is ignored: gossip is lossy."""
        for addr in drain_port_unreachable(self.sock):
            if self.on_unreachable is not None:
                self.on_unreachable(addr)


def open_udp_socket(host: str, port: int) -> socket.socket:
    """A non-blocking UDP socket bound to ``host:port`` that queues ICMP errors (Linux)."""
    family, _, _, _, sockaddr = socket.getaddrinfo(host or None, port, type=socket.SOCK_DGRAM,
                                                   flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if MSG_ERRQUEUE:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        sock.setblocking(False)
        sock.bind(sockaddr)
    except OSError:
        sock.close()
        raise
    return sock


def drain_port_unreachable(sock: socket.socket) -> list[Address]:
    """Read the socket's error queue; the destinations that answered port unreachable."""
    found: list[Address] = []
    if not MSG_ERRQUEUE:
        return found
    while True:
        try:
            _, ancillary, _, addr = sock.recvmsg(1, 512, MSG_ERRQUEUE)
        except OSError:  # BlockingIOError: the queue is empty
            return found
        for _, _, data in ancillary:
            if len(data) < _EXTENDED_ERR.size or not addr:
                continue
            _, origin, icmp_type, code, _, _, _ = _EXTENDED_ERR.unpack_from(data)
            if PORT_UNREACHABLE.get(origin) == (icmp_type, code):
                found.append((addr[0], addr[1]))


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

    async def start(self, on_packet: PacketHandler, on_stream: StreamHandler,
                    on_unreachable: UnreachableHandler | None = None) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(20):
            server = await asyncio.start_server(on_stream, self.host, self._port)
            port = server.sockets[0].getsockname()[1]
            try:
                sock = open_udp_socket(self.host, port)
                self._udp, _ = await loop.create_datagram_endpoint(
                    functools.partial(_Datagrams, sock, on_packet, on_unreachable), sock=sock)
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
