"""Every blocking endpoint answers the index Consul answers, and only a write to
what it reads wakes it.

One table row per blocking query. For each: a write that does not touch what
the query reads must not wake a blocked request (it returns at the end of its
wait with the index it was given) and must not move the index; a few writes
Consul counts in the query's index without waking it (``quiet_moving``) must
not wake it either; and a write that touches it wakes it at once with a higher
index.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tests.support.agent_process import AgentProcess, Reply, blocking_count, wait_until

QUIET_WAIT = 0.5      # seconds a request that nothing wakes stays blocked
WAKE_WAIT = 30        # the wait of requests a write must wake (long, so waking is visible)
PROMPT = 5.0          # a woken request returns well within this

Ctx = dict[str, str]
Action = Callable[[AgentProcess, Ctx], None]


# ---- writes ------------------------------------------------------------------------

def _ok(reply: Reply) -> Reply:
    assert reply.status == 200, (reply.status, reply.text)
    return reply


def kv(key: str, value: str = "v") -> Action:
    return lambda a, c: _ok(a.put(f"/v1/kv/{key.format(**c)}", value))


def kv_delete(key: str) -> Action:
    return lambda a, c: _ok(a.delete(f"/v1/kv/{key.format(**c)}"))


def node(name: str, address: str = "10.1.0.1", meta: dict | None = None) -> Action:
    return lambda a, c: _ok(a.put("/v1/catalog/register", {
        "Node": name.format(**c), "Address": address, "NodeMeta": meta}))


def service(node_name: str, sid: str, port: int = 80) -> Action:
    return lambda a, c: _ok(a.put("/v1/catalog/register", {
        "Node": node_name.format(**c), "Address": "10.1.0.1",
        "Service": {"ID": sid.format(**c), "Service": sid.format(**c), "Port": port}}))


def check(node_name: str, cid: str, status: str, service_id: str = "") -> Action:
    return lambda a, c: _ok(a.put("/v1/catalog/register", {
        "Node": node_name.format(**c), "Address": "10.1.0.1",
        "Check": {"CheckID": cid.format(**c), "Name": cid.format(**c), "Status": status,
                  "ServiceID": service_id.format(**c)}}))


def deregister_check(node_name: str, cid: str) -> Action:
    return lambda a, c: _ok(a.put("/v1/catalog/deregister", {
        "Node": node_name.format(**c), "CheckID": cid.format(**c)}))


def session(node_name: str, into: str = "") -> Action:
    def create(a: AgentProcess, c: Ctx) -> None:
        reply = _ok(a.put("/v1/session/create", {"Node": node_name.format(**c), "Checks": []}))
        if into:
            c[into] = reply.json()["ID"]
    return create


def session_destroy(key: str) -> Action:
    return lambda a, c: _ok(a.put(f"/v1/session/destroy/{c[key]}"))


def coordinate(node_name: str, x: float) -> Action:
    return lambda a, c: _ok(a.put("/v1/coordinate/update", {
        "Node": node_name.format(**c),
        "Coord": {"Vec": [x] * 8, "Error": 1.5, "Adjustment": 0, "Height": 1e-5}}))


def coordinate_applied(node_name: str, x: float) -> Action:
    """Coordinates are applied in batches: send one and wait until it is stored."""
    def send(a: AgentProcess, c: Ctx) -> None:
        coordinate(node_name, x)(a, c)
        path = f"/v1/coordinate/node/{node_name.format(**c)}"
        wait_until(lambda: a.get(path).status == 200 and a.get(path).json()[0]["Coord"]["Vec"]
                   == [x] * 8, what="coordinate stored")
    return send


def event(name: str) -> Action:
    return lambda a, c: _ok(a.put(f"/v1/event/fire/{name.format(**c)}", "payload"))


def agent_service(sid: str, port: int) -> Action:
    return lambda a, c: _ok(a.put("/v1/agent/service/register", {
        "ID": sid.format(**c), "Name": sid.format(**c), "Port": port}))


def config_entry(kind: str, name: str, **fields) -> Action:
    return lambda a, c: _ok(a.put("/v1/config", {"Kind": kind, "Name": name.format(**c),
                                                 **fields}))


def query(name: str, service_name: str = "db", session_key: str = "", into: str = "") -> Action:
    def create(a: AgentProcess, c: Ctx) -> None:
        body = {"Name": name.format(**c), "Service": {"Service": service_name},
                "Session": c[session_key] if session_key else ""}
        reply = _ok(a.call("POST", "/v1/query", body))
        if into:
            c[into] = reply.json()["ID"]
    return create


def query_update(key: str, name: str, service_name: str) -> Action:
    return lambda a, c: _ok(a.put(f"/v1/query/{c[key]}", {
        "Name": name.format(**c), "Service": {"Service": service_name}}))
def connect_proxy(node_name: str, sid: str, dest: str, port: int = 21000) -> Action:
    return lambda a, c: _ok(a.put("/v1/catalog/register", {
        "Node": node_name.format(**c), "Address": "10.1.0.1",
        "Service": {"ID": sid.format(**c), "Service": dest.format(**c) + "-sidecar-proxy",
                    "Kind": "connect-proxy", "Port": port,
                    "Proxy": {"DestinationServiceName": dest.format(**c)}}}))


def native(node_name: str, name: str) -> Action:
    return lambda a, c: _ok(a.put("/v1/catalog/register", {
        "Node": node_name.format(**c), "Address": "10.1.0.1",
        "Service": {"ID": name.format(**c), "Service": name.format(**c), "Port": 443,
                    "Connect": {"Native": True}}}))


def gateway(node_name: str, sid: str, kind: str, port: int = 8080) -> Action:
    return lambda a, c: _ok(a.put("/v1/catalog/register", {
        "Node": node_name.format(**c), "Address": "10.1.0.1",
        "Service": {"ID": sid.format(**c), "Service": sid.format(**c), "Kind": kind,
                    "Port": port}}))


def ingress_entry(name: str, *services: str) -> Action:
    return lambda a, c: _ok(a.put("/v1/config", {
        "Kind": "ingress-gateway", "Name": name.format(**c), "Listeners": [
            {"Port": 9000 + i, "Protocol": "tcp", "Services": [{"Name": svc.format(**c)}]}
            for i, svc in enumerate(services)]}))


# ---- the table ----------------------------------------------------------------------

@dataclass
class Case:
    """One blocking query: how to set it up, what must not wake it, what must."""

    name: str
    path: str
    wake: Action
    setup: list[Action] = field(default_factory=list)
    quiet: list[Action] = field(default_factory=list)
    quiet_moving: list[Action] = field(default_factory=list)
    local: bool = False   # answered by the agent itself, not a server blocking query
    hash: bool = False    # blocks on ?hash= (X-Consul-ContentHash), not ?index=
    noise: bool = True    # NOISE leaves its index alone


NOISE = [kv("{u}-noise/x"), node("{u}-noise-node")]

CASES = [
    Case("kv get", "/v1/kv/{u}/k",
         setup=[kv("{u}/k"), kv("{u}/j")],
         quiet=[kv("{u}/k2"), kv("{u}/k/sub"), kv("{u}/j", "other"), kv_delete("{u}/j"),
                kv("{u}/k"), session("{u}-noise-node")],
         wake=kv("{u}/k", "changed")),
    Case("kv get deleted key", "/v1/kv/{u}/k",
         setup=[kv("{u}/k"), kv_delete("{u}/k")],
         quiet=[node("{u}-n1"), session("{u}-noise-node")],
         quiet_moving=[kv("{u}/k2"), kv("{u}/kk"), *NOISE], noise=False,
         wake=kv("{u}/k")),
    Case("kv get wakes on delete", "/v1/kv/{u}/k",
         setup=[kv("{u}/k")],
         quiet=[kv("{u}/kx")],
         wake=kv_delete("{u}/k")),
    Case("kv recurse", "/v1/kv/{u}/dir/?recurse",
         setup=[kv("{u}/dir/a"), kv("{u}/other")],
         quiet=[kv("{u}/dix"), kv("{u}/other", "2"), kv_delete("{u}/other"), kv("{u}/dir/a")],
         wake=kv("{u}/dir/b/c")),
    Case("kv keys", "/v1/kv/{u}/dir/?keys&separator=/",
         setup=[kv("{u}/dir/a"), kv("{u}/dir/b/c"), kv("{u}/other")],
         quiet=[kv("{u}/dirx"), kv_delete("{u}/other")],
         wake=kv_delete("{u}/dir/b/c")),
    Case("catalog nodes", "/v1/catalog/nodes",
         quiet=[kv("{u}/x"), session("{u}-noise-node")],
         quiet_moving=[service("{u}-noise-node", "{u}-svc")],
         wake=node("{u}-n")),
    Case("catalog services", "/v1/catalog/services",
         setup=[check("{u}-n", "{u}-nodecheck", "passing")],
         quiet=[kv("{u}/x"), node("{u}-n2"), check("{u}-n", "{u}-c2", "passing")],
         quiet_moving=[deregister_check("{u}-n", "{u}-nodecheck")],
         wake=service("{u}-n", "{u}-web")),
    Case("catalog service", "/v1/catalog/service/{u}-web",
         setup=[service("{u}-n1", "{u}-web"), service("{u}-n2", "{u}-db")],
         quiet=[kv("{u}/x"), service("{u}-n2", "{u}-db", 5432), node("{u}-n2", "10.1.0.2"),
                service("{u}-n3", "{u}-api")],
         quiet_moving=[check("{u}-n1", "{u}-wc", "passing", "{u}-web")],
         wake=service("{u}-n1", "{u}-web", 8080)),
    Case("catalog service, none registered", "/v1/catalog/service/{u}-web",
         quiet=[kv("{u}/x")],
         quiet_moving=[service("{u}-n2", "{u}-db")],
         wake=service("{u}-n1", "{u}-web")),
    Case("catalog node", "/v1/catalog/node/{u}-n1",
         setup=[service("{u}-n1", "{u}-web"), service("{u}-n2", "{u}-db")],
         quiet=[kv("{u}/x"), service("{u}-n2", "{u}-db", 5432), node("{u}-n2", "10.1.0.2"),
                check("{u}-n1", "{u}-c", "passing"), check("{u}-n1", "{u}-wc", "passing",
                                                          "{u}-web")],
         wake=service("{u}-n1", "{u}-api")),
    Case("catalog node-services", "/v1/catalog/node-services/{u}-n1",
         setup=[service("{u}-n1", "{u}-web"), service("{u}-n2", "{u}-db")],
         quiet=[kv("{u}/x"), service("{u}-n2", "{u}-db", 5432), check("{u}-n1", "{u}-c", "passing")],
         wake=node("{u}-n1", "10.1.0.7")),
    Case("catalog node, not registered", "/v1/catalog/node/{u}-n1",
         setup=[node("{u}-n2")],
         quiet=[kv("{u}/x"), service("{u}-n2", "{u}-db")],
         wake=node("{u}-n1")),
    Case("health node", "/v1/health/node/{u}-n1",
         setup=[check("{u}-n1", "{u}-c1", "passing"), check("{u}-n2", "{u}-c2", "passing")],
         quiet=[kv("{u}/x"), service("{u}-n1", "{u}-web"), node("{u}-n1", "10.1.0.3")],
         quiet_moving=[check("{u}-n2", "{u}-c2", "critical")],
         wake=check("{u}-n1", "{u}-c1", "warning")),
    Case("health checks", "/v1/health/checks/{u}-web",
         setup=[service("{u}-n1", "{u}-web"), service("{u}-n1", "{u}-db"),
                check("{u}-n1", "{u}-wc", "passing", "{u}-web"),
                check("{u}-n1", "{u}-dc", "passing", "{u}-db")],
         quiet=[kv("{u}/x"), service("{u}-n2", "{u}-web")],
         quiet_moving=[check("{u}-n1", "{u}-dc", "critical", "{u}-db")],
         wake=check("{u}-n1", "{u}-wc", "warning", "{u}-web")),
    Case("health service", "/v1/health/service/{u}-web",
         setup=[service("{u}-n1", "{u}-web"), service("{u}-n2", "{u}-db"),
                check("{u}-n1", "{u}-wc", "passing", "{u}-web"),
                check("{u}-n2", "{u}-dc", "passing", "{u}-db"),
                check("{u}-n2", "{u}-n2c", "passing")],
         quiet=[kv("{u}/x"), check("{u}-n2", "{u}-dc", "critical", "{u}-db"),
                check("{u}-n2", "{u}-n2c", "critical"), service("{u}-n2", "{u}-db", 5432),
                node("{u}-n2", "10.1.0.2"), node("{u}-n3")],
         wake=check("{u}-n1", "{u}-wc", "critical", "{u}-web")),
    Case("health service wakes on its node's checks", "/v1/health/service/{u}-web",
         setup=[service("{u}-n1", "{u}-web"), check("{u}-n1", "{u}-nc", "passing")],
         quiet=[kv("{u}/x")],
         wake=check("{u}-n1", "{u}-nc", "critical")),
    Case("health state", "/v1/health/state/warning",
         setup=[check("{u}-n1", "{u}-c", "passing")],
         quiet=[kv("{u}/x"), service("{u}-n1", "{u}-web")],
         quiet_moving=[check("{u}-n1", "{u}-c", "critical")],
         wake=check("{u}-n1", "{u}-c", "warning")),
    Case("health state any", "/v1/health/state/any",
         setup=[check("{u}-n1", "{u}-c", "passing")],
         quiet=[kv("{u}/x"), service("{u}-n1", "{u}-web"), node("{u}-n1", "10.1.0.3"),
                check("{u}-n1", "{u}-c", "passing")],
         wake=check("{u}-n1", "{u}-c", "warning")),
    Case("session info", "/v1/session/info/{sid}",
         setup=[node("{u}-n1"), session("{u}-n1", into="sid")],
         quiet=[kv("{u}/x"), node("{u}-n2")],
         quiet_moving=[session("{u}-n1")],
         wake=session_destroy("sid")),
    Case("session node", "/v1/session/node/{u}-n1",
         setup=[node("{u}-n1"), node("{u}-n2"), session("{u}-n1")],
         quiet=[kv("{u}/x"), service("{u}-n1", "{u}-web")],
         quiet_moving=[session("{u}-n2")],
         wake=session("{u}-n1")),
    Case("session list", "/v1/session/list",
         setup=[node("{u}-n1")],
         quiet=[kv("{u}/x"), service("{u}-n1", "{u}-web")],
         wake=session("{u}-n1")),
    Case("coordinate nodes", "/v1/coordinate/nodes",
         setup=[node("{u}-n1")],
         quiet=[kv("{u}/x"), service("{u}-n1", "{u}-web")],
         wake=coordinate("{u}-n1", 0.01)),
    Case("coordinate node", "/v1/coordinate/node/{u}-n1",
         setup=[node("{u}-n1"), node("{u}-n2"), coordinate_applied("{u}-n1", 0.01)],
         quiet=[kv("{u}/x")],
         quiet_moving=[coordinate_applied("{u}-n2", 0.02)],
         wake=coordinate("{u}-n1", 0.03)),
    Case("event list", "/v1/event/list?name={u}",
         setup=[event("{u}")],
         quiet=[event("{u}-other"), kv("{u}/x")],
         wake=event("{u}"), local=True),
    # Consul answers config entry reads with the whole table's index: another entry's
    # write moves it without waking a read of one entry; a list wakes on any entry.
    Case("config entry", "/v1/config/service-defaults/{u}-web",
         setup=[config_entry("service-defaults", "{u}-web", Protocol="http")],
         quiet_moving=[config_entry("service-defaults", "{u}-other"),
                       config_entry("service-resolver", "{u}-web")],
         wake=config_entry("service-defaults", "{u}-web", Protocol="grpc")),
    Case("config entries of a kind", "/v1/config/service-resolver",
         setup=[config_entry("service-resolver", "{u}-a")],
         wake=config_entry("service-resolver", "{u}-b")),
    Case("discovery chain", "/v1/discovery-chain/{u}-web",
         wake=config_entry("service-resolver", "{u}-web", ConnectTimeout="3s")),
    # Prepared queries answer with the table's index; a read of one query waits on it only.
    Case("prepared query list", "/v1/query",
         quiet=[kv("{u}/x"), service("{u}-noise-node", "{u}-web")],
         wake=query("{u}-q")),
    Case("prepared query", "/v1/query/{qid}",
         setup=[query("{u}-q", into="qid")],
         quiet=[kv("{u}/x"), service("{u}-noise-node", "{u}-web")],
         quiet_moving=[query("{u}-other")],
         wake=query_update("qid", "{u}-q", "web")),
    Case("prepared query list, bound session destroyed", "/v1/query",
         setup=[node("{u}-n1"), session("{u}-n1", into="sid"),
                query("{u}-q", session_key="sid")],
         quiet=[kv("{u}/x"), session("{u}-n1")],
         wake=session_destroy("sid")),
    # Consul's catalog connect read answers the target service's index (its state store
    # says so in a TODO): the proxies' own checks leave it alone, the target's checks
    # move it without waking the read, a Connect-native instance of it wakes it.
    Case("catalog connect", "/v1/catalog/connect/{u}-web",
         setup=[service("{u}-n1", "{u}-web"), connect_proxy("{u}-n1", "{u}-wp", "{u}-web")],
         quiet=[kv("{u}/x"), service("{u}-n2", "{u}-db"),
                connect_proxy("{u}-n2", "{u}-dp", "{u}-db"),
                check("{u}-n1", "{u}-pc", "passing", "{u}-wp")],
         quiet_moving=[check("{u}-n1", "{u}-wc", "passing", "{u}-web")],
         wake=native("{u}-n3", "{u}-web")),
    Case("health connect", "/v1/health/connect/{u}-web",
         setup=[connect_proxy("{u}-n1", "{u}-wp", "{u}-web")],
         quiet=[kv("{u}/x"), service("{u}-n2", "{u}-db"),
                connect_proxy("{u}-n2", "{u}-dp", "{u}-db")],
         wake=check("{u}-n1", "{u}-pc", "critical", "{u}-wp")),
    Case("health connect, none registered", "/v1/health/connect/{u}-web",
         quiet=[kv("{u}/x")],
         quiet_moving=[service("{u}-n2", "{u}-db")],
         wake=connect_proxy("{u}-n1", "{u}-wp", "{u}-web")),
    Case("health ingress", "/v1/health/ingress/{u}-web",
         setup=[gateway("{u}-n1", "{u}-gw", "ingress-gateway"), ingress_entry("{u}-gw", "{u}-web")],
         quiet=[kv("{u}/x"), service("{u}-n2", "{u}-db"), ingress_entry("{u}-gw2", "{u}-db")],
         wake=check("{u}-n1", "{u}-gc", "critical", "{u}-gw")),
    # The gateway-services table index moves for any gateway; only this gateway's rows wake.
    Case("gateway services", "/v1/catalog/gateway-services/{u}-gw",
         setup=[ingress_entry("{u}-gw", "{u}-web")],
         quiet=[kv("{u}/x"), service("{u}-n2", "{u}-web")],
         quiet_moving=[ingress_entry("{u}-gw2", "{u}-db")],
         wake=ingress_entry("{u}-gw", "{u}-web", "{u}-api")),
    Case("agent service", "/v1/agent/service/{u}-svc",
         setup=[agent_service("{u}-svc", 80)],
         quiet=[agent_service("{u}-other", 81), kv("{u}/x")],
         wake=agent_service("{u}-svc", 82), local=True, hash=True),
]


# ---- the checks ------------------------------------------------------------------------

def marker(case: Case, reply: Reply) -> str:
    return reply.headers["X-Consul-ContentHash"] if case.hash else str(reply.index)


class Blocked:
    """A blocking GET running in a thread; ``join`` gives its reply and duration."""

    def __init__(self, agent: AgentProcess, case: Case, path: str, mark: str, wait: str) -> None:
        sep = "&" if "?" in path else "?"
        param = "hash" if case.hash else "index"
        self.url = f"{path}{sep}{param}={mark}&wait={wait}"
        self.reply: Reply | None = None
        self.started = time.monotonic()
        self.returned = 0.0
        self._thread = threading.Thread(target=self._run, args=(agent,), daemon=True)
        baseline = 0 if case.local else blocking_count(agent)
        self._thread.start()
        if not case.local:  # be sure the server holds it before writing
            wait_until(lambda: blocking_count(agent) > baseline or not self._thread.is_alive(),
                       what=f"{self.url} to block")

    def _run(self, agent: AgentProcess) -> None:
        self.reply = agent.get(self.url, timeout=WAKE_WAIT + 30)
        self.returned = time.monotonic()

    def join(self) -> tuple[Reply, float]:
        self._thread.join(WAKE_WAIT + 30)
        assert self.reply is not None, f"{self.url} never returned"
        return self.reply, self.returned - self.started


def run(agent: AgentProcess, actions: list[Action], ctx: Ctx) -> float:
    for action in actions:
        action(agent, ctx)
    return time.monotonic()


def assert_not_woken(agent: AgentProcess, case: Case, path: str, ctx: Ctx,
                     writes: list[Action], index_may_move: bool) -> None:
    before = agent.get(path)
    mark = marker(case, before)
    blocked = Blocked(agent, case, path, mark, f"{int(QUIET_WAIT * 1000)}ms")
    written = run(agent, writes, ctx)
    reply, took = blocked.join()
    assert written < blocked.returned, "the writes outlasted the wait: the box is too slow"
    assert reply.status == before.status
    assert marker(case, reply) == mark, f"{case.name}: an unrelated write changed the result"
    assert took >= QUIET_WAIT * 0.9, f"{case.name}: an unrelated write woke it after {took:.2f}s"
    if not index_may_move:
        assert marker(case, agent.get(path)) == mark, f"{case.name}: its index moved"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_blocking_index(agent, unique, case: Case):
    ctx: Ctx = {"u": unique}
    run(agent, [node("{u}-noise-node"), *case.setup], ctx)
    path = case.path.format(**ctx)

    noise = NOISE if case.noise else []
    assert_not_woken(agent, case, path, ctx, [*noise, *case.quiet], index_may_move=False)
    if case.quiet_moving:
        assert_not_woken(agent, case, path, ctx, case.quiet_moving, index_may_move=True)

    before = agent.get(path)
    blocked = Blocked(agent, case, path, marker(case, before), f"{WAKE_WAIT}s")
    case.wake(agent, ctx)
    reply, took = blocked.join()
    assert took < PROMPT, f"{case.name}: the write did not wake it ({took:.2f}s)"
    assert marker(case, reply) != marker(case, before)
    if not case.hash:
        assert reply.index > before.index or case.local
        assert reply.index == agent.get(path).index


def test_kv_get_answers_the_keys_modify_index(agent, unique):
    """The issue's reproduction: a key's index is its ModifyIndex, not the store's."""
    agent.put(f"/v1/kv/{unique}/k", "v")
    agent.put(f"/v1/kv/{unique}/other", "v")
    reply = agent.get(f"/v1/kv/{unique}/k")
    assert reply.index == reply.json()[0]["ModifyIndex"]
    assert reply.index < agent.get(f"/v1/kv/{unique}/other").index
    missing = agent.get(f"/v1/kv/{unique}/missing")
    assert missing.status == 404
    assert missing.index == agent.get(f"/v1/kv/{unique}/other").index  # the KV index


def test_catalog_node_answers_its_own_index(agent, unique):
    agent.put("/v1/catalog/register", {"Node": f"{unique}-a", "Address": "10.2.0.1"})
    own = agent.get(f"/v1/catalog/node/{unique}-a").index
    agent.put("/v1/catalog/register", {"Node": f"{unique}-b", "Address": "10.2.0.2",
                                       "Service": {"Service": "s"}})
    assert agent.get(f"/v1/catalog/node/{unique}-a").index == own
    assert json.loads(agent.get(f"/v1/catalog/node/{unique}-a").body)["Node"]["Node"] \
        == f"{unique}-a"
