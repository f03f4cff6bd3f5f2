"""Relay bytes both ways between two transports, with bounded buffers.

Each side is an asyncio Protocol writing straight into its peer's transport.
When a transport's write buffer passes ``HIGH_WATER`` it pauses writing, and
the side feeding it stops reading until it drains: a slow peer holds back its
sender instead of growing memory. Bytes that arrive before the two sides are
linked (the dial or the authorization is still under way) are held with
reading paused. An end of stream is passed on as a half-close where the
other transport can do one (plain TCP); where it cannot (TLS) the connection
as a whole is closed once the buffered bytes are written, as Consul's built-in
proxy does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

HIGH_WATER = 256 * 1024  # bytes a transport may buffer before its feeder stops reading


class Side(asyncio.Protocol):
    """One connection of a relayed pair."""

    def __init__(self, on_made: Callable[[Side], None] | None = None) -> None:
        self.on_made = on_made
        self.transport: asyncio.Transport | None = None
        self.peer: Side | None = None
        self.received = 0  # bytes read from this connection
        self._held: list[bytes] = []
        self._eof = False  # this connection has ended its stream
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        with contextlib.suppress(AttributeError, NotImplementedError):
            self.transport.set_write_buffer_limits(high=HIGH_WATER)
        if self.on_made is not None:
            self.on_made(self)

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        if self.peer is None:
            self._held.append(data)
            self.transport.pause_reading()
            return
        self.peer.transport.write(data)

    def eof_received(self) -> bool:
        self._eof = True
        keep_open = self.peer is None or self._pass_eof()
        # a TLS transport closes after its peer's close_notify whatever we answer, and
        # asyncio warns on stderr when we ask to keep it open (Envoy sends close_notify)
        return keep_open and self.transport.get_extra_info("sslcontext") is None

    def _pass_eof(self) -> bool:
        out = self.peer.transport
        if out.can_write_eof() and not out.is_closing():
            out.write_eof()
            if self.peer._eof:
                self.close()
            return True
        self.close()
        return False

    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and not self.peer.transport.is_closing():
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        if self.peer is not None:
            self.peer.transport.close()  # after writing what it holds

    def close(self) -> None:
        """Close both connections, each after writing what it holds."""
        for side in (self, self.peer):
            if side is not None and side.transport is not None:
                side.transport.close()

    def abort(self) -> None:
        for side in (self, self.peer):
            if side is not None and side.transport is not None:
                side.transport.abort()


async def relay(a: Side, b: Side) -> tuple[int, int]:
    """Link ``a`` and ``b`` and relay until both are closed; the bytes read from each."""
    a.peer, b.peer = b, a
    for side in (a, b):
        held, side._held = side._held, []
        for data in held:
            side.peer.transport.write(data)
    for side in (a, b):
        if side._eof:
            side._pass_eof()
        elif not side.transport.is_closing():
            side.transport.resume_reading()
        if side.lost.done():
            side.peer.transport.close()
    try:
        await asyncio.gather(asyncio.shield(a.lost), asyncio.shield(b.lost))
    except asyncio.CancelledError:
        a.abort()
        raise
    return a.received, b.received
