"""The agent process: its gossip pools, its server (in server mode) and its HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiohttp import web

from proconsul.agent.config import AgentConfig
from proconsul.agent.consensus import DurableRaft, load_node_id
from proconsul.agent.gossip import Gossip, member_state
from proconsul.agent.http.server import build_app
from proconsul.agent.user_events import UserEvents
from proconsul.fsm.fsm import FSM
from proconsul.gossip.serf import MemberEvent, MemberEventType, SerfEvent, UserEvent
from proconsul.raft.node import RaftNode
from proconsul.server.server import Server, ServerConfig
from proconsul.structs.coordinate import Coordinate, CoordinateEntry, CoordinateUpdateRequest
from proconsul.structs.errors import ConsulError

log = logging.getLogger("agent")

COORDINATE_SYNC_INTERVAL = 15.0


class Agent:
    """One Proconsul agent: gossip, ``/v1``, and a server answering its RPCs.

    Client-mode agents (forwarding to remote servers over RPC) arrive with the
    cluster issue; until then every agent runs its own server.
    """

    def __init__(self, config: AgentConfig) -> None:
        if config.data_dir and not config.dev:
            config.node_id = load_node_id(config)
        self.config = config.finish()
        self.started_at = time.time()
        self.raft: DurableRaft | None = None
        self.server = Server(ServerConfig(
            datacenter=config.datacenter, node_name=config.node_name, node_id=config.node_id,
            advertise_addr=config.advertise_addr, server_port=config.server_port,
            serf_lan_port=config.serf_lan_port,
            coordinate_update_period=0.1 if config.dev else 5.0),
            None if config.dev else self._durable_raft)
        self.gossip = Gossip(config, self._on_gossip_event)
        self.user_events = UserEvents(config.node_name, self._local_services)
        self.server.lan_members = self.gossip.lan_member_states
        self.server.wan_coordinates = self._wan_coordinates
        self.shutdown_requested = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._coordinate_task: asyncio.Task | None = None

    def _durable_raft(self, fsm: FSM) -> RaftNode:
        self.raft = DurableRaft(self.config, fsm)
        return self.raft.node

    @property
    def http_address(self) -> str:
        return f"{self.config.client_addr}:{self.config.http_port}"

    async def start(self) -> None:
        try:
            await self.gossip.start()
        except OSError as err:
            raise ConsulError(f"cannot start gossip on {self.config.bind_addr}: "
                              f"{err.strerror}") from None
        if self.raft is not None:
            try:
                await self.raft.start()
            except ConsulError:
                await self.gossip.stop()
                raise
            self.raft.members_changed(self.gossip.lan.members())
        self.server.start()
        self._runner = web.AppRunner(build_app(self), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.client_addr, self.config.http_port,
                           reuse_address=True)
        try:
            await site.start()
        except OSError as err:
            await self._runner.cleanup()
            await self.gossip.stop()
            raise ConsulError(f"cannot listen on {self.http_address}: {err.strerror}") from None
        self._coordinate_task = asyncio.create_task(self._sync_coordinates())
        log.info("HTTP API listening on http://%s", self.http_address)

    async def leave(self) -> None:
        """Leave the gossip pools gracefully (``/v1/agent/leave``, or on terminate)."""
        await self.gossip.leave()

    async def stop(self) -> None:
        if self._coordinate_task is not None:
            self._coordinate_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._coordinate_task
        if self._runner is not None:
            await self._runner.cleanup()
        await self.gossip.stop()
        await self.server.stop()
        if self.raft is not None:
            await self.raft.stop()

    async def rpc(self, method: str, request: Any) -> Any:
        """Call a server endpoint; in server mode that is this agent's own server."""
        return await self.server.rpc(method, request)

    # ---- gossip events --------------------------------------------------------

    def _on_gossip_event(self, pool: str, event: SerfEvent) -> None:
        if pool == "lan" and isinstance(event, MemberEvent):
            if self.raft is not None:
                self.raft.members_changed(self.gossip.lan.members())
            reaped = event.type == MemberEventType.REAP
            for member in event.members:
                self.server.reconciler.notify(member_state(member, reaped))
        elif pool == "lan" and isinstance(event, UserEvent):
            self.user_events.received(event)

    def _local_services(self):
        _, found = self.server.store.node_services(None, self.config.node_name)
        return list(found.Services.values()) if found is not None else []

    def _wan_coordinates(self) -> list[tuple[str, CoordinateEntry]]:
        wan = self.gossip.wan
        if wan is None:
            return []
        entries = []
        for member in wan.members():
            name, _, dc = member.name.rpartition(".")
            coord = wan.serf.coordinate_cache.get(member.name)
            if member.name == wan.serf.name and wan.serf.coordinates is not None:
                coord = wan.serf.coordinates.coordinate
            if coord is not None and name:
                entries.append((dc, CoordinateEntry(Node=member.name, Coord=_coordinate(coord))))
        return entries

    async def _sync_coordinates(self) -> None:
        """Send this node's LAN coordinate to the servers now and then (first at once)."""
        serf = self.gossip.lan.serf
        while serf.coordinates is not None:
            try:
                await self.rpc("Coordinate.Update", CoordinateUpdateRequest(
                    Node=self.config.node_name, Datacenter=self.config.datacenter,
                    Coord=_coordinate(serf.coordinates.coordinate)))
            except ConsulError as err:
                log.warning("coordinate update failed: %s", err)
            await asyncio.sleep(COORDINATE_SYNC_INTERVAL)


def _coordinate(coord) -> Coordinate:
    return Coordinate(Vec=list(coord.vec), Error=coord.error, Adjustment=coord.adjustment,
                      Height=coord.height)
