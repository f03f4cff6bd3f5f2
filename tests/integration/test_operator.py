"""Operator API: Raft configuration and autopilot on a dev agent and on a durable cluster."""

from __future__ import annotations

from tests.support.agent_process import ServerSpec, start_server, wait_until


def test_dev_agent_raft_configuration_and_autopilot(agent):
    self_config = agent.get("/v1/agent/self").json()["Config"]
    config = agent.get("/v1/operator/raft/configuration").json()
    [server] = config["Servers"]
    assert server["ID"] == self_config["NodeID"] and server["Node"] == self_config["NodeName"]
    assert server["Leader"] and server["Voter"] and server["ProtocolVersion"] == "3"
    autopilot = agent.get("/v1/operator/autopilot/configuration").json()
    assert (autopilot["CleanupDeadServers"], autopilot["LastContactThreshold"],
            autopilot["MaxTrailingLogs"], autopilot["ServerStabilizationTime"]) == (
        True, "200ms", 250, "10s")
    health = agent.get("/v1/operator/autopilot/health")
    assert health.status == 200 and health.json()["Healthy"] is True
    assert health.json()["FailureTolerance"] == 0
    state = agent.get("/v1/operator/autopilot/state").json()
    assert state["Voters"] == [server["ID"]] and state["Leader"] == server["ID"]


def test_autopilot_configuration_set_and_cas(agent):
    current = agent.get("/v1/operator/autopilot/configuration").json()
    changed = dict(current, MaxTrailingLogs=500, ServerStabilizationTime="20s")
    assert agent.put("/v1/operator/autopilot/configuration", changed).json() is True
    stored = agent.get("/v1/operator/autopilot/configuration").json()
    assert stored["MaxTrailingLogs"] == 500 and stored["ModifyIndex"] > 0
    stale = agent.put(f"/v1/operator/autopilot/configuration?cas={stored['ModifyIndex'] + 99}",
                      changed)
    assert stale.json() is False
    fresh = agent.put(f"/v1/operator/autopilot/configuration?cas={stored['ModifyIndex']}",
                      dict(changed, MinQuorum=1))
    assert fresh.json() is True
    bad = agent.put("/v1/operator/autopilot/configuration",
                    dict(changed, LastContactThreshold="soon"))
    assert bad.status == 400


def test_peer_removal_errors(agent):
    assert agent.call("DELETE", "/v1/operator/raft/peer").status == 400
    assert agent.call("DELETE", "/v1/operator/raft/peer?id=nope").status == 400


def test_late_server_joins_as_nonvoter_and_is_promoted(tmp_path):
    first = ServerSpec(str(tmp_path / "a"), node="alpha",
                       extra=("-bootstrap-expect", "1", "-raft-multiplier", "1"))
    second = ServerSpec(str(tmp_path / "b"), node="beta",
                        extra=("-raft-multiplier", "1"))
    alpha = start_server(first)
    beta = None
    try:
        wait_until(lambda: alpha.get("/v1/status/leader").json(), what="alpha leads")
        alpha.put("/v1/operator/autopilot/configuration",
                  dict(alpha.get("/v1/operator/autopilot/configuration").json(),
                       ServerStabilizationTime="1s"))
        beta = start_server(second, "-retry-join", first.lan_address)

        def servers():
            return {s["Node"]: s for s in
                    alpha.get("/v1/operator/raft/configuration").json()["Servers"]}

        wait_until(lambda: "beta" in servers(), timeout=30, what="beta added")
        wait_until(lambda: servers()["beta"]["Voter"], timeout=30, what="beta promoted")
        health = alpha.get("/v1/operator/autopilot/health").json()
        assert {s["Name"] for s in health["Servers"]} == {"alpha", "beta"}
        assert sorted(alpha.get("/v1/status/peers").json()) == sorted(
            s["Address"] for s in servers().values())
    finally:
        if beta is not None:
            beta.stop()
        alpha.stop()
