"""POST /v1/agent/connect/authorize on a -dev agent: Consul's verdicts, reasons and 400s."""

from __future__ import annotations

import pytest

from tests.support.agent_process import start_agent, wait_until

AUTHORIZE = "/v1/agent/connect/authorize"
ACLS_DISABLED = "ACLs disabled, access is allowed by default"


@pytest.fixture(scope="module")
def agent():
    process = start_agent()
    wait_until(lambda: process.get("/v1/connect/ca/roots").json().get("Roots"), what="CA roots")
    yield process
    process.stop()


def trust_domain(agent) -> str:
    return agent.get("/v1/connect/ca/roots").json()["TrustDomain"]


def client_uri(td: str, svc: str) -> str:
    return f"spiffe://{td}/ns/default/dc/dc1/svc/{svc}"


def authorize(agent, body) -> tuple[int, object]:
    reply = agent.call("POST", AUTHORIZE, body)
    return reply.status, reply.json() if reply.status == 200 else reply.text


def put_intention(agent, source: str, destination: str, action: str) -> None:
    reply = agent.put(f"/v1/connect/intentions/exact?source={source}&destination={destination}",
                      {"Action": action})
    assert reply.status == 200, reply.text


def test_no_intention_is_allowed_because_acls_are_disabled(agent):
    status, body = authorize(agent, {"Target": "db0", "ClientCertURI":
                                     client_uri(trust_domain(agent), "web0")})
    assert (status, body) == (200, {"Authorized": True, "Reason": ACLS_DISABLED})


def test_deny_intention_denies_with_the_l4_reason(agent):
    put_intention(agent, "web1", "db1", "deny")
    status, body = authorize(agent, {"Target": "db1", "ClientCertURI":
                                     client_uri(trust_domain(agent), "web1"),
                                     "ClientCertSerial": "01"})
    assert (status, body) == (200, {
        "Authorized": False,
        "Reason": ("Matched L4 intention: default/web1 => default/db1 "
                   "(Precedence: 9, Action: DENY)")}), body


def test_exact_allow_wins_over_wildcard_deny(agent):
    put_intention(agent, "*", "db2", "deny")
    put_intention(agent, "web2", "db2", "allow")
    td = trust_domain(agent)
    status, body = authorize(agent, {"Target": "db2", "ClientCertURI": client_uri(td, "web2")})
    assert (status, body["Authorized"]) == (200, True), body
    assert body["Reason"] == ("Matched L4 intention: default/web2 => default/db2 "
                              "(Precedence: 9, Action: ALLOW)")
    status, body = authorize(agent, {"Target": "db2", "ClientCertURI": client_uri(td, "api2")})
    assert (status, body["Authorized"]) == (200, False), body
    assert body["Reason"] == ("Matched L4 intention: default/* => default/db2 "
                              "(Precedence: 8, Action: DENY)")


def test_foreign_trust_domain_is_judged_by_intentions_only(agent):
    # Consul does not compare the trust domain here: the TLS handshake already
    # verified the certificate against this datacenter's roots.
    foreign = client_uri("11111111-2222-3333-4444-555555555555.consul", "web3")
    assert authorize(agent, {"Target": "db3", "ClientCertURI": foreign}) == (
        200, {"Authorized": True, "Reason": ACLS_DISABLED})
    put_intention(agent, "web3", "db3", "deny")
    status, body = authorize(agent, {"Target": "db3", "ClientCertURI": foreign})
    assert (status, body["Authorized"]) == (200, False), body


@pytest.mark.parametrize(("body", "error"), [
    ({"ClientCertURI": "spiffe://x.consul/ns/default/dc/dc1/svc/web"},
     "Target service must be specified"),
    (None, "Target service must be specified"),
    ({"Target": "db"}, "ClientCertURI not a valid Connect identifier"),
    ({"Target": "db", "ClientCertURI": "https://example.com/web"},
     "ClientCertURI not a valid Connect identifier"),
    ({"Target": "db", "ClientCertURI": "spiffe://x.consul/ns/default/dc/dc1/nope/web"},
     "ClientCertURI not a valid Connect identifier"),
    ({"Target": "db", "ClientCertURI": "spiffe://x.consul/agent/client/dc/dc1/id/node1"},
     "ClientCertURI not a valid Service identifier"),
    ({"Target": 5}, None),
])
def test_bad_requests_are_400(agent, body, error):
    reply = agent.call("POST", AUTHORIZE, body)
    assert reply.status == 400, reply.text
    if error is not None:
        assert reply.text.strip() == error
    else:
        assert reply.text.startswith("Request decode failed")
