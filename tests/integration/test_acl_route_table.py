"""Every HTTP route with ACLs on and default_policy=deny (the table is acl_route_table.py).

For each route: no token and the anonymous token are refused (403, or the list
comes back without the seeded item), a token with exactly the rule the table
names succeeds, a near-miss token (read instead of write, a neighbouring name)
is refused. Tokens are made through ACL.PolicySet/TokenSet on the server port.
"""

from __future__ import annotations

import http.client
import json
import tempfile

import pytest

from proconsul.agent.http.server import api_router
from tests.integration.acl_route_table import COMMON_SEEDS, ROUTES, Route
from tests.support.agent_process import start_agent, wait_until
from tests.support.server_rpc import make_token

ROOT = "acl-rt-root-secret"


def _call(agent, method: str, path: str, body=None, token: str | None = None,
          stream: bool = False) -> tuple[int, str]:
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
    conn = http.client.HTTPConnection(agent.host, agent.port, timeout=30)
    try:
        conn.request(method, path, body=body,
                     headers={"X-Consul-Token": token} if token is not None else {})
        response = conn.getresponse()
        if stream and response.status == 200:  # judged by the status line alone
            return response.status, ""
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


class Walk:
    """The agent under test, the values seeds captured, and a token per rule."""

    def __init__(self, agent) -> None:
        self.agent = agent
        self.values = {"node": "acl-rt-agent", "lan": agent.lan_address}
        self._tokens: dict[str, str] = {}
        self.server_port = json.loads(_call(agent, "GET", "/v1/agent/self", token=ROOT)[1])[
            "DebugConfig"]["ServerPort"]

    def fill(self, text: str) -> str:
        for name, value in self.values.items():
            text = text.replace("{" + name + "}", value)
        return text

    def fill_body(self, body):
        if body is None or isinstance(body, str):
            return body
        return json.loads(self.fill(json.dumps(body)))

    def seed(self, steps) -> None:
        for method, path, body, capture in steps:
            status, text = _call(self.agent, method, self.fill(path), self.fill_body(body), ROOT)
            assert status == 200, f"seed {method} {path}: {status} {text}"
            if capture:
                reply = json.loads(text)
                self.values[capture] = reply.get("ID") or reply["AccessorID"]

    def token_for(self, rules: str) -> str:
        """A token whose one policy has ``rules`` (made once per distinct rule text)."""
        rules = self.fill(rules)
        if rules not in self._tokens:
            self._tokens[rules] = make_token(self.agent.host, self.server_port, ROOT,
                                             f"rt-{len(self._tokens)}", rules)
        return self._tokens[rules]

    def request(self, route: Route, method: str, token: str | None) -> tuple[int, str]:
        return _call(self.agent, method, self.fill(route.path), self.fill_body(route.body),
                     token, route.stream)


@pytest.fixture(scope="module")
def walk():
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as config:
        json.dump({"acl": {"enabled": True, "default_policy": "deny",
                           "tokens": {"initial_management": ROOT, "agent": ROOT}},
                   "connect": {"enabled": True},
                   "ui_config": {"metrics_proxy": {"base_url": "http://127.0.0.1:9"}}}, config)
    agent = start_agent("-config-file", config.name, "-node", "acl-rt-agent")
    try:
        w = Walk(agent)
        w.seed(COMMON_SEEDS)
        wait_until(lambda: _call(agent, "GET", "/v1/coordinate/node/acl-rt-agent",
                                 token=ROOT)[0] == 200, what="the agent's coordinate")
        wait_until(lambda: "acl-rt-check" in _call(agent, "GET", "/v1/health/state/any",
                                                   token=ROOT)[1], what="anti-entropy")
        yield w
    finally:
        agent.stop()


def test_the_table_names_every_route():
    routed = {(m, p) for m, p in api_router().routes() if m != "HEAD"}
    assert sorted(routed - ROUTES.keys()) == [], "routes without an ACL entry in acl_route_table"
    assert sorted(ROUTES.keys() - routed) == [], "entries for routes that do not exist"


def _denied(walk: Walk, route: Route, status: int, text: str, who: str) -> None:
    where = f"{route.path} with {who}: {status} {text[:300]}"
    if route.denied == "403":
        assert status == 403 and text.startswith("Permission denied"), where
    elif route.denied == "txn":
        assert status == 409 and "Permission denied" in text, where
    elif route.denied == "filtered":
        assert status in (200, 404) and walk.fill(route.marker) not in text, where
    else:
        assert status in (400, 403, 404), where


def _allowed(walk: Walk, route: Route, status: int, text: str, who: str) -> None:
    where = f"{route.path} with {who}: {status} {text[:300]}"
    assert status != 403 and "Permission denied" not in text, where
    if route.marker:
        assert walk.fill(route.marker) in text, where


@pytest.mark.parametrize("method,pattern", sorted(ROUTES), ids=lambda v: v)
def test_route(walk, method, pattern):
    route = ROUTES[(method, pattern)]
    walk.seed(route.seeds)
    if route.denied == "self":
        assert walk.request(route, method, None) == (403, "ACL not found")
        for who, token in (("anonymous", "anonymous"), (route.rule, walk.token_for(route.rule))):
            _allowed(walk, route, *walk.request(route, method, token), who)
        return
    open_route = not route.rule and route.denied != "refused"
    tries = [("no token", None), ("the anonymous token", "anonymous")]
    if route.near:
        tries.append((f"near-miss rules {route.near!r}", walk.token_for(route.near)))
    for who, token in tries:
        status, text = walk.request(route, method, token)
        if open_route:
            _allowed(walk, route, status, text, who)
        else:
            _denied(walk, route, status, text, who)
    if route.denied == "refused" or pattern == "/v1/agent/leave":
        return
    who, token = "the management token", ROOT
    if route.rule:
        who, token = f"rules {route.rule!r}", walk.token_for(route.rule)
    status, text = walk.request(route, method, token)
    _allowed(walk, route, status, text, who)


def test_leave_needs_agent_write():
    """The allowed side of PUT /v1/agent/leave, on an agent of its own (it stops)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as config:
        json.dump({"acl": {"enabled": True, "default_policy": "deny",
                           "tokens": {"initial_management": ROOT, "agent": ROOT}}}, config)
    agent = start_agent("-config-file", config.name)
    try:
        assert _call(agent, "PUT", "/v1/agent/leave", token="anonymous")[0] == 403
        token = Walk(agent).token_for(f'agent "{agent_node(agent)}" {{ policy = "write" }}')
        assert _call(agent, "PUT", "/v1/agent/leave", token=token)[0] == 200
        agent.process.wait(20)
    finally:
        agent.stop()


def agent_node(agent) -> str:
    return json.loads(_call(agent, "GET", "/v1/agent/self", token=ROOT)[1])["Config"]["NodeName"]
