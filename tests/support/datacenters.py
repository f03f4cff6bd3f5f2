"""Several datacenters of real agents, WAN-joined and converged, in one call.

:func:`start_datacenters` starts N servers per datacenter (LAN-joined to each
other, WAN-joined to the primary's first server) and client agents, and returns
once every agent sees a leader and every datacenter lists all of them. The agents
run either in network namespaces (:class:`~tests.support.netns.WanLab`, needs root,
the WAN can be cut, delayed or walled) or on fresh 127.0.0.x addresses
(:class:`Loopback`); both place agents through the same two calls, ``address(dc)``
and ``start_agent(dc, ...)``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from tests.support.agent_process import (
    START_TIMEOUT,
    AgentProcess,
    _launch,
    free_port,
    next_loopback,
    wait_until,
)
from tests.support.netns import WanLab

FAST = ("-raft-multiplier", "2")


class Network(Protocol):
    """Where agents run: :class:`WanLab` or :class:`Loopback`."""

    agents: list[AgentProcess]

    def address(self, dc: str) -> str: ...

    def start_agent(self, dc: str, *extra: str, host: str | None = None, server: bool = True,
                    bootstrap_expect: int = 1, join: list[str] = (),
                    join_wan: list[str] = (), timeout: float = START_TIMEOUT) -> AgentProcess: ...

    def close(self) -> None: ...


@dataclass
class Slot:
    """One agent's address: its ports and data directory (kept across restarts)."""

    http: int
    lan: int
    wan: int
    server: int
    dns: int
    data_dir: str


class Loopback:
    """Agents of any datacenter on fresh 127.0.0.x addresses with free ports (no root
    needed, nothing between datacenters to cut): ``join`` and ``join_wan`` name
    agents by address, as in :class:`WanLab`."""

    def __init__(self) -> None:
        self.agents: list[AgentProcess] = []
        self._slots: dict[str, Slot] = {}

    def address(self, dc: str) -> str:
        host = next_loopback()
        self._slots[host] = Slot(*(free_port(host) for _ in range(5)),
                                 data_dir=tempfile.mkdtemp(prefix=f"proconsul-{dc}-"))
        return host

    def slot(self, host: str) -> Slot:
        """The ports an agent at ``host`` (from :meth:`address`) has or will have."""
        return self._slots[host]

    def start_agent(self, dc: str, *extra: str, host: str | None = None, server: bool = True,
                    bootstrap_expect: int = 1, join: list[str] = (),
                    join_wan: list[str] = (), timeout: float = START_TIMEOUT) -> AgentProcess:
        host = host or self.address(dc)
        ports = self._slots[host]
        args = ["-datacenter", dc, "-node", node_name(dc, host),
                "-bind", host, "-client", host, "-data-dir", ports.data_dir,
                "-http-port", str(ports.http), "-serf-lan-port", str(ports.lan),
                "-serf-wan-port", str(ports.wan), "-server-port", str(ports.server),
                "-dns-port", str(ports.dns)]
        if server:
            args += ["-server", "-bootstrap-expect", str(bootstrap_expect or 1)]
        args += [a for j in join for a in ("-retry-join", f"{j}:{self._slots[j].lan}")]
        args += [a for j in join_wan for a in ("-retry-join-wan", f"{j}:{self._slots[j].wan}")]
        agent = _launch([*args, *extra], AgentProcess(host, ports.http, None, ports.lan,
                                                      ports.wan, ports.dns), timeout)
        self.agents.append(agent)
        return agent

    def close(self) -> None:
        for agent in self.agents:
            if agent.process is not None:
                agent.kill()
        for slot in self._slots.values():
            shutil.rmtree(slot.data_dir, ignore_errors=True)


def node_name(dc: str, host: str) -> str:
    """The node name :class:`Loopback` gives the agent of ``dc`` at ``host``."""
    return f"{dc}-{host.rsplit('.', 1)[1]}"


@contextmanager
def network(datacenters: list[str] | None) -> Iterator[Network]:
    """A :class:`WanLab` of ``datacenters`` (or a :class:`Loopback` for None), closed on
    exit even when the test fails."""
    net: Network = Loopback() if datacenters is None else WanLab(datacenters)
    try:
        yield net
    finally:
        net.close()


@dataclass
class Federation:
    """The agents :func:`start_datacenters` started, by datacenter."""

    net: Network
    servers: dict[str, list[AgentProcess]]
    clients: dict[str, AgentProcess]
    _args: dict[int, tuple[str, tuple[str, ...], dict]] = field(default_factory=dict)

    def restart(self, agent: AgentProcess) -> AgentProcess:
        """Start a (killed or stopped) agent again with the same flags, address and data
        directory; it replaces ``agent`` in :attr:`servers` / :attr:`clients`."""
        dc, extra, kwargs = self._args.pop(id(agent))
        again = self.net.start_agent(dc, *extra, **kwargs)
        self._args[id(again)] = (dc, extra, kwargs)
        group = self.servers.get(dc, [])
        if agent in group:
            group[group.index(agent)] = again
        elif self.clients.get(dc) is agent:
            self.clients[dc] = again
        return again


def leader_known(agent: AgentProcess) -> bool:
    try:
        return bool(agent.get("/v1/status/leader", timeout=5).json())
    except (OSError, ValueError):
        return False


def lists_datacenters(agent: AgentProcess, dcs: list[str]) -> bool:
    try:
        return sorted(agent.get("/v1/catalog/datacenters", timeout=5).json()) == sorted(dcs)
    except (OSError, ValueError):
        return False


def start_datacenters(net: Network, servers: dict[str, int], clients: tuple[str, ...] = (),
                      extra: tuple[str, ...] = (), primary: str | None = "dc1",
                      per_dc: Callable[[str], tuple[str, ...]] = lambda dc: (),
                      join_wan: bool = True, token: str = "", timeout: float = 90
                      ) -> Federation:
    """``servers[dc]`` servers per datacenter and a client agent in each of ``clients``,
    all with ``extra`` (and ``per_dc(dc)``) and ``-raft-multiplier 2``; with ``primary``,
    every agent names it ``primary_datacenter`` (None: each datacenter its own primary,
    Consul's default). Servers LAN-join each other and, with ``join_wan``, WAN-join the
    first server of the first datacenter. Returns once every agent sees a leader and
    (with ``join_wan``) every server sees every server alive in the WAN pool and every
    client lists every datacenter (``token`` reads the WAN members where ACLs deny)."""
    dcs = list(servers)
    common = (*FAST, *(("-hcl", f'primary_datacenter = "{primary}"') if primary else ()),
              *extra)
    addresses = {dc: [net.address(dc) for _ in range(n)] for dc, n in servers.items()}
    wan_seed = [addresses[dcs[0]][0]] if join_wan else []
    fed = Federation(net, {}, {})

    def start(dc: str, flags: tuple[str, ...], **kwargs) -> AgentProcess:
        agent = net.start_agent(dc, *flags, **kwargs)
        fed._args[id(agent)] = (dc, flags, kwargs)
        return agent

    for dc, hosts in addresses.items():
        fed.servers[dc] = [start(dc, (*common, *per_dc(dc)), host=host,
                                 bootstrap_expect=len(hosts),
                                 join=[h for h in hosts if h != host], join_wan=wan_seed)
                           for host in hosts]
    for dc in clients:
        fed.clients[dc] = start(dc, (*common, *per_dc(dc)), server=False, join=addresses[dc])
    everyone = [a for group in fed.servers.values() for a in group] + list(fed.clients.values())
    for agent in everyone:
        wait_until(lambda a=agent: leader_known(a), timeout, f"a leader seen by {agent.host}")
    if join_wan:
        wait_wan_converged(fed, token, timeout)
        for agent in fed.clients.values():
            wait_until(lambda a=agent: lists_datacenters(a, dcs), timeout,
                       f"every datacenter, seen by the client {agent.host}")
    return fed


def wan_alive(agent: AgentProcess, token: str = "") -> list[str]:
    """The WAN members ``agent`` (a server) sees alive, by name (``<node>.<dc>``)."""
    try:
        members = agent.get("/v1/agent/members?wan=1", timeout=5,
                            headers={"X-Consul-Token": token} if token else None).json()
    except (OSError, ValueError):
        return []
    return sorted(m["Name"] for m in members if m["Status"] == 1)


def wait_wan_converged(fed: Federation, token: str = "", timeout: float = 90) -> None:
    """Wait until every server sees every server of every datacenter alive in the WAN
    pool (what ``members -wan`` shows)."""
    everyone = [a for group in fed.servers.values() for a in group]
    for agent in everyone:
        wait_until(lambda a=agent: len(wan_alive(a, token)) == len(everyone), timeout,
                   f"all {len(everyone)} servers alive in the WAN pool of {agent.host}")
