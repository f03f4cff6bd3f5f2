"""The agent's gossip pools: LAN for every agent, WAN for servers, with Consul's tags."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Callable
from pathlib import Path

from proconsul import CONSUL_COMPAT_VERSION, __version__
from proconsul.agent.config import AgentConfig
from proconsul.gossip.driver import GossipDriver, JoinError, SnapshotFile
from proconsul.gossip.keyring import Keyring, KeyringError
from proconsul.gossip.memberlist import MemberlistConfig
from proconsul.gossip.serf import Member, MemberStatus, Serf, SerfConfig, SerfEvent
from proconsul.gossip.transport import NetTransport
from proconsul.lib.routine import RoutineManager
from proconsul.server.reconcile import MemberState
from proconsul.structs.agent import AgentMember
from proconsul.structs.errors import BadRequest, ConsulError

log = logging.getLogger("agent.gossip")

MEMBER_STATUS_NAMES = {MemberStatus.ALIVE: "alive", MemberStatus.LEAVING: "leaving",
                       MemberStatus.LEFT: "left", MemberStatus.FAILED: "failed"}
DEFAULT_SERF_PORTS = {"lan": 8301, "wan": 8302}
RETRY_JOIN_FIRST = 1.0  # the first retry-join wait; it doubles up to retry_interval


def parse_join_address(text: str, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port`` into an address tuple."""
    host, port = text, default_port
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text)
    if not host:
        raise ValueError(f"invalid join address {text!r}")
    return host, port


def member_tags(config: AgentConfig, wan: bool = False) -> dict[str, str]:
    """The serf tags Consul agents gossip (what servers and clients look for)."""
    tags = {
        "build": f"{CONSUL_COMPAT_VERSION}:proconsul-{__version__}",
        "dc": config.datacenter,
        "id": config.node_id,
        "role": "consul" if config.server else "node",
        "segment": "",
        "vsn": str(config.protocol), "vsn_min": "2", "vsn_max": "3",
    }
    if config.server:
        tags.update({"port": str(config.server_port), "raft_vsn": "3",
                     "expect": str(config.bootstrap_expect) if config.bootstrap_expect else "",
                     "wan_join_port": str(config.serf_wan_port),
                     # the leader lists it in the consul service: where peers dial this server
                     "grpc_tls_port": str(config.grpc_tls_port) if config.grpc_tls_port > 0
                     else ""})
        if config.bootstrap:
            tags["bootstrap"] = "1"
        tags = {k: v for k, v in tags.items() if v}
    if wan:
        tags.pop("segment", None)
    return tags


def retry_join_delay(attempt: int, retry_interval: float) -> float:
    """The wait after failed attempt ``attempt``: 1 s, 2 s, 4 s ... at most ``retry_interval``."""
    return min(retry_interval, RETRY_JOIN_FIRST * 2 ** (attempt - 1))


class SerfPool:
    """One running serf pool: its core, driver and socket."""

    def __init__(self, kind: str, name: str, config: AgentConfig, port: int,
                 keyring: Keyring | None, snapshot_path: Path | None,
                 routines: RoutineManager | None = None) -> None:
        self.kind = kind
        self.port = port
        factory = MemberlistConfig.wan if kind == "wan" else MemberlistConfig.lan
        bind = (config.serf_wan_bind if kind == "wan" else config.serf_lan_bind) or \
            config.bind_addr
        memberlist = factory(name, bind_addr=bind, bind_port=port,
                             advertise_addr=config.advertise_addr, keyring=keyring)
        serf_config = SerfConfig(memberlist=memberlist,
                                 tags=member_tags(config, wan=kind == "wan"))
        snapshot = SnapshotFile(snapshot_path, config.rejoin_after_leave) \
            if snapshot_path is not None else None
        state = snapshot.load() if snapshot is not None else None
        self.serf = Serf(serf_config, random.Random(), state)
        self.driver = GossipDriver(self.serf, NetTransport(bind, port), snapshot,
                                   routines=routines, name=f"gossip-{kind}-timers")

    def members(self) -> list[Member]:
        return self.driver.members()

    async def join(self, addresses: list[str]) -> int:
        parsed = []
        for text in addresses:
            try:
                parsed.append(parse_join_address(text, DEFAULT_SERF_PORTS[self.kind]))
            except ValueError as err:
                raise BadRequest(str(err)) from None
        log.info("(%s) joining: %s_addresses=%s", self.kind.upper(), self.kind, addresses)
        joined = await self.driver.join(parsed)
        log.info("(%s) joined: number_of_nodes=%d", self.kind.upper(), joined)
        return joined


class Gossip:
    """The agent's pools plus retry-join loops; events go to ``on_event(kind, event)``."""

    def __init__(self, config: AgentConfig, on_event: Callable[[str, SerfEvent], None],
                 routines: RoutineManager | None = None) -> None:
        self.config = config
        self.routines = routines if routines is not None else RoutineManager()
        keyring = None
        if config.encrypt:
            try:
                keyring = Keyring([Keyring.decode_key(config.encrypt)])
            except KeyringError as err:
                raise BadRequest(f"Invalid encryption key: {err}") from None
        data = Path(config.data_dir) / "serf" if config.data_dir and not config.dev else None
        self.lan = SerfPool("lan", config.node_name, config, config.serf_lan_port, keyring,
                            data / "local.snapshot" if data else None, self.routines)
        self.wan: SerfPool | None = None
        if config.server and config.serf_wan_port >= 0:
            self.wan = SerfPool("wan", f"{config.node_name}.{config.datacenter}", config,
                                config.serf_wan_port, keyring,
                                data / "remote.snapshot" if data else None, self.routines)
        for pool in self.pools():
            pool.driver.subscribe(lambda event, kind=pool.kind: on_event(kind, event))
        self._joiners: list[str] = []

    def pools(self) -> list[SerfPool]:
        return [self.lan] + ([self.wan] if self.wan is not None else [])

    def local_member(self) -> Member | None:
        """This agent's own entry in the LAN pool."""
        return next((m for m in self.lan.members() if m.name == self.config.node_name), None)

    def pool(self, wan: bool) -> SerfPool:
        if wan:
            if self.wan is None:
                raise BadRequest("WAN pool is not available on a client agent")
            return self.wan
        return self.lan

    async def start(self) -> None:
        for pool in self.pools():
            await pool.driver.start()
        cfg = self.config
        for kind, addresses, retry in (("lan", cfg.start_join, False),
                                       ("wan", cfg.start_join_wan, False),
                                       ("lan", cfg.retry_join, True),
                                       ("wan", cfg.retry_join_wan, True)):
            if addresses and (kind == "lan" or self.wan is not None):
                pool = self.lan if kind == "lan" else self.wan
                if retry:
                    name = f"retry-join-{kind}"
                    self.routines.start(name, functools.partial(self._retry_join, pool,
                                                                addresses))
                    self._joiners.append(name)
                else:
                    try:
                        await pool.join(addresses)
                    except JoinError as err:
                        raise ConsulError(f"Error joining {kind} pool: {err}") from None

    def flood_wan(self) -> None:
        """Join the servers of this datacenter seen on the LAN into the WAN pool too,
        as Consul's flood joiner does, so that every server of a datacenter is on the
        WAN and other datacenters learn all of them."""
        if self.wan is None:
            return
        dc = self.config.datacenter
        on_wan = {m.name for m in self.wan.members()}
        for member in self.lan.members():
            port = member.tags.get("wan_join_port")
            if (member.tags.get("role") != "consul" or member.tags.get("dc") != dc
                    or member.status != MemberStatus.ALIVE or not port
                    or member.name == self.config.node_name or f"{member.name}.{dc}" in on_wan):
                continue
            host = f"[{member.addr}]" if ":" in member.addr else member.addr
            self.routines.start(f"wan-flood-join-{member.name}",
                                functools.partial(self._flood_join, f"{host}:{port}"))

    async def _flood_join(self, address: str) -> None:
        assert self.wan is not None
        try:
            await self.wan.join([address])
        except JoinError as err:
            log.warning("(WAN) flood join of %s failed: %s", address, err)

    async def _retry_join(self, pool: SerfPool, addresses: list[str]) -> None:
        """Join until it works; the first retries come quickly (1 s, doubling up to
        ``retry_interval``) so agents started together with their servers meet in seconds."""
        attempt = 0
        limit = self.config.retry_max
        while True:
            attempt += 1
            try:
                joined = await pool.join(addresses)
                log.info("retry-join %s: joined %d node(s)", pool.kind, joined)
                return
            except (JoinError, BadRequest) as err:
                if limit and attempt >= limit:
                    log.error("retry-join %s: giving up after %d attempts: %s",
                              pool.kind, attempt, err)
                    return
                log.warning("retry-join %s failed (attempt %d): %s", pool.kind, attempt, err)
            await asyncio.sleep(retry_join_delay(attempt, self.config.retry_interval))

    async def leave(self) -> None:
        for pool in self.pools():
            log.info("(%s) leaving", pool.kind.upper())
            await pool.driver.leave()
            log.info("(%s) left", pool.kind.upper())

    async def stop(self) -> None:
        for name in self._joiners:
            await self.routines.stop(name)
        for pool in self.pools():
            await pool.driver.stop()

    def lan_member_states(self) -> list[MemberState]:
        return [member_state(m) for m in self.lan.members()]

    def wan_member_states(self) -> list[MemberState]:
        return [member_state(m) for m in self.wan.members()] if self.wan is not None else []


def member_state(member: Member, reaped: bool = False) -> MemberState:
    status = "reaped" if reaped else MEMBER_STATUS_NAMES.get(member.status, "none")
    leaving = status == "leaving"
    return MemberState(member.name, member.addr, dict(member.tags),
                       "alive" if leaving else status, leaving)


def agent_member(member: Member) -> AgentMember:
    """A member as ``/v1/agent/members`` shows it."""
    return AgentMember(
        Name=member.name, Addr=member.addr, Port=member.port, Tags=dict(member.tags),
        Status=int(member.status), ProtocolMin=member.protocol_min,
        ProtocolMax=member.protocol_max, ProtocolCur=member.protocol_cur,
        DelegateMin=member.delegate_min, DelegateMax=member.delegate_max,
        DelegateCur=member.delegate_cur)
