"""Imported rows in a real agent beyond catalog reads: prepared queries that read a
peer's rows or fail over to peers (over HTTP and DNS).

The rows reach the agent as in test_imported_catalog: its own snapshot, the peering
stream's REGISTER-with-PeerName commands applied by the FSM in this process, restored.
"""

from __future__ import annotations

import pytest

from tests.integration.test_imported_catalog import dig, start_with_imported_rows
from tests.support.agent_process import AgentProcess


@pytest.fixture(scope="module")
def peered() -> AgentProcess:
    agent = start_with_imported_rows()
    try:
        yield agent
    finally:
        agent.stop()


def create_query(agent: AgentProcess, body: dict) -> str:
    reply = agent.call("POST", "/v1/query", body)
    assert reply.status == 200, reply.text
    return reply.json()["ID"]


def test_a_query_naming_a_peer_reads_its_imported_rows(peered):
    create_query(peered, {"Name": "p1-web", "Service": {"Service": "web", "Peer": "p1"}})
    reply = peered.get("/v1/query/p1-web/execute").json()
    assert [(n["Node"]["Node"], n["Node"]["Address"], n["Node"]["PeerName"])
            for n in reply["Nodes"]] == [("n1", "10.1.0.1", "p1")]
    assert (reply["Datacenter"], reply["PeerName"], reply["Failovers"]) == ("", "p1", 0)
    local = create_query(peered, {"Name": "local-web", "Service": {"Service": "web"}})
    reply = peered.get(f"/v1/query/{local}/execute").json()
    assert [n["Node"]["Address"] for n in reply["Nodes"]] == ["10.0.0.1"]
    assert (reply["Datacenter"], reply["PeerName"]) == ("dc1", "")


def test_failover_to_a_peer_and_its_dns_answers(peered):
    create_query(peered, {"Name": "v2-web", "Service": {
        "Service": "web", "Tags": ["v2"], "Failover": {"Targets": [{"Peer": "p2"},
                                                                   {"Peer": "p1"}]}}})
    reply = peered.get("/v1/query/v2-web/execute").json()  # no local web has tag v2
    assert [(n["Node"]["Node"], n["Service"]["PeerName"]) for n in reply["Nodes"]] == [
        ("n1", "p1")]
    assert (reply["Datacenter"], reply["PeerName"], reply["Failovers"]) == ("", "p1", 2)
    assert dig(peered, "v2-web.query.consul") == ("NOERROR", ["10.1.0.1"])
    assert dig(peered, "v2-web.query.consul", "SRV") == (
        "NOERROR", ["1 1 8080 n1.node.p1.peer.consul."])
    create_query(peered, {"Name": "api", "Service": {
        "Service": "api", "Failover": {"Targets": [{"Peer": "p1"}]}}})
    reply = peered.get("/v1/query/api/execute").json()  # p1's only api is critical
    assert (reply["Nodes"], reply["PeerName"], reply["Failovers"]) == ([], "p1", 1)
    assert dig(peered, "api.query.consul")[0] == "NXDOMAIN"


def test_targets_exclude_nearest_n_and_datacenters(peered):
    for failover in ({"NearestN": 1, "Targets": [{"Peer": "p1"}]},
                     {"Datacenters": ["dc2"], "Targets": [{"Peer": "p1"}]}):
        reply = peered.call("POST", "/v1/query", {"Name": "bad", "Service": {"Service": "web",
                                                                     "Failover": failover}})
        assert (reply.status, reply.text) == (
            400, "Invalid prepared query: Targets cannot be populated with NearestN or "
                 "Datacenters")


def test_ui_services_list_local_and_imported_ones(peered):
    listing = peered.get("/v1/internal/ui/services").json()
    assert [(s["Name"], s.get("PeerName"), s["InstanceCount"], s["ChecksCritical"])
            for s in listing if s["Name"] != "consul"] == [
        ("api", "p1", 1, 1), ("web", None, 1, 0), ("web", "p1", 1, 0)]
    [peered_web] = [s for s in listing if s.get("PeerName") == "p1" and s["Name"] == "web"]
    assert (peered_web["Nodes"], peered_web["Tags"], peered_web["ChecksPassing"],
            peered_web["ConnectedWithProxy"]) == (["n1"], ["v2"], 1, False)
    only = peered.get("/v1/internal/ui/services?peer=p1").json()
    assert [(s["Name"], s["PeerName"]) for s in only] == [("api", "p1"), ("web", "p1")]
    assert peered.get("/v1/internal/ui/services?peer=p2").json() == []
    filtered = peered.get("/v1/internal/ui/services?filter=Service.Service%20%3D%3D%20api").json()
    assert [(s["Name"], s["PeerName"]) for s in filtered] == [("api", "p1")]


def test_ui_nodes_list_local_then_imported_ones(peered):
    nodes = [(n["Node"], n["Address"], n["PeerName"])
             for n in peered.get("/v1/internal/ui/nodes").json()]
    assert ("n1", "10.0.0.1", "") in nodes
    assert nodes[-2:] == [("n1", "10.1.0.1", "p1"), ("n2", "10.1.0.2", "p1")]
    [n2] = [n for n in peered.get("/v1/internal/ui/nodes").json() if n["Node"] == "n2"]
    assert [(s["Service"], s["PeerName"]) for s in n2["Services"]] == [("api", "p1")]
    assert [(c["CheckID"], c["Status"]) for c in n2["Checks"]] == [("api-alive", "critical")]


def test_ui_node_reads_the_peers_node_with_peer(peered):
    local = peered.get("/v1/internal/ui/node/n1").json()
    assert (local["Address"], [s["Service"] for s in local["Services"]]) == ("10.0.0.1", ["web"])
    imported_n1 = peered.get("/v1/internal/ui/node/n1?peer=p1").json()
    assert (imported_n1["Address"], imported_n1["PeerName"]) == ("10.1.0.1", "p1")
    assert [c["CheckID"] for c in imported_n1["Checks"]] == ["web-alive"]
    assert peered.get("/v1/internal/ui/node/n2").status == 404
    assert peered.get("/v1/internal/ui/node/n2?peer=p2").status == 404
