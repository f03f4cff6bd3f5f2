"""Raft messages over TCP: one persistent outbound connection per peer.

Each message travels as a frame ``[u32 BE length][msgpack message]``
(:func:`~proconsul.raft.messages.encode_message`). Delivery is best effort,
as Raft expects: while a peer's connection is down (backing off between
attempts) messages to it are dropped and the core's retries cover the gap.
Outbound connections go to a peer's server port and open with ``preamble``
(the port's connection-type byte for Raft), inside TLS when a ``tls`` context
is given (after ``tls_preamble``, the port's byte for TLS); inbound ones are
accepted by that port's multiplexer and handed to :meth:`TcpTransport.serve_stream`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import struct
from collections.abc import Callable
from typing import Protocol

import msgspec

from proconsul.raft.messages import Message, decode_message, encode_message

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">I")
MAX_FRAME = 64 << 20
QUEUE_LIMIT = 4096
READ_CHUNK = 65536


class InboundStream(Protocol):
    """An accepted byte stream; ``read`` returns ``b""`` at its end."""

    async def read(self, n: int = READ_CHUNK) -> bytes: ...

    async def close(self) -> None: ...


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
        preamble: bytes = b"",
        source_host: str | None = None,
        tls: ssl.SSLContext | None = None,
        tls_preamble: bytes = b"",
        server_name: str | None = None,
    ) -> None:
        self._handler: Callable[[Message], None] | None = None
        self._peers: dict[str, _Peer] = {}
        self._local_addr = (source_host, 0) if source_host else None
        self._inbound: set[InboundStream] = set()
        self._preamble = preamble
        self.tls = tls  # replaceable: the next connection uses the new context
        self._tls_preamble = tls_preamble
        self._server_name = server_name
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
        peers, self._peers = list(self._peers.values()), {}
        for peer in peers:
            peer.task.cancel()
        for stream in list(self._inbound):
            await stream.close()
        for peer in peers:
            with contextlib.suppress(asyncio.CancelledError):
                await peer.task

    # ------------------------------------------------------------------ inbound

    async def serve_stream(self, stream: InboundStream) -> None:
        """Read frames from one accepted connection until it closes or misbehaves."""
        self._inbound.add(stream)
        buf = bytearray()
        try:
            while data := await stream.read(READ_CHUNK):
                buf += data
                while len(buf) >= _LENGTH.size:
                    (length,) = _LENGTH.unpack_from(buf)
                    if length > MAX_FRAME:
                        self._bad_frame(f"frame of {length} bytes")
                        return
                    if len(buf) < _LENGTH.size + length:
                        break
                    payload = bytes(buf[_LENGTH.size:_LENGTH.size + length])
                    del buf[:_LENGTH.size + length]
                    try:
                        message = decode_message(payload)
                    except msgspec.DecodeError as err:
                        self._bad_frame(str(err))
                        return
                    if self._handler is not None:
                        self._handler(message)
        except ConnectionError:
            pass
        finally:
            self._inbound.discard(stream)

    def _bad_frame(self, why: str) -> None:
        self.bad_frames += 1
        log.warning("raft: closing an inbound connection: bad frame (%s)", why)

    # ------------------------------------------------------------------ outbound

    async def _run_peer(self, peer: _Peer) -> None:
        backoff = self._min_backoff
        host, port = split_address(peer.address)
        while True:
            writer = None
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port, local_addr=self._local_addr),
                    self._connect_timeout
                )
                if self.tls is not None:
                    writer.write(self._tls_preamble)
                    await asyncio.wait_for(
                        writer.start_tls(self.tls, server_hostname=self._server_name),
                        self._connect_timeout)
                backoff = self._min_backoff
                if self._preamble:
                    writer.write(self._preamble)
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
