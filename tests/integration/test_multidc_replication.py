"""Replication from the primary datacenter (dc1) into a secondary (dc2), each in its own
network namespace: config entries and intentions written in either datacenter land in
dc1 and reach dc2 by replication, deletions too, and a cut WAN link only delays them."""

from __future__ import annotations

import time

import pytest

from tests.integration.test_multidc import FAST, leader_known, ok
from tests.support.agent_process import AgentProcess, wait_until
from tests.support.netns import WanLab

PRIMARY = ("-hcl", 'primary_datacenter = "dc1"')


@pytest.fixture
def lab():
    lab = WanLab(["dc1", "dc2"])
    try:
        yield lab
    finally:
        lab.close()


def federation(lab: WanLab, servers: dict[str, int]) -> dict[str, list[AgentProcess]]:
    """``servers[dc]`` servers per datacenter, dc1 the primary, WAN-joined to dc1's first."""
    addresses = {dc: [lab.address(dc) for _ in range(n)] for dc, n in servers.items()}
    started = {dc: [lab.start_agent(dc, *FAST, *PRIMARY, host=host,
                                    bootstrap_expect=len(hosts),
                                    join=[h for h in hosts if h != host],
                                    join_wan=[addresses["dc1"][0]]) for host in hosts]
               for dc, hosts in addresses.items()}
    for agent in (a for group in started.values() for a in group):
        wait_until(lambda a=agent: leader_known(a), 90, f"a leader seen by {agent.host}")
    wait_until(lambda: sorted(started["dc2"][0].get("/v1/catalog/datacenters").json()) ==
               sorted(servers), 90, "both datacenters in the WAN pool")
    return started


def await_entries(agent: AgentProcess, path: str, want, within: float) -> float:
    """Block on ``path`` (a list) in ``agent`` until ``want(list)``; seconds taken."""
    start = time.monotonic()
    index = 0
    while True:
        reply = ok(agent.get(f"{path}?index={index}&wait=5s", timeout=30))
        if want(reply.json()):
            return time.monotonic() - start
        assert time.monotonic() - start < within, (path, reply.json())
        index = reply.index


def names(entries) -> list[str]:
    return sorted(e["Name"] for e in entries or [])


def test_config_entries_and_intentions_replicate_to_dc2_and_survive_a_wan_cut(lab):
    servers = federation(lab, {"dc1": 1, "dc2": 1})
    dc1, dc2 = servers["dc1"][0], servers["dc2"][0]

    # An intention made in dc1 shows up in dc2 within 2 s.
    ok(dc1.put("/v1/connect/intentions/exact?source=api&destination=web",
               {"Action": "allow"}))
    took = await_entries(dc2, "/v1/config/service-intentions", lambda e: names(e) == ["web"],
                         2.0)
    print(f"intention replicated in {took:.2f}s")
    entry = ok(dc2.get("/v1/config/service-intentions/web")).json()
    assert [(s["Name"], s["Action"]) for s in entry["Sources"]] == [("api", "allow")]

    # A config entry written in dc2 is forwarded to dc1 and replicated back.
    ok(dc2.put("/v1/config", {"Kind": "service-defaults", "Name": "web",
                              "Protocol": "http"}))
    assert ok(dc1.get("/v1/config/service-defaults/web")).json()["Protocol"] == "http"
    await_entries(dc2, "/v1/config/service-defaults", lambda e: names(e) == ["web"], 2.0)

    # Deleted in dc1: gone from dc2.
    ok(dc1.delete("/v1/connect/intentions/exact?source=api&destination=web"))
    await_entries(dc2, "/v1/config/service-intentions", lambda e: not e, 2.0)

    status = ok(dc2.get("/v1/operator/federation")).json()
    local = next(d for d in status["Datacenters"] if d["Local"])
    replication = local["Replication"]["config-entries"]
    assert replication["Running"] and replication["LastIndex"] > 0, replication

    # Cut the WAN: dc2 keeps serving what it replicated; dc1 goes on taking writes.
    lab.cut("dc1", "dc2")
    ok(dc1.put("/v1/config", {"Kind": "service-defaults", "Name": "db",
                              "Protocol": "tcp"}))
    assert ok(dc2.get("/v1/config/service-defaults/web")).json()["Protocol"] == "http"
    # Heal: replication picks up the write made during the cut, without a restart.
    lab.heal()
    await_entries(dc2, "/v1/config/service-defaults", lambda e: names(e) == ["db", "web"],
                  30.0)
