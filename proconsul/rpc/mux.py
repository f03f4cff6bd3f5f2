"""The server RPC port: first-byte (or TLS ALPN) dispatch of every connection.

Each connection's first byte names its protocol (``ConnType``).  Byte 3 wraps
the rest in TLS and reads another byte inside; byte 7 is TLS without client
certificate checks followed directly by msgpack-RPC; byte 4 is a yamux
session whose every stream is an ``RPCConsul`` conn.  When a server TLS
context is configured, a first byte above the largest type (a TLS record
starts with 0x16) means native TLS: the handshake offers Consul's ALPN names
and the negotiated one picks the handler.  With ``server_names`` the client's
SNI must be one of them (a gateway routed it by that name), and the WAN
gossip names are served only once :meth:`PortMux.serve_wan_gossip` is given
an ingest (WAN federation through mesh gateways is on).  Anything else is
closed, logged and counted; no input can take the listener down.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable

from proconsul.rpc import wanfed, yamux
from proconsul.rpc.conn import Conn, ConnClosed, StreamConn, TLSConn, read_exactly

__all__ = [
    "ALPN_PROTOCOLS",
    "ALPN_WAN_GOSSIP_PACKET",
    "ALPN_WAN_GOSSIP_STREAM",
    "ConnType",
    "Handler",
    "PortMux",
]

log = logging.getLogger(__name__)


class ConnType(enum.IntEnum):
    """First byte of a connection to the server port (pool.RPCType)."""

    CONSUL = 0
    RAFT = 1
    MULTIPLEX = 2
    TLS = 3
    MULTIPLEX_V2 = 4
    SNAPSHOT = 5
    GOSSIP = 6
    TLS_INSECURE = 7
    GRPC = 8
    RAFT_FORWARDING = 9


MAX_TYPE_VALUE = max(ConnType)
ALPN_WAN_GOSSIP_PACKET = "consul/wan-gossip/packet"
ALPN_WAN_GOSSIP_STREAM = "consul/wan-gossip/stream"

# ALPN name -> the type byte it stands for (None: handled only by name).
ALPN_PROTOCOLS: dict[str, ConnType | None] = {
    "consul/rpc-single": ConnType.CONSUL,
    "consul/raft": ConnType.RAFT,
    "consul/rpc-multi": ConnType.MULTIPLEX_V2,
    "consul/rpc-snapshot": ConnType.SNAPSHOT,
    "consul/rpc-gossip": ConnType.GOSSIP,
    "consul/rpc-grpc": ConnType.GRPC,
    "consul/raft-forwarding": ConnType.RAFT_FORWARDING,
    ALPN_WAN_GOSSIP_PACKET: None,
    ALPN_WAN_GOSSIP_STREAM: None,
}

Handler = Callable[[Conn], Awaitable[None]]

HANDSHAKE_TIMEOUT = 5.0


class PortMux:
    """Accepts connections on the server port and routes them to handlers.

    ``tls`` is the incoming RPC context (byte 3, and native TLS unless
    ``alpn_tls`` is given; it must offer :data:`ALPN_PROTOCOLS` via
    ``set_alpn_protocols``, which :meth:`alpn_context` does).
    ``tls_insecure`` serves byte 7.  ``server_names`` are the SNI names native
    TLS accepts (any when None).  ``counts`` tallies outcomes by name.
    """

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        tls_insecure: ssl.SSLContext | None = None,
        alpn_tls: ssl.SSLContext | None = None,
        verify_incoming: bool = False,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        yamux_config: yamux.Config | None = None,
        server_names: frozenset[str] | None = None,
    ) -> None:
        self.tls = tls
        self.tls_insecure = tls_insecure
        self.alpn_tls = alpn_tls or tls
        self.verify_incoming = verify_incoming
        self.handshake_timeout = handshake_timeout
        self.yamux_config = yamux_config
        self.server_names = server_names
        self.counts: Counter[str] = Counter()
        self._handlers: dict[ConnType, Handler] = {}
        self._alpn_handlers: dict[str, Handler] = {}
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()

    @staticmethod
    def alpn_context(context: ssl.SSLContext) -> ssl.SSLContext:
        """Make ``context`` offer Consul's ALPN names; returns it."""
        context.set_alpn_protocols(list(ALPN_PROTOCOLS))
        return context

    def handle(self, conn_type: ConnType, handler: Handler) -> None:
        """Route connections of ``conn_type`` (after any TLS) to ``handler``.

        ``CONSUL`` also serves every yamux stream of ``MULTIPLEX_V2``, and
        ``TLS_INSECURE`` receives the conn after its TLS handshake.
        """
        if conn_type in (ConnType.TLS, ConnType.MULTIPLEX_V2, ConnType.MULTIPLEX):
            raise ValueError(f"{conn_type.name} is handled by the mux itself")
        self._handlers[conn_type] = handler

    def handle_alpn(self, name: str, handler: Handler) -> None:
        """Route native-TLS connections that negotiate ``name`` to ``handler``."""
        if name not in ALPN_PROTOCOLS:
            raise ValueError(f"unknown ALPN protocol {name!r}")
        self._alpn_handlers[name] = handler

    def serve_wan_gossip(self, ingest: wanfed.GossipIngest) -> None:
        """Deliver ``consul/wan-gossip/{packet,stream}`` connections to ``ingest``."""

        async def packets(conn: Conn) -> None:
            await wanfed.serve_packets(conn, ingest, _peer(conn))

        async def stream(conn: Conn) -> None:
            await wanfed.serve_stream(conn, ingest)

        self.handle_alpn(ALPN_WAN_GOSSIP_PACKET, packets)
        self.handle_alpn(ALPN_WAN_GOSSIP_STREAM, stream)

    async def start(self, host: str, port: int = 0) -> tuple[str, int]:
        """Listen; returns the bound address (``port=0`` picks one)."""
        self._server = await asyncio.start_server(self._on_connect, host, port)
        return self._server.sockets[0].getsockname()[:2]

    async def close(self) -> None:
        """Stop listening and drop every open connection."""
        if self._server is not None:
            self._server.close()
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.gather(*self._conns, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = StreamConn(reader, writer)
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            await self._serve(conn)
        except asyncio.CancelledError:
            pass
        except Exception:  # a handler bug must not take the listener down
            self.counts["handler_error"] += 1
            log.exception("rpc: connection handler failed (%s)", conn.peername)
        finally:
            self._conns.discard(task)
            await conn.close()

    async def _serve(self, conn: StreamConn) -> None:
        first = await self._handshake_byte(conn)
        if first is None:
            return
        if first > MAX_TYPE_VALUE and self.alpn_tls is not None:
            conn.unread(bytes([first]))
            await self._serve_native_tls(conn)
            return
        if self.verify_incoming and first not in (ConnType.TLS, ConnType.TLS_INSECURE):
            self.counts["non_tls_rejected"] += 1
            log.warning(
                "rpc: non-TLS connection attempted with verify_incoming (%s)", conn.peername
            )
            return
        await self._dispatch(conn, first, in_tls=False)

    async def _handshake_byte(self, conn: Conn) -> int | None:
        try:
            async with asyncio.timeout(self.handshake_timeout):
                return (await read_exactly(conn, 1))[0]
        except TimeoutError:
            self.counts["handshake_timeout"] += 1
        except ConnClosed:
            self.counts["closed_before_type"] += 1
        return None

    async def _dispatch(self, conn: Conn, byte: int, *, in_tls: bool) -> None:
        if byte == ConnType.TLS or byte == ConnType.TLS_INSECURE:
            if in_tls:
                self.counts["tls_in_tls"] += 1
                return
            insecure = byte == ConnType.TLS_INSECURE
            context = self.tls_insecure if insecure else self.tls
            if context is None:
                self.counts["tls_unconfigured"] += 1
                return
            tls_conn = await self._tls_handshake(conn, context)
            if tls_conn is None:
                return
            if insecure:
                await self._run(ConnType.TLS_INSECURE, tls_conn)
                return
            inner = await self._handshake_byte(tls_conn)
            if inner is not None:
                await self._dispatch(tls_conn, inner, in_tls=True)
            return
        if byte == ConnType.MULTIPLEX:
            self.counts["multiplex_rejected"] += 1
            log.warning("rpc: old multiplex (muxado) connection rejected")
            return
        if byte > MAX_TYPE_VALUE:
            self.counts["unknown_type"] += 1
            log.warning("rpc: unrecognized RPC byte %d", byte)
            return
        await self._run(ConnType(byte), conn)

    async def _run(self, conn_type: ConnType, conn: Conn) -> None:
        if conn_type == ConnType.MULTIPLEX_V2:
            self.counts[conn_type.name] += 1
            await self._serve_yamux(conn)
            return
        handler = self._handlers.get(conn_type)
        if handler is None:
            self.counts["unhandled_type"] += 1
            log.warning("rpc: no handler for %s connections", conn_type.name)
            return
        self.counts[conn_type.name] += 1
        await handler(conn)

    async def _serve_yamux(self, conn: Conn) -> None:
        handler = self._handlers.get(ConnType.CONSUL)
        session = yamux.Session(conn, client=False, config=self.yamux_config)
        streams: set[asyncio.Task[None]] = set()
        try:
            while True:
                try:
                    stream = await session.accept()
                except yamux.SessionClosed:
                    return
                if handler is None:
                    await stream.reset()
                    continue
                task = asyncio.create_task(self._serve_stream(handler, stream))
                streams.add(task)
                task.add_done_callback(streams.discard)
        finally:
            for task in list(streams):
                task.cancel()
            await session.close()

    async def _serve_stream(self, handler: Handler, stream: yamux.Stream) -> None:
        try:
            await handler(stream)
        except Exception:
            self.counts["handler_error"] += 1
            log.exception("rpc: yamux stream handler failed")
        finally:
            await stream.close()

    async def _serve_native_tls(self, conn: Conn) -> None:
        assert self.alpn_tls is not None
        if self.server_names is not None:
            self.alpn_tls.sni_callback = self._check_sni
        tls_conn = await self._tls_handshake(conn, self.alpn_tls)
        if tls_conn is None:
            return
        name = tls_conn.alpn_protocol
        self.counts[f"alpn {name}"] += 1
        handler = self._alpn_handlers.get(name) if name else None
        if handler is not None:
            await handler(tls_conn)
            return
        if name in (ALPN_WAN_GOSSIP_PACKET, ALPN_WAN_GOSSIP_STREAM):
            self.counts["alpn_unhandled"] += 1
            log.warning("rpc: refusing %s from %s: WAN federation via mesh gateways is not "
                        "enabled", name, _peer(conn))
            return
        conn_type = ALPN_PROTOCOLS.get(name) if name else None
        if conn_type is None:
            self.counts["alpn_unhandled"] += 1
            log.warning("rpc: refusing native TLS connection from %s: no known ALPN protocol "
                        "negotiated (%r)", _peer(conn), name)
            return
        await self._run(conn_type, tls_conn)

    def _check_sni(self, _ssl_object: object, server_name: str | None,
                   _context: ssl.SSLContext) -> int | None:
        """Refuse a native TLS handshake whose SNI does not name this server."""
        assert self.server_names is not None
        if server_name in self.server_names:
            return None
        self.counts["sni_refused"] += 1
        log.warning("rpc: refusing native TLS connection for SNI %r: this server answers "
                    "only %s", server_name, ", ".join(sorted(self.server_names)))
        return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME

    async def _tls_handshake(self, conn: Conn, context: ssl.SSLContext) -> TLSConn | None:
        tls_conn = TLSConn(conn, context, server_side=True)
        try:
            async with asyncio.timeout(self.handshake_timeout):
                await tls_conn.handshake()
        except TimeoutError:
            self.counts["tls_handshake_timeout"] += 1
            return None
        except (ssl.SSLError, ConnectionError, OSError) as exc:
            self.counts["tls_handshake_failed"] += 1
            log.warning("rpc: TLS handshake failed: %s", exc)
            return None
        return tls_conn


def _peer(conn: Conn) -> tuple[str, int]:
    """The remote address of ``conn`` (or of the connection it wraps)."""
    while isinstance(conn, TLSConn):
        conn = conn.inner
    peer = getattr(conn, "peername", None)
    return (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else ("", 0)
