"""Raft messages over TCP: one persistent outbound connection per peer.

Each message travels as a frame ``[u32 BE length][msgpack message]``
(:func:`~proconsul.raft.messages.encode_message`). Delivery is best effort,
as Raft expects: while a peer's connection is down (backing off between
attempts) messages to it are dropped and the core's retries cover the gap.
Inbound connections are served by :meth:`TcpTransport.serve_stream`, which
takes an already-accepted stream, so a port multiplexer can hand Raft
connections over as well as this module's own listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable

import msgspec

from proconsul.raft.messages import Message, decode_message, encode_message

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">I")
MAX_FRAME = 64 << 20
QUEUE_LIMIT = 4096


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class _Peer:
    """The outbound connection to one address and the frames waiting for it."""

    def __init__(self, transport: TcpTransport, address: str) -> None:
        self.address = address
        self.up = True  # connected or connecting: accept frames
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_LIMIT)
        self.task = asyncio.get_running_loop().create_task(
            transport._run_peer(self), name=f"raft-peer-{address}"
        )


class TcpTransport:
    """Implements :class:`~proconsul.raft.node.Transport` over TCP."""

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        min_backoff: float = 0.05,
        max_backoff: float = 1.0,
    ) -> None:
        self._handler: Callable[[Message], None] | None = None
        self._peers: dict[str, _Peer] = {}
        self._server: asyncio.Server | None = None
        self._inbound: set[asyncio.StreamWriter] = set()
        self._connect_timeout = connect_timeout
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self.bad_frames = 0
        self.dropped = 0

    # ------------------------------------------------------------------ Transport

    def start(self, handler: Callable[[Message], None]) -> None:
        self._handler = handler

    def send(self, address: str, message: Message) -> None:
        peer = self._peers.get(address)
        if peer is None:
            peer = self._peers[address] = _Peer(self, address)
        if not peer.up or peer.queue.full():
            self.dropped += 1
            return
        peer.queue.put_nowait(encode_message(message))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        peers, self._peers = list(self._peers.values()), {}
        for peer in peers:
            peer.task.cancel()
        for writer in list(self._inbound):
            writer.close()
        for peer in peers:
            with contextlib.suppress(asyncio.CancelledError):
                await peer.task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # ------------------------------------------------------------------ inbound

    async def listen(self, host: str, port: int) -> tuple[str, int]:
        """Accept Raft connections on ``host:port``; returns the bound address."""
        self._server = await asyncio.start_server(self.serve_stream, host, port,
                                                  reuse_address=True)
        bound = self._server.sockets[0].getsockname()
        return bound[0], bound[1]

    async def serve_stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Read frames from one accepted connection until it closes or misbehaves."""
        self._inbound.add(writer)
        try:
            while True:
                header = await reader.readexactly(_LENGTH.size)
                (length,) = _LENGTH.unpack(header)
                if length > MAX_FRAME:
                    self._bad_frame(writer, f"frame of {length} bytes")
                    return
                payload = await reader.readexactly(length)
                try:
                    message = decode_message(payload)
                except msgspec.DecodeError as err:
                    self._bad_frame(writer, str(err))
                    return
                if self._handler is not None:
                    self._handler(message)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._inbound.discard(writer)
            writer.close()

    def _bad_frame(self, writer: asyncio.StreamWriter, why: str) -> None:
        self.bad_frames += 1
        log.warning("raft: closing connection from %s: bad frame (%s)",
                    writer.get_extra_info("peername"), why)

    # ------------------------------------------------------------------ outbound

    async def _run_peer(self, peer: _Peer) -> None:
        backoff = self._min_backoff
        host, port = split_address(peer.address)
        while True:
            writer = None
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), self._connect_timeout
                )
                backoff = self._min_backoff
                while True:
                    frames = [await peer.queue.get()]
                    while not peer.queue.empty():
                        frames.append(peer.queue.get_nowait())
                    if reader.at_eof() or writer.is_closing():  # the peer hung up: reconnect
                        raise ConnectionResetError("connection closed by peer")
                    writer.writelines(
                        b for frame in frames for b in (_LENGTH.pack(len(frame)), frame)
                    )
                    await writer.drain()
            except (OSError, TimeoutError, RuntimeError) as err:  # uvloop: RuntimeError if closed
                log.debug("raft: connection to %s failed: %s", peer.address, err)
            finally:
                if writer is not None:
                    writer.close()
            peer.up = False
            self.dropped += peer.queue.qsize()
            while not peer.queue.empty():
                peer.queue.get_nowait()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)
            peer.up = True
