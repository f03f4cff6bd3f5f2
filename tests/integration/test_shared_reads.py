"""Blocking reads of the same query share one evaluation (agent/http/shared_reads.py):
what each waiter gets is byte for byte what it would have read alone, and a waiter
never gets a reply computed for another token's ACL view."""

from __future__ import annotations

import re
import threading

import pytest

from tests.support.agent_process import (
    AgentProcess,
    Reply,
    start_agent,
    wait_until,
)

ROOT = {"X-Consul-Token": "root"}
ACL_HCL = 'acl {\n enabled = true\n default_policy = "deny"\n tokens { initial_management = ' \
          '"root" }\n}\n'
# headers a reply's meaning is in (Date may tick between two reads)
SAME_HEADERS = ("X-Consul-Index", "X-Consul-KnownLeader", "X-Consul-Effective-Consistency",
                "X-Consul-Results-Filtered-By-ACLs", "Content-Type", "Content-Length")
WAITERS = 8


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    path = tmp_path_factory.mktemp("shared") / "acl.hcl"
    path.write_text(ACL_HCL)
    agent = start_agent("-config-file", str(path))
    try:
        wait_until(lambda: agent.get("/v1/acl/token/self", headers=ROOT).status == 200,
                   what="initial management token")
        yield agent
    finally:
        agent.stop()


def token_with(agent: AgentProcess, name: str, rules: str) -> dict[str, str]:
    assert agent.put("/v1/acl/policy", {"Name": name, "Rules": rules}, headers=ROOT).status == 200
    created = agent.put("/v1/acl/token", {"Policies": [{"Name": name}]}, headers=ROOT)
    assert created.status == 200, created.text
    return {"X-Consul-Token": created.json()["SecretID"]}


def register(agent: AgentProcess, node: str, service: str, status: str = "passing") -> None:
    reply = agent.put("/v1/catalog/register", {
        "Node": node, "Address": "10.1.2.3",
        "Service": {"Service": service, "ID": service, "Port": 80, "Tags": ["t"]},
        "Check": {"CheckID": f"{service}-c", "Name": "c", "Status": status,
                  "ServiceID": service}}, headers=ROOT)
    assert reply.status == 200, reply.text


def blocking_count(agent: AgentProcess) -> int:
    """The server's consul.rpc.queries_blocking gauge (read with the management token)."""
    text = agent.get("/v1/agent/metrics?format=prometheus", headers=ROOT).text
    found = re.search(r"^consul_(?:\w+_)?rpc_queries_blocking(?:\{[^}]*\})? (\S+)$", text, re.M)
    return int(float(found.group(1))) if found else 0


class Waiters:
    """Blocking GETs in threads; the first one is known parked on the server before
    ``start`` returns (the rest join its evaluation, or read after it if late)."""

    def __init__(self, agent: AgentProcess, path: str, headers: dict[str, str], n: int) -> None:
        self.replies: list[Reply] = []
        self._threads = [threading.Thread(target=self._run, args=(agent, path, headers),
                                          daemon=True) for _ in range(n)]
        parked = blocking_count(agent)
        self._threads[0].start()
        wait_until(lambda: blocking_count(agent) > parked, what=f"{path} to block")
        for thread in self._threads[1:]:
            thread.start()

    def _run(self, agent: AgentProcess, path: str, headers: dict[str, str]) -> None:
        self.replies.append(agent.get(path, headers=headers, timeout=60))

    def join(self) -> list[Reply]:
        for thread in self._threads:
            thread.join(60)
        assert len(self.replies) == len(self._threads), "a waiter never returned"
        return self.replies


def assert_same_reply(got: Reply, alone: Reply) -> None:
    assert got.status == alone.status
    assert got.body == alone.body
    for name in SAME_HEADERS:
        assert got.headers.get(name) == alone.headers.get(name), name


@pytest.mark.parametrize("path", ["/v1/health/service/web?passing", "/v1/catalog/services",
                                  "/v1/catalog/nodes", "/v1/kv/shared/key"])
def test_shared_replies_are_the_replies_each_waiter_would_read(agent, path):
    register(agent, "n-web-1", "web")
    agent.put("/v1/kv/shared/key", "v1", headers=ROOT)
    before = agent.get(path, headers=ROOT)
    sep = "&" if "?" in path else "?"
    waiters = Waiters(agent, f"{path}{sep}index={before.index}&wait=30s", ROOT, WAITERS)
    if path.startswith("/v1/kv/"):
        agent.put("/v1/kv/shared/key", "v2", headers=ROOT)
    else:
        register(agent, f"n-web-{before.index}", "web")
    replies = waiters.join()
    alone = agent.get(path, headers=ROOT)  # nothing changed since: what one reader sees
    assert alone.index > before.index
    for reply in replies:
        assert_same_reply(reply, alone)


def test_a_waiter_gets_its_own_tokens_view(agent):
    everything = token_with(agent, "read-all", 'service_prefix "" { policy = "read" }\n'
                                               'node_prefix "" { policy = "read" }\n')
    web_only = token_with(agent, "read-web", 'service "web" { policy = "read" }\n'
                                             'node_prefix "" { policy = "read" }\n')
    register(agent, "n-acl-1", "web")
    register(agent, "n-acl-1", "api")
    path = "/v1/catalog/services"
    index = agent.get(path, headers=ROOT).index
    blocking = f"{path}?index={index}&wait=30s"
    # the same path and query: only the token tells them apart
    all_waiters = Waiters(agent, blocking, everything, WAITERS)
    web_waiters = Waiters(agent, blocking, web_only, WAITERS)
    register(agent, "n-acl-2", "db")
    seen_all, seen_web = all_waiters.join(), web_waiters.join()
    alone_all, alone_web = agent.get(path, headers=everything), agent.get(path, headers=web_only)
    assert set(alone_all.json()) >= {"web", "api", "db"} and set(alone_web.json()) == {"web"}
    assert alone_web.headers.get("X-Consul-Results-Filtered-By-ACLs") == "true"
    for reply in seen_all:
        assert_same_reply(reply, alone_all)
    for reply in seen_web:
        assert_same_reply(reply, alone_web)
