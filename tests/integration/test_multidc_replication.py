"""Replication from the primary datacenter (dc1) into a secondary (dc2), each in its own
network namespace: config entries and intentions written in either datacenter land in
dc1 and reach dc2 by replication, deletions too, and a cut WAN link only delays them."""

from __future__ import annotations

import time

import pytest

from tests.integration.test_multidc import ok
from tests.support.agent_process import AgentProcess, wait_until
from tests.support.datacenters import network, start_datacenters


@pytest.fixture
def lab():
    with network(["dc1", "dc2"]) as lab:
        yield lab


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
    servers = start_datacenters(lab, {"dc1": 1, "dc2": 1}).servers
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

    # So is an intention written in dc2.
    ok(dc2.put("/v1/connect/intentions/exact?source=web&destination=db", {"Action": "deny"}))
    assert ok(dc1.get("/v1/config/service-intentions/db")).json()["Sources"][0]["Name"] == "web"
    await_entries(dc2, "/v1/config/service-intentions", lambda e: names(e) == ["db", "web"],
                  2.0)
    ok(dc2.delete("/v1/connect/intentions/exact?source=web&destination=db"))

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


MANAGEMENT = "5f2f8a9e-7f3c-4c59-9a61-3d3f0c1e2b11"
ACL = ("-hcl", 'acl { enabled = true, default_policy = "deny", enable_token_replication = true, '
       f'tokens {{ initial_management = "{MANAGEMENT}", replication = "{MANAGEMENT}" }} }}')


def as_manager(**headers) -> dict:
    return {"headers": {"X-Consul-Token": MANAGEMENT, **headers}}


def test_acl_policies_and_tokens_made_in_dc1_work_in_dc2(lab):
    servers = start_datacenters(lab, {"dc1": 1, "dc2": 1}, extra=ACL, token=MANAGEMENT).servers
    dc1, dc2 = servers["dc1"][0], servers["dc2"][0]
    # The management token reaches dc2 by replication first.
    wait_until(lambda: dc2.get("/v1/acl/token/self", **as_manager()).status == 200, 30,
               "the management token replicated to dc2")

    policy = ok(dc1.put("/v1/acl/policy", {"Name": "acl-read", "Rules": 'acl = "read"'},
                        **as_manager())).json()
    token = ok(dc1.put("/v1/acl/token", {"Description": "reader",
                                         "Policies": [{"ID": policy["ID"]}]},
                       **as_manager())).json()
    took = await_entries_as(dc2, "/v1/acl/tokens",
                            lambda ts: token["AccessorID"] in {t["AccessorID"] for t in ts},
                            2.0)
    print(f"token replicated in {took:.2f}s")
    # dc2 resolves the token to its replicated policy: it may read ACLs, not write them.
    reader = {"headers": {"X-Consul-Token": token["SecretID"]}}
    me = ok(dc2.get("/v1/acl/token/self", **reader)).json()
    assert [p["Name"] for p in me["Policies"]] == ["acl-read"]
    assert ok(dc2.get("/v1/acl/policies", **reader)).json()
    assert dc2.put("/v1/acl/policy", {"Name": "nope"}, **reader).status == 403

    # With the WAN cut, dc2 still resolves the replicated token.
    lab.cut("dc1", "dc2")
    assert ok(dc2.get("/v1/acl/policies", **reader)).json()
    lab.heal()
    wait_until(lambda: dc2.get("/v1/acl/policies?dc=dc1", **as_manager()).status == 200, 30,
               "dc1 reachable from dc2 again")

    # A policy written in dc2 is made in dc1 (the primary) and replicated back.
    made = ok(dc2.put("/v1/acl/policy", {"Name": "from-dc2", "Rules": ""},
                      **as_manager())).json()
    assert ok(dc1.get(f"/v1/acl/policy/{made['ID']}", **as_manager())).json()["Name"] == \
        "from-dc2"
    await_entries_as(dc2, "/v1/acl/policies",
                     lambda ps: "from-dc2" in {p["Name"] for p in ps}, 2.0)

    # Deleting the token in dc1 revokes it in dc2.
    ok(dc1.delete(f"/v1/acl/token/{token['AccessorID']}", **as_manager()))
    await_entries_as(dc2, "/v1/acl/tokens",
                     lambda ts: token["AccessorID"] not in {t["AccessorID"] for t in ts}, 2.0)
    assert dc2.get("/v1/acl/policies", **reader).status == 403

    status = ok(dc2.get("/v1/acl/replication", **as_manager())).json()
    assert status["Enabled"] and status["Running"] and status["SourceDatacenter"] == "dc1"
    assert status["ReplicationType"] == "tokens" and status["ReplicatedTokenIndex"] > 0, status


def await_entries_as(agent: AgentProcess, path: str, want, within: float) -> float:
    """:func:`await_entries` with the management token."""
    start = time.monotonic()
    index = 0
    while True:
        reply = ok(agent.get(f"{path}?index={index}&wait=5s", timeout=30, **as_manager()))
        if want(reply.json()):
            return time.monotonic() - start
        assert time.monotonic() - start < within, (path, reply.json())
        index = reply.index


def leader_of(agents: list[AgentProcess]) -> AgentProcess | None:
    """The one of ``agents`` the first of them names leader (None if another or none)."""
    address = ok(agents[0].get("/v1/status/leader")).json()
    return next((a for a in agents if address.startswith(a.host + ":")), None)


def counter(agent: AgentProcess, name: str, kind: str) -> float:
    """A cumulative counter of ``agent`` from its Prometheus metrics (0 before any)."""
    text = ok(agent.get("/v1/agent/metrics?format=prometheus")).text
    for line in text.splitlines():
        if line.startswith(name) and f'type="{kind}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def defaults(agent: AgentProcess) -> list[str]:
    return names(ok(agent.get("/v1/config/service-defaults")).json())


def test_leader_changes_in_either_datacenter_lose_nothing_and_resume(lab):
    fed = start_datacenters(lab, {"dc1": 3, "dc2": 3})
    dc1, dc2 = list(fed.servers["dc1"]), list(fed.servers["dc2"])
    wanted = [f"svc{i}" for i in range(6)]
    for name in wanted[:3]:
        ok(dc1[0].put("/v1/config", {"Kind": "service-defaults", "Name": name}))
    await_entries(dc2[0], "/v1/config/service-defaults", lambda e: names(e) == wanted[:3], 2.0)

    # Kill dc1's leader while dc2's replicator waits on it; write the rest through the others.
    old = leader_of(dc1)
    old.kill()
    alive = [a for a in dc1 if a is not old]
    for name in wanted[3:]:
        ok(alive[0].put("/v1/config", {"Kind": "service-defaults", "Name": name}))
    await_entries(dc2[0], "/v1/config/service-defaults", lambda e: names(e) == wanted, 30.0)
    assert defaults(alive[0]) == wanted

    # A new leader in dc2 resumes from the index saved in raft: parked on dc1 from there,
    # it makes no round and copies nothing until dc1 changes. (Killed between a copy and
    # saving its index, a leader leaves the older index: the next one makes one round
    # that finds everything equal -- so wait for the save first.)
    saved = caught_up(leader_of(dc2), alive[0])
    gone = leader_of(dc2)
    gone.kill()
    rest = [a for a in dc2 if a is not gone]
    wait_until(lambda: leader_of(rest) is not None, 60, "a new leader in dc2")
    new = leader_of(rest)
    wait_until(lambda: replication_of(new)["Running"], 30, "replication on dc2's new leader")
    metric = "consul_proconsul_replication_"
    assert replication_of(new)["LastIndex"] == saved
    assert counter(new, metric + "rounds", "config-entries") == 0
    assert defaults(new) == wanted
    ok(alive[0].put("/v1/config", {"Kind": "service-defaults", "Name": "late"}))
    await_entries(new, "/v1/config/service-defaults", lambda e: "late" in names(e), 5.0)
    # (the round is counted once its index is saved, just after the copy)
    wait_until(lambda: counter(new, metric + "rounds", "config-entries") == 1, 5,
               "the round counted")
    assert counter(new, metric + "upserts", "config-entries") == 1

    # Every dc2 server killed (-9) and started again on its data: the same, no re-copy.
    saved = caught_up(new, alive[0])
    for agent in rest:
        agent.kill()
    again = [fed.restart(a) for a in rest]
    wait_until(lambda: leader_of(again) is not None, 90, "a leader in the restarted dc2")
    leader = leader_of(again)
    wait_until(lambda: replication_of(leader)["Running"], 30, "replication after the restart")
    assert replication_of(leader)["LastIndex"] == saved
    assert counter(leader, metric + "rounds", "config-entries") == 0
    ok(alive[0].put("/v1/config", {"Kind": "service-defaults", "Name": "later"}))
    await_entries(leader, "/v1/config/service-defaults", lambda e: "later" in names(e), 5.0)
    # (the round is counted once its index is saved, just after the copy)
    wait_until(lambda: counter(leader, metric + "rounds", "config-entries") == 1, 5,
               "the round counted")
    assert counter(leader, metric + "upserts", "config-entries") == 1
    assert defaults(leader) == sorted([*wanted, "late", "later"])


def caught_up(secondary: AgentProcess, primary: AgentProcess) -> int:
    """Wait until ``secondary``'s leader has saved the primary's config-entry index as
    replicated; that index."""
    index = ok(primary.get("/v1/config/service-defaults")).index
    wait_until(lambda: replication_of(secondary)["LastIndex"] == index, 10,
               "the replicated index saved")
    return index


def replication_of(agent: AgentProcess, kind: str = "config-entries") -> dict:
    """``kind``'s replication status in ``agent``'s datacenter, as ``agent`` reports it."""
    status = ok(agent.get("/v1/operator/federation")).json()
    local = next(d for d in status["Datacenters"] if d["Local"])
    return local["Replication"].get(kind) or {"Running": False, "LastIndex": 0}
