"""A test-only stand-in for a mesh gateway: routes TLS connections by their SNI
without terminating them.

It reads the TLS ClientHello as it arrives (the server name and the ALPN names
offered are in clear there), picks an address for the name from its routes, dials
it, replays the bytes read and then forwards both directions byte for byte.  That
is what a mesh gateway with ``-expose-servers`` does for ``server.<dc>.<domain>``,
``<node>.server.<dc>.<domain>`` and other datacenters' names.  Routes map a name
(or ``*.<rest>``, any one label in front of ``<rest>``) to one or more addresses,
used in turn.  Every connection is recorded as ``(sni, alpn, peer host)``.

It runs its own asyncio loop in a daemon thread, so synchronous tests drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
import threading
from collections.abc import Iterable

Address = tuple[str, int]
MAX_HELLO = 1 << 16


class HelloError(ValueError):
    """The bytes are not a TLS ClientHello this relay can read."""


def parse_client_hello(data: bytes) -> tuple[str, list[str]] | None:
    """``(server name, ALPN names)`` of the ClientHello ``data`` starts with; None
    while more bytes are needed; :class:`HelloError` if it is not one."""
    if len(data) < 5:
        return None
    if data[0] != 0x16:
        raise HelloError(f"not a TLS handshake record (first byte {data[0]})")
    (length,) = struct.unpack_from(">H", data, 3)
    if len(data) < 5 + length:
        return None
    body = data[5:5 + length]
    if not body or body[0] != 1:
        raise HelloError("not a ClientHello")
    try:
        pos = 4 + 2 + 32  # handshake header, version, random
        pos += 1 + body[pos]  # session id
        pos += 2 + struct.unpack_from(">H", body, pos)[0]  # cipher suites
        pos += 1 + body[pos]  # compression methods
        end = pos + 2 + struct.unpack_from(">H", body, pos)[0]
        pos += 2
        name, alpn = "", []
        while pos + 4 <= end:
            kind, size = struct.unpack_from(">HH", body, pos)
            ext = body[pos + 4:pos + 4 + size]
            pos += 4 + size
            if kind == 0 and len(ext) >= 5 and ext[2] == 0:  # server_name, host_name
                (name_len,) = struct.unpack_from(">H", ext, 3)
                name = ext[5:5 + name_len].decode("ascii")
            elif kind == 16:  # application_layer_protocol_negotiation
                i = 2
                while i < len(ext):
                    alpn.append(ext[i + 1:i + 1 + ext[i]].decode("ascii"))
                    i += 1 + ext[i]
    except (IndexError, struct.error, UnicodeDecodeError) as err:
        raise HelloError(f"truncated ClientHello: {err}") from None
    return name, alpn


class SNIRelay:
    """Listen on ``host:port``; route each TLS connection by SNI through ``routes``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 routes: dict[str, Iterable[Address]] | None = None) -> None:
        self._routes: dict[str, itertools.cycle] = {}
        self.seen: list[tuple[str, tuple[str, ...], str]] = []  # (sni, alpn, peer host)
        self.refused: list[str] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._accept, host, port))
        self.address: Address = self._server.sockets[0].getsockname()[:2]
        self.set_routes(routes or {})

    @property
    def hostport(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    def set_routes(self, routes: dict[str, Iterable[Address]]) -> None:
        """Replace every route (existing connections stay)."""
        table = {name: itertools.cycle(list(addresses)) for name, addresses in routes.items()}
        self._loop.call_soon_threadsafe(setattr, self, "_routes", table)

    def names_from(self, host: str) -> list[str]:
        """The SNI names of the connections that came from ``host``."""
        return [sni for sni, _, peer in list(self.seen) if peer == host]

    def alpn_seen(self) -> set[str]:
        return {name for _, alpn, _ in list(self.seen) for name in alpn}

    def _route(self, name: str) -> Address | None:
        addresses = self._routes.get(name)
        if addresses is None and "." in name:
            addresses = self._routes.get("*." + name.split(".", 1)[1])
        return next(addresses, None) if addresses is not None else None

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            hello = b""
            parsed = None
            while parsed is None:
                chunk = await reader.read(4096)
                if not chunk or len(hello) > MAX_HELLO:
                    return
                hello += chunk
                parsed = parse_client_hello(hello)
            name, alpn = parsed
            peer = writer.get_extra_info("peername")[0]
            target = self._route(name)
            if target is None:
                self.refused.append(name)
                return
            self.seen.append((name, tuple(alpn), peer))
            # from the relay's own address, as a gateway host dials from its own
            up_reader, upstream = await asyncio.open_connection(
                *target, local_addr=(self.address[0], 0))
            self._writers.add(upstream)
            upstream.write(hello)
            await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
        except (OSError, HelloError):
            pass
        finally:
            for w in (writer, upstream):
                if w is not None:
                    self._writers.discard(w)
                    w.close()

    def close(self) -> None:
        """Stop listening and cut every connection (a gateway that went away)."""
        if self._loop.is_closed():
            return

        async def go():
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await asyncio.sleep(0.05)  # let the connection tasks see their ends

        self._call(go())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.write_eof()
