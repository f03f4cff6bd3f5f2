"""Where a server RPC runs: here, on the leader, or nowhere (another datacenter).

Consul's ``forward`` (agent/consul/rpc.go): a request for another datacenter
fails with "No path to datacenter" (WAN forwarding comes with federation);
stale reads and the status calls are answered locally; writes, default and
consistent reads run on the leader -- here if this server leads, else
forwarded over the pool.  While no leader is known the request is held,
retrying with jittered backoff, for up to ``rpc_hold_timeout``, then fails
with "No cluster leader" -- at once when this server is leaving, so the
caller retries elsewhere.  A request is only retried when it is known not to
have been applied: the leader was missing, refused it before proposing, or
the connection to it could not be made (reads are also retried when the
connection broke mid-call).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from proconsul.raft.interface import Consensus
from proconsul.rpc.errors import RPCConnectionError, RPCDialError, RPCError, RPCTimeout
from proconsul.rpc.pool import ConnPool
from proconsul.server.blocking import call_timeout
from proconsul.server.endpoints import method_types
from proconsul.structs.errors import (
    ERR_NO_LEADER,
    ERR_NO_PATH_TO_DC,
    ERR_SERVER_LEAVING,
    ConsulError,
)
from proconsul.structs.query import QueryOptions

log = logging.getLogger(__name__)

RPC_HOLD_TIMEOUT = 7.0
JITTER_FRACTION = 16
MIN_BACKOFF = 0.02

# Answered by whichever server receives them (Consul does not forward these).
LOCAL_METHODS = frozenset({"Status.Leader", "Status.Peers", "Status.Ping",
                           "Catalog.ListDatacenters", "Coordinate.ListDatacenters"})

# Remote error texts meaning "not handled there, nothing applied: try again".
RETRYABLE_ERRORS = frozenset({ERR_NO_LEADER, ERR_SERVER_LEAVING})


class LeaderUnavailable(ConsulError):
    """No leader could take the request, and nothing was applied: safe to retry."""

    def __init__(self) -> None:
        super().__init__(ERR_NO_LEADER)


def is_read(request: Any) -> bool:
    return isinstance(request, QueryOptions)


def served_locally(method: str, request: Any) -> bool:
    """Whether any server may answer: status calls and stale (non-consistent) reads."""
    if method in LOCAL_METHODS:
        return True
    return is_read(request) and request.AllowStale and not request.RequireConsistent


class Forwarder:
    """Runs each request on the right server, holding it while there is no leader."""

    def __init__(self, consensus: Consensus, pool: ConnPool | None, *, datacenter: str,
                 hold_timeout: float = RPC_HOLD_TIMEOUT,
                 rng: random.Random | None = None) -> None:
        self.consensus = consensus
        self.pool = pool
        self.datacenter = datacenter
        self.hold_timeout = hold_timeout
        self._rng = rng or random.Random()
        self._leaving = asyncio.Event()

    def stop_holding(self) -> None:
        """The server is leaving: requests waiting for a leader fail now, and hold no more."""
        self._leaving.set()

    async def run(self, method: str, request: Any,
                  local: Callable[[Any], Awaitable[Any]]) -> Any:
        """Answer ``request``: ``local`` runs it on this server."""
        datacenter = getattr(request, "Datacenter", "") or self.datacenter
        if datacenter != self.datacenter:
            raise ConsulError(ERR_NO_PATH_TO_DC)
        if served_locally(method, request):
            return await local(request)
        if self.consensus.is_leader():
            try:
                return await local(request)
            except LeaderUnavailable:
                pass  # leadership moved before the request was proposed: hold for the next
        return await self._hold(method, request, local)

    async def _hold(self, method: str, request: Any,
                    local: Callable[[Any], Awaitable[Any]]) -> Any:
        """Attempt until a leader takes ``request``, for up to ``hold_timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.hold_timeout
        attempt = 0
        while True:
            try:
                return await self._attempt(method, request, local)
            except LeaderUnavailable:
                remaining = deadline - loop.time()
                if self._leaving.is_set():
                    raise
                if remaining <= 0:
                    log.warning("%s failed: no cluster leader after %.1fs", method,
                                self.hold_timeout)
                    raise
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, self._backoff(attempt))):
                    await self._leaving.wait()
            attempt += 1

    async def _attempt(self, method: str, request: Any,
                       local: Callable[[Any], Awaitable[Any]]) -> Any:
        if self.consensus.is_leader():
            return await local(request)
        leader = self.consensus.leader_address()
        if leader is None or self.pool is None:
            raise LeaderUnavailable()
        reply_type = method_types()[method][1]
        try:
            return await self.pool.call(leader, method, request, reply_type,
                                        timeout=call_timeout(request))
        except RPCError as err:
            if err.message in RETRYABLE_ERRORS:
                raise LeaderUnavailable() from None
            raise
        except RPCDialError:
            raise LeaderUnavailable() from None
        except RPCConnectionError as err:
            if is_read(request):
                raise LeaderUnavailable() from None
            raise ConsulError(f"rpc error forwarding {method} to the leader at {leader}: "
                              f"{err}") from None
        except RPCTimeout as err:
            raise ConsulError(f"rpc error forwarding {method} to the leader: {err}") from None

    def _backoff(self, attempt: int) -> float:
        """Jittered, doubling from ``MIN_BACKOFF`` up to Consul's RPCHoldTimeout / 16."""
        cap = min(self.hold_timeout / JITTER_FRACTION, MIN_BACKOFF * 2 ** attempt)
        return self._rng.uniform(cap / 2, cap)
