"""Where an upstream's connections go: a blocking watch of the destination's passing
Connect instances (or a prepared query, re-run periodically) feeding a Balancer."""

from __future__ import annotations

import asyncio
import logging

from proconsul.agent.proxy.agent_api import AgentAPI, AgentAPIError, sleep_backoff
from proconsul.agent.proxy.balancer import Balancer, Endpoint, endpoints
from proconsul.agent.proxy.config import PREPARED_QUERY, UpstreamConfig

log = logging.getLogger("proxy")

QUERY_REFRESH = 10.0  # seconds between runs of a prepared query (it cannot block)


class Resolver:
    """The endpoints of one upstream destination, kept current by :meth:`watch`."""

    def __init__(self, api: AgentAPI, config: UpstreamConfig) -> None:
        self.api = api
        self.config = config
        self.balancer = Balancer()
        self._known = asyncio.Event()
        self._refresh = asyncio.Event()

    async def watch(self) -> None:
        """Follow the destination until cancelled; agent errors are retried with backoff."""
        index, failures = 0, 0
        cfg = self.config
        while True:
            try:
                if cfg.destination_type == PREPARED_QUERY:
                    found = await self.api.execute_query(cfg.destination_name, cfg.datacenter)
                else:
                    entries, returned = await self.api.connect_health(
                        cfg.destination_name, cfg.datacenter, index)
                    index = 0 if returned < index else max(returned, 1)
                    found = entries
            except AgentAPIError as err:
                failures += 1
                log.warning("upstream %s: cannot list instances: %s", cfg, err)
                await sleep_backoff(failures)
                continue
            failures = 0
            self._apply(endpoints(found))
            if cfg.destination_type == PREPARED_QUERY:
                self._refresh.clear()
                try:
                    async with asyncio.timeout(QUERY_REFRESH):
                        await self._refresh.wait()
                except TimeoutError:
                    pass

    def _apply(self, found: list[Endpoint]) -> None:
        if self.balancer.update(found):
            log.info("upstream %s: %d instance(s): %s", self.config, len(found),
                     ", ".join(str(e) for e in self.balancer.endpoints) or "none")
        self._known.set()

    async def order(self, timeout: float) -> list[Endpoint]:
        """The endpoints to try for one new connection (waiting for the first answer)."""
        if not self._known.is_set():
            try:
                async with asyncio.timeout(timeout):
                    await self._known.wait()
            except TimeoutError:
                return []
        return self.balancer.order()

    def all_failed(self) -> None:
        """Every endpoint failed: re-run a prepared query now rather than later."""
        self._refresh.set()
