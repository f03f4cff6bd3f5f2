"""``proconsul info`` (the Stats of /v1/agent/self) with Consul's sections and keys."""

from __future__ import annotations

from tests.support.agent_process import ServerSpec, start_agent, start_server, wait_until
from tests.support.cli_process import run_cli

SERF_KEYS = {"coordinate_resets", "encrypted", "event_queue", "event_time", "failed",
             "health_score", "intent_queue", "left", "member_time", "members", "query_queue",
             "query_time"}
RAFT_KEYS = {"applied_index", "commit_index", "fsm_pending", "last_contact", "last_log_index",
             "last_log_term", "last_snapshot_index", "last_snapshot_term",
             "latest_configuration", "latest_configuration_index", "num_peers",
             "protocol_version", "protocol_version_max", "protocol_version_min",
             "snapshot_version_max", "snapshot_version_min", "state", "term"}


def sections(text: str) -> dict[str, dict[str, str]]:
    """``info``'s output: "name:" lines, then "\\tkey = value" lines."""
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("\t"):
            key, _, value = line[1:].partition(" = ")
            current[key] = value
        else:
            current = out.setdefault(line.rstrip(":"), {})
    return out


def test_info_on_a_durable_server_has_consuls_sections(tmp_path):
    server = start_server(ServerSpec(str(tmp_path / "data"),
                                     extra=("-bootstrap", "-raft-multiplier", "1")))
    try:
        wait_until(lambda: server.put("/v1/kv/info", "1").status == 200, what="a leader")
        result = run_cli(server, "info")
        assert result.returncode == 0, result.stderr
        info = sections(result.stdout.decode())
        self_stats = server.get("/v1/agent/self").json()["Stats"]
    finally:
        server.stop()
    # start_server turns the WAN pool off (-serf-wan-port -1): no serf_wan
    assert list(info) == ["agent", "build", "consul", "raft", "runtime", "serf_lan"]
    assert set(info["raft"]) == RAFT_KEYS
    assert info["raft"]["state"] == "Leader" and info["raft"]["last_contact"] == "0"
    assert int(info["raft"]["applied_index"]) >= 1 and info["raft"]["num_peers"] == "0"
    assert info["raft"]["latest_configuration"].startswith("[{Suffrage:Voter ID:")
    assert set(info["serf_lan"]) == SERF_KEYS
    assert info["serf_lan"]["members"] == "1" and info["serf_lan"]["encrypted"] == "false"
    assert info["consul"] == {"acl": "disabled", "bootstrap": "true", "known_datacenters": "1",
                              "leader": "true", "leader_addr": info["consul"]["leader_addr"],
                              "server": "true"}
    assert {"arch", "cpu_count", "goroutines", "max_procs", "os", "version"} == \
        set(info["runtime"])
    assert info["build"]["version"] == "1.22.0"
    assert self_stats["raft"]["term"] == info["raft"]["term"]


def test_info_on_a_client_has_no_raft_and_a_dev_server_has_serf_wan(agent, tmp_path):
    server_info = sections(run_cli(agent, "info").stdout.decode())
    assert list(server_info) == ["agent", "build", "consul", "raft", "runtime", "serf_lan",
                                 "serf_wan"]
    assert set(server_info["serf_wan"]) == SERF_KEYS and server_info["raft"]["state"] == "Leader"
    client = start_agent("-data-dir", str(tmp_path / "c"), "-node", "info-client", "-join",
                         agent.lan_address, dev=False)
    try:
        info = sections(run_cli(client, "info").stdout.decode())
    finally:
        client.stop()
    assert list(info) == ["agent", "build", "consul", "runtime", "serf_lan"]
    assert info["consul"]["server"] == "false" and info["consul"]["acl"] == "disabled"
    assert "known_servers" in info["consul"]
