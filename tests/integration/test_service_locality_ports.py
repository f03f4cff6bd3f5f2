"""Service Locality and multi-port Ports: accepted, stored and returned by the agent, the
catalog and the health API; the agent's own node carries node meta consul-version."""

from __future__ import annotations

import json

import pytest

from tests.support.agent_process import start_agent, wait_until

LOCALITY = {"Region": "us-west-1", "Zone": "us-west-1a"}
PORTS = [{"Name": "http", "Port": 8080, "Default": True},
         {"Name": "grpc", "Port": 9090, "Default": False}]


def test_locality_and_ports_everywhere(agent, unique):
    body = {"Name": unique, "ID": f"{unique}-1", "Port": 8080, "Locality": LOCALITY,
            "Ports": PORTS}
    assert agent.put("/v1/agent/service/register", body).status == 200
    try:
        local = agent.get(f"/v1/agent/service/{unique}-1").json()
        assert (local["Locality"], local["Ports"]) == (LOCALITY, PORTS)
        listed = agent.get("/v1/agent/services").json()[f"{unique}-1"]
        assert (listed["Locality"], listed["Ports"]) == (LOCALITY, PORTS)
        rows = wait_until(lambda: agent.get(f"/v1/catalog/service/{unique}").json(), 10,
                          "service in the catalog")
        assert (rows[0]["ServiceLocality"], rows[0]["ServicePorts"]) == (LOCALITY, PORTS)
        health = agent.get(f"/v1/health/service/{unique}").json()[0]["Service"]
        assert (health["Locality"], health["Ports"]) == (LOCALITY, PORTS)
        node = agent.get("/v1/agent/self").json()["Config"]["NodeName"]
        services = agent.get(f"/v1/catalog/node-services/{node}").json()["Services"]
        mine = next(s for s in services if s["ID"] == f"{unique}-1")
        assert (mine["Locality"], mine["Ports"]) == (LOCALITY, PORTS)
    finally:
        agent.put(f"/v1/agent/service/deregister/{unique}-1")


def test_without_them_nothing_is_shown(agent, unique):
    assert agent.put("/v1/agent/service/register", {"Name": unique, "Port": 1}).status == 200
    try:
        local = agent.get(f"/v1/agent/service/{unique}").json()
        assert "Locality" not in local and "Ports" not in local
        rows = wait_until(lambda: agent.get(f"/v1/catalog/service/{unique}").json(), 10,
                          "service in the catalog")
        assert "ServiceLocality" not in rows[0] and "ServicePorts" not in rows[0]
    finally:
        agent.put(f"/v1/agent/service/deregister/{unique}")


@pytest.mark.parametrize("ports,message", [
    ([{"Port": 80}], "Invalid service Ports: every port needs a Name"),
    ([{"Name": "a", "Port": 80}, {"Name": "a", "Port": 81}],
     'Invalid service Ports: duplicate port name "a"'),
    ([{"Name": "a", "Port": 70000}], 'Invalid service Ports: port "a" must be 1-65535'),
    ([{"Name": "a", "Port": 80, "Default": True}, {"Name": "b", "Port": 81, "Default": True}],
     "Invalid service Ports: only one port may be the default"),
])
def test_bad_ports_are_refused(agent, unique, ports, message):
    reply = agent.put("/v1/agent/service/register", {"Name": unique, "Ports": ports})
    assert (reply.status, reply.text) == (400, message)
    assert unique not in agent.get("/v1/agent/services").json()


def test_config_file_service_locality_and_ports(tmp_path):
    config = tmp_path / "svc.json"
    config.write_text(json.dumps({"service": {
        "name": "web", "port": 8080, "locality": {"region": "r1", "zone": "z1"},
        "ports": [{"name": "http", "port": 8080, "default": True}]}}))
    agent = start_agent("-config-file", str(config))
    try:
        shown = agent.get("/v1/agent/service/web").json()
        assert shown["Locality"] == {"Region": "r1", "Zone": "z1"}
        assert shown["Ports"] == [{"Name": "http", "Port": 8080, "Default": True}]
    finally:
        agent.stop()


def test_consul_version_node_meta_on_server_and_client(tmp_path):
    server = start_agent()
    client = None
    try:
        version = server.get("/v1/agent/self").json()["Config"]["Version"]
        # A client's node is registered by its anti-entropy, a server's by the leader.
        client = start_agent("-data-dir", str(tmp_path / "client"), "-node", "client-1",
                             "-retry-join", server.lan_address, dev=False)
        for agent in (server, client):
            name = agent.get("/v1/agent/self").json()["Config"]["NodeName"]

            def meta(name=name):
                reply = server.get(f"/v1/catalog/node/{name}")
                return reply.json()["Node"]["Meta"] if reply.status == 200 and reply.json() \
                    else None

            shown = wait_until(meta, 20, f"{name} in the catalog")
            assert shown["consul-version"] == version, shown
            assert agent.get("/v1/agent/self").json()["Meta"]["consul-version"] == version
    finally:
        if client is not None:
            client.stop()
        server.stop()


def test_catalog_register_keeps_locality_and_ports(agent, unique):
    reply = agent.put("/v1/catalog/register", {
        "Node": unique, "Address": "10.9.9.9",
        "Service": {"Service": unique, "Port": 8080, "Locality": LOCALITY, "Ports": PORTS}})
    assert reply.status == 200, reply.text
    try:
        row = agent.get(f"/v1/catalog/service/{unique}").json()[0]
        assert (row["ServiceLocality"], row["ServicePorts"]) == (LOCALITY, PORTS)
        service = agent.get(f"/v1/health/service/{unique}").json()[0]["Service"]
        assert (service["Locality"], service["Ports"]) == (LOCALITY, PORTS)
    finally:
        agent.put("/v1/catalog/deregister", {"Node": unique})
