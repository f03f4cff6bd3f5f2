"""Autopilot (leader only): server health, non-voter promotion, dead-server cleanup.

New servers seen in LAN gossip join Raft as non-voters and are promoted once
they have been healthy for ``ServerStabilizationTime``. Servers that failed or
left gossip are removed, at most ``(voters - 1) // 2`` at a time and never below
``MinQuorum`` voters, as Consul's raft-autopilot prunes them: on the periodic
reconcile and right after a change (a server added), not on the failure itself,
so a server restarted within the interval keeps its vote. Peer counts and
failure tolerance count voters only.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from proconsul.lib.duration import format_seconds, parse_duration
from proconsul.lib.metrics import registry as metrics
from proconsul.raft.interface import ConsensusError
from proconsul.structs.operator import AutopilotConfig, OperatorHealthReply, ServerHealth

if TYPE_CHECKING:
    from proconsul.server.reconcile import MemberState
    from proconsul.server.server import Server

log = logging.getLogger(__name__)

HEALTH_INTERVAL = 1.0
RECONCILE_INTERVAL = 10.0
MIN_PASS_INTERVAL = 0.05  # between passes, even when a step is due at once


class Autopilot:
    """Runs on the leader; ``health()`` answers the operator API anywhere."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self._stable_since: dict[str, float] = {}
        self._started_at = time.monotonic()
        self._wake = asyncio.Event()

    def config(self) -> AutopilotConfig:
        return self.server.store.autopilot_config or self.server.config.autopilot

    def notify(self) -> None:
        """Gossip membership changed: reconcile soon."""
        self._wake.set()

    async def run(self) -> None:
        self._started_at = time.monotonic()
        next_reconcile = 0.0
        while True:
            self._record(self.health())
            now = time.monotonic()
            promotion_at = self._promotion_due()
            if now >= min(next_reconcile, promotion_at) or self._wake.is_set():
                self._wake.clear()
                changed = False
                due = now >= next_reconcile
                try:
                    changed = await self.reconcile(prune=due)
                except ConsensusError as err:
                    log.warning("autopilot: %s", err)
                # After a change, look again at once: the next one may already be due.
                # A pass on a wake-up leaves the periodic one (which prunes) where it was.
                if changed:
                    next_reconcile = now
                elif due:
                    next_reconcile = now + RECONCILE_INTERVAL
                promotion_at = self._promotion_due()
            delay = min(HEALTH_INTERVAL, max(MIN_PASS_INTERVAL, min(next_reconcile, promotion_at)
                                                  - time.monotonic()))
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _record(self, health: OperatorHealthReply) -> None:
        """Consul's autopilot gauges, and the leader's view of follower contact."""
        metrics.set_gauge("consul.autopilot.healthy", 1 if health.Healthy else 0)
        metrics.set_gauge("consul.autopilot.failure_tolerance", health.FailureTolerance)
        me = self.server.config.node_id
        for view in self.server.consensus.servers():
            if view.id != me:
                metrics.add_sample("consul.raft.leader.lastContact", view.last_contact * 1000)

    def _promotion_due(self) -> float:
        """When the earliest healthy non-voter will have been stable long enough."""
        stabilization = parse_duration(self.config().ServerStabilizationTime) / 1e9
        due = [self._stable_since[view.id] + stabilization
               for view in self.server.consensus.servers()
               if not view.voter and view.id in self._stable_since]
        return max(min(due), self._started_at + stabilization) if due else math.inf

    def _members(self) -> dict[str, MemberState]:
        dc = self.server.config.datacenter
        return {m.tags["id"]: m for m in self.server.lan_members()
                if m.tags.get("role") == "consul" and m.tags.get("dc", dc) == dc
                and m.tags.get("id")}

    def health(self) -> OperatorHealthReply:
        """Every configured server's health, as ``/v1/operator/autopilot/health`` shows it."""
        consensus = self.server.consensus
        config = self.config()
        threshold = parse_duration(config.LastContactThreshold) / 1e9
        members = self._members()
        servers = consensus.servers()
        leader_index = consensus.last_index()
        now = time.monotonic()
        reports = []
        for view in servers:
            member = members.get(view.id)
            serf = member.status if member is not None else "none"
            if view.id == self.server.config.node_id and serf == "none":
                serf = "alive"
            healthy = (serf == "alive" and view.last_contact <= threshold
                       and view.last_index + config.MaxTrailingLogs >= leader_index)
            if healthy:
                self._stable_since.setdefault(view.id, now)
            else:
                self._stable_since.pop(view.id, None)
            since = self._stable_since.get(view.id)
            stable = datetime.fromtimestamp(time.time() - (now - since), UTC) if since else None
            reports.append(ServerHealth(
                ID=view.id, Name=member.name if member else self._name(view.id),
                Address=view.address, SerfStatus=serf,
                Version=(member.tags.get("build", "") if member else "").split(":")[0],
                Leader=view.address == consensus.leader_address(),
                LastContact=format_seconds(view.last_contact),
                LastTerm=consensus.term(), LastIndex=view.last_index, Healthy=healthy,
                Voter=view.voter,
                StableSince=stable.isoformat().replace("+00:00", "Z") if stable else
                "0001-01-01T00:00:00Z"))
        voters = [r for r in reports if r.Voter]
        quorum = len(voters) // 2 + 1
        healthy_voters = sum(r.Healthy for r in voters)
        return OperatorHealthReply(Healthy=all(r.Healthy for r in reports),
                                   FailureTolerance=max(0, healthy_voters - quorum),
                                   Servers=reports)

    def _name(self, server_id: str) -> str:
        return self.server.config.node_name if server_id == self.server.config.node_id \
            else server_id

    async def reconcile(self, prune: bool = True) -> bool:
        """One step towards the wanted configuration; whether it changed anything.
        Dead servers are removed only if ``prune``."""
        consensus = self.server.consensus
        if not consensus.is_leader():
            return False
        config = self.config()
        members = self._members()
        configured = {view.id: view for view in consensus.servers()}
        for server_id, member in members.items():
            # Not one that is leaving (it counts as alive until it has left): a leader
            # that just removed itself would be added back. Consul's leader, too, joins
            # only serf's StatusAlive servers to raft.
            if server_id not in configured and member.status == "alive" \
                    and not member.leaving:
                address = f"{member.addr}:{member.tags.get('port', '8300')}"
                log.info("autopilot: adding server %s (%s) as a non-voter", member.name,
                         address)
                await consensus.add_nonvoter(server_id, address)
                return True  # one change at a time; the next pass continues
        stabilization = parse_duration(config.ServerStabilizationTime) / 1e9
        now = time.monotonic()
        for view in configured.values():
            since = self._stable_since.get(view.id)
            if not view.voter and since is not None and now - since >= stabilization \
                    and now - self._started_at >= stabilization:
                log.info("autopilot: promoting server %s to voter", view.id)
                await consensus.add_voter(view.id, view.address)
                return True
        if prune and config.CleanupDeadServers:
            return await self._cleanup(config, members, configured)
        return False

    async def _cleanup(self, config: AutopilotConfig, members, configured) -> bool:
        dead = [view for view in configured.values()
                if view.id != self.server.config.node_id
                and (members.get(view.id) is None or members[view.id].status in
                     ("failed", "left", "reaped"))]
        voters = sum(1 for view in configured.values() if view.voter)
        allowed = (voters - 1) // 2
        removed = 0
        changed = False
        for view in dead:
            if view.voter and (removed >= allowed or voters - 1 < config.MinQuorum):
                log.warning("autopilot: not removing dead server %s: would risk quorum",
                            view.id)
                continue
            log.info("autopilot: removing dead server %s", view.id)
            await self.server.consensus.remove_server(view.id)
            changed = True
            if view.voter:
                voters -= 1
                removed += 1
        return changed
