"""Anti-entropy: push local services and checks to the catalog, and pull drift back.

Changes sync at once; a full sync compares with the catalog now and then
(every minute, scaled up for large clusters, as Consul does) and removes
catalog entries for this node that the agent does not know, except the
server's own ``consul`` service and the ``serfHealth`` check.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable
from typing import Any

from msgspec.structs import replace

from proconsul.agent.local.state import LocalCheck, LocalService, LocalState, Versioned
from proconsul.structs.base import UNSET
from proconsul.structs.catalog import (
    SERF_CHECK_ID,
    DeregisterRequest,
    HealthCheck,
    NodeService,
    RegisterRequest,
)
from proconsul.structs.errors import ConsulError
from proconsul.structs.requests import NodeSpecificRequest
from proconsul.structs.virtual_ip import TAGGED_ADDRESS_VIRTUAL_IP

log = logging.getLogger("agent.anti_entropy")

FULL_SYNC_INTERVAL = 60.0
RETRY_INTERVAL = 15.0  # after a failed sync; the first retries come sooner
RETRY_FIRST = 1.0
SETTLE_TIMEOUT = 2.0  # how long an agent API write waits for its change to reach the catalog
SCALE_THRESHOLD = 128
SERVER_OWNED_SERVICES = {"consul"}
SERVER_OWNED_CHECKS = {SERF_CHECK_ID}

RPC = Callable[[str, Any], Awaitable[Any]]


def scaled_interval(interval: float, cluster_size: int) -> float:
    """Consul's aeScale: grow the interval logarithmically past 128 nodes."""
    if cluster_size <= SCALE_THRESHOLD:
        return interval
    return interval * math.ceil(math.log2(cluster_size) - math.log2(SCALE_THRESHOLD) + 1)


def _same_service(a: NodeService, b: NodeService) -> bool:
    return replace(a, CreateIndex=0, ModifyIndex=0) == replace(b, CreateIndex=0, ModifyIndex=0)


def _with_virtual_ips(local: NodeService, remote: NodeService) -> NodeService:
    """The local service with the ``consul-virtual`` tagged addresses the servers gave
    the catalog copy (as Consul's agent keeps them): the agent never sets them itself."""
    remote_tagged = remote.TaggedAddresses if isinstance(remote.TaggedAddresses, dict) else {}
    local_tagged = local.TaggedAddresses if isinstance(local.TaggedAddresses, dict) else {}
    virtual = {k: v for k, v in remote_tagged.items()
               if k.startswith(TAGGED_ADDRESS_VIRTUAL_IP)}
    kept = {k: v for k, v in local_tagged.items() if not k.startswith(TAGGED_ADDRESS_VIRTUAL_IP)}
    merged = {**kept, **virtual}
    if merged == local_tagged:
        return local
    return replace(local, TaggedAddresses=merged or UNSET)


def _same_check(a: HealthCheck, b: HealthCheck) -> bool:
    return replace(a, CreateIndex=0, ModifyIndex=0) == replace(b, CreateIndex=0, ModifyIndex=0)


class EntriesNotSynced(ConsulError):
    """Some entries could not be sent (they were skipped, the others were synced)."""


class NodeInfo:
    """What anti-entropy registers about the node itself."""

    def __init__(self, node_id: str, name: str, address: str, datacenter: str,
                 meta: dict[str, str]) -> None:
        self.node_id, self.name, self.address = node_id, name, address
        self.datacenter, self.meta = datacenter, meta

    @property
    def tagged_addresses(self) -> dict[str, str]:
        return {"lan": self.address, "lan_ipv4": self.address,
                "wan": self.address, "wan_ipv4": self.address}


class AntiEntropy:
    """Runs the sync loop for one agent's :class:`LocalState`."""

    def __init__(self, state: LocalState, node: NodeInfo, rpc: RPC,
                 cluster_size: Callable[[], int] = lambda: 1,
                 agent_token: Callable[[], str] = str,
                 default_token: Callable[[], str] = str) -> None:
        self.state = state
        # ACL tokens for entries registered without one: the node and removals use the
        # agent token, registrations the default token (as Consul does)
        self.agent_token = agent_token
        self.default_token = default_token
        self.node = node
        self.rpc = rpc
        self.cluster_size = cluster_size
        self._trigger = asyncio.Event()
        self._full = asyncio.Event()
        self._full.set()
        self.node_registered = asyncio.Event()
        self.failing = False  # the last sync pass failed
        self._pass_done = asyncio.Event()
        state.on_change = self._trigger.set

    def trigger_full_sync(self) -> None:
        """Compare with the catalog now (on start, when a server comes up, on drift)."""
        self._full.set()
        self._trigger.set()

    async def node_registration(self, timeout: float) -> bool:
        """Wait (bounded) until this node is in the catalog, syncing now if it is not yet."""
        if not self.node_registered.is_set():
            self._trigger.set()
            try:
                async with asyncio.timeout(timeout):
                    await self.node_registered.wait()
            except TimeoutError:
                return False
        return True

    async def settle(self, timeout: float = SETTLE_TIMEOUT) -> bool:
        """Wait (bounded) until every local change so far is in the catalog, so what an
        agent API call registered is readable from the catalog when the call returns.
        No wait while syncs fail (no servers, say); False if not settled."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.state.all_in_sync():
            remaining = deadline - loop.time()
            if self.failing or remaining <= 0:
                return False
            done = self._pass_done
            self._trigger.set()
            try:
                async with asyncio.timeout(remaining):
                    await done.wait()
            except TimeoutError:
                return False
        return True

    def _passed(self, ok: bool) -> None:
        self.failing = not ok
        done, self._pass_done = self._pass_done, asyncio.Event()
        done.set()

    async def run(self) -> None:
        """Sync forever: full syncs on schedule, partial syncs on every change."""
        loop = asyncio.get_running_loop()
        next_full = loop.time()
        failures = 0
        while True:
            full = self._full.is_set() or loop.time() >= next_full
            self._trigger.clear()
            try:
                if full:
                    self._full.clear()
                    await self.sync_full()
                    interval = scaled_interval(FULL_SYNC_INTERVAL, self.cluster_size())
                    next_full = loop.time() + interval + random.uniform(0, interval / 16)
                else:
                    await self.sync_changes()
                failures = 0
                self._passed(True)
            except ConsulError as err:
                self._passed(False)
                failures += 1
                retry = min(RETRY_INTERVAL, RETRY_FIRST * 2 ** (failures - 1))
                log.warning("anti-entropy sync failed, retrying in %gs: %s", retry, err)
                self._full.set()
                next_full = loop.time() + retry
                await _wait(self._trigger, retry)
                continue
            await _wait(self._trigger, max(0.0, next_full - loop.time()))

    async def sync_full(self) -> None:
        """Compare everything with the catalog, then push the differences."""
        await self.update_sync_state()
        await self.sync_changes()

    async def update_sync_state(self) -> None:
        node = self.node
        req = NodeSpecificRequest(Datacenter=node.datacenter, Node=node.name,
                                  Token=self.agent_token())
        services_reply = await self.rpc("Catalog.NodeServices", req)
        checks_reply = await self.rpc("Health.NodeChecks", req)
        found = services_reply.NodeServices
        remote_node = found.Node if found is not None else None
        remote_services = dict(found.Services) if found is not None else {}
        remote_checks = {c.CheckID: c for c in checks_reply.HealthChecks}
        state = self.state
        state.node_in_sync = remote_node is not None and (
            remote_node.Address == node.address and node.node_id == remote_node.ID
            and (remote_node.Meta or {}) == node.meta
            and (remote_node.TaggedAddresses or {}) == node.tagged_addresses)
        for sid, remote in remote_services.items():
            if sid not in state.services and sid not in SERVER_OWNED_SERVICES:
                state.services[sid] = LocalService(remote, deleted=True)
        for sid, local in state.services.items():
            if local.deleted:
                local.mark_in_sync(sid not in remote_services)
                continue
            remote = remote_services.get(sid)
            if remote is not None and local.service.EnableTagOverride and \
                    remote.Tags != local.service.Tags:
                local.service = replace(local.service, Tags=remote.Tags)
            if remote is not None:
                local.service = _with_virtual_ips(local.service, remote)
            local.mark_in_sync(remote is not None and _same_service(local.service, remote))
        for cid, remote in remote_checks.items():
            if cid not in state.checks and cid not in SERVER_OWNED_CHECKS:
                state.checks[cid] = LocalCheck(remote, deleted=True)
        for cid, local in state.checks.items():
            if local.deleted:
                local.mark_in_sync(cid not in remote_checks)
                continue
            remote = remote_checks.get(cid)
            if remote is None:
                local.mark_in_sync(False)
            elif local.deferred is not None:  # an output-only change waits for its timer
                local.mark_in_sync(
                    _same_check(replace(local.check, Output=remote.Output), remote))
            else:
                local.mark_in_sync(_same_check(local.check, remote))

    async def sync_changes(self) -> None:
        """Push every out-of-sync entry; deletions first, the node before services.

        Each entry is marked synced at the version it had when its RPC was built,
        so a change made during the await is sent by the next pass. An entry
        replaced or removed meanwhile is left to that pass too. An entry that
        fails for a reason other than a server error (``ConsulError``, which ends
        the pass) is skipped so the others still sync; the pass then ends with
        :class:`EntriesNotSynced`, so it is retried like a failed sync.
        """
        state = self.state
        node = self.node
        failed: list[str] = []
        for sid, local in list(state.services.items()):
            if state.services.get(sid) is not local or not local.deleted:
                continue
            if not local.in_sync:
                await self._push(failed, f"service {sid!r}", local, "Catalog.Deregister",
                                 DeregisterRequest(Datacenter=node.datacenter, Node=node.name,
                                                   ServiceID=sid, Token=local.token or self.agent_token()))
            if local.in_sync and state.services.get(sid) is local:
                del state.services[sid]
        for cid, local in list(state.checks.items()):
            if state.checks.get(cid) is not local or not local.deleted:
                continue
            if not local.in_sync:
                await self._push(failed, f"check {cid!r}", local, "Catalog.Deregister",
                                 DeregisterRequest(Datacenter=node.datacenter, Node=node.name,
                                                   CheckID=cid, Token=local.token or self.agent_token()))
            if local.in_sync and state.checks.get(cid) is local:
                del state.checks[cid]
        if not state.node_in_sync:
            await self.rpc("Catalog.Register", self._node_request(Token=self.agent_token()))
            state.node_in_sync = True
        self.node_registered.set()
        for sid, local in list(state.services.items()):
            if local.in_sync or local.deleted or state.services.get(sid) is not local:
                continue
            checks = [c for c in state.checks.values()
                      if c.check.ServiceID == sid and not c.in_sync and not c.deleted]
            sent = [(c, c.version) for c in checks]
            if await self._push(failed, f"service {sid!r}", local, "Catalog.Register",
                                self._node_request(Service=local.service,
                                                   Checks=[c.check for c in checks] or None,
                                                   Token=local.token or self.default_token())):
                for check, version in sent:
                    check.mark_synced(version)
        for cid, local in list(state.checks.items()):
            if local.in_sync or local.deleted or state.checks.get(cid) is not local:
                continue
            await self._push(failed, f"check {cid!r}", local, "Catalog.Register",
                             self._node_request(Check=local.check, Token=local.token or self.default_token()))
        if failed:
            raise EntriesNotSynced(f"cannot sync {', '.join(failed)}")

    async def _push(self, failed: list[str], what: str, local: Versioned,
                    method: str, request: Any) -> bool:
        """One RPC for ``local``; marks the version sent as synced. True if it went through."""
        version = local.version
        try:
            await self.rpc(method, request)
        except ConsulError:
            raise
        except Exception as err:  # this entry cannot be sent (a bug, bad data): skip it
            if local.failed != version:  # once per version; retries log at debug
                log.error("anti-entropy: cannot sync %s: %s: %s", what, type(err).__name__, err)
            log.debug("anti-entropy: cannot sync %s", what, exc_info=err)
            local.failed = version
            failed.append(what)
            return False
        local.mark_synced(version)
        return True

    def _node_request(self, **fields) -> RegisterRequest:
        node = self.node
        return RegisterRequest(
            Datacenter=node.datacenter, ID=node.node_id, Node=node.name, Address=node.address,
            TaggedAddresses=node.tagged_addresses, NodeMeta=node.meta,
            SkipNodeUpdate=self.state.node_in_sync, **fields)


async def _wait(event: asyncio.Event, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        pass
