"""Byte-stream connections shared by the mux, yamux, TLS and the codec.

Everything on the RPC port is a :class:`Conn`: a plain TCP stream, a TLS
session layered over another conn, or a yamux stream.  Handlers never see
which one they got.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Protocol

__all__ = ["Conn", "ConnClosed", "StreamConn", "TLSConn", "read_exactly"]

READ_CHUNK = 65536


class ConnClosed(ConnectionError):
    """The peer went away before the expected bytes arrived."""


class Conn(Protocol):
    """An ordered byte stream; ``read`` returns ``b""`` at end of stream."""

    async def read(self, n: int = READ_CHUNK) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


async def read_exactly(conn: Conn, n: int) -> bytes:
    """Read exactly ``n`` bytes or raise :class:`ConnClosed`."""
    if n == 0:
        return b""
    first = await conn.read(n)
    if len(first) == n:
        return first
    parts = bytearray(first)
    while len(parts) < n:
        if not first:
            raise ConnClosed(f"connection closed after {len(parts)} of {n} bytes")
        first = await conn.read(n - len(parts))
        parts += first
    return bytes(parts)


class StreamConn:
    """A :class:`Conn` over an asyncio stream pair, with push-back for peeking."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._pushed = b""

    @property
    def peername(self) -> object:
        return self._writer.get_extra_info("peername")

    def unread(self, data: bytes) -> None:
        """Put ``data`` back in front of the stream (used to peek a byte)."""
        self._pushed = data + self._pushed

    async def read(self, n: int = READ_CHUNK) -> bytes:
        if self._pushed:
            data, self._pushed = self._pushed[:n], self._pushed[n:]
            return data
        try:
            return await self._reader.read(n)
        except (ConnectionError, OSError):
            return b""

    async def write(self, data: bytes) -> None:
        if self._writer.is_closing():
            raise ConnClosed("connection closed")
        self._writer.write(data)
        await self._writer.drain()

    async def write_eof(self) -> None:
        """Half-close: the peer reads EOF, and this side can still read its answer."""
        self._writer.write_eof()
        await self._writer.drain()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError, ssl.SSLError):
            await self._writer.wait_closed()


class TLSConn:
    """TLS over another :class:`Conn`, driven through memory BIOs.

    Building TLS on a conn (instead of on the socket) lets the mux hand back
    a peeked byte, nest TLS inside the type-byte protocol, and treat every
    transport alike.
    """

    def __init__(
        self,
        inner: Conn,
        context: ssl.SSLContext,
        *,
        server_side: bool,
        server_hostname: str | None = None,
    ) -> None:
        self._inner = inner
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(
            self._incoming, self._outgoing, server_side=server_side, server_hostname=server_hostname
        )

    @property
    def alpn_protocol(self) -> str | None:
        return self._ssl.selected_alpn_protocol()

    @property
    def inner(self) -> Conn:
        """The connection TLS runs over."""
        return self._inner

    def getpeercert(self) -> dict | None:
        return self._ssl.getpeercert()

    async def handshake(self) -> None:
        """Run the handshake; raises ``ssl.SSLError`` or :class:`ConnClosed`."""
        while True:
            try:
                self._ssl.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                if not await self._fill():
                    raise ConnClosed("connection closed during TLS handshake") from None
            except ssl.SSLError:
                with contextlib.suppress(ConnectionError, OSError):
                    await self._flush()  # deliver our alert
                raise
        await self._flush()

    async def read(self, n: int = READ_CHUNK) -> bytes:
        while True:
            try:
                data = self._ssl.read(n)
            except ssl.SSLWantReadError:
                await self._flush()
                if not await self._fill():
                    return b""
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""
            except ssl.SSLError:
                return b""
            await self._flush()
            return data

    async def write(self, data: bytes) -> None:
        try:
            self._ssl.write(data)
        except ssl.SSLError as exc:
            raise ConnClosed(f"TLS write failed: {exc}") from exc
        await self._flush()

    async def write_eof(self) -> None:
        """Half-close as Go's ``tls.Conn.CloseWrite``: send close_notify, which the
        peer reads as EOF; this side can still read the peer's answer."""
        try:
            self._ssl.unwrap()
        except ssl.SSLWantReadError:  # close_notify is out; the peer's comes later
            pass
        except ssl.SSLError as exc:
            raise ConnClosed(f"TLS close_notify failed: {exc}") from exc
        await self._flush()

    async def close(self) -> None:
        with contextlib.suppress(ssl.SSLError, ConnectionError, OSError):
            self._ssl.unwrap()
        with contextlib.suppress(ConnectionError, OSError):
            await self._flush()
        await self._inner.close()

    async def _fill(self) -> bool:
        data = await self._inner.read(READ_CHUNK)
        if not data:
            self._incoming.write_eof()
            return False
        self._incoming.write(data)
        return True

    async def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            await self._inner.write(data)
