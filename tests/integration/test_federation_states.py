"""Federation states across two datacenters, each in its own network namespace: a mesh
gateway registered in dc2 reaches dc1's state of dc2 by dc2's leader anti-entropy and
comes back to dc2 by replication; deregistering it removes it from both; a datacenter
that leaves the WAN pool is pruned from the primary."""

from __future__ import annotations

import time

import pytest

from tests.integration.test_multidc import ok
from tests.support.agent_process import AgentProcess
from tests.support.datacenters import network, start_datacenters

GATEWAYS = "/v1/internal/federation-states/mesh-gateways"
STATES = "/v1/internal/federation-states"
GATEWAY = {"Node": "gw-node", "Address": "10.2.0.9",
           "Service": {"Kind": "mesh-gateway", "Service": "mesh-gateway", "Port": 8443,
                       "Meta": {"consul-wan-federation": "1"}}}


@pytest.fixture
def lab():
    with network(["dc1", "dc2"]) as lab:
        yield lab


def await_reply(agent: AgentProcess, path: str, want, within: float):
    """Block on ``path`` until ``want(body)``; the body and the seconds taken."""
    start = time.monotonic()
    index = 0
    sep = "&" if "?" in path else "?"
    while True:
        reply = ok(agent.get(f"{path}{sep}index={index}&wait=5s", timeout=30))
        if want(reply.json()):
            return reply.json(), time.monotonic() - start
        assert time.monotonic() - start < within, (path, reply.json())
        index = reply.index


def gateway_nodes(body, dc: str) -> list[str]:
    return [row["Node"]["Node"] for row in body.get(dc, [])]


def test_dc2_mesh_gateways_reach_the_primary_and_come_back_and_a_departed_dc_is_pruned(lab):
    servers = start_datacenters(lab, {"dc1": 1, "dc2": 1}).servers
    dc1, dc2 = servers["dc1"][0], servers["dc2"][0]
    both = lambda states: sorted(s["Datacenter"] for s in states) == ["dc1", "dc2"]  # noqa: E731
    await_reply(dc1, STATES, both, 30)
    await_reply(dc2, STATES, both, 30)

    start = time.monotonic()
    ok(dc2.put("/v1/catalog/register", GATEWAY))
    await_reply(dc1, GATEWAYS, lambda b: gateway_nodes(b, "dc2") == ["gw-node"], 10)
    print(f"dc2's gateway in dc1's federation state {time.monotonic() - start:.3f}s after "
          "its registration")
    body, _ = await_reply(dc2, GATEWAYS, lambda b: gateway_nodes(b, "dc2") == ["gw-node"], 10)
    print(f"... and in dc2's replicated copy after {time.monotonic() - start:.3f}s")
    assert body["dc2"][0]["Service"]["Meta"] == {"consul-wan-federation": "1"}
    # asked of dc1 from dc2, and the single-state shape with the primary's index
    assert gateway_nodes(ok(dc2.get(f"{GATEWAYS}?dc=dc1")).json(), "dc2") == ["gw-node"]
    primary = ok(dc1.get("/v1/internal/federation-state/dc2")).json()
    # the replica catches up with the primary's latest write, marked with its index
    await_reply(dc2, "/v1/internal/federation-state/dc2", lambda b: b["State"][
        "PrimaryModifyIndex"] >= primary["State"]["ModifyIndex"], 10)
    assert {"Index", "KnownLeader", "LastContact", "ConsistencyLevel"} <= set(primary)
    assert dc1.get("/v1/internal/federation-state/dc9").status == 404
    asked = ok(dc2.get("/v1/internal/federation-state/dc2?dc=dc1")).json()  # dc1's copy
    assert asked["State"]["ModifyIndex"] >= primary["State"]["ModifyIndex"]
    assert asked["State"]["PrimaryModifyIndex"] == asked["State"]["ModifyIndex"]

    ok(dc2.put("/v1/catalog/deregister", {"Node": "gw-node"}))
    await_reply(dc1, GATEWAYS, lambda b: "dc2" not in b, 10)
    await_reply(dc2, GATEWAYS, lambda b: "dc2" not in b, 10)

    start = time.monotonic()
    ok(dc2.put("/v1/agent/leave"))
    await_reply(dc1, STATES, lambda s: [x["Datacenter"] for x in s] == ["dc1"], 30)
    print(f"dc2's state pruned from dc1 {time.monotonic() - start:.3f}s after it left")
    dc2.process.wait(30)
    # the leaving leader wrote nothing back once pruned
    assert [x["Datacenter"] for x in ok(dc1.get(STATES)).json()] == ["dc1"]
