"""The WAN pool's transport under WAN federation through mesh gateways
(Consul's agent/consul/wanfed).

WAN member names are ``<node>.<dc>``.  Traffic for a member of our own datacenter
goes out on the plain transport (UDP and TCP as ever); traffic for a member of
another datacenter goes through a connection the injected :data:`Dialer` opens
(native TLS through a mesh gateway, chosen by the layer that owns the gateway
locator): packets as ``[u32 big-endian length][packet]`` frames on one reused
connection per destination (ALPN ``consul/wan-gossip/packet``, closed after
:data:`PACKET_IDLE_TIMEOUT` idle or on a write error), streams one connection each
(``consul/wan-gossip/stream``).  What arrives the same way is handed in through
:meth:`WanfedTransport.ingest_packet` and :meth:`WanfedTransport.ingest_stream`.
The gossip core sees addresses only and never knows the difference.

Joining a datacenter before knowing any of its servers goes through a placeholder
address (:meth:`WanfedTransport.placeholder`) that stands for node ``*`` of that
datacenter: any of its servers, as the gateway routes ``server.<dc>.<domain>``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import struct
from collections.abc import Awaitable, Callable
from typing import Protocol

from proconsul.gossip.transport import (
    Address,
    PacketHandler,
    StreamHandler,
    Transport,
    UnreachableHandler,
)
from proconsul.lib.routine import RoutineManager

__all__ = ["ALPN_PACKET", "ALPN_STREAM", "Dialer", "WanfedTransport", "split_node_name"]

log = logging.getLogger(__name__)

ALPN_PACKET = "consul/wan-gossip/packet"
ALPN_STREAM = "consul/wan-gossip/stream"
PACKET_IDLE_TIMEOUT = 120.0  # Consul closes a pooled packet connection after 2 min idle
DIAL_TIMEOUT = 10.0
MAX_QUEUED_PACKETS = 256  # per destination while its connection is being dialled
PLACEHOLDER_HOST = "192.0.2.2"  # TEST-NET-1, as Consul's join placeholder
_LENGTH = struct.Struct(">I")
READ_CHUNK = 65536


class ByteConn(Protocol):
    """An ordered byte stream (what the dialer returns and the server port hands in)."""

    async def read(self, n: int = READ_CHUNK) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


# (datacenter, node, ALPN protocol) -> a connection to that server ("*": any server of
# the datacenter); raises OSError when it cannot be made.
Dialer = Callable[[str, str, str], Awaitable[ByteConn]]
NameOf = Callable[[Address], str | None]


def split_node_name(name: str) -> tuple[str, str]:
    """``node.dc`` into ``(node, dc)``; ValueError unless there is exactly one dot."""
    node, dot, dc = name.partition(".")
    if not dot or not node or not dc or "." in dc:
        raise ValueError(f"node name does not encode a datacenter: {name}")
    return node, dc


class WanfedTransport:
    """A :class:`~proconsul.gossip.transport.Transport` that sends other datacenters'
    traffic through ``dial`` and the rest through ``direct``; ``name_of(addr)`` names
    the member at an address (None when unknown: sent direct)."""

    def __init__(self, direct: Transport, datacenter: str, dial: Dialer,
                 name_of: NameOf | None = None, *,
                 idle_timeout: float = PACKET_IDLE_TIMEOUT,
                 dial_timeout: float = DIAL_TIMEOUT) -> None:
        self.direct = direct
        self.datacenter = datacenter
        self.dial = dial
        self.name_of: NameOf = name_of or (lambda _addr: None)
        self.idle_timeout = idle_timeout
        self.dial_timeout = dial_timeout
        self._placeholders: dict[Address, str] = {}
        self._links: dict[str, _PacketLink] = {}
        self._routines = RoutineManager()
        self._serial = 0
        self._on_packet: PacketHandler | None = None
        self._on_stream: StreamHandler | None = None

    @property
    def port(self) -> int:
        return self.direct.port

    async def start(self, on_packet: PacketHandler, on_stream: StreamHandler,
                    on_unreachable: UnreachableHandler | None = None) -> None:
        self._on_packet, self._on_stream = on_packet, on_stream
        await self.direct.start(on_packet, on_stream, on_unreachable)

    def placeholder(self, datacenter: str) -> Address:
        """An address that stands for any server of ``datacenter`` (to join it)."""
        name = f"*.{datacenter}"
        for addr, known in self._placeholders.items():
            if known == name:
                return addr
        addr = (PLACEHOLDER_HOST, len(self._placeholders) + 1)
        self._placeholders[addr] = name
        return addr

    def route(self, addr: Address) -> tuple[str, str] | None:
        """``(node, dc)`` when ``addr`` is a member of another datacenter."""
        name = self._placeholders.get(addr) or self.name_of(addr)
        if name is None:
            return None
        try:
            node, dc = split_node_name(name)
        except ValueError as err:
            log.warning("wanfed: sending to %s directly: %s", addr, err)
            return None
        return None if dc == self.datacenter else (node, dc)

    def send_packet(self, addr: Address, data: bytes) -> None:
        target = self.route(addr)
        if target is None:
            self.direct.send_packet(addr, data)
            return
        name = ".".join(target)
        link = self._links.get(name)
        if link is None:
            link = self._links[name] = _PacketLink(self, *target)
            self._serial += 1
            self._routines.start(f"wanfed-packets-{name}#{self._serial}", link.run,
                                 label="wanfed-packets")
        link.push(data)

    async def connect(self, addr: Address,
                      timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        target = self.route(addr)
        if target is None:
            return await self.direct.connect(addr, timeout)
        node, dc = target
        async with asyncio.timeout(timeout):
            conn = await self.dial(dc, node, ALPN_STREAM)
        return _reader(conn), _writer(conn, addr)

    def ingest_packet(self, data: bytes, peer: Address) -> None:
        """A packet that came through a gateway."""
        if self._on_packet is not None:
            self._on_packet(data, peer)

    async def ingest_stream(self, conn: ByteConn, peer: Address = ("", 0)) -> None:
        """A stream that came through a gateway; returns when the gossip side is done."""
        if self._on_stream is not None:
            await self._on_stream(_reader(conn), _writer(conn, peer))

    @property
    def packet_links(self) -> list[str]:
        """Destinations with a packet connection (or one being dialled)."""
        return sorted(self._links)

    async def close(self) -> None:
        await self._routines.stop_all()
        self._links.clear()
        await self.direct.close()


class _PacketLink:
    """The packets bound for one member of another datacenter and their connection."""

    def __init__(self, transport: WanfedTransport, node: str, datacenter: str) -> None:
        self.transport = transport
        self.node = node
        self.datacenter = datacenter
        self.name = f"{node}.{datacenter}"
        self.queue: collections.deque[bytes] = collections.deque(maxlen=MAX_QUEUED_PACKETS)
        self.ready = asyncio.Event()

    def push(self, packet: bytes) -> None:
        self.queue.append(_LENGTH.pack(len(packet)) + packet)
        self.ready.set()

    async def run(self) -> None:
        """Write queued frames until idle or broken; then the link is gone."""
        transport = self.transport
        conn: ByteConn | None = None
        try:
            while True:
                if not self.queue:
                    self.ready.clear()
                    try:
                        async with asyncio.timeout(transport.idle_timeout):
                            await self.ready.wait()
                    except TimeoutError:
                        return
                if conn is None:
                    try:
                        async with asyncio.timeout(transport.dial_timeout):
                            conn = await transport.dial(self.datacenter, self.node,
                                                        ALPN_PACKET)
                    except (OSError, TimeoutError) as err:
                        log.debug("wanfed: dropping %d packet(s) for %s: %s",
                                  len(self.queue), self.name, err)
                        return
                frames = b"".join(self.queue)
                self.queue.clear()
                try:
                    await conn.write(frames)
                except OSError as err:
                    log.debug("wanfed: packet connection to %s broke: %s", self.name, err)
                    return
        finally:
            if transport._links.get(self.name) is self:
                del transport._links[self.name]
            if conn is not None:
                with contextlib.suppress(OSError):
                    await conn.close()


class _ConnReader:
    """The reading half of a :class:`ByteConn`, shaped as asyncio's StreamReader."""

    def __init__(self, conn: ByteConn) -> None:
        self._conn = conn

    async def read(self, n: int = -1) -> bytes:
        return await self._conn.read(n if n > 0 else READ_CHUNK)


class _ConnWriter:
    """The writing half of a :class:`ByteConn`, shaped as asyncio's StreamWriter."""

    def __init__(self, conn: ByteConn, peer: Address) -> None:
        self._conn = conn
        self._peer = peer
        self._pending: list[bytes] = []
        self._closing = False

    def get_extra_info(self, name: str, default=None):
        return self._peer if name == "peername" else default

    def write(self, data: bytes) -> None:
        self._pending.append(bytes(data))

    async def drain(self) -> None:
        data = b"".join(self._pending)
        self._pending.clear()
        if data:
            await self._conn.write(data)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    async def wait_closed(self) -> None:
        try:
            await self.drain()
        finally:
            await self._conn.close()


def _reader(conn: ByteConn) -> asyncio.StreamReader:
    return _ConnReader(conn)  # type: ignore[return-value]


def _writer(conn: ByteConn, peer: Address) -> asyncio.StreamWriter:
    return _ConnWriter(conn, peer)  # type: ignore[return-value]
