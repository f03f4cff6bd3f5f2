"""The agent process: its server (in server mode) and its HTTP API."""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from proconsul.agent.config import AgentConfig
from proconsul.agent.http.server import build_app
from proconsul.server.server import Server, ServerConfig
from proconsul.structs.errors import ConsulError

log = logging.getLogger("agent")


class Agent:
    """One Proconsul agent: serves ``/v1`` and answers through its server.

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

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self.server.stop()

    async def rpc(self, method: str, request: Any) -> Any:
        """Call a server endpoint; in server mode that is this agent's own server."""
        return await self.server.rpc(method, request)
