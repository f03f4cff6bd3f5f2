"""Through a client agent the servers still decide: a client whose own config has
ACLs off cannot let a request past them, and a client with ACLs on checks its own
routes with tokens it resolves through the servers."""

from __future__ import annotations

import json

import pytest

from tests.support.agent_process import start_agent, wait_until
from tests.support.server_rpc import make_token

ROOT = "acl-client-root-secret"


def _config(path, acl: dict) -> str:
    path.write_text(json.dumps({"acl": acl}))
    return str(path)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("acl-client")
    acl = {"enabled": True, "default_policy": "deny",
           "tokens": {"initial_management": ROOT, "agent": ROOT}}
    server = start_agent("-config-file", _config(root / "server.json", acl), "-node", "acl-srv")
    agents = [server]
    try:
        joins = ("-retry-join", server.lan_address, "-retry-interval", "1s")
        open_client = start_agent("-data-dir", str(root / "open"), "-node", "acl-open-client",
                                  *joins, dev=False)
        agents.append(open_client)
        acl_client = start_agent(
            "-data-dir", str(root / "acl"), "-node", "acl-client",
            "-config-file", _config(root / "client.json", {
                "enabled": True, "default_policy": "deny", "tokens": {"agent": ROOT}}),
            *joins, dev=False)
        agents.append(acl_client)
        root_header = {"X-Consul-Token": ROOT}
        for agent in (open_client, acl_client):
            # a client answers 500 "No known Consul servers" until its retry-join lands
            wait_until(lambda a=agent: (reply := a.get("/v1/status/leader")).status == 200
                       and reply.json(), what="a leader")
        port = server.get("/v1/agent/self", headers=root_header).json()["DebugConfig"][
            "ServerPort"]
        writer = make_token(server.host, port, ROOT, "web-write",
                            'service "web" { policy = "write" }\nkey "k" { policy = "write" }')
        yield server, open_client, acl_client, writer
    finally:
        for agent in agents:
            agent.stop()


def test_a_client_with_acls_off_cannot_bypass_the_servers(cluster):
    _, open_client, _, writer = cluster
    reply = open_client.put("/v1/kv/k", "v")
    assert reply.status == 403 and reply.text.startswith(
        "Permission denied: anonymous token lacks permission 'key:write' on \"k\"")
    assert open_client.get("/v1/catalog/nodes").json() == []
    assert open_client.put("/v1/kv/k", "v", headers={"X-Consul-Token": writer}).status == 200


def test_a_client_with_acls_on_checks_its_own_routes(cluster):
    _, _, acl_client, writer = cluster
    body = {"Name": "web"}
    reply = acl_client.put("/v1/agent/service/register", body)
    assert reply.status == 403 and "'service:write' on \"web\"" in reply.text
    reply = acl_client.put("/v1/agent/service/register", body,
                           headers={"X-Consul-Token": writer})
    assert reply.status == 200, reply.text
    reply = acl_client.put("/v1/agent/service/register", {"Name": "db"},
                           headers={"X-Consul-Token": writer})
    assert reply.status == 403 and "'service:write' on \"db\"" in reply.text
    assert acl_client.get("/v1/agent/self").status == 403
