"""``-register``: the dev-mode proxy registers itself with the local agent as
``<service>-proxy`` with a TTL check it keeps passing, and deregisters on exit
(Consul's RegisterMonitor)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from proconsul.agent.proxy.agent_api import AgentAPI, AgentAPIError
from proconsul.structs.service_kinds import CONNECT_PROXY

log = logging.getLogger("proxy")

TTL = 30.0  # seconds; the check is passed three times per TTL
RECONCILE = 30.0  # seconds between re-registrations (the agent may have lost it)


class Registration:
    """The connect-proxy registration of a dev-mode proxy."""

    def __init__(self, api: AgentAPI, service: str, address: str, port: int,
                 id_suffix: str = "") -> None:
        self.api = api
        self.service = service
        self.address = address
        self.port = port
        self.service_id = f"{service}-proxy" + (f"-{id_suffix}" if id_suffix else "")
        self.check_id = f"{self.service_id}-ttl"

    def body(self) -> dict:
        return {"Kind": CONNECT_PROXY, "ID": self.service_id, "Name": f"{self.service}-proxy",
                "Address": self.address, "Port": self.port,
                "Proxy": {"DestinationServiceName": self.service},
                "Check": {"CheckID": self.check_id, "Name": "proxy heartbeat",
                          "TTL": f"{int(TTL)}s", "Status": "passing",
                          "Notes": "Built-in proxy will heartbeat this check."}}

    async def run(self) -> None:
        """Register, then keep the check passing and the registration present."""
        loop = asyncio.get_running_loop()
        next_register = 0.0
        while True:
            if loop.time() >= next_register:
                try:
                    await self.api.register(self.body())
                    log.info("registered service %s", self.service_id)
                    next_register = loop.time() + RECONCILE
                except AgentAPIError as err:
                    log.warning("registering %s failed: %s", self.service_id, err)
            else:
                try:
                    await self.api.pass_ttl(self.check_id)
                except AgentAPIError as err:
                    log.warning("heartbeat of %s failed: %s", self.service_id, err)
            await asyncio.sleep(TTL / 3)

    async def deregister(self) -> None:
        for attempt in range(3):
            try:
                await self.api.deregister(self.service_id)
                log.info("deregistered service %s", self.service_id)
                return
            except AgentAPIError as err:
                log.warning("deregistering %s failed: %s", self.service_id, err)
                if attempt < 2:
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.sleep(0.5)
