"""Every HTTP endpoint that takes ``?dc=`` in Consul hands it to the servers: a datacenter
nobody knows gets the servers' ``No path to datacenter`` (a 500), not a local answer."""

from __future__ import annotations

import pytest

REGISTER = {"Node": "n1", "Address": "10.0.0.1"}
ENTRY = {"Kind": "service-defaults", "Name": "web", "Protocol": "http"}
INTENTION = {"SourceName": "a", "DestinationName": "b", "Action": "allow"}
CA_CONFIG = {"Provider": "consul", "Config": {}}

# (method, path, body) of each endpoint Consul lets name another datacenter.
ROUTES = [
    ("PUT", "/v1/catalog/register", REGISTER),
    ("PUT", "/v1/catalog/deregister", {"Node": "n1"}),
    ("GET", "/v1/catalog/nodes", None),
    ("GET", "/v1/catalog/services", None),
    ("GET", "/v1/catalog/service/web", None),
    ("GET", "/v1/catalog/node/n1", None),
    ("GET", "/v1/catalog/node-services/n1", None),
    ("GET", "/v1/health/node/n1", None),
    ("GET", "/v1/health/checks/web", None),
    ("GET", "/v1/health/state/any", None),
    ("GET", "/v1/health/service/web", None),
    ("GET", "/v1/kv/k", None),
    ("GET", "/v1/kv/?keys", None),
    ("PUT", "/v1/kv/k", "v"),
    ("DELETE", "/v1/kv/k", None),
    ("PUT", "/v1/txn", [{"KV": {"Verb": "get", "Key": "k"}}]),
    ("PUT", "/v1/session/create", {}),
    ("PUT", "/v1/session/destroy/6f5c3b2e-0000-4000-8000-000000000000", None),
    ("GET", "/v1/session/info/6f5c3b2e-0000-4000-8000-000000000000", None),
    ("PUT", "/v1/session/renew/6f5c3b2e-0000-4000-8000-000000000000", None),
    ("GET", "/v1/session/node/n1", None),
    ("GET", "/v1/session/list", None),
    ("GET", "/v1/coordinate/nodes", None),
    ("GET", "/v1/coordinate/node/n1", None),
    ("PUT", "/v1/coordinate/update", {"Node": "n1", "Coord": {"Vec": [0.0] * 8}}),
    ("PUT", "/v1/config", ENTRY),
    ("GET", "/v1/config/service-defaults", None),
    ("GET", "/v1/config/service-defaults/web", None),
    ("DELETE", "/v1/config/service-defaults/web", None),
    ("GET", "/v1/connect/ca/roots", None),
    ("GET", "/v1/connect/ca/configuration", None),
    ("PUT", "/v1/connect/ca/configuration", CA_CONFIG),
    ("GET", "/v1/connect/intentions", None),
    ("POST", "/v1/connect/intentions", INTENTION),
    ("GET", "/v1/connect/intentions/exact?source=a&destination=b", None),
    ("PUT", "/v1/connect/intentions/exact?source=a&destination=b", {"Action": "allow"}),
    ("DELETE", "/v1/connect/intentions/exact?source=a&destination=b", None),
    ("GET", "/v1/connect/intentions/match?by=source&name=a", None),
    ("GET", "/v1/connect/intentions/check?source=a&destination=b", None),
    ("GET", "/v1/operator/raft/configuration", None),
    ("DELETE", "/v1/operator/raft/peer?id=nobody", None),
    ("GET", "/v1/operator/autopilot/configuration", None),
    ("PUT", "/v1/operator/autopilot/configuration", {"CleanupDeadServers": True}),
    ("GET", "/v1/operator/autopilot/health", None),
    ("GET", "/v1/operator/autopilot/state", None),
    ("GET", "/v1/status/leader", None),
    ("GET", "/v1/status/peers", None),
    ("PUT", "/v1/event/fire/deploy", None),
]


@pytest.mark.parametrize("method,path,body", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_another_datacenter_is_asked_of_the_servers(agent, method, path, body):
    sep = "&" if "?" in path else "?"
    reply = agent.call(method, f"{path}{sep}dc=nowhere", body)
    assert (reply.status, reply.text) == (500, "No path to datacenter")


@pytest.mark.parametrize("path", ["/v1/catalog/datacenters", "/v1/coordinate/datacenters"])
def test_datacenter_lists_are_answered_locally(agent, path):
    assert agent.get(f"{path}?dc=nowhere").status == 200
