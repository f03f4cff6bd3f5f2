"""Autopilot in a 3-server cluster: a 4th server joins as a non-voter and is promoted once
stable; a dead server is removed; failure tolerance counts voters only."""

from __future__ import annotations

from tests.support.agent_process import ServerSpec, retry_joins, start_server, wait_until

FAST = ("-raft-multiplier", "1")


def raft_servers(agent) -> dict[str, dict]:
    reply = agent.get("/v1/operator/raft/configuration", timeout=5)
    return {s["Node"]: s for s in reply.json()["Servers"]} if reply.status == 200 else {}


def test_fourth_server_promoted_and_dead_server_cleaned_up(tmp_path):
    specs = [ServerSpec(str(tmp_path / f"s{i}"), node=f"s{i}") for i in range(4)]
    joins = retry_joins(specs[:3])
    for spec in specs[:3]:
        spec.extra = ("-bootstrap-expect", "3", *FAST, *joins)
    specs[3].extra = (*FAST, *joins)
    procs = [start_server(spec) for spec in specs[:3]]
    try:
        first = procs[0]
        wait_until(lambda: len(raft_servers(first)) == 3 and
                   all(s["Voter"] for s in raft_servers(first).values()), 30, "3 voters")
        config = first.get("/v1/operator/autopilot/configuration").json()
        assert first.put("/v1/operator/autopilot/configuration",
                         dict(config, ServerStabilizationTime="1s")).json() is True
        procs.append(start_server(specs[3]))

        def fourth():
            return raft_servers(first).get("s3")

        added = wait_until(fourth, 30, "s3 in the raft configuration")
        assert added["Voter"] is False  # joins as a non-voter; promotion needs 1 s of health
        wait_until(lambda: fourth()["Voter"], 30, "s3 promoted to voter")
        # the raft configuration read is the leader's; /v1/status/peers is s0's own view
        # (voters and non-voters, as Consul's), which as a follower may lag a moment
        wait_until(lambda: len(first.get("/v1/status/peers").json()) == 4, 10,
                   "s0's own configuration with four servers")
        health = first.get("/v1/operator/autopilot/health").json()
        assert health["FailureTolerance"] == 1 and len(health["Servers"]) == 4

        victim = next(i for i in (1, 2, 3)
                      if not raft_servers(first)[f"s{i}"]["Leader"])
        procs[victim].kill()
        wait_until(lambda: f"s{victim}" not in raft_servers(first), 60,
                   f"dead server s{victim} cleaned up")
        # /v1/status/peers is s0's own view: as a follower it may hear of the removal
        # just after the leader has committed it.
        wait_until(lambda: len(first.get("/v1/status/peers").json()) == 3, 10,
                   "s0's own configuration without the dead server")
    finally:
        for proc in procs:
            proc.stop()
