"""ACLs on a real cluster: three durable servers and a client agent.

A policy and token made with the ``proconsul acl`` CLI through the client work
through it (resolved by the client's cached resolver), stop working within
``acl.token_ttl`` of being revoked with the CLI, and all ACL state survives a
leader kill and a restart of every server.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.integration.test_cluster import Cluster, try_call
from tests.support.agent_process import AgentProcess, start_agent, start_server, wait_until
from tests.support.cli_process import run_cli

ROOT = {"X-Consul-Token": "root"}
TOKEN_TTL = 2.0
ACL_HCL = ('acl { enabled = true\n default_policy = "deny"\n token_ttl = "2s"\n'
           ' tokens { initial_management = "root" } }')


class ACLCluster(Cluster):
    def _start_client(self, i: int) -> AgentProcess:
        return start_agent("-data-dir", str(self.root / f"c{i}"), "-node", f"c{i}",
                           "-retry-interval", "1s", "-hcl", ACL_HCL, *self.joins, dev=False)

    def start(self, i: int) -> None:
        self.servers[i] = start_server(self.specs[i], "-hcl", ACL_HCL)


def status(agent: AgentProcess, method: str, path: str, body=None, headers=None) -> int:
    try:
        return agent.call(method, path, body, headers=headers or ROOT, timeout=15).status
    except OSError:
        return 0


def ready(agent: AgentProcess) -> bool:
    return status(agent, "GET", "/v1/acl/token/self") == 200


@pytest.fixture
def cluster(tmp_path: Path):
    cluster = ACLCluster(tmp_path, servers=3, clients=1)
    try:
        cluster.leader()
        wait_until(lambda: ready(cluster.clients[0]), 60, "ACLs ready through the client")
        yield cluster
    finally:
        cluster.stop()


def test_acl_state_through_a_client_across_revocation_failover_and_restart(cluster):
    client = cluster.clients[0]
    def acl(*args: str) -> dict:
        done = run_cli(client, "acl", *args, "-format", "json", CONSUL_HTTP_TOKEN="root")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    policy = acl("policy", "create", "-name", "agents",
                 "-rules", 'agent_prefix "" { policy = "write" }')
    token = acl("token", "create", "-policy-name", "agents")
    mine = {"X-Consul-Token": token["SecretID"]}
    # the client agent resolves the token (an RPC, then its cache) for its own endpoints
    allowed = client.put("/v1/agent/token/dns", {"Token": "x"}, headers=mine)
    assert allowed.status == 200, allowed.text
    unknown = client.put("/v1/agent/token/dns", {"Token": "x"},
                         headers={"X-Consul-Token": "00000000-aaaa-4bbb-8ccc-000000000000"})
    assert unknown.status == 403, unknown.text
    deleted = run_cli(client, "acl", "token", "delete", "-accessor-id", token["AccessorID"],
                      CONSUL_HTTP_TOKEN="root")
    assert deleted.returncode == 0, deleted.stderr
    revoked_at = time.monotonic()
    wait_until(lambda: status(client, "PUT", "/v1/agent/token/dns", {"Token": "x"},
                              mine) == 403, 10, "the revoked token to stop working")
    assert time.monotonic() - revoked_at <= TOKEN_TTL + 1.5

    leader = cluster.leader()
    cluster.servers.pop(leader).kill()
    assert cluster.leader() != leader
    wait_until(lambda: ready(client), 30, "ACLs through the client after failover")
    reply = client.get("/v1/acl/policy/name/agents", headers=ROOT)
    assert reply.status == 200 and reply.json()["ID"] == policy["ID"]
    cluster.start(leader)

    for proc in list(cluster.servers.values()):
        proc.kill()  # no leave: the raft configuration stays as it was
    cluster.servers.clear()
    for i in range(len(cluster.specs)):
        cluster.start(i)
    cluster.leader()
    wait_until(lambda: ready(client), 60, "ACLs through the client after a full restart")
    names = {p["Name"] for p in client.get("/v1/acl/policies", headers=ROOT).json()}
    assert {"global-management", "builtin/global-read-only", "agents"} <= names
    accessors = {t["AccessorID"] for t in client.get("/v1/acl/tokens", headers=ROOT).json()}
    assert token["AccessorID"] not in accessors
    assert "00000000-0000-0000-0000-000000000002" in accessors
    roots = [t for t in client.get("/v1/acl/tokens", headers=ROOT).json()
             if t["Description"] == "Initial Management Token"]
    assert len(roots) == 1  # leaders after the first did not create it again
    assert try_call(client, "GET", "/v1/acl/token/self") is not None
