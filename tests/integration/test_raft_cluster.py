"""Durable Raft with real server processes on 127.0.0.x: kill -9, elections, catch-up.

Servers run with ``-raft-multiplier 1``, so an election timeout is 1 s. A failover is
checked by its count of elections, not by the clock (a loaded machine stretches time,
never the protocol): the new leader's term is at most ``MAX_ELECTIONS`` past the killed
leader's (the first election, plus split votes).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path

import pytest

from tests.support.agent_process import (
    AgentProcess,
    ServerSpec,
    next_loopback,
    retry_joins,
    start_server,
    wait_until,
)

MAX_ELECTIONS = 4
FAST = ("-raft-multiplier", "1")
# These tests kill servers and restart them, and count on the restarted one voting again.
# With autopilot's dead-server cleanup (Consul's default) a server down long enough for
# gossip to call it failed is removed and comes back a non-voter until promoted 10 s
# later; killing the next leader before that left one voter of two, which no election
# can replace (seen under load: "autopilot: removing dead server", then no leader).
NO_CLEANUP = ("-hcl", "autopilot { cleanup_dead_servers = false }")


def try_call(server: AgentProcess, method: str, path: str, body=None, timeout: float = 5):
    try:
        return server.call(method, path, body, timeout=timeout)
    except OSError:
        return None


def leader_address(server: AgentProcess) -> str:
    reply = try_call(server, "GET", "/v1/status/leader", timeout=2)
    return reply.json() if reply is not None and reply.status == 200 else ""


def raft_term(server: AgentProcess) -> int:
    reply = try_call(server, "GET", "/v1/agent/self", timeout=5)
    return int(reply.json()["Stats"]["raft"]["term"]) if reply and reply.status == 200 else 0


def put_acked(server: AgentProcess, key: str, value: str) -> bool:
    reply = try_call(server, "PUT", f"/v1/kv/{key}", value)
    return reply is not None and reply.status == 200 and reply.text.strip() == "true"


def stale_values(server: AgentProcess, prefix: str) -> dict[str, str]:
    reply = try_call(server, "GET", f"/v1/kv/{prefix}?recurse&stale", timeout=10)
    if reply is None or reply.status != 200:
        return {}
    return {e["Key"]: base64.b64decode(e["Value"] or "").decode() for e in reply.json()}


class Cluster:
    """Durable servers that can be killed and restarted with the same identity."""

    def __init__(self, root: Path, size: int, *extra: str) -> None:
        host = next_loopback()
        self.specs = [ServerSpec(str(root / f"s{i}"), host=host, node=f"s{i}")
                      for i in range(size)]
        joins = retry_joins(self.specs)
        for spec in self.specs:
            spec.extra = ("-bootstrap-expect", str(size), *FAST, *NO_CLEANUP,
                          "-retry-interval", "1s", *joins, *extra)
        self.procs: dict[int, AgentProcess] = {}

    def start(self, i: int) -> None:
        self.procs[i] = start_server(self.specs[i])

    def kill(self, i: int) -> None:
        self.procs.pop(i).kill()

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()

    def address(self, i: int) -> str:
        return f"{self.specs[i].host}:{self.specs[i].server_port}"

    def index_of(self, address: str) -> int | None:
        return next((i for i in range(len(self.specs)) if self.address(i) == address), None)

    def leader(self, timeout: float = 20) -> int:
        """The server every running server names as leader."""
        def agreed():
            named = {leader_address(p) for p in self.procs.values()}
            if len(named) == 1:
                index = self.index_of(named.pop())
                return index + 1 if index in self.procs else None
            return None

        return wait_until(agreed, timeout, "an agreed leader") - 1


class WriteLoad(threading.Thread):
    """Writes ``load/<n> = n`` to whichever server leads, recording acknowledged writes."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.acked: dict[str, str] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        n = 0
        target = 0
        while not self.stopped.is_set():
            server = self.cluster.procs.get(target)
            key, value = f"load/{n:06d}", str(n)
            if server is not None and put_acked(server, key, value):
                self.acked[key] = value
                n += 1
                continue
            leader = self.cluster.index_of(leader_address(server)) if server else None
            target = leader if leader is not None and leader != target else (target + 1) % len(
                self.cluster.specs)


def test_single_server_keeps_acknowledged_writes_across_kill_9(tmp_path: Path) -> None:
    spec = ServerSpec(str(tmp_path / "data"), extra=("-bootstrap", *FAST))
    server = start_server(spec)
    try:
        wait_until(lambda: put_acked(server, "first", "0"), 20, "a leader")
        node_id = (tmp_path / "data" / "node-id").read_text()
        acked = {f"k/{i}": str(i) for i in range(100) if put_acked(server, f"k/{i}", str(i))}
        assert len(acked) == 100
        server.kill()
        server = start_server(spec)
        assert (tmp_path / "data" / "node-id").read_text() == node_id
        # Stored entries are applied once the restarted server, as leader, commits them again.
        wait_until(lambda: stale_values(server, "k/") == acked, 20, "every acknowledged write")
        assert put_acked(server, "after", "1")
        reply = server.get("/v1/kv/after")
        assert reply.headers["X-Consul-KnownLeader"] == "true"
    finally:
        server.stop()


class Writers:
    """Threads writing ~1 KB values to one server as fast as it acknowledges them."""

    def __init__(self, server: AgentProcess, prefix: str, threads: int = 8) -> None:
        self.acked: list[dict[str, str]] = [{} for _ in range(threads)]
        self.stopped = threading.Event()
        self._threads = [threading.Thread(target=self._write, args=(server, f"{prefix}/{t}", t),
                                          daemon=True) for t in range(threads)]
        for thread in self._threads:
            thread.start()

    def _write(self, server: AgentProcess, prefix: str, slot: int) -> None:
        n = 0
        while not self.stopped.is_set():
            key, value = f"{prefix}/{n:05d}", f"{n:05d}-" + "v" * 1000 + "."
            if put_acked(server, key, value):
                self.acked[slot][key] = value
            n += 1

    def count(self) -> int:
        return sum(len(acked) for acked in self.acked)

    def stop(self) -> dict[str, str]:
        self.stopped.set()
        for thread in self._threads:
            thread.join(30)
        return {k: v for acked in self.acked for k, v in acked.items()}


def tear_tail(log_dir: Path) -> None:
    """Leave what a torn write leaves: garbage after zeros past the last segment's last record
    (an append that was never acknowledged, of which a later page reached the disk)."""
    last = sorted(log_dir.glob("*.seg"))[-1]
    data = last.read_bytes()
    end = len(data.rstrip(b"\0")) + 16
    with open(last, "r+b") as file:
        file.seek(end)
        file.write(b"\xde\xad\xbe\xef" * 64)


def test_kill_9_in_the_middle_of_writes_loses_no_acknowledged_write_across_segments(
        tmp_path: Path) -> None:
    """A lone server (Consul's default timing) is killed while eight clients write, three
    times; its log spans several 1 MiB segments and snapshots come every 300 entries, and
    before each restart a torn write is left at the log's tail. Every write acknowledged
    before a kill is there after the restart, and the server takes writes again."""
    spec = ServerSpec(str(tmp_path / "data"), extra=(
        "-bootstrap", "-raft-snapshot-threshold", "300",
        "-hcl", "raft_logstore { wal { segment_size_mb = 1 } }"))
    log_dir = tmp_path / "data" / "raft" / "log"
    server = start_server(spec)
    acked: dict[str, str] = {}
    try:
        for round_ in range(3):
            wait_until(lambda server=server: put_acked(server, "ping", "1"), 20,
                       "the server to lead")
            writers = Writers(server, f"crash{round_}")
            wait_until(lambda writers=writers: writers.count() >= 1500, 60, "1500 acked writes")
            server.kill()
            acked.update(writers.stop())
            assert len(list(log_dir.glob("*.seg"))) >= 2
            tear_tail(log_dir)
            server = start_server(spec)
            wait_until(lambda server=server: stale_values(server, "crash").keys() >= acked.keys(),
                       30, "every acknowledged write after the restart")
            values = stale_values(server, "crash")
            assert {k: values[k] for k in acked} == acked
        assert put_acked(server, "after", "crashes")
        assert server.get("/v1/kv/after").headers["X-Consul-KnownLeader"] == "true"
    finally:
        server.stop()


def test_peers_json_recovers_a_cluster_that_lost_quorum(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 2)
    try:
        cluster.start(0)
        cluster.start(1)
        leader = cluster.leader()
        assert put_acked(cluster.procs[leader], "before", "outage")
        node_id = Path(cluster.specs[0].data_dir, "node-id").read_text()
        cluster.kill(0)
        cluster.kill(1)  # server 1 is lost for good: server 0 alone can never win a vote
        peers = Path(cluster.specs[0].data_dir, "raft", "peers.json")
        peers.write_text(json.dumps(
            [{"id": node_id, "address": cluster.address(0), "non_voter": False}]))
        cluster.start(0)
        server = cluster.procs[0]
        wait_until(lambda: put_acked(server, "after", "recovery"), 20, "recovered leader")
        assert not peers.exists()
        assert server.get("/v1/status/peers").json() == [cluster.address(0)]
        assert stale_values(server, "") == {"before": "outage", "after": "recovery"}
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def cluster3(tmp_path_factory: pytest.TempPathFactory):
    cluster = Cluster(tmp_path_factory.mktemp("raft3"), 3,
                      "-raft-snapshot-threshold", "300", "-raft-trailing-logs", "50")
    for i in range(3):
        cluster.start(i)
    yield cluster
    cluster.stop()


def kill_leader_repeatedly(cluster: Cluster, rounds: int) -> None:
    """kill -9 the leader ``rounds`` times under write load, restarting it each time; then
    check the failover times and that every server holds every acknowledged write."""
    cluster.leader()
    load = WriteLoad(cluster)
    load.start()
    failovers = []
    elections = []
    try:
        for _ in range(rounds):
            leader = cluster.leader()
            floor = len(load.acked) + 30
            wait_until(lambda floor=floor: len(load.acked) >= floor, 30, "writes acknowledged")
            killed = cluster.address(leader)
            term = raft_term(cluster.procs[leader])
            cluster.kill(leader)
            started = time.monotonic()
            wait_until(lambda killed=killed: any(
                leader_address(p) not in ("", killed) for p in cluster.procs.values()),
                30, "a new leader")
            failovers.append(time.monotonic() - started)
            elections.append(max(raft_term(p) for p in cluster.procs.values()) - term)
            cluster.start(leader)
        floor = len(load.acked) + 30
        wait_until(lambda: len(load.acked) >= floor, 30, "writes after the last failover")
    finally:
        load.stopped.set()
        load.join(10)
    print(f"failovers (s): {[round(f, 2) for f in failovers]}, elections: {elections}; "
          f"{len(load.acked)} writes acked")
    assert all(1 <= n <= MAX_ELECTIONS for n in elections), elections
    for i, server in cluster.procs.items():
        wait_until(lambda server=server: stale_values(server, "load/").keys() >= load.acked.keys(),
                   30, f"server {i} to hold every acknowledged write")
        values = stale_values(server, "load/")
        assert {k: values[k] for k in load.acked} == load.acked


def test_killing_the_leader_under_write_load_loses_no_acknowledged_write(
    cluster3: Cluster,
) -> None:
    kill_leader_repeatedly(cluster3, rounds=3)


@pytest.mark.slow
def test_five_servers_survive_repeated_leader_kills(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 5)
    try:
        for i in range(5):
            cluster.start(i)
        kill_leader_repeatedly(cluster, rounds=3)
    finally:
        cluster.stop()


def test_a_server_far_behind_catches_up_by_snapshot(cluster3: Cluster) -> None:
    leader = cluster3.leader()
    behind = (leader + 1) % 3
    cluster3.kill(behind)
    acked: dict[str, str] = {}
    lock = threading.Lock()

    def write(w: int) -> None:
        for n in range(250):
            key, value = f"far/{w}/{n:04d}", str(n)
            while not put_acked(cluster3.procs[cluster3.leader()], key, value):
                pass
            with lock:
                acked[key] = value

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(acked) == 1000
    cluster3.start(behind)
    server = cluster3.procs[behind]
    wait_until(lambda: stale_values(server, "far/") == acked, 60, "the restarted server to catch up")
    assert any("installed snapshot from the leader" in line for line in server.log), "".join(
        server.log[-30:])
