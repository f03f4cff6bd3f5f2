"""``proconsul operator raft|autopilot`` against a real agent."""

from __future__ import annotations

from tests.support.cli_process import run_cli


def test_raft_list_peers(agent):
    agent_self = agent.get("/v1/agent/self").json()
    self_config = agent_self["Config"]
    last_index = int(agent_self["Stats"]["raft"]["last_log_index"])
    result = run_cli(agent, "operator", "raft", "list-peers")
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.decode().splitlines()
    assert header.split() == ["Node", "ID", "Address", "State", "Voter", "RaftProtocol",
                              "Commit", "Index", "Trails", "Leader", "By"]
    assert row.split()[:5] == [self_config["NodeName"], self_config["NodeID"],
                               agent.get("/v1/status/leader").json(), "leader", "true"]
    commit_index = int(row.split()[6])  # the leader's last index, from autopilot health
    assert commit_index >= last_index > 0
    assert row.split()[7:] == ["_"]


def test_autopilot_get_set_and_state(agent):
    result = run_cli(agent, "operator", "autopilot", "get-config")
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert "CleanupDeadServers = true" in text and "MaxTrailingLogs = 250" in text
    changed = run_cli(agent, "operator", "autopilot", "set-config", "-max-trailing-logs=300")
    assert changed.returncode == 0, changed.stderr
    assert "MaxTrailingLogs = 300" in run_cli(
        agent, "operator", "autopilot", "get-config").stdout.decode()
    state = run_cli(agent, "operator", "autopilot", "state")
    assert state.returncode == 0, state.stderr
    lines = state.stdout.decode().splitlines()
    assert lines[0].split() == ["Healthy:", "true"]
    assert f"Leader:                       {agent.get('/v1/agent/self').json()['Config']['NodeID']}" \
        in lines


def test_remove_unknown_peer_fails(agent):
    result = run_cli(agent, "operator", "raft", "remove-peer", "-id=nope")
    assert result.returncode == 1
    assert "nope" in result.stderr.decode()
