"""Partitions (iptables between 127.0.0.x hosts) and leader kills against 3 durable servers:
an isolated leader steps down, minority reads say KnownLeader false, and consistent
reads and writes stay linearizable (checked with a Wing–Gong history checker)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.agent_process import (
    AgentProcess,
    ServerSpec,
    retry_joins,
    start_server,
    wait_until,
)
from tests.support.iptables import Partitioner
from tests.support.linearizability import check
from tests.support.register_workload import RegisterWorkload

# Multiplier 2 (2 s election timeout) keeps leadership steady on a busy 2-core machine.
FAST = ("-raft-multiplier", "2")
ELECTION_TIMEOUT = 2.0


class Servers:
    """Three durable servers that can be killed, restarted and partitioned."""

    def __init__(self, root: Path) -> None:
        # Addresses of their own (127.1.N.x; other tests use 127.0.0.x): the partitions
        # drop packets by address, and would cut any other test's agents that happened
        # to share one (parallel workers hand out 127.0.0.x independently).
        net = f"127.1.{os.getpid() % 250 + 1}"
        self.specs = [ServerSpec(str(root / f"s{i}"), host=f"{net}.{i + 1}", node=f"s{i}")
                      for i in range(3)]
        joins = retry_joins(self.specs)
        for spec in self.specs:
            spec.extra = ("-bootstrap-expect", "3", *FAST, *joins)
        self.procs: dict[int, AgentProcess] = {i: start_server(s) for i, s in
                                               enumerate(self.specs)}

    def leader(self, among: list[int] | None = None) -> int:
        """The server that the (given) running servers agree leads."""
        ids = among if among is not None else list(self.procs)
        seen: dict[int, str] = {}

        def agreed():
            for i in ids:
                try:
                    seen[i] = self.procs[i].get("/v1/status/leader", timeout=5).json()
                except OSError as err:
                    seen[i] = f"unreachable: {err}"
            named = set(seen[i] for i in ids)
            address = named.pop() if len(named) == 1 else ""
            return next((i + 1 for i in ids
                         if address == f"{self.specs[i].host}:{self.specs[i].server_port}"),
                        None)

        try:
            return wait_until(agreed, 60, "an agreed leader") - 1
        except AssertionError:
            exits = {i: proc.process.poll() for i, proc in self.procs.items()}
            raise AssertionError(f"no agreed leader among {ids}: {seen}; exit status of "
                                 f"each server (None: running): {exits}") from None

    def voters_everywhere(self) -> int:
        """The fewest voters any running server has in its own Raft configuration
        (``?stale``: each answers from its log). A promotion the leader has appended but
        not yet replicated would leave the others unable to elect if the leader died."""
        counts = []
        for proc in self.procs.values():
            if proc.process.poll() is not None:
                continue
            try:
                reply = proc.get("/v1/operator/raft/configuration?stale", timeout=5)
            except OSError:
                return 0
            if reply.status != 200:
                return 0
            counts.append(sum(1 for server in reply.json()["Servers"] if server["Voter"]))
        return min(counts, default=0)

    def hosts(self, ids) -> list[str]:
        return [self.specs[i].host for i in ids]

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()


@pytest.fixture
def servers(tmp_path):
    cluster = Servers(tmp_path)
    leader = cluster.procs[cluster.leader()]
    # A partitioned server is "failed" in gossip and autopilot removes it (as Consul's
    # does); a short stabilization time lets it rejoin as a voter soon after healing.
    config = leader.get("/v1/operator/autopilot/configuration").json()
    leader.put("/v1/operator/autopilot/configuration", dict(config, ServerStabilizationTime="1s"))
    yield cluster
    cluster.stop()


@pytest.fixture
def partitioner():
    net = Partitioner()
    yield net
    net.close()


def test_isolated_leader_steps_down_and_minority_reads_know_no_leader(servers, partitioner):
    old = servers.leader()
    rest = [i for i in servers.procs if i != old]
    servers.procs[old].put("/v1/kv/before", b"1")
    partitioner.partition(servers.hosts([old]), servers.hosts(rest))
    new = servers.leader(rest)
    assert new != old
    isolated = servers.procs[old]

    def knows_no_leader():
        return isolated.get("/v1/kv/before?stale").headers["X-Consul-KnownLeader"] == "false"

    wait_until(knows_no_leader, 10 * ELECTION_TIMEOUT, "the isolated leader to step down")
    # Without a leader the Raft configuration is still readable from the server's own log.
    own = isolated.get("/v1/operator/raft/configuration?stale")
    assert own.status == 200 and len(own.json()["Servers"]) == 3
    stale = isolated.get("/v1/kv/before?stale")
    assert stale.status == 200 and int(stale.headers["X-Consul-LastContact"]) > 0
    assert servers.procs[new].put("/v1/kv/after", b"2").json() is True
    partitioner.heal()
    wait_until(lambda: servers.procs[old].get("/v1/kv/after?stale").status == 200, 30,
               "the old leader to catch up after healing")
    assert servers.leader() in rest


def test_consistent_operations_stay_linearizable_under_partitions_and_kills(servers,
                                                                            partitioner):
    addresses = [(s.host, s.http_port) for s in servers.specs]
    workload = RegisterWorkload(addresses, ["r0", "r1", "r2"], workers=6, ops=10_000,
                                timeout=3.0, seed=7)
    workload.start()

    def progress(more: int) -> None:
        """Let the workload record ``more`` operations (on both sides of any fault)."""
        floor = len(workload.history) + more
        wait_until(lambda: len(workload.history) >= floor, 60, f"{more} more operations")

    progress(30)
    for _ in range(2):
        leader = servers.leader()
        rest = [i for i in servers.procs if i != leader]
        partitioner.partition(servers.hosts([leader]), servers.hosts(rest))
        servers.leader(rest)
        progress(30)
        partitioner.heal()
        wait_until(lambda: servers.voters_everywhere() == 3, 60,
                   "every server to know the healed one as a voter again")
        victim = servers.leader()
        servers.procs[victim].kill()
        servers.leader([i for i in servers.procs if i != victim])
        servers.procs[victim] = start_server(servers.specs[victim])
        wait_until(lambda: servers.voters_everywhere() == 3, 60,
                   "every server to know the restarted one as a voter")
        progress(30)
    history = workload.stop()
    completed = [op for op in history if op.status == "ok"]
    assert len(completed) > 50, f"too little completed work to judge ({len(completed)} ops)"
    result = check(history)
    assert result.ok, result.explanation
