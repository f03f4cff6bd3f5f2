"""/v1/operator/usage and ``proconsul operator usage instances`` against a real agent."""

from __future__ import annotations

import pytest

from tests.support.agent_process import start_agent
from tests.support.cli_process import run_cli


@pytest.fixture(scope="module")
def usage_agent():
    agent = start_agent()
    for registration in (
            {"Name": "web", "Port": 80, "Connect": {"SidecarService": {}}},
            {"Name": "web", "ID": "web-2", "Port": 81},
            {"Name": "native", "Port": 82, "Connect": {"Native": True}},
            {"Name": "gw", "Kind": "mesh-gateway", "Port": 8443}):
        assert agent.put("/v1/agent/service/register", registration).status == 200
    yield agent
    agent.stop()


def test_usage_counts_services_instances_kinds_and_nodes(usage_agent):
    reply = usage_agent.get("/v1/operator/usage")
    assert reply.status == 200
    body = reply.json()
    # consul, web x2, web-sidecar-proxy, native, gw
    assert body["Usage"] == {"dc1": {
        "Services": 5, "ServiceInstances": 6,
        "ConnectServiceInstances": {"connect-native": 1, "connect-proxy": 1,
                                    "ingress-gateway": 0, "mesh-gateway": 1,
                                    "terminating-gateway": 0},
        "BillableServiceInstances": 3, "Nodes": 1}}
    assert body["KnownLeader"] is True and body["ConsistencyLevel"] == "leader"
    assert body["Index"] == reply.index > 0
    assert usage_agent.get("/v1/operator/usage?global").json()["Usage"] == body["Usage"]
    assert usage_agent.get("/v1/operator/usage?stale").json()["ConsistencyLevel"] == "stale"


def test_usage_blocks_until_the_catalog_changes(usage_agent):
    index = usage_agent.get("/v1/operator/usage").index
    reply = usage_agent.get(f"/v1/operator/usage?index={index}&wait=50ms")
    assert reply.index == index  # timed out: nothing changed


def test_usage_instances_prints_consuls_tables(usage_agent):
    result = run_cli(usage_agent, "operator", "usage", "instances")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == (
        "Billable Service Instances Total: 3\n"
        "dc1 Billable Service Instances: 3\n"
        "\n"
        "Billable Services\n"
        "Services      Service instances\n"
        "5             3\n"
        "\n"
        "Nodes\n"
        "Datacenter      Count\n"
        "dc1             1\n"
        "Total           1\n"
        "\n"
        "Connect Services\n"
        "Type                     Service instances\n"
        "connect-native           1\n"
        "connect-proxy            1\n"
        "ingress-gateway          0\n"
        "mesh-gateway             1\n"
        "terminating-gateway      0\n")


def test_usage_instances_per_datacenter_and_flags(usage_agent):
    result = run_cli(usage_agent, "operator", "usage", "instances", "-all-datacenters",
                     "-billable")
    assert result.returncode == 0
    out = result.stdout.decode()
    assert "Datacenter      Services      Service instances\n" \
           "dc1             5             3\n" in out
    assert out.rstrip().endswith("Total           1")
    assert "Connect Services" not in out
    connect = run_cli(usage_agent, "operator", "usage", "instances", "-connect").stdout
    assert connect.startswith(b"Connect Services\n") and b"Billable" not in connect
    both = run_cli(usage_agent, "operator", "usage", "instances", "-billable", "-connect")
    assert both.returncode == 1
    assert both.stderr == b"Cannot specify both -billable and -connect flags\n"
