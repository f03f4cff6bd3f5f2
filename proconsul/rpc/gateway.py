"""Dialing servers of another datacenter through a mesh gateway.

The gateway routes a TLS connection by its SNI without terminating it:
``server.<dc>.<domain>`` reaches any server of ``dc``, ``<node>.server.<dc>.<domain>``
one of them.  The connection is native TLS on the remote server port, and the
single ALPN protocol offered names what follows (``consul/rpc-multi`` for the
pooled yamux RPC, ``consul/rpc-single``, ``consul/rpc-snapshot``, the gossip
names...).  Whatever the SNI, the server's certificate must carry
``server.<dc>.<domain>``, checked even when ``verify_server_hostname`` is off,
as Consul does.  The gateway address is a parameter: choosing one is the
locator's business.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

from proconsul.rpc.conn import StreamConn, TLSConn
from proconsul.rpc.errors import RPCDialError
from proconsul.rpc.mux import ALPN_PROTOCOLS
from proconsul.rpc.pool import ALPN_RPC_MULTI, DIAL_TIMEOUT, MuxPool, split_address

__all__ = ["GatewayPool", "dial_via_gateway", "server_sni"]

ContextFactory = Callable[[], ssl.SSLContext]


def server_sni(datacenter: str, domain: str = "consul", node: str = "") -> str:
    """The SNI a gateway routes to ``node`` of ``datacenter`` (any server when ``node``
    is empty or ``*``)."""
    base = f"server.{datacenter}.{domain.rstrip('.')}"
    return base if node in ("", "*") else f"{node}.{base}"


def _gateway_context(make_context: ContextFactory, alpn: str) -> ssl.SSLContext:
    if alpn not in ALPN_PROTOCOLS:
        raise RPCDialError(f"unknown ALPN protocol {alpn!r}")
    context = make_context()
    context.check_hostname = False  # the SNI may name a node; the name is checked below
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols([alpn])
    return context


def check_server_certificate(conn: TLSConn, datacenter: str, domain: str, alpn: str) -> None:
    """Raise ``ssl.SSLError`` unless the peer is a server of ``datacenter`` that
    agreed to ``alpn``."""
    expected = server_sni(datacenter, domain)
    cert = conn.getpeercert() or {}
    names = [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]
    if expected not in names:
        raise ssl.SSLError(f"certificate is not valid for {expected} (it names "
                           f"{', '.join(names) or 'nothing'})")
    if conn.alpn_protocol != alpn:
        raise ssl.SSLError(f"server did not negotiate {alpn} (got {conn.alpn_protocol!r})")


async def dial_via_gateway(gateway: str, make_context: ContextFactory, *, datacenter: str,
                           alpn: str, node: str = "", domain: str = "consul",
                           timeout: float = DIAL_TIMEOUT,
                           source_host: str | None = None) -> TLSConn:
    """A native TLS connection to a server of ``datacenter`` through ``gateway``
    ("host:port") speaking ``alpn``; raises :class:`RPCDialError`."""
    sni = server_sni(datacenter, domain, node)
    context = _gateway_context(make_context, alpn)
    host, port = split_address(gateway)
    local = (source_host, 0) if source_host else None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, local_addr=local)
            conn = TLSConn(StreamConn(reader, writer), context, server_side=False,
                           server_hostname=sni)
            try:
                await conn.handshake()
                check_server_certificate(conn, datacenter, domain, alpn)
            except BaseException:
                await conn.close()
                raise
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        raise RPCDialError(f"dial {sni} via gateway {gateway} ({alpn}): {exc}") from exc
    return conn


class GatewayPool:
    """RPC to servers of other datacenters through gateways: one yamux session
    (ALPN ``consul/rpc-multi``) per gateway and SNI, reused across calls."""

    def __init__(self, make_context: ContextFactory, *, domain: str = "consul",
                 dial_timeout: float = DIAL_TIMEOUT, source_host: str | None = None) -> None:
        self.make_context = make_context
        self.domain = domain
        self.dial_timeout = dial_timeout
        self.source_host = source_host
        self._pools: dict[str, MuxPool] = {}

    async def call(self, gateway: str, datacenter: str, method: str, args: Any,
                   reply_type: Any = Any, timeout: float | None = None,
                   node: str = "") -> Any:
        """Call ``method`` on a server of ``datacenter`` (``node`` if given) via ``gateway``."""
        return await self._pool(datacenter, node).call(gateway, method, args, reply_type,
                                                       timeout)

    async def drop(self, gateway: str) -> None:
        """Forget the sessions through ``gateway`` (it failed)."""
        for pool in self._pools.values():
            await pool.drop(gateway)

    async def dial(self, gateway: str, datacenter: str, alpn: str,
                   node: str = "") -> TLSConn:
        """A connection of its own speaking ``alpn`` (rpc-single, snapshot, gossip...)."""
        return await dial_via_gateway(gateway, self.make_context, datacenter=datacenter,
                                      alpn=alpn, node=node, domain=self.domain,
                                      timeout=self.dial_timeout, source_host=self.source_host)

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.close()

    def _pool(self, datacenter: str, node: str) -> MuxPool:
        sni = server_sni(datacenter, self.domain, node)
        pool = self._pools.get(sni)
        if pool is None:
            pool = MuxPool(tls=_gateway_context(self.make_context, ALPN_RPC_MULTI),
                           native_tls=True, server_name=sni, dial_timeout=self.dial_timeout,
                           source_host=self.source_host,
                           verify=lambda conn: check_server_certificate(
                               conn, datacenter, self.domain, ALPN_RPC_MULTI))
            self._pools[sni] = pool
        return pool
