"""Where a server RPC runs: here, on the leader, or nowhere (another datacenter).

Consul's ``forward`` (agent/consul/rpc.go): a request for another datacenter
goes to a server of that datacenter chosen by the WAN router (``No path to
datacenter`` when none is known, ``Remote DC has no server currently
reachable`` when all of its servers are down or cut off; see
:meth:`Forwarder.forward_dc`); stale reads and the status calls are answered
locally; writes, default and consistent reads run on the leader -- here if this server leads, else
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

import msgspec

from proconsul.raft.interface import Consensus
from proconsul.rpc.errors import RPCConnectionError, RPCDialError, RPCError, RPCTimeout
from proconsul.rpc.gateway import GatewayPool
from proconsul.rpc.pool import ConnPool
from proconsul.server.blocking import call_timeout
from proconsul.server.endpoints import method_types
from proconsul.server.wan_probe import probe
from proconsul.server.wan_router import WANRouter
from proconsul.structs.errors import (
    ERR_DC_NOT_AVAILABLE,
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
WAN_MARGIN = 2.0  # a remote server may hold a request rpc_hold_timeout; then it is cut off
WAN_WATCH_INTERVAL = 1.0  # a cross-DC call waiting this long pings its server ...
WAN_PING_TIMEOUT = 2.0  # ... which must answer within this
GATEWAY_ATTEMPTS = 3  # calls through gateways for one forwarded request

# Answered by whichever server receives them (Consul does not forward these;
# Federation.Status, beyond Consul, is this server's view of the WAN).
LOCAL_METHODS = frozenset({"Status.Leader", "Status.Peers", "Status.Ping",
                           "Catalog.ListDatacenters", "Coordinate.ListDatacenters",
                           "Federation.Status"})

# Writes of objects the primary datacenter owns: made anywhere, they run there and
# reach the other datacenters by replication (Consul sets their Datacenter to the primary).
GLOBAL_WRITES = frozenset({"ConfigEntry.Apply", "ConfigEntry.Delete", "Intention.Apply",
                           "ConnectCA.ConfigurationSet", "ACL.PolicySet", "ACL.PolicyDelete",
                           "ACL.RoleSet", "ACL.RoleDelete", "ACL.AuthMethodSet",
                           "ACL.AuthMethodDelete", "ACL.BindingRuleSet",
                           "ACL.BindingRuleDelete", "FederationState.Apply"})


def global_write(method: str, request: Any) -> bool:
    """Whether ``request`` writes an object the primary owns (a token unless ``Local``)."""
    if method == "ACL.TokenSet":
        token = getattr(request, "ACLToken", None)
        return token is not None and not token.Local
    return method in GLOBAL_WRITES

# Remote error texts meaning "not handled there, nothing applied: try again".
RETRYABLE_ERRORS = frozenset({ERR_NO_LEADER, ERR_SERVER_LEAVING})


class LeaderUnavailable(ConsulError):
    """No leader could take the request, and nothing was applied: safe to retry."""

    def __init__(self) -> None:
        super().__init__(ERR_NO_LEADER)


class ServerSilent(RPCConnectionError):
    """A server of another datacenter stopped answering pings while a call waited on it."""


class Liveness:
    """Whether servers of other datacenters still answer, one ping per server at a time.

    Every call waiting on a server asks :meth:`check` now and then; a server heard
    from (a reply or a ping) within ``WAN_WATCH_INTERVAL`` passes at once, and calls
    waiting together on one server share a single ping, so a thousand blocking
    queries on one remote server cost one ping a second, not a thousand.
    """

    def __init__(self, pool: ConnPool | None) -> None:
        self._pool = pool
        self._heard: dict[str, float] = {}
        self._pings: dict[str, asyncio.Future[None]] = {}

    def heard(self, address: str) -> None:
        self._heard[address] = asyncio.get_running_loop().time()

    async def check(self, address: str) -> None:
        """Return if ``address`` answers; raise the ping's connection error or timeout."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._heard.get(address, -WAN_WATCH_INTERVAL) < WAN_WATCH_INTERVAL:
            return
        ping = self._pings.get(address)
        if ping is None:
            ping = self._pings[address] = loop.create_task(self._ping(address))
            ping.add_done_callback(lambda done: (self._pings.pop(address, None),
                                                 done.cancelled() or done.exception()))
        await asyncio.shield(ping)

    async def _ping(self, address: str) -> None:
        assert self._pool is not None
        with contextlib.suppress(RPCError):  # an error reply is still an answer
            await self._pool.call(address, "Status.Ping", None, bool, timeout=WAN_PING_TIMEOUT)
        self.heard(address)


def is_read(request: Any) -> bool:
    return isinstance(request, QueryOptions)


def request_datacenter(request: Any) -> str:
    """The datacenter a request names ("" for none); endpoints typed ``Any`` get a dict.
    A request with a ``TargetDatacenter`` (FederationState.Get) is sent there instead:
    its ``Datacenter`` names what it asks about, as in Consul."""
    if isinstance(request, dict):
        value = request.get("Datacenter")
        return value if isinstance(value, str) else ""
    target = getattr(request, "TargetDatacenter", None)
    if target is not None:
        return target
    return getattr(request, "Datacenter", "") or ""


def served_locally(method: str, request: Any) -> bool:
    """Whether any server may answer: status calls and stale (non-consistent) reads."""
    if method in LOCAL_METHODS:
        return True
    return is_read(request) and request.AllowStale and not request.RequireConsistent


class Forwarder:
    """Runs each request on the right server, holding it while there is no leader."""

    def __init__(self, consensus: Consensus, pool: ConnPool | None, *, datacenter: str,
                 hold_timeout: float = RPC_HOLD_TIMEOUT, primary_datacenter: str = "",
                 rng: random.Random | None = None) -> None:
        self.consensus = consensus
        self.pool = pool
        self.datacenter = datacenter
        self.primary_datacenter = primary_datacenter or datacenter
        self.hold_timeout = hold_timeout
        self._rng = rng or random.Random()
        self._leaving = asyncio.Event()
        self.wan: WANRouter | None = None
        self._liveness = Liveness(pool)
        # Which requests run in the primary datacenter (the server adds token deletes).
        self.global_write: Callable[[str, Any], bool] = global_write
        # WAN federation through mesh gateways: the gateway ("host:port") to reach a DC
        # through, or None to go direct (the gateway locator provides it), and the pool
        # that dials through gateways.
        self.gateway_for: Callable[[str], str | None] | None = None
        self.gateway_pool: GatewayPool | None = None
        # Told (datacenter, gateway) when a gateway could not be dialled.
        self.gateway_failed: Callable[[str, str], None] | None = None

    def stop_holding(self) -> None:
        """The server is leaving: requests waiting for a leader fail now, and hold no more."""
        self._leaving.set()

    async def run(self, method: str, request: Any,
                  local: Callable[[Any], Awaitable[Any]]) -> Any:
        """Answer ``request``: ``local`` runs it on this server."""
        if self.primary_datacenter != self.datacenter and self.global_write(method, request):
            request = msgspec.structs.replace(request, Datacenter=self.primary_datacenter)
        datacenter = request_datacenter(request) or self.datacenter
        if datacenter != self.datacenter:
            return await self.forward_dc(datacenter, method, request)
        if served_locally(method, request):
            return await local(request)
        if self.consensus.is_leader():
            try:
                return await local(request)
            except LeaderUnavailable:
                pass  # leadership moved before the request was proposed: hold for the next
        return await self._hold(method, request, local)

    async def forward_dc(self, datacenter: str, method: str, request: Any) -> Any:
        """Run ``request`` on a server of ``datacenter``, trying its next server when one
        cannot be dialled (or, for reads, when the connection broke).  A server that
        cannot be dialled or stops answering pings while a call waits on it is marked
        unreachable, so the requests after it fail at once until it answers again.
        When :attr:`gateway_for` names a gateway for ``datacenter`` the request goes
        through it instead (native TLS, SNI ``server.<dc>.<domain>``)."""
        gateway = self.gateway_for(datacenter) if self.gateway_for is not None else None
        if gateway is not None and self.gateway_pool is not None:
            return await self._forward_via_gateway(gateway, datacenter, method, request)
        router = self.wan
        if router is None or self.pool is None or not router.known(datacenter):
            log.warning("RPC request for DC %s is currently failing as no path was found",
                        datacenter)
            raise ConsulError(ERR_NO_PATH_TO_DC)
        tried: set[str] = set()
        failure: Exception | None = None
        while True:
            address = next((a for a in router.candidates(datacenter) if a not in tried), None)
            if address is None:
                if failure is None:
                    log.warning("RPC request to DC %s is currently failing as no server "
                                "can be reached", datacenter)
                    raise ConsulError(ERR_DC_NOT_AVAILABLE)
                raise ConsulError(f"rpc error forwarding {method} to datacenter {datacenter}: "
                                  f"{failure}")
            tried.add(address)
            try:
                return await self._watched_call(address, method, request)
            except RPCError:
                raise
            except RPCDialError as err:
                router.mark_unreachable(datacenter, address)
                failure = err
            except (RPCConnectionError, RPCTimeout) as err:
                if isinstance(err, (RPCTimeout, ServerSilent)):
                    # Likely a cut link: find out at once which servers of the DC answer.
                    router.mark_unreachable(datacenter, address)
                    await self.pool.drop(address)
                    await self._probe_datacenter(datacenter, tried)
                else:
                    router.notify_failed(datacenter, address)
                if not is_read(request):
                    raise ConsulError(f"rpc error forwarding {method} to datacenter "
                                      f"{datacenter}: {err}") from None
                failure = err
            log.warning("RPC %s to server %s in DC %s failed: %s", method, address,
                        datacenter, failure)

    async def _forward_via_gateway(self, gateway: str, datacenter: str, method: str,
                                   request: Any) -> Any:
        """Call through ``gateway``; when it cannot be dialled (or, for reads, the
        connection broke) tell :attr:`gateway_failed` and try the next gateway
        :attr:`gateway_for` names, up to :data:`GATEWAY_ATTEMPTS` calls."""
        assert self.gateway_pool is not None and self.gateway_for is not None
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self.gateway_pool.call(gateway, datacenter, method, request,
                                                    method_types()[method][1],
                                                    timeout=self.wan_timeout(request))
            except RPCError:
                raise
            except (RPCConnectionError, RPCTimeout) as err:
                dial_failed = isinstance(err, RPCDialError)
                if isinstance(err, RPCTimeout) or dial_failed:
                    await self.gateway_pool.drop(gateway)
                if dial_failed and self.gateway_failed is not None:
                    self.gateway_failed(datacenter, gateway)
                log.warning("RPC %s to DC %s through gateway %s failed: %s", method, datacenter,
                            gateway, err)
                retry = dial_failed or (is_read(request) and not isinstance(err, RPCTimeout))
                following = self.gateway_for(datacenter) if retry else None
                if following is None or attempt == GATEWAY_ATTEMPTS:
                    raise ConsulError(f"rpc error forwarding {method} to datacenter "
                                      f"{datacenter} through gateway {gateway}: {err}") from None
                gateway = following

    async def _watched_call(self, address: str, method: str, request: Any) -> Any:
        """One call to a server of another datacenter, checking the server answers while
        the call waits: one that stops answering pings (a cut link) fails the call in
        seconds rather than after the call's whole timeout."""
        assert self.pool is not None
        call = asyncio.ensure_future(self.pool.call(
            address, method, request, method_types()[method][1],
            timeout=self.wan_timeout(request)))
        try:
            while True:
                done, _ = await asyncio.wait({call}, timeout=WAN_WATCH_INTERVAL)
                if done:
                    reply = call.result()
                    self._liveness.heard(address)
                    return reply
                try:
                    await self._liveness.check(address)
                except (RPCConnectionError, RPCTimeout) as err:
                    raise ServerSilent(f"{address} stopped answering while {method} "
                                       f"waited: {err}") from None
        finally:
            if not call.done():
                call.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await call

    async def _probe_datacenter(self, datacenter: str, skip: set[str]) -> None:
        """Ping the other candidate servers of ``datacenter`` together; mark the silent."""
        assert self.wan is not None and self.pool is not None
        others = [a for a in self.wan.candidates(datacenter) if a not in skip]
        answers = await asyncio.gather(*(probe(self.pool, a, WAN_PING_TIMEOUT) for a in others))
        for address, answered in zip(others, answers, strict=True):
            if not answered:
                self.wan.mark_unreachable(datacenter, address)

    def wan_timeout(self, request: Any) -> float:
        """How long a call to another datacenter may take: a blocking read its wait,
        anything else the remote server's hold plus a margin."""
        if is_read(request) and request.MinQueryIndex:
            return call_timeout(request)
        return self.hold_timeout + WAN_MARGIN

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
