"""Three durable servers and two client agents that a nemesis can kill, partition and pause."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from tests.soak.firewall import Firewall
from tests.support.agent_process import (
    AgentProcess,
    ServerSpec,
    next_loopback,
    retry_joins,
    start_agent,
    start_server,
    wait_until,
)

# Multiplier 2 (2 s election timeout) keeps leadership steady on a busy 2-core machine.
RAFT = ("-raft-multiplier", "2")
START_TIMEOUT = 60.0


class SoakCluster:
    """``servers`` (0..2) and ``clients`` (0..1) on their own 127.0.0.x addresses.

    Faults: :meth:`kill` (kill -9) then :meth:`restart`, :meth:`isolate` (iptables)
    then :meth:`heal`, :meth:`pause` (SIGSTOP) then :meth:`resume` (SIGCONT).
    """

    def __init__(self, root: Path | None = None, servers: int = 3, clients: int = 2) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="proconsul-soak-"))
        self.specs = [ServerSpec(str(self.root / f"s{i}"), node=f"soak-s{i}")
                      for i in range(servers)]
        joins = retry_joins(self.specs)
        for spec in self.specs:
            spec.extra = ("-bootstrap-expect", str(servers), *RAFT, *joins)
        self.servers: dict[int, AgentProcess] = {}
        self.clients: list[AgentProcess] = []
        self.killed: set[int] = set()
        self.paused: set[int] = set()
        self.firewall: Firewall | None = None
        self._client_joins = joins
        self._client_count = clients

    def start(self) -> None:
        for i, spec in enumerate(self.specs):
            self.servers[i] = start_server(spec, timeout=START_TIMEOUT)
        self.wait_leader(90)
        leader = self.servers[self.leader() or 0]
        config = leader.get("/v1/operator/autopilot/configuration", timeout=10).json()
        # A partitioned server is reaped by autopilot (as Consul's is); a short
        # stabilization time makes it a voter again soon after healing.
        leader.put("/v1/operator/autopilot/configuration",
                   dict(config, ServerStabilizationTime="1s"), timeout=10)
        for n in range(self._client_count):
            data = self.root / f"c{n}"
            self.clients.append(start_agent(
                "-data-dir", str(data), "-node", f"soak-c{n}", *self._client_joins,
                host=next_loopback(), dev=False, timeout=START_TIMEOUT))
        wait_until(lambda: self._members_alive() == len(self.specs) + len(self.clients), 90,
                   "every agent to be an alive member")
        ports = [p for s in self.specs for p in (s.lan_port, s.server_port)]
        ports += [c.lan_port for c in self.clients]
        self.firewall = Firewall(ports)

    # ---- addresses ------------------------------------------------------------

    @property
    def hosts(self) -> list[str]:
        return [s.host for s in self.specs] + [c.host for c in self.clients]

    def http_addresses(self) -> list[tuple[str, int]]:
        return ([(s.host, s.http_port) for s in self.specs]
                + [(c.host, c.port) for c in self.clients])

    def _members_alive(self) -> int:
        with contextlib.suppress(OSError, ValueError):
            members = self.servers[0].get("/v1/agent/members", timeout=5).json()
            return sum(1 for m in members if m["Status"] == 1)
        return 0

    # ---- leadership -----------------------------------------------------------

    def leader(self) -> int | None:
        """The server the running, unpaused servers agree leads (None if they don't)."""
        named = set()
        for i, proc in self.servers.items():
            if i in self.killed or i in self.paused:
                continue
            try:
                named.add(proc.get("/v1/status/leader", timeout=2).json())
            except (OSError, ValueError):
                return None
        if len(named) != 1:
            return None
        address = named.pop()
        return next((i for i, s in enumerate(self.specs)
                     if address == f"{s.host}:{s.server_port}"), None)

    def wait_leader(self, timeout: float) -> None:
        wait_until(lambda: self.leader() is not None, timeout, "an agreed leader")

    def voters(self) -> int:
        leader = self.leader()
        if leader is None:
            return 0
        try:
            config = self.servers[leader].get("/v1/operator/raft/configuration", timeout=5)
            return sum(1 for server in config.json()["Servers"] if server["Voter"])
        except (OSError, ValueError, KeyError):
            return 0

    def settle(self, timeout: float = 120) -> bool:
        """Wait for a leader and every server a voter again; False if that took too long."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.voters() == len(self.specs) and self._members_alive() == len(self.hosts):
                return True
            time.sleep(0.2)
        return False

    # ---- faults -----------------------------------------------------------------

    def kill(self, i: int) -> None:
        self.servers[i].kill()
        self.killed.add(i)

    def restart(self, i: int) -> None:
        self.servers[i] = start_server(self.specs[i], timeout=START_TIMEOUT)
        self.killed.discard(i)

    def isolate(self, i: int) -> None:
        host = self.specs[i].host
        self.firewall.isolate(host, [h for h in self.hosts if h != host])

    def heal(self) -> None:
        self.firewall.heal()

    def pause(self, i: int) -> None:
        os.kill(self.servers[i].process.pid, signal.SIGSTOP)
        self.paused.add(i)

    def resume(self, i: int) -> None:
        os.kill(self.servers[i].process.pid, signal.SIGCONT)
        self.paused.discard(i)

    def heal_all(self) -> None:
        """Undo every fault: rules gone, paused servers continued, killed ones restarted."""
        if self.firewall is not None:
            self.firewall.heal()
        for i in list(self.paused):
            self.resume(i)
        for i in list(self.killed):
            self.restart(i)

    def stop(self) -> None:
        """Stop everything and remove every rule and data dir, whatever state it is in."""
        try:
            if self.firewall is not None:
                self.firewall.close()
        finally:
            for i in list(self.paused):
                with contextlib.suppress(OSError):
                    self.resume(i)
            for proc in [*self.servers.values(), *self.clients]:
                with contextlib.suppress(Exception):
                    proc.stop()
            shutil.rmtree(self.root, ignore_errors=True)
