"""Prepared queries in a 3-server cluster: written through a follower, refusals keep their
status across the forward, replicated, and kept across the leader's kill -9."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_raft_cluster import Cluster, try_call
from tests.support.agent_process import wait_until


def queries_on(cluster: Cluster, i: int) -> dict[str, dict]:
    reply = try_call(cluster.procs[i], "GET", "/v1/query?stale", timeout=10)
    if reply is None or reply.status != 200:
        return {}
    return {q["ID"]: q for q in reply.json()}


def test_queries_through_a_follower_replicate_and_survive_leader_kill(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 3)
    try:
        for i in range(3):
            cluster.start(i)
        leader = cluster.leader()
        follower = cluster.procs[(leader + 1) % 3]
        reply = follower.call("POST", "/v1/query", {"Name": "consul-q",
                                                    "Service": {"Service": "consul"}})
        assert reply.status == 200, reply.text
        query_id = reply.json()["ID"]
        conflict = follower.call("POST", "/v1/query", {"Name": "CONSUL-Q",
                                                       "Service": {"Service": "consul"}})
        assert (conflict.status, conflict.text) == (
            400, "name 'CONSUL-Q' aliases an existing query name")
        missing = follower.get("/v1/query/nope/execute")
        assert (missing.status, missing.text) == (404, "Query not found")
        template = follower.get(f"/v1/query/{query_id}/explain")
        assert template.status == 200 and template.json()["Query"]["ID"] == query_id
        wait_until(lambda: len(follower.get("/v1/query/consul-q/execute").json()["Nodes"]) == 3,
                   20, "every server's consul service through the query")

        written = queries_on(cluster, leader)
        assert list(written) == [query_id]
        for i in range(3):
            wait_until(lambda i=i: queries_on(cluster, i) == written, 20, f"replica {i}")

        cluster.kill(leader)
        new_leader = cluster.leader()
        assert queries_on(cluster, new_leader) == written
        near = cluster.procs[new_leader].get("/v1/query/consul-q/execute?near=_agent").json()
        assert near["Nodes"][0]["Node"]["Node"] == cluster.specs[new_leader].node
        cluster.start(leader)
        wait_until(lambda: queries_on(cluster, leader) == written, 30,
                   "the restarted server to hold the query")
    finally:
        cluster.stop()
