"""Autopilot on a 3-server cluster at Consul's default timing (raft multiplier 5): an idle,
healthy cluster stays Healthy, LastContact is a Go duration, and a follower killed and
restarted is a voter again soon after ``server_stabilization_time``."""

from __future__ import annotations

import statistics
import time

from proconsul.lib.duration import parse_duration
from tests.support.agent_process import ServerSpec, retry_joins, start_server, wait_until

STABILIZATION = 2.0
AUTOPILOT_HCL = ("-hcl", f'autopilot {{ server_stabilization_time = "{STABILIZATION:g}s" }}')


def raft_servers(agent) -> dict[str, dict]:
    reply = agent.get("/v1/operator/raft/configuration", timeout=5)
    return {s["Node"]: s for s in reply.json()["Servers"]} if reply.status == 200 else {}


def health(agent) -> dict:
    reply = agent.get("/v1/operator/autopilot/health", timeout=30)
    assert reply.status in (200, 429), reply.text
    return reply.json()


def healthy_voters(agent) -> bool:
    reply = agent.get("/v1/operator/autopilot/health", timeout=30)
    servers = reply.json()["Servers"] if reply.status == 200 else []
    return len(servers) == 3 and all(s["Voter"] and s["Healthy"] for s in servers)


def test_idle_cluster_stays_healthy_and_restarted_follower_is_promoted(tmp_path):
    specs = [ServerSpec(str(tmp_path / f"s{i}"), node=f"s{i}") for i in range(3)]
    joins = retry_joins(specs)
    for spec in specs:
        spec.extra = ("-bootstrap-expect", "3", *AUTOPILOT_HCL, *joins)
    procs = [start_server(spec) for spec in specs]
    try:
        first = procs[0]
        wait_until(lambda: healthy_voters(first), 60, "3 healthy voters")
        assert first.get("/v1/operator/autopilot/configuration").json()[
            "ServerStabilizationTime"] == "2s"  # from the config file
        # The leader heartbeats every 50 ms, far under the 200 ms LastContactThreshold.
        # A loaded machine stalls a process for longer now and then (seen: both
        # followers at 470 ms in one sample out of 220, the health call itself 370 ms),
        # so the claim is about the run, not each sample: with heartbeats as slow as at
        # raft multiplier 5 (500 ms, the bug this guards) most samples would be unhealthy.
        contacts: list[float] = []
        unhealthy = []
        for _ in range(120):
            reply = health(first)
            if not reply["Healthy"]:
                unhealthy.append(reply)
            contacts += [parse_duration(s["LastContact"]) / 1e9 for s in reply["Servers"]
                         if not s["Leader"]]
            time.sleep(0.25)
        assert len(unhealthy) <= 12, unhealthy
        assert statistics.median(contacts) < 0.1, sorted(contacts)[-10:]

        leader = next(name for name, s in raft_servers(first).items() if s["Leader"])
        victim = next(i for i in (1, 2) if f"s{i}" != leader)
        procs[victim].kill()
        # Autopilot removes the dead server once gossip declares it failed.
        wait_until(lambda: f"s{victim}" not in raft_servers(first), 60,
                   f"s{victim} removed after it failed")
        procs[victim] = start_server(specs[victim])
        restarted = time.monotonic()
        # Promptness is shown by the 1 ms test below; here, under load, a stall resets
        # the stable period, so wait for the promotion itself.
        wait_until(lambda: raft_servers(first).get(f"s{victim}", {}).get("Voter"),
                   60, f"s{victim} a voter again")
        elapsed = time.monotonic() - restarted
        print(f"restarted follower voter again after {elapsed:.2f} s")
        assert health(first)["FailureTolerance"] == 1 or wait_until(
            lambda: health(first)["FailureTolerance"] == 1, 5, "failure tolerance 1")
    finally:
        for proc in procs:
            proc.stop()


def test_second_server_with_1ms_stabilization_is_promoted_promptly(tmp_path):
    specs = [ServerSpec(str(tmp_path / f"p{i}"), node=f"p{i}") for i in range(2)]
    fast = ("-raft-multiplier", "1", "-hcl", 'autopilot { server_stabilization_time = "1ms" }')
    specs[0].extra = ("-bootstrap", *fast)
    specs[1].extra = ("-retry-join", specs[0].lan_address, *fast)
    procs = [start_server(specs[0])]
    try:
        first = procs[0]
        wait_until(lambda: first.get("/v1/status/leader").json(), 20, "a leader")
        procs.append(start_server(specs[1]))
        started = time.monotonic()
        wait_until(lambda: raft_servers(first).get("p1", {}).get("Voter"), 5,
                   "p1 promoted to voter")
        print(f"second server a voter {time.monotonic() - started:.2f} s after it started")
    finally:
        for proc in procs:
            proc.stop()
