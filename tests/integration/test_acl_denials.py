"""A denial says what Consul says, then where the token came from; filtered lists say so."""

from __future__ import annotations

import json
import tempfile

import pytest

from tests.support.agent_process import start_agent
from tests.support.server_rpc import make_token

ROOT = "acl-denial-root-secret"
PREFIX = "Permission denied: token with AccessorID '{}' lacks permission 'key:write' on \"app/k\""
ANONYMOUS = ("Permission denied: anonymous token lacks permission 'key:write' on \"app/k\". The "
             "anonymous token is used implicitly when a request does not specify a token.")


@pytest.fixture(scope="module")
def setup():
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as config:
        json.dump({"acl": {"enabled": True, "default_policy": "deny",
                           "tokens": {"initial_management": ROOT, "agent": ROOT}}}, config)
    agent = start_agent("-config-file", config.name)
    try:
        root = {"X-Consul-Token": ROOT}
        port = agent.get("/v1/agent/self", headers=root).json()["DebugConfig"]["ServerPort"]
        reader = make_token(agent.host, port, ROOT, "app-read",
                            'key_prefix "app/" { policy = "read" }')
        accessor = agent.get("/v1/acl/token/self",
                             headers={"X-Consul-Token": reader}).json()["AccessorID"]
        for key in ("app/k", "other/k"):
            assert agent.put(f"/v1/kv/{key}", "v", headers=root).status == 200
        yield agent, reader, accessor
    finally:
        agent.stop()


@pytest.mark.parametrize("how,source", [
    ("header", "token from the X-Consul-Token header"),
    ("query", "token from the ?token query parameter"),
    ("bearer", "token from the Authorization Bearer header"),
])
def test_denial_names_the_permission_then_the_token_source(setup, how, source):
    agent, reader, accessor = setup
    path, headers = "/v1/kv/app/k", {}
    if how == "header":
        headers = {"X-Consul-Token": reader}
    elif how == "query":
        path += f"?token={reader}"
    else:
        headers = {"Authorization": f"Bearer {reader}"}
    reply = agent.put(path, "x", headers=headers)
    assert reply.status == 403
    assert reply.text == f"{PREFIX.format(accessor)} ({source})"


def test_anonymous_and_agent_default_token_denials(setup):
    agent, reader, accessor = setup
    reply = agent.put("/v1/kv/app/k", "x")
    assert (reply.status, reply.text) == (
        403, ANONYMOUS + " (no token in the request and no agent default token)")
    root = {"X-Consul-Token": ROOT}
    assert agent.put("/v1/agent/token/default", {"Token": reader}, headers=root).status == 200
    try:
        reply = agent.put("/v1/kv/app/k", "x")
        assert (reply.status, reply.text) == (403, PREFIX.format(accessor) + (
            " (token from the agent's default token (acl.tokens.default))"))
        assert agent.get("/v1/kv/app/k").status == 200  # the default token may read
    finally:
        agent.put("/v1/agent/token/default", {"Token": ""}, headers=root)


def test_unknown_token_is_acl_not_found(setup):
    agent, _, _ = setup
    reply = agent.get("/v1/kv/app/k", headers={"X-Consul-Token": "no-such-secret"})
    assert (reply.status, reply.text) == (403, "ACL not found")


def test_filtered_list_says_so_unless_anonymous(setup):
    agent, reader, _ = setup
    reply = agent.get("/v1/kv/?recurse", headers={"X-Consul-Token": reader})
    assert [e["Key"] for e in reply.json()] == ["app/k"]
    assert reply.headers.get("X-Consul-Results-Filtered-By-ACLs") == "true"
    reply = agent.get("/v1/kv/?recurse", headers={"X-Consul-Token": ROOT})
    assert len(reply.json()) == 2 and "X-Consul-Results-Filtered-By-ACLs" not in reply.headers
    reply = agent.get("/v1/kv/?recurse")
    assert reply.status == 404 and "X-Consul-Results-Filtered-By-ACLs" not in reply.headers


def test_agent_local_lists_say_they_were_filtered(setup):
    agent, reader, _ = setup
    root = {"X-Consul-Token": ROOT}
    assert agent.put("/v1/agent/service/register", {"Name": "web"}, headers=root).status == 200
    reply = agent.get("/v1/agent/services", headers={"X-Consul-Token": reader})
    assert reply.json() == {} and reply.headers["X-Consul-Results-Filtered-By-ACLs"] == "true"
    reply = agent.get("/v1/agent/members", headers={"X-Consul-Token": reader})
    assert reply.json() == [] and reply.headers["X-Consul-Results-Filtered-By-ACLs"] == "true"
    reply = agent.get("/v1/agent/services")
    assert reply.json() == {} and "X-Consul-Results-Filtered-By-ACLs" not in reply.headers
    assert "web" in agent.get("/v1/agent/services", headers=root).json()


def test_authorize_answers_without_trying(setup):
    agent, reader, _ = setup
    questions = [{"Resource": "key", "Segment": "app/x", "Access": "read"},
                 {"Resource": "key", "Segment": "app/x", "Access": "write"},
                 {"Resource": "operator", "Access": "read"}]
    reply = agent.call("POST", "/v1/internal/acl/authorize?explain", questions,
                       headers={"X-Consul-Token": reader})
    assert reply.status == 200, reply.text
    answers = reply.json()
    assert [(a["Resource"], a.get("Segment"), a["Access"], a["Allow"]) for a in answers] == [
        ("key", "app/x", "read", True), ("key", "app/x", "write", False),
        ("operator", None, "read", False)]
    assert 'key_prefix "app/"' in answers[0]["Reason"] and "app-read" in answers[0]["Reason"]
    assert "default policy deny" in answers[2]["Reason"]
    plain = agent.call("POST", "/v1/internal/acl/authorize", questions[:1],
                       headers={"X-Consul-Token": reader}).json()
    assert plain == [{"Resource": "key", "Segment": "app/x", "Access": "read", "Allow": True}]
    reply = agent.call("POST", "/v1/internal/acl/authorize", questions * 22)
    assert (reply.status, reply.text) == (
        400, "Refusing to process more than 64 authorizations at once")
    reply = agent.call("POST", "/v1/internal/acl/authorize",
                       [{"Resource": "key", "Access": "sideways"}])
    assert (reply.status, reply.text) == (400, "Invalid access level for key resource: sideways")
