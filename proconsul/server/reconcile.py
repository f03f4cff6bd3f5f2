"""Keeps the catalog in step with LAN gossip: members become nodes with a serfHealth check."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from proconsul.lib.metrics import registry as metrics
from proconsul.server.peering.materials import GRPC_TLS_PORT_META
from proconsul.structs.catalog import (
    HEALTH_CRITICAL,
    HEALTH_PASSING,
    SERF_CHECK_ALIVE_OUTPUT,
    SERF_CHECK_ID,
    SERF_CHECK_NAME,
    DeregisterRequest,
    HealthCheck,
    NodeService,
    RegisterRequest,
)
from proconsul.structs.messages import MessageType

if TYPE_CHECKING:
    from proconsul.server.server import Server

log = logging.getLogger(__name__)

SERF_CHECK_FAILED_OUTPUT = "Agent not live or unreachable"
RECONCILE_INTERVAL = 60.0


@dataclass(frozen=True)
class MemberState:
    """What reconciliation needs to know about one LAN member."""

    name: str
    addr: str
    tags: dict[str, str]
    status: str  # "alive", "failed", "left" or "reaped"
    leaving: bool = False  # alive, but has broadcast its intent to leave


class MemberReconciler:
    """Leader routine: applies member changes to the catalog through Raft.

    Alive members are registered with a passing serfHealth check (servers also
    get the ``consul`` service), failed ones turn critical, and members that
    left or were reaped are deregistered -- a server that left is first
    removed from the Raft configuration. Writes are skipped when the catalog
    already agrees.
    """

    def __init__(self, server: Server) -> None:
        self.server = server
        self._queue: asyncio.Queue[MemberState] | None = None

    def notify(self, member: MemberState) -> None:
        if self._queue is not None:
            self._queue.put_nowait(member)

    async def run(self) -> None:
        """Reconcile every member now and every minute, and each change as it comes."""
        self._queue = asyncio.Queue()
        try:
            while True:
                start = metrics.timer()
                for member in self.server.lan_members():
                    await self._reconcile_logged(member)
                metrics.measure_since("consul.leader.reconcile", start)
                try:
                    member = await asyncio.wait_for(self._queue.get(), RECONCILE_INTERVAL)
                except TimeoutError:
                    continue
                await self._reconcile_logged(member)
                while not self._queue.empty():
                    await self._reconcile_logged(self._queue.get_nowait())
        finally:
            self._queue = None

    async def _reconcile_logged(self, member: MemberState) -> None:
        start = metrics.timer()
        try:
            await self.reconcile(member)
        except Exception as err:  # keep reconciling other members; the next pass retries
            log.warning("failed to reconcile member %s: %s", member.name, err)
        metrics.measure_since("consul.leader.reconcileMember", start)

    async def reconcile(self, member: MemberState) -> None:
        cfg = self.server.config
        if member.tags.get("dc", cfg.datacenter) != cfg.datacenter:
            return
        if member.status in ("left", "reaped"):
            await self._remove_server(member)
            if member.name != cfg.node_name and self.server.store.nodes.get(member.name.lower()):
                await self.server.raft_apply(MessageType.DEREGISTER, DeregisterRequest(
                    Datacenter=cfg.datacenter, Node=member.name))
            return
        passing = member.status == "alive"
        status = HEALTH_PASSING if passing else HEALTH_CRITICAL
        if self._up_to_date(member, status):
            return
        service = None
        if member.tags.get("role") == "consul":
            grpc_tls = member.tags.get(GRPC_TLS_PORT_META, "")
            service = NodeService(ID="consul", Service="consul",
                                  Port=int(member.tags.get("port", cfg.server_port)),
                                  Meta={GRPC_TLS_PORT_META: grpc_tls} if grpc_tls else None)
        await self.server.raft_apply(MessageType.REGISTER, RegisterRequest(
            Datacenter=cfg.datacenter, Node=member.name, ID=member.tags.get("id", ""),
            Address=member.addr, Service=service, SkipNodeUpdate=member.status != "alive",
            Check=HealthCheck(
                Node=member.name, CheckID=SERF_CHECK_ID, Name=SERF_CHECK_NAME, Status=status,
                Output=SERF_CHECK_ALIVE_OUTPUT if passing else SERF_CHECK_FAILED_OUTPUT)))

    async def _remove_server(self, member: MemberState) -> None:
        """A server that left gracefully no longer votes (Consul's removeConsulServer)."""
        if member.tags.get("role") != "consul" or member.name == self.server.config.node_name:
            return
        address = f"{member.addr}:{member.tags.get('port', '')}"
        server_id = member.tags.get("id")
        # Non-voters too (one added back while it was leaving, say), as Consul's leader.
        configured = any(view.address == address or view.id == server_id
                         for view in self.server.consensus.servers())
        if configured and server_id:
            log.info("removing server %s (%s) that left from the raft configuration",
                     member.name, address)
            await self.server.consensus.remove_server(server_id)

    def _up_to_date(self, member: MemberState, status: str) -> bool:
        store = self.server.store
        node = store.nodes.get(member.name.lower())
        check = store.checks.get((member.name.lower(), SERF_CHECK_ID))
        if node is None or check is None or check.Status != status:
            return False
        if member.tags.get("role") == "consul" and \
                store.services.get((member.name.lower(), "consul")) is None:
            return False
        return status != HEALTH_PASSING or node.Address == member.addr
