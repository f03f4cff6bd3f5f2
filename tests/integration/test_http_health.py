"""/v1/health/* against a real agent, including blocking queries."""

from __future__ import annotations

import threading
import time
from urllib.parse import quote

import pytest


def register(agent, body):
    reply = agent.put("/v1/catalog/register", body)
    assert reply.status == 200, reply.text


def instance(agent, node, service_id, service, tags=(), status="passing", meta=None,
             node_status=None):
    """A node with one service instance, one service check, and optionally a node check."""
    checks = [{"CheckID": f"{service_id}-check", "Name": "svc", "ServiceID": service_id,
               "Status": status}]
    if node_status is not None:
        checks.append({"CheckID": "node-check", "Name": "node", "Status": node_status})
    register(agent, {"Node": node, "Address": "10.0.0.1", "NodeMeta": meta,
                     "Service": {"ID": service_id, "Service": service, "Tags": list(tags)},
                     "Checks": checks})


class Blocked:
    """A GET issued from a thread; ``done`` is set when its reply arrives."""

    def __init__(self, agent, path: str) -> None:
        self.reply = None
        self.done = threading.Event()
        self.started = time.monotonic()
        self.finished = 0.0

        def run() -> None:
            try:
                self.reply = agent.get(path, timeout=30)
            finally:
                self.finished = time.monotonic()
                self.done.set()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self, timeout: float):
        assert self.done.wait(timeout), "blocking query did not return"
        self.thread.join(timeout)
        return self.reply


# ---- checks ------------------------------------------------------------------------


def test_node_checks(agent, unique):
    instance(agent, unique, "a", f"{unique}-svc", status="warning", node_status="passing")
    reply = agent.get(f"/v1/health/node/{unique}")
    assert reply.status == 200
    checks = {c["CheckID"]: c for c in reply.json()}
    assert set(checks) == {"a-check", "node-check"}
    assert checks["a-check"]["Status"] == "warning"
    assert checks["a-check"]["ServiceName"] == f"{unique}-svc"
    assert checks["node-check"]["ServiceID"] == ""
    assert checks["node-check"]["ServiceTags"] == []
    assert agent.get(f"/v1/health/node/{unique}-nobody").json() == []
    expr = quote("Status == warning")
    assert [c["CheckID"] for c in agent.get(
        f"/v1/health/node/{unique}?filter={expr}").json()] == ["a-check"]


def test_service_checks(agent, unique):
    instance(agent, f"{unique}-1", "a", unique, meta={"zone": "z1"}, node_status="passing")
    instance(agent, f"{unique}-2", "b", unique, status="critical", meta={"zone": "z2"})
    checks = agent.get(f"/v1/health/checks/{unique}").json()
    assert sorted((c["Node"], c["CheckID"]) for c in checks) == [
        (f"{unique}-1", "a-check"), (f"{unique}-2", "b-check")]
    zoned = agent.get(f"/v1/health/checks/{unique}?node-meta=zone:z2").json()
    assert [c["CheckID"] for c in zoned] == ["b-check"]
    expr = quote("Status == passing")
    assert [c["CheckID"] for c in agent.get(
        f"/v1/health/checks/{unique}?filter={expr}").json()] == ["a-check"]
    assert agent.get(f"/v1/health/checks/{unique}-none").json() == []


def test_checks_in_state(agent, unique):
    instance(agent, unique, "a", f"{unique}-svc", status="warning", meta={"grp": unique},
             node_status="critical")

    def mine(state, query=""):
        reply = agent.get(f"/v1/health/state/{state}{query}")
        assert reply.status == 200, reply.text
        return sorted(c["CheckID"] for c in reply.json() if c["Node"] == unique)

    assert mine("any") == ["a-check", "node-check"]
    assert mine("warning") == ["a-check"]
    assert mine("critical") == ["node-check"]
    assert mine("passing") == []
    everything = agent.get("/v1/health/state/any").json()
    assert any(c["CheckID"] == "serfHealth" for c in everything)
    grouped = agent.get(f"/v1/health/state/any?node-meta=grp:{unique}").json()
    assert sorted(c["CheckID"] for c in grouped) == ["a-check", "node-check"]
    expr = quote(f'Node == "{unique}" and ServiceID == a')
    assert mine("any", f"?filter={expr}") == ["a-check"]


def test_checks_in_invalid_state_is_400(agent):
    reply = agent.get("/v1/health/state/bogus")
    assert reply.status == 400
    assert "bogus" in reply.text


# ---- service instances -------------------------------------------------------------


def test_service_nodes_shape(agent, unique):
    instance(agent, unique, "a", unique, meta={"k": "v"}, node_status="passing")
    register(agent, {"Node": f"{unique}-other", "Address": "10.0.0.2",
                     "Service": {"ID": "x", "Service": f"{unique}-unrelated"},
                     "Check": {"CheckID": "other", "Name": "o", "Status": "passing"}})
    reply = agent.get(f"/v1/health/service/{unique}")
    assert reply.status == 200
    (entry,) = reply.json()
    assert set(entry) == {"Node", "Service", "Checks"}
    assert entry["Node"]["Node"] == unique
    assert entry["Node"]["Meta"] == {"k": "v"}
    assert entry["Service"]["ID"] == "a"
    assert entry["Service"]["Service"] == unique
    assert entry["Service"]["Tags"] == []
    # the service's own checks and the node's checks, not other services' checks
    assert sorted(c["CheckID"] for c in entry["Checks"]) == ["a-check", "node-check"]
    assert agent.get(f"/v1/health/service/{unique}-none").body == b"[]"


def test_passing_drops_instances_with_any_non_passing_check(agent, unique):
    instance(agent, f"{unique}-ok", "ok", unique)
    instance(agent, f"{unique}-warn", "warn", unique, status="warning")
    instance(agent, f"{unique}-sick-node", "sick", unique, node_status="critical")

    def ids(query=""):
        reply = agent.get(f"/v1/health/service/{unique}{query}")
        assert reply.status == 200, reply.text
        return sorted(e["Service"]["ID"] for e in reply.json())

    assert ids() == ["ok", "sick", "warn"]
    assert ids("?passing") == ["ok"]
    assert ids("?passing=true") == ["ok"]
    assert ids("?passing=1") == ["ok"]
    assert ids("?passing=false") == ["ok", "sick", "warn"]
    assert ids("?passing=0") == ["ok", "sick", "warn"]


def test_bad_passing_value_is_400(agent, unique):
    reply = agent.get(f"/v1/health/service/{unique}?passing=maybe")
    assert (reply.status, reply.text) == (400, "Invalid value for ?passing")


def test_service_nodes_tag_node_meta_and_filter(agent, unique):
    instance(agent, f"{unique}-1", "i1", unique, tags=["x", "Blue"], meta={"az": "a"})
    instance(agent, f"{unique}-2", "i2", unique, tags=["x"], meta={"az": "b"},
             status="critical")
    instance(agent, f"{unique}-3", "i3", unique, meta={"az": "b"})

    def ids(query):
        reply = agent.get(f"/v1/health/service/{unique}{query}")
        assert reply.status == 200, reply.text
        return sorted(e["Service"]["ID"] for e in reply.json())

    assert ids("?tag=x") == ["i1", "i2"]
    assert ids("?tag=x&tag=blue") == ["i1"]
    assert ids("?tag=x&tag=green") == []
    assert ids("?node-meta=az:b") == ["i2", "i3"]
    assert ids("?node-meta=az:b&passing") == ["i3"]
    assert ids(f"?filter={quote('Checks.Status == critical')}") == ["i2"]
    assert ids(f"?filter={quote('Service.Tags contains x')}") == ["i1", "i2"]
    assert ids(f"?filter={quote('Node.Meta.az == a or Service.ID == i3')}") == ["i1", "i3"]


# ---- blocking queries --------------------------------------------------------------


def test_blocking_query_wakes_on_change_to_its_service(agent, unique):
    instance(agent, unique, "a", unique)
    first = agent.get(f"/v1/health/service/{unique}")
    index = first.index
    blocked = Blocked(agent, f"/v1/health/service/{unique}?index={index}&wait=5s")
    # it must still be waiting: nothing about this service has changed
    assert not blocked.done.wait(0.3)
    changed_at = time.monotonic()
    instance(agent, unique, "a", unique, status="critical")
    reply = blocked.join(4)
    assert reply.status == 200
    assert reply.index > index
    assert blocked.finished - changed_at < 2.5
    (entry,) = reply.json()
    assert entry["Checks"][0]["Status"] == "critical"


def test_blocking_query_ignores_unrelated_services(agent, unique):
    instance(agent, unique, "a", unique)
    index = agent.get(f"/v1/health/service/{unique}").index
    blocked = Blocked(agent, f"/v1/health/service/{unique}?index={index}&wait=1s")
    assert not blocked.done.wait(0.2)
    instance(agent, f"{unique}-elsewhere", "b", f"{unique}-other")
    instance(agent, f"{unique}-elsewhere", "b", f"{unique}-other", status="critical")
    reply = blocked.join(5)
    elapsed = blocked.finished - blocked.started
    assert reply.status == 200
    assert reply.index == index
    assert elapsed >= 0.95
    assert elapsed < 10.0  # the 1 s wait honoured (the default would be 5 minutes)
    assert len(reply.json()) == 1


def test_service_index_does_not_move_for_other_services(agent, unique):
    instance(agent, unique, "a", unique)
    mine = agent.get(f"/v1/health/service/{unique}").index
    catalog_mine = agent.get(f"/v1/catalog/service/{unique}").index
    before_all = agent.get("/v1/catalog/services").index
    instance(agent, f"{unique}-elsewhere", "b", f"{unique}-other")
    assert agent.get("/v1/catalog/services").index > before_all
    assert agent.get(f"/v1/health/service/{unique}").index == mine
    assert agent.get(f"/v1/catalog/service/{unique}").index == catalog_mine
    # ...but does move for its own changes
    instance(agent, unique, "a", unique, status="warning")
    assert agent.get(f"/v1/health/service/{unique}").index > mine


def test_blocking_catalog_nodes_wakes_on_new_node(agent, unique):
    index = agent.get("/v1/catalog/nodes").index
    blocked = Blocked(agent, f"/v1/catalog/nodes?index={index}&wait=5s")
    assert not blocked.done.wait(0.2)
    register(agent, {"Node": unique, "Address": "10.0.0.1"})
    reply = blocked.join(4)
    assert reply.index > index
    assert unique in [n["Node"] for n in reply.json()]


def test_index_zero_does_not_block(agent, unique):
    started = time.monotonic()
    reply = agent.get(f"/v1/health/service/{unique}?index=0&wait=5s")
    assert reply.status == 200
    assert time.monotonic() - started < 2
    assert reply.headers["X-Consul-Index"] != "0"


@pytest.mark.parametrize("path", ["/v1/health/service/{u}", "/v1/health/checks/{u}",
                                  "/v1/health/node/{u}", "/v1/health/state/critical",
                                  "/v1/catalog/service/{u}", "/v1/catalog/node/{u}"])
def test_index_header_is_never_zero(agent, unique, path):
    reply = agent.get(path.format(u=unique))
    assert reply.status == 200
    assert reply.headers["X-Consul-Index"] != "0"
    assert reply.index >= 1


def test_node_check_change_moves_service_index(agent, unique):
    instance(agent, unique, "a", unique, node_status="passing")
    index = agent.get(f"/v1/health/service/{unique}").index
    blocked = Blocked(agent, f"/v1/health/service/{unique}?index={index}&wait=5s")
    assert not blocked.done.wait(0.2)
    register(agent, {"Node": unique, "Address": "10.0.0.1", "SkipNodeUpdate": True,
                     "Check": {"CheckID": "node-check", "Name": "node", "Status": "critical"}})
    reply = blocked.join(4)
    assert reply.index > index
    assert agent.get(f"/v1/health/service/{unique}?passing").json() == []


def test_deregistering_last_instance_wakes_and_empties(agent, unique):
    instance(agent, unique, "a", unique)
    index = agent.get(f"/v1/health/service/{unique}").index
    blocked = Blocked(agent, f"/v1/health/service/{unique}?index={index}&wait=5s")
    assert not blocked.done.wait(0.2)
    assert agent.put("/v1/catalog/deregister", {"Node": unique, "ServiceID": "a"}).status == 200
    reply = blocked.join(4)
    assert reply.index > index
    assert reply.json() == []
