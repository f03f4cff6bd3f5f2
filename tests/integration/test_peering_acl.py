"""Peering two real clusters with ACLs on (default deny) in both and no operator token
anywhere on the servers: each server gets its peering certificate signed with the
servers' internal management token, token generation and establishment need
``peering:write``, the stream replicates with nobody's token, and ``?peer`` reads are
filtered by ``service:read`` on the imported service's name, as local ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_server_certificate import peering_certificate
from tests.support.agent_process import wait_until
from tests.support.peering_lab import PeeringCluster

ROOT = "8a5e8d1b-4f5e-4d0a-9a43-3c1b2f6e7d90"
ACL = {"acl": {"enabled": True, "default_policy": "deny",
               "tokens": {"initial_management": ROOT}}}


def as_root(cluster: PeeringCluster, method: str, path: str, body=None):
    reply = cluster.agent.call(method, path, body, headers={"X-Consul-Token": ROOT})
    assert reply.status == 200, reply.text
    return reply.json()


def token_with(cluster: PeeringCluster, rules: str) -> str:
    policy = as_root(cluster, "PUT", "/v1/acl/policy",
                     {"Name": f"p{abs(hash(rules))}", "Rules": rules})
    return as_root(cluster, "PUT", "/v1/acl/token",
                   {"Policies": [{"ID": policy["ID"]}]})["SecretID"]


@pytest.fixture
def clusters(tmp_path: Path):
    dc1, dc2 = (PeeringCluster(dc, tmp_path / dc, extra_config=ACL, grpc_cert=False)
                for dc in ("dc1", "dc2"))
    try:
        dc1.start(token=ROOT)
        dc2.start(token=ROOT)
        yield dc1, dc2
    finally:
        dc1.stop()
        dc2.stop()


def test_peering_with_acls_on(clusters):
    dc1, dc2 = clusters
    # the acceptor serves its own peering leaf, signed without any operator's token
    roots = as_root(dc1, "GET", "/v1/connect/ca/roots")
    wait_until(lambda: peering_certificate(dc1.agent, dc1.grpc_tls_ports[0], roots),
               what="dc1's peering certificate")

    def call(cluster: PeeringCluster, path: str, token: str, body: dict):
        return cluster.agent.call("POST", path, body, headers={"X-Consul-Token": token})

    generate = {"PeerName": "dc2"}
    assert call(dc1, "/v1/peering/token", "", generate).status == 403
    assert call(dc1, "/v1/peering/token", token_with(dc1, 'peering = "read"'),
                generate).status == 403
    reply = call(dc1, "/v1/peering/token", token_with(dc1, 'peering = "write"'), generate)
    assert reply.status == 200, reply.text
    establish = {"PeerName": "dc1", "PeeringToken": reply.json()["PeeringToken"]}
    denied = call(dc2, "/v1/peering/establish", token_with(dc2, 'peering = "read"'), establish)
    assert denied.status == 403 and denied.text.startswith("Permission denied")
    reply = call(dc2, "/v1/peering/establish", token_with(dc2, 'peering = "write"'), establish)
    assert reply.status == 200, reply.text

    as_root(dc1, "PUT", "/v1/catalog/register", {
        "Node": "web-node", "Address": "10.1.0.1",
        "Service": {"ID": "web-1", "Service": "web", "Port": 8080}})
    as_root(dc1, "PUT", "/v1/config", {
        "Kind": "exported-services", "Name": "default",
        "Services": [{"Name": "web", "Consumers": [{"Peer": "dc2"}]}]})

    def imported(token: str) -> list[str]:
        reply = dc2.agent.get("/v1/health/service/web?peer=dc1",
                              headers={"X-Consul-Token": token})
        assert reply.status == 200, reply.text
        return [e["Service"]["ID"] for e in reply.json()]

    wait_until(lambda: imported(ROOT) == ["web-1"], what="web from dc1 in dc2")
    reader = token_with(dc2, 'service "web" { policy = "read" }\n'
                             'node_prefix "" { policy = "read" }')
    other = token_with(dc2, 'service "db" { policy = "read" }\n'
                            'node_prefix "" { policy = "read" }')
    assert imported(reader) == ["web-1"]
    assert imported(other) == []
    assert imported("") == []
    for cluster, name in ((dc1, "dc2"), (dc2, "dc1")):
        wait_until(lambda c=cluster, n=name: as_root(c, "GET", f"/v1/peering/{n}")["State"]
                   == "ACTIVE", what=f"{cluster.dc}'s side ACTIVE")
