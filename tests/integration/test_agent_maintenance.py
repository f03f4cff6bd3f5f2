"""Maintenance mode against a real agent: a critical check with the reason in Notes (or
Consul's default text), seen the same way by the agent, the catalog and the health API."""

from __future__ import annotations

import urllib.parse

import pytest

from tests.support.agent_process import wait_until

DEFAULT_SERVICE = ("Maintenance mode is enabled for this service, but no reason was provided. "
                   "This is a default message.")
DEFAULT_NODE = ("Maintenance mode is enabled for this node, but no reason was provided. "
                "This is a default message.")


@pytest.mark.parametrize("kind,reason,notes", [
    ("service", "deploy v2", "deploy v2"),
    ("service", "", DEFAULT_SERVICE),
    ("node", "kernel upgrade", "kernel upgrade"),
    ("node", "", DEFAULT_NODE),
])
def test_maintenance_check(agent, unique, kind, reason, notes):
    node = agent.get("/v1/agent/self").json()["Config"]["NodeName"]
    assert agent.put("/v1/agent/service/register",
                     {"Name": unique, "ID": f"{unique}-1", "Port": 80}).status == 200
    query = "enable=true" + (f"&reason={urllib.parse.quote(reason)}" if reason else "")
    if kind == "service":
        check_id, path = f"_service_maintenance:{unique}-1", f"service/maintenance/{unique}-1"
        expected = {"Name": "Service Maintenance Mode", "ServiceID": f"{unique}-1",
                    "ServiceName": unique}
    else:
        check_id, path = "_node_maintenance", "maintenance"
        expected = {"Name": "Node Maintenance Mode", "ServiceID": "", "ServiceName": ""}
    expected.update(Node=node, CheckID=check_id, Status="critical", Notes=notes, Output="")
    try:
        assert agent.put(f"/v1/agent/{path}?{query}").status == 200
        check = agent.get("/v1/agent/checks").json()[check_id]
        assert {k: check[k] for k in expected} == expected
        health = agent.get(f"/v1/agent/health/service/id/{unique}-1")
        assert (health.status, health.json()["AggregatedStatus"]) == (503, "maintenance")
        # Its Checks are the service's and the node's, as Consul aggregates them.
        assert check_id in {c["CheckID"] for c in health.json()["Checks"]}
        in_catalog = wait_until(lambda: [c for c in agent.get(
            f"/v1/health/node/{node}").json() if c["CheckID"] == check_id], 10,
            "maintenance check in the catalog")
        assert {k: in_catalog[0][k] for k in expected} == expected
        passing = agent.get(f"/v1/health/service/{unique}?passing=1").json()
        assert passing == []
    finally:
        agent.put(f"/v1/agent/{path}?enable=false")
        agent.put(f"/v1/agent/service/deregister/{unique}-1")
    assert check_id not in agent.get("/v1/agent/checks").json()
