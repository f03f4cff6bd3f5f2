"""WAN gossip over the server port: the receiving half of the wanfed transport.

A server of another datacenter reaches our WAN gossip through a mesh gateway
on native TLS: ALPN ``consul/wan-gossip/packet`` carries many gossip packets
on one connection, each framed ``[u32 big-endian length][packet]``;
``consul/wan-gossip/stream`` carries one gossip stream.  The mux hands such a
connection here and the frames or the stream go to a :class:`GossipIngest`
(the wanfed transport, which feeds them to the gossip driver as if they came
from its own sockets).  :class:`PacketFramer` is the pure frame decoder.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Protocol

from proconsul.rpc.conn import Conn

__all__ = [
    "MAX_PACKET_SIZE",
    "FrameTooLarge",
    "GossipIngest",
    "PacketFramer",
    "frame",
    "serve_packets",
    "serve_stream",
]

log = logging.getLogger(__name__)

MAX_PACKET_SIZE = 4 * 1024 * 1024
PACKET_IDLE_TIMEOUT = 120.0  # a frame header must arrive within this (Consul: 2 min)
_LENGTH = struct.Struct(">I")

Address = tuple[str, int]


class GossipIngest(Protocol):
    """Where WAN gossip arriving through gateways is delivered."""

    def ingest_packet(self, data: bytes, peer: Address) -> None:
        """One gossip packet, as if it had arrived by UDP from ``peer``."""

    async def ingest_stream(self, conn: Conn) -> None:
        """One gossip stream; returns when it is done (the caller then closes ``conn``)."""


class FrameTooLarge(ValueError):
    """A packet frame announces more than :data:`MAX_PACKET_SIZE` bytes."""


def frame(packet: bytes) -> bytes:
    """``packet`` as one frame of the packet protocol."""
    if len(packet) > MAX_PACKET_SIZE:
        raise FrameTooLarge(f"gossip packet size {len(packet)} exceeds threshold of "
                            f"{MAX_PACKET_SIZE}")
    return _LENGTH.pack(len(packet)) + packet


class PacketFramer:
    """Splits received bytes into packets; no I/O."""

    def __init__(self, max_size: int = MAX_PACKET_SIZE) -> None:
        self.max_size = max_size
        self._buffer = bytearray()

    @property
    def in_frame(self) -> bool:
        """Whether part of a frame has been received."""
        return bool(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """The packets ``data`` completes; raises :class:`FrameTooLarge`."""
        self._buffer += data
        packets: list[bytes] = []
        while len(self._buffer) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self._buffer)
            if size > self.max_size:
                raise FrameTooLarge(f"gossip packet size {size} exceeds threshold of "
                                    f"{self.max_size}")
            end = _LENGTH.size + size
            if len(self._buffer) < end:
                break
            packets.append(bytes(self._buffer[_LENGTH.size:end]))
            del self._buffer[:end]
        return packets


async def serve_packets(conn: Conn, ingest: GossipIngest, peer: Address,
                        idle_timeout: float = PACKET_IDLE_TIMEOUT) -> int:
    """Deliver every packet of ``conn`` until it closes, idles or breaks the
    framing; returns how many were delivered."""
    framer = PacketFramer()
    delivered = 0
    while True:
        try:
            async with asyncio.timeout(idle_timeout):
                data = await conn.read()
        except TimeoutError:
            log.debug("wanfed: packet connection from %s idle, closing", peer)
            return delivered
        if not data:
            if framer.in_frame:
                log.warning("wanfed: packet connection from %s closed inside a frame", peer)
            return delivered
        try:
            packets = framer.feed(data)
        except FrameTooLarge as exc:
            log.warning("wanfed: closing packet connection from %s: %s", peer, exc)
            return delivered
        for packet in packets:
            ingest.ingest_packet(packet, peer)
            delivered += 1


async def serve_stream(conn: Conn, ingest: GossipIngest) -> None:
    """Hand ``conn`` to the gossip stream handler."""
    await ingest.ingest_stream(conn)
