"""A client agent's RPCs: to the router's server, over the connection pool.

A server that cannot be reached, or that is leaving, is marked failed and
the next one is tried (each known server at most once per call).  A
connection that breaks mid-call is retried elsewhere only for reads: a
write may already have been applied.  "No cluster leader" is retried once
after a short jittered backoff (the servers already held the request for
their ``rpc_hold_timeout``).
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from proconsul.agent.router import Router
from proconsul.lib.metrics import registry as metrics
from proconsul.rpc.errors import RPCConnectionError, RPCDialError, RPCError, RPCTimeout
from proconsul.rpc.pool import ConnPool
from proconsul.server.blocking import call_timeout
from proconsul.server.endpoints import method_types
from proconsul.server.forward import is_read
from proconsul.structs.errors import (
    ERR_NO_LEADER,
    ERR_NO_SERVERS,
    ERR_SERVER_LEAVING,
    ConsulError,
)

log = logging.getLogger("agent.client")

NO_LEADER_BACKOFF = 0.5
PING_TIMEOUT = 5.0


async def ping(pool: ConnPool, address: str) -> bool:
    """Whether the server at ``address`` answers ``Status.Ping``."""
    try:
        await pool.call(address, "Status.Ping", None, bool, timeout=PING_TIMEOUT)
    except (RPCError, RPCConnectionError, RPCTimeout):
        return False
    return True


class RPCClient:
    """Calls server endpoints from a client agent."""

    def __init__(self, router: Router, pool: ConnPool, *,
                 no_leader_backoff: float = NO_LEADER_BACKOFF,
                 rng: random.Random | None = None) -> None:
        self.router = router
        self.pool = pool
        self.no_leader_backoff = no_leader_backoff
        self._rng = rng or random.Random()

    async def call(self, method: str, request: Any) -> Any:
        types = method_types().get(method)
        if types is None:
            raise ConsulError(f"rpc: can't find method {method}")
        metrics.incr_counter("consul.client.rpc")
        try:
            return await self._call(method, request, types)
        except Exception:
            metrics.incr_counter("consul.client.rpc.failed")
            raise

    async def _call(self, method: str, request: Any, types: tuple) -> Any:
        failures = 0
        retried_no_leader = False
        while True:
            address = self.router.find()
            if address is None:
                raise ConsulError(ERR_NO_SERVERS)
            try:
                return await self.pool.call(address, method, request, types[1],
                                            timeout=call_timeout(request))
            except RPCError as err:
                if err.message == ERR_SERVER_LEAVING:
                    failure: Exception = err
                elif err.message == ERR_NO_LEADER and not retried_no_leader:
                    retried_no_leader = True
                    self.router.notify_failed(address)
                    await asyncio.sleep(self._rng.uniform(0.5, 1.0) * self.no_leader_backoff)
                    continue
                else:
                    raise
            except RPCDialError as err:
                failure = err
            except RPCConnectionError as err:
                if not is_read(request):
                    self.router.notify_failed(address)
                    raise ConsulError(f"rpc error making call: {err}") from None
                failure = err
            except RPCTimeout as err:
                raise ConsulError(f"rpc error making call: {err}") from None
            log.warning("RPC %s to server %s failed: %s", method, address, failure)
            self.router.notify_failed(address)
            failures += 1
            if failures >= len(self.router.servers()):
                raise ConsulError(f"rpc error making call: {failure}")
