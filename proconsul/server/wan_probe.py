"""The WAN router's driver: probes unreachable servers and reshuffles the orders.

A server marked unreachable (its call could not be dialled or timed out) is
pinged every ``PROBE_INTERVAL`` on a fresh connection; when it answers it is
routed to again.  Every few minutes each datacenter's order is reshuffled so
the servers of this datacenter spread their calls over the remote servers.
"""

from __future__ import annotations

import asyncio
import logging
import random

from proconsul.rpc.errors import RPCConnectionError, RPCError, RPCTimeout
from proconsul.rpc.pool import ConnPool
from proconsul.server.wan_router import WANRouter

log = logging.getLogger("server.wan")

PROBE_INTERVAL = 1.0
PROBE_TIMEOUT = 2.0
SHUFFLE_INTERVAL = 120.0  # Consul's clientRPCMinReuseDuration, as the LAN router


async def probe(pool: ConnPool, address: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether the server at ``address`` answers ``Status.Ping`` in time (an error reply
    is an answer); a connection that timed out is dropped, so the next call redials."""
    try:
        await pool.call(address, "Status.Ping", None, bool, timeout=timeout)
    except RPCError:
        return True
    except RPCConnectionError:
        return False
    except RPCTimeout:
        await pool.drop(address)
        return False
    return True


async def run_wan_router(router: WANRouter, pool: ConnPool, *,
                         probe_interval: float = PROBE_INTERVAL,
                         rng: random.Random | None = None) -> None:
    """Probe unreachable servers and reshuffle now and then (cancel to stop)."""
    rng = rng or random.Random()
    loop = asyncio.get_running_loop()
    next_shuffle = loop.time() + SHUFFLE_INTERVAL * rng.uniform(1.0, 1.5)
    while True:
        await asyncio.sleep(probe_interval)
        pending = router.unreachable()
        if pending:
            answers = await asyncio.gather(*(probe(pool, address) for _, address in pending))
            for (dc, address), ok in zip(pending, answers, strict=True):
                if ok:
                    log.info("server %s in DC %s answers again", address, dc)
                    router.alive_again(address)
        if loop.time() >= next_shuffle:
            for dc in router.datacenters():
                router.shuffle(dc)
            next_shuffle = loop.time() + SHUFFLE_INTERVAL * rng.uniform(1.0, 1.5)
