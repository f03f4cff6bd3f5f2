"""The servers an agent sends its RPCs to (Consul's router / server manager).

The list holds the alive servers of one datacenter as LAN gossip shows them
(``role=consul``, same ``dc``, address + ``port`` tag), in the order calls try
them: the first is used until it fails, then it moves to the end.  New
servers land at a random place and the list is reshuffled now and then, so
clients spread over the servers.  A rebalance pings candidates (never this
agent's own address) until one answers; when none does the order is kept
and the list is never emptied -- a single-server cluster stays usable.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from proconsul.gossip.serf import Member, MemberStatus

log = logging.getLogger("agent.router")

MIN_REBALANCE_INTERVAL = 120.0  # Consul's clientRPCMinReuseDuration
REBALANCE_CONNS_PER_SEC = 64.0  # clusterWideRebalanceConnsPerSec


def server_address(member: Member, datacenter: str) -> str | None:
    """``addr:port`` of ``member`` if it is an alive server of ``datacenter``."""
    tags = member.tags
    if member.status != MemberStatus.ALIVE or tags.get("role") != "consul" \
            or tags.get("dc") != datacenter or not tags.get("port"):
        return None
    return f"{member.addr}:{tags['port']}"


def rebalance_interval(cluster_size: int, rng: random.Random) -> float:
    """At least two minutes, longer in big clusters, plus up to half again of jitter."""
    base = max(MIN_REBALANCE_INTERVAL, cluster_size / REBALANCE_CONNS_PER_SEC)
    return base + rng.uniform(0, base / 2)


class Router:
    """The ordered servers of one datacenter."""

    def __init__(self, datacenter: str, ping: Callable[[str], Awaitable[bool]], *,
                 self_address: str | None = None, rng: random.Random | None = None) -> None:
        self.datacenter = datacenter
        self._ping = ping
        self._self_address = self_address
        self._rng = rng or random.Random()
        self._servers: list[str] = []

    def servers(self) -> list[str]:
        return list(self._servers)

    def find(self) -> str | None:
        """The server to call next, or None when none is known."""
        return self._servers[0] if self._servers else None

    def update(self, members: list[Member]) -> None:
        """Follow gossip: drop servers no longer alive, add new ones at random places."""
        alive = {a for m in members if (a := server_address(m, self.datacenter)) is not None}
        self._servers = [s for s in self._servers if s in alive]
        for address in sorted(alive - set(self._servers)):
            self._servers.insert(self._rng.randint(0, len(self._servers)), address)
            log.info("adding server %s", address)

    def notify_failed(self, address: str) -> None:
        """A call to ``address`` failed: try the others first from now on."""
        if len(self._servers) > 1 and self._servers[0] == address:
            self._servers.append(self._servers.pop(0))

    async def rebalance(self) -> None:
        """Shuffle, then move servers that do not answer a ping to the end."""
        servers = self._servers[:]
        self._rng.shuffle(servers)
        for _ in range(len(servers)):
            first = servers[0]
            if first == self._self_address or await self._ping(first):
                break
            servers.append(servers.pop(0))
        # Gossip may have changed the list during the pings: keep its members only.
        current = set(self._servers)
        self._servers = [s for s in servers if s in current] + \
            [s for s in self._servers if s not in servers]

    async def run(self, cluster_size: Callable[[], int]) -> None:
        """Rebalance periodically (cancel to stop)."""
        while True:
            await asyncio.sleep(rebalance_interval(cluster_size(), self._rng))
            await self.rebalance()
