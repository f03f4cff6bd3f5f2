"""WAN federation through mesh gateways on a server agent
(``connect.enable_mesh_gateway_wan_federation``): where the gateway locator, the
forwarder, the WAN gossip transport and the server port are tied together.

The locator (server/federation) chooses the gateway; RPC to other datacenters is
dialled through it (rpc/gateway) with SNI ``server.<dc>.<domain>``, WAN gossip to
a member ``<node>.<dc>`` with ``<node>.server.<dc>.<domain>``; gossip arriving the
same way comes in through the server port's ALPN dispatch.  A secondary joins the WAN
pool through the primary's gateways (``primary_gateways`` until it learns them).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl

from proconsul.agent.config import AgentConfig
from proconsul.agent.tls import client_context
from proconsul.gossip.driver import GossipDriver, JoinError
from proconsul.gossip.serf import Serf
from proconsul.gossip.transport import Address, Transport
from proconsul.gossip.wanfed import WanfedTransport
from proconsul.lib.routine import RoutineManager
from proconsul.rpc.conn import TLSConn
from proconsul.rpc.errors import RPCDialError
from proconsul.rpc.gateway import GatewayPool, dial_via_gateway
from proconsul.rpc.mux import PortMux
from proconsul.server.federation.locator import (
    GatewayLocator,
    LocatorDriver,
    primary_gateway_entries,
)
from proconsul.server.server import Server
from proconsul.structs.errors import ERR_DC_NOT_AVAILABLE, ConsulError

__all__ = ["WANFederation"]

log = logging.getLogger("agent.server.wanfed")

NO_TLS = "cannot dial via a mesh gateway when outgoing TLS is disabled"
JOIN_FIRST_RETRY = 1.0  # the first wait after a failed join; it doubles up to the interval


class WANFederation:
    """The wanfed parts of one server agent."""

    def __init__(self, config: AgentConfig, server: Server) -> None:
        self.config = config
        self.server = server
        self.datacenter = config.datacenter
        self.primary = config.primary_datacenter or config.datacenter
        self.domain = config.domain.rstrip(".")
        self.locator = GatewayLocator(self.datacenter, self.primary)
        if self.primary != self.datacenter:
            self.locator.set_fallback(primary_gateway_entries(config.wanfed.primary_gateways))
        self.driver = LocatorDriver(server, self.locator)
        self.transport: WanfedTransport | None = None
        forwarder = server.forwarder
        forwarder.gateway_for = self.gateway_for
        forwarder.gateway_pool = GatewayPool(self._context, domain=self.domain,
                                             source_host=config.source_host)
        forwarder.gateway_failed = self.locator.failed
        server.gateway_locator = self.locator

    @property
    def joins_primary(self) -> bool:
        """Whether this server joins the WAN pool through the primary's gateways."""
        return self.primary != self.datacenter and bool(self.config.wanfed.primary_gateways)

    def _context(self) -> ssl.SSLContext:
        tls = self.config.rpc_tls
        if not (tls.cert_file and tls.has_ca):
            raise RPCDialError(NO_TLS)
        return client_context(tls)

    def gateway_for(self, datacenter: str) -> str:
        """The gateway to forward a request for ``datacenter`` through."""
        gateway = self.locator.pick(datacenter)
        if gateway is None:
            log.warning("RPC request to DC %s is currently failing as no mesh gateway is "
                        "known for it", datacenter)
            raise ConsulError(ERR_DC_NOT_AVAILABLE)
        return gateway

    def wan_transport(self, direct: Transport, serf: Serf) -> WanfedTransport:
        """The WAN pool's transport: ``direct`` for our datacenter, gateways for others."""

        def name_of(addr: Address) -> str | None:
            return next((m.name for m in serf.members.values()
                         if m.port == addr[1] and m.addr == addr[0]), None)

        self.transport = WanfedTransport(direct, self.datacenter, self.dial, name_of)
        return self.transport

    async def dial(self, datacenter: str, node: str, alpn: str) -> TLSConn:
        """A connection to server ``node`` (``*``: any) of ``datacenter`` speaking ``alpn``,
        through the gateway the locator picks; raises OSError."""
        gateway = self.locator.pick(datacenter)
        if gateway is None:
            raise ConnectionError(ERR_DC_NOT_AVAILABLE)
        try:
            conn = await dial_via_gateway(gateway, self._context, datacenter=datacenter,
                                          alpn=alpn, node=node, domain=self.domain,
                                          source_host=self.config.source_host)
        except RPCDialError:
            self.locator.failed(datacenter, gateway)
            raise
        self.locator.succeeded(datacenter, gateway)
        return conn

    def start(self, routines: RoutineManager, mux: PortMux | None,
              wan: GossipDriver | None) -> None:
        """Serve gossip arriving through gateways; run the locator (and, in a secondary
        with ``primary_gateways``, the WAN join through them)."""
        if mux is not None and self.transport is not None:
            mux.serve_wan_gossip(self.transport)
        routines.start("gateway-locator", self.driver.watch)
        if self.joins_primary and wan is not None:
            routines.start("wan-join-primary-gateways",
                           functools.partial(self._join_primary, wan))

    async def _join_primary(self, wan: GossipDriver) -> None:
        """Join the WAN pool through any server of the primary until it works (Consul:
        retry-join of a placeholder for ``*.<primary>``; the first retries come after 1 s,
        doubling up to ``primary_gateways_interval``)."""
        assert self.transport is not None
        interval = self.config.wanfed.primary_gateways_interval
        delay = JOIN_FIRST_RETRY
        while True:
            if self.locator.candidates(self.primary):
                try:
                    joined = await wan.join([self.transport.placeholder(self.primary)])
                except JoinError as err:
                    log.warning("(WAN) joining %s through its mesh gateways failed: %s",
                                self.primary, err)
                else:
                    log.info("(WAN) joined %s through its mesh gateways: number_of_nodes=%d",
                             self.primary, joined)
                    return
            await asyncio.sleep(min(delay, interval))
            delay *= 2

    async def close(self) -> None:
        assert self.server.forwarder.gateway_pool is not None
        await self.server.forwarder.gateway_pool.close()
