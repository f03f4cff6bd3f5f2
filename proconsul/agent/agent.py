"""The agent process: its server (in server mode) and its HTTP API."""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from proconsul.agent.config import AgentConfig
from proconsul.agent.dns.lookup import AgentLookup
from proconsul.agent.dns.resolver import Resolver
from proconsul.agent.dns.server import DNSServer
from proconsul.agent.dns.settings import DNSSettings
from proconsul.agent.http.server import build_app
from proconsul.server.server import Server, ServerConfig
from proconsul.structs.errors import ConsulError

log = logging.getLogger("agent")


class Agent:
    """One Proconsul agent: serves ``/v1`` and DNS, and answers through its server.

    Client-mode agents (forwarding to remote servers over RPC) arrive with the
    cluster issue; until then every agent runs its own server.
    """

    def __init__(self, config: AgentConfig) -> None:
        self.config = config.finish()
        self.started_at = time.time()
        self.server = Server(ServerConfig(
            datacenter=config.datacenter, node_name=config.node_name, node_id=config.node_id,
            advertise_addr=config.advertise_addr, server_port=config.server_port,
            serf_lan_port=config.serf_lan_port))
        self._runner: web.AppRunner | None = None
        dns = DNSSettings.from_config(self.config)
        self.dns_resolver = Resolver(dns, AgentLookup(self, dns.allow_stale, dns.max_stale_ms))
        self.dns: DNSServer | None = None

    @property
    def http_address(self) -> str:
        return f"{self.config.client_addr}:{self.config.http_port}"

    async def start(self) -> None:
        self.server.start()
        self._runner = web.AppRunner(build_app(self), access_log=None,
                                     handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.client_addr, self.config.http_port,
                           reuse_address=True)
        try:
            await site.start()
        except OSError as err:
            await self._runner.cleanup()
            raise ConsulError(f"cannot listen on {self.http_address}: {err.strerror}") from None
        log.info("HTTP API listening on http://%s", self.http_address)
        if self.config.dns_port > 0:
            dns = DNSServer(self.dns_resolver, self.config.client_addr, self.config.dns_port)
            try:
                await dns.start()
            except OSError as err:
                await self._runner.cleanup()
                raise ConsulError(f"cannot listen for DNS on {self.config.client_addr}:"
                                  f"{self.config.dns_port}: {err.strerror or err}") from None
            self.dns = dns
            log.info("DNS server listening on %s:%d (udp and tcp)", self.config.client_addr,
                     self.config.dns_port)

    async def stop(self) -> None:
        if self.dns is not None:
            await self.dns.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.server.stop()

    def catalog_version(self, allow_stale: bool, max_stale_ms: int) -> tuple[int, int] | None:
        """A value that changes whenever a catalog read could answer differently.

        None when a read would not be answered from this agent's own state: it
        is not the leader and stale reads are off, or too stale.
        """
        consensus = self.server.consensus
        if not consensus.is_leader() and not (
                allow_stale and consensus.last_contact() * 1000 <= max_stale_ms):
            return None
        store = self.server.store
        return store.generation, store.max_index("nodes", "services", "checks")

    async def rpc(self, method: str, request: Any) -> Any:
        """Call a server endpoint; in server mode that is this agent's own server."""
        return await self.server.rpc(method, request)
