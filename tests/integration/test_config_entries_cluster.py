"""Config entries in a 3-server cluster: replicated, kept across a leader's kill -9 and restart."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_raft_cluster import Cluster, try_call
from tests.support.agent_process import wait_until

ENTRIES = [
    {"Kind": "proxy-defaults", "Name": "global", "Config": {"protocol": "http"}},
    {"Kind": "service-resolver", "Name": "api", "Subsets": {"v1": {"Filter": "Service.Meta.v == 1"}}},
    {"Kind": "service-splitter", "Name": "api", "Splits": [{"Weight": 100, "ServiceSubset": "v1"}]},
    {"Kind": "service-intentions", "Name": "api", "Sources": [{"Name": "web", "Action": "allow"}]},
]


def entries_on(cluster: Cluster, i: int) -> dict[tuple[str, str], dict]:
    reply = try_call(cluster.procs[i], "GET", "/v1/config/?stale", timeout=10)
    if reply is None or reply.status != 200:
        return {}
    return {(e["Kind"], e["Name"]): e for e in reply.json()}


def test_entries_survive_leader_kill_and_restart(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 3)
    try:
        for i in range(3):
            cluster.start(i)
        leader = cluster.leader()
        follower = (leader + 1) % 3
        for raw in ENTRIES:  # written through a follower: forwarded to the leader
            reply = cluster.procs[follower].put("/v1/config", raw)
            assert (reply.status, reply.text) == (200, "true")
        broken = cluster.procs[follower].put("/v1/config", {
            "Kind": "service-defaults", "Name": "api", "Protocol": "tcp"})
        assert broken.status == 400 and "api" in broken.text, broken.text
        unknown = cluster.procs[follower].delete(
            "/v1/connect/intentions/00000000-0000-0000-0000-000000000000")
        assert (unknown.status, unknown.text) == (400, "Cannot delete non-existent intention: "
                                                  "'00000000-0000-0000-0000-000000000000'")
        written = entries_on(cluster, leader)
        assert len(written) == len(ENTRIES)
        for i in range(3):
            wait_until(lambda i=i: entries_on(cluster, i) == written, 20, f"replica {i}")

        cluster.kill(leader)
        new_leader = cluster.leader()
        assert new_leader != leader
        assert entries_on(cluster, new_leader) == written
        assert cluster.procs[new_leader].put(
            "/v1/config", {"Kind": "service-defaults", "Name": "web", "Protocol": "http"}
        ).text == "true"
        chain = cluster.procs[new_leader].get("/v1/discovery-chain/api").json()["Chain"]
        assert chain["StartNode"] == "splitter:api.default.default"

        cluster.start(leader)
        wait_until(lambda: ("service-defaults", "web") in entries_on(cluster, leader), 30,
                   "the restarted server to catch up")
        assert {k: v for k, v in entries_on(cluster, leader).items()
                if k != ("service-defaults", "web")} == written
    finally:
        cluster.stop()
