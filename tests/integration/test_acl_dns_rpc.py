"""ACLs at the other doors: DNS answers with the agent's dns token, and the server
port (msgpack-RPC) decides by the token in the request, so nothing reaching a
server directly gets around the checks."""

from __future__ import annotations

import json
import tempfile

import dns.message
import dns.query
import dns.rcode
import pytest

from tests.support.agent_process import start_agent, wait_until
from tests.support.server_rpc import rpc

ROOT = "acl-door-root-secret"
DNS_SECRET = "5f3c1f5e-1111-4222-8333-944444444444"


def acl_agent(**tokens: str):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as config:
        json.dump({"acl": {"enabled": True, "default_policy": "deny",
                           "tokens": {"initial_management": ROOT, "agent": ROOT, **tokens}}},
                  config)
    return start_agent("-config-file", config.name, "-node", "acl-door")


def _as_root(agent, method: str, path: str, body=None):
    reply = agent.call(method, path, body, headers={"X-Consul-Token": ROOT})
    assert reply.status == 200, reply.text
    return reply


def dns_query(agent, name: str, rdtype: str = "A") -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, rdtype), agent.host, port=agent.dns_port,
                         timeout=5)


def _register(agent, service: str, address: str) -> None:
    _as_root(agent, "PUT", "/v1/catalog/register",
             {"Node": f"{service}-node", "Address": address, "Service": {"Service": service}})


def _answers(agent, name: str) -> tuple[int, list[str]]:
    reply = dns_query(agent, name)
    return reply.rcode(), [r.to_text() for rrset in reply.answer for r in rrset]


def test_dns_without_a_dns_token_answers_nothing_under_default_deny():
    agent = acl_agent()
    try:
        _register(agent, "web", "10.7.7.7")
        for name in ("web.service.consul", "web-node.node.consul"):
            assert _answers(agent, name) == (dns.rcode.NXDOMAIN, [])
    finally:
        agent.stop()


def test_dns_answers_only_what_the_dns_token_may_read():
    agent = acl_agent(dns=DNS_SECRET)
    try:
        port = _as_root(agent, "GET", "/v1/agent/self").json()["DebugConfig"]["ServerPort"]
        header, _ = rpc(agent.host, port, "ACL.PolicySet", {
            "Policy": {"Name": "dns-web", "Rules": 'service "web" { policy = "read" }\n'
                                                  'node "web-node" { policy = "read" }'},
            "Token": ROOT})
        assert not header["Error"]
        header, _ = rpc(agent.host, port, "ACL.TokenSet", {
            "ACLToken": {"SecretID": DNS_SECRET, "Policies": [{"Name": "dns-web"}]},
            "Create": True, "Token": ROOT})
        assert not header["Error"]
        _register(agent, "web", "10.7.7.7")
        _register(agent, "db", "10.7.7.8")
        assert _answers(agent, "web.service.consul") == (dns.rcode.NOERROR, ["10.7.7.7"])
        assert _answers(agent, "web-node.node.consul") == (dns.rcode.NOERROR, ["10.7.7.7"])
        assert _answers(agent, "db.service.consul") == (dns.rcode.NXDOMAIN, [])
        assert _answers(agent, "db-node.node.consul") == (dns.rcode.NXDOMAIN, [])
        # A virtual IP needs service:read too (Catalog.VirtualIPForService refuses: SERVFAIL).
        for name in ("web", "db"):
            _as_root(agent, "PUT", "/v1/catalog/register", {
                "Node": f"{name}-node", "Address": "10.7.7.9", "Service": {
                    "ID": f"{name}-native", "Service": name, "Port": 80,
                    "Connect": {"Native": True}}})
        rcode, answers = _answers(agent, "web.virtual.consul")
        assert rcode == dns.rcode.NOERROR and len(answers) == 1 and answers[0].startswith("240.")
        assert _answers(agent, "db.virtual.consul") == (dns.rcode.SERVFAIL, [])
        header, _ = rpc(agent.host, port, "Catalog.VirtualIPForService",
                        {"ServiceName": "db", "Token": DNS_SECRET})
        assert "lacks permission 'service:read' on \"db\"" in header["Error"]
    finally:
        agent.stop()


@pytest.fixture(scope="module")
def door():
    agent = acl_agent()
    try:
        _as_root(agent, "PUT", "/v1/kv/door/secret", "v")
        port = _as_root(agent, "GET", "/v1/agent/self").json()["DebugConfig"]["ServerPort"]
        wait_until(lambda: _as_root(agent, "GET", "/v1/catalog/nodes").json(),
                   what="the agent's node in the catalog")
        yield agent, port
    finally:
        agent.stop()


@pytest.mark.parametrize("token", ["", "anonymous"])
def test_server_port_refuses_writes_and_reads_without_a_token(door, token):
    agent, port = door
    header, _ = rpc(agent.host, port, "KVS.Apply", {
        "Op": "set", "Datacenter": "dc1", "Token": token,
        "DirEnt": {"Key": "door/new", "Value": b"x"}})
    assert header["Error"].startswith("Permission denied: anonymous token lacks permission "
                                      "'key:write' on \"door/new\"")
    header, _ = rpc(agent.host, port, "KVS.Get", {"Key": "door/secret", "Token": token})
    assert "lacks permission 'key:read' on \"door/secret\"" in header["Error"]
    header, body = rpc(agent.host, port, "KVS.List", {"Key": "door/", "Token": token})
    assert not header["Error"] and not body["Entries"]
    header, body = rpc(agent.host, port, "Catalog.ListNodes", {"Token": token})
    assert not header["Error"] and not body["Nodes"]
    assert agent.get("/v1/kv/door/new", headers={"X-Consul-Token": ROOT}).status == 404


def test_server_port_refuses_an_unknown_token_and_obeys_a_good_one(door):
    agent, port = door
    header, _ = rpc(agent.host, port, "KVS.Get", {"Key": "door/secret", "Token": "bogus"})
    assert header["Error"] == "ACL not found"
    header, body = rpc(agent.host, port, "KVS.Get", {"Key": "door/secret", "Token": ROOT})
    assert not header["Error"] and body["Entries"][0]["Value"] == b"v"
