"""Datacenters federated through mesh gateways, each in its own network namespace, behind
a WAN that drops every packet between datacenters except TCP to and from the gateways'
WAN ports (tests/support/netns.py ``WanLab.isolate``), so that no direct path between
servers can be what made a test pass. Real Envoy runs every gateway and sidecar.

The wall itself is proven first: a plain WAN join between two datacenters fails behind
it and works once it is taken down, and only the listed gateway port gets through. Then
issue #20's Show, on one federation shared by the tests in order (module fixture): dc1
(primary, 3 servers) and dc2 (3 servers, only ``primary_gateways``), each with an Envoy
mesh gateway (``-expose-servers``), TLS and ACLs; WAN convergence, ``?dc=`` both ways,
federation states, ACL and config-entry replication, a service call dc2 -> dc1 through
sidecars and both gateways, dc3 joining later, a dc1 server killed, and dc1's gateway
moved twice to new addresses (the second time with every old address dark).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.test_multidc import ok
from tests.support.agent_process import AgentProcess, wait_until
from tests.support.cli_process import run_cli
from tests.support.datacenters import network, start_datacenters, wan_alive
from tests.support.envoy import Envoy, http_get
from tests.support.gateway_federation import GATEWAY_PORT, WanFed, as_manager, reaches, start_app
from tests.support.netns import run


def node_name(agent: AgentProcess) -> str:
    return agent.get("/v1/agent/self").json()["Config"]["NodeName"]


def test_the_wall_drops_a_direct_wan_join_but_lets_the_gateway_port_through():
    with network(["dc1", "dc2"]) as lab:
        fed = start_datacenters(lab, {"dc1": 1, "dc2": 1}, join_wan=False)
        dc1, dc2 = fed.servers["dc1"][0], fed.servers["dc2"][0]
        gateway = lab.address("dc1")
        start_app(lab, "dc1", gateway, GATEWAY_PORT, "gateway")
        start_app(lab, "dc1", gateway, GATEWAY_PORT + 1, "not-a-gateway")
        lab.isolate([(gateway, GATEWAY_PORT)])

        # (the join gives up after the WAN pool's 30 s TCP timeout: meanwhile, the ports)
        with ThreadPoolExecutor(1) as pool:
            join = pool.submit(dc2.put, f"/v1/agent/join/{dc1.host}?wan=1", timeout=60)
            # Between datacenters only the gateway's port opens, even on the same address;
            # the test (in the root namespace) still reaches everyone.
            assert reaches(lab, "dc2", gateway, GATEWAY_PORT)
            assert not reaches(lab, "dc2", gateway, GATEWAY_PORT + 1)
            assert not reaches(lab, "dc2", dc1.host, 8300)
            assert reaches(lab, "dc1", gateway, GATEWAY_PORT + 1)  # inside dc1: no wall
            assert http_get(gateway, GATEWAY_PORT + 1)[0] == 200
            ok(dc1.get("/v1/status/leader"))
            joined = join.result()
        assert (joined.status, joined.text) == (
            500, f"failed to join any of [('{dc1.host}', 8302)]")
        assert wan_alive(dc2) == [f"{node_name(dc2)}.dc2"]
        assert lab.dropped() > 0

        # The same join works once the wall is down: the wall was what stopped it.
        lab.open()
        ok(dc2.put(f"/v1/agent/join/{dc1.host}?wan=1", timeout=60))
        both = sorted([f"{node_name(dc1)}.dc1", f"{node_name(dc2)}.dc2"])
        for agent in (dc1, dc2):
            wait_until(lambda a=agent: wan_alive(a) == both, 30, "both servers WAN-joined")
    assert lab.prefix not in run("ip", "netns", "list")


def connections(envoy, cluster_prefix: str) -> int:
    """Upstream connections ``envoy`` opened to clusters named ``cluster_prefix...``."""
    return sum(int(v) for k, v in envoy.stats(cluster_prefix).items()
               if k.startswith(cluster_prefix) and k.endswith(".upstream_cx_total"))


# ---- WAN federation through the gateways (issue #20's Show) -------------------------------

@pytest.fixture(scope="module")
def wanfed(tmp_path_factory):
    with network(["dc1", "dc2"]) as lab:
        federation = WanFed(lab, tmp_path_factory.mktemp("wanfed"))
        try:
            federation.add("dc1", 3)
            took = federation.add("dc2", 3)
            print(f"\ndc2 (3 servers + gateway) in the WAN pool of all 6 servers {took:.2f}s "
                  "after its first start")
            yield federation
        finally:
            federation.envoys.stop_all()
    assert lab.prefix not in run("ip", "netns", "list")  # nothing left behind


def members_wan(agent: AgentProcess) -> dict[str, str]:
    """``members -wan`` through the CLI: node -> status."""
    cli = run_cli(agent, "members", "-wan")
    assert cli.returncode == 0, cli.stderr
    rows = [line.split() for line in cli.stdout.decode().splitlines()[1:] if line.strip()]
    return {row[0]: row[2] for row in rows}


def nodes_of(agent: AgentProcess, dc: str) -> list[str]:
    reply = agent.get(f"/v1/catalog/nodes?dc={dc}", timeout=15)
    return sorted(n["Node"] for n in reply.json()) if reply.status == 200 else []


def states(agent: AgentProcess) -> list[str]:
    reply = agent.get("/v1/internal/federation-states")
    return sorted(s["Datacenter"] for s in reply.json()) if reply.status == 200 else []


def test_the_wan_converges_through_the_gateways_and_dc_requests_work_both_ways(wanfed):
    dc1, dc2 = wanfed.servers["dc1"], wanfed.servers["dc2"]
    names = {f"{node_name(a)}.{dc}" for dc, group in wanfed.servers.items() for a in group}
    for agent in (dc1[0], dc2[0]):
        assert members_wan(agent) == dict.fromkeys(names, "alive")
    # Nothing even tried a direct path between datacenters (the wall dropped nothing):
    # every server addressed the others' gateways.
    assert wanfed.lab.dropped() == 0
    dc1_nodes = sorted(node_name(a) for a in dc1)
    wait_until(lambda: nodes_of(dc2[1], "dc1") == dc1_nodes, 30, "?dc=dc1 from dc2")
    wait_until(lambda: nodes_of(dc1[1], "dc2") == sorted(node_name(a) for a in dc2), 30,
               "?dc=dc2 from dc1")
    for agent in (dc1[0], dc2[0]):
        wait_until(lambda a=agent: states(a) == ["dc1", "dc2"], 60,
                   "both federation states in both datacenters")
    gateways = ok(dc2[0].get("/v1/internal/federation-states/mesh-gateways")).json()
    assert {dc: [g["Service"]["TaggedAddresses"]["wan"]["Address"] for g in rows]
            for dc, rows in gateways.items()} == {"dc1": [wanfed.wan["dc1"]],
                                                  "dc2": [wanfed.wan["dc2"]]}


def test_acls_and_config_entries_replicate_through_the_gateways(wanfed):
    dc1, dc2 = wanfed.servers["dc1"][0], wanfed.servers["dc2"][0]
    policy = ok(dc1.put("/v1/acl/policy", {"Name": "kv-read", "Rules": 'key_prefix "" '
                                           '{ policy = "read" }'}, **as_manager())).json()
    token = ok(dc1.put("/v1/acl/token", {"Description": "reader",
                                         "Policies": [{"ID": policy["ID"]}]},
                       **as_manager())).json()
    ok(dc1.put("/v1/config", {"Kind": "service-defaults", "Name": "billing",
                              "Protocol": "http"}, **as_manager()))
    start = time.monotonic()
    wait_until(lambda: dc2.get(f"/v1/acl/token/{token['AccessorID']}?stale",
                               **as_manager()).status == 200, 30, "the token in dc2")
    wait_until(lambda: dc2.get("/v1/config/service-defaults/billing?stale").status == 200,
               30, "the config entry in dc2")
    print(f"ACL token and config entry in dc2's store {time.monotonic() - start:.2f}s after "
          "their writes in dc1")
    mine = ok(dc2.get("/v1/acl/token/self", headers={"X-Consul-Token": token["SecretID"]}))
    assert [p["Name"] for p in mine.json()["Policies"]] == ["kv-read"]
    assert ok(dc2.get("/v1/config/service-defaults/billing")).json()["Protocol"] == "http"
    # replication runs on dc2's leader, from dc1
    statuses = [ok(a.get("/v1/acl/replication", **as_manager())).json()
                for a in wanfed.servers["dc2"]]
    assert [(st["SourceDatacenter"], st["ReplicationType"]) for st in statuses if
            st["Running"]] == [("dc1", "tokens")], statuses


def test_a_dc2_service_calls_dc1_through_sidecars_and_both_gateways(wanfed):
    wanfed.start_services()
    wait_until(lambda: wanfed.call_api() == (200, "api /hello"), 60, "web -> api in dc1")
    crossings = {"dc2": "cluster.dc1.internal.", "dc1": "cluster.api.default.dc1.internal."}
    before = {dc: connections(wanfed.gateways[dc], c) for dc, c in crossings.items()}
    started = time.monotonic()
    for _ in range(20):
        assert wanfed.call_api() == (200, "api /hello")
    print(f"20 calls dc2 -> dc1 through the gateways: {time.monotonic() - started:.3f}s")
    # dc2's gateway sends dc1's traffic to dc1's gateway, which sends api's on to api's
    # sidecar (by SNI, without terminating TLS): each call is one connection through both.
    assert {dc: connections(wanfed.gateways[dc], c) - before[dc]
            for dc, c in crossings.items()} == {"dc1": 20, "dc2": 20}
    assert not reaches(wanfed.lab, "dc2", wanfed.servers["dc1"][0].host, 21000)  # walled


def test_dc3_joins_later_and_reaches_dc2_through_gateways_it_learned(wanfed):
    took = wanfed.add("dc3", 1)
    print(f"dc3 in the WAN pool of all {len(wanfed.everyone())} servers {took:.2f}s after "
          "its start")
    dc3 = wanfed.servers["dc3"][0]
    dc2_nodes = sorted(node_name(a) for a in wanfed.servers["dc2"])
    wait_until(lambda: nodes_of(dc3, "dc2") == dc2_nodes, 30, "?dc=dc2 from dc3")
    # dc3's configuration names dc1's gateway only (which could relay to dc2 too): dc2 is
    # reached through a gateway it learned from the federation states -- its own or dc2's.
    # The wall lets nothing else pass.
    assert gateway_of(dc3, "dc2") in (f"{dc3.host}:{GATEWAY_PORT}",
                                      f"{wanfed.wan['dc2']}:{GATEWAY_PORT}")
    wait_until(lambda: states(wanfed.servers["dc1"][0]) == ["dc1", "dc2", "dc3"], 60,
               "dc3's federation state in dc1")


def test_servers_reach_other_datacenters_through_their_local_gateway(wanfed):
    # As Consul's locator: every datacenter but the primary through the server's own
    # datacenter's gateway; the primary, from a secondary, through the primary's gateways.
    for dc, others in (("dc1", ("dc2", "dc3")), ("dc2", ("dc3",)), ("dc3", ("dc2",))):
        agent = wanfed.servers[dc][0]
        local = f"{agent.host}:{GATEWAY_PORT}"  # the gateway's LAN address, on that server
        wait_until(lambda a=agent, o=others, g=local: all(gateway_of(a, x) == g for x in o),
                   30, f"{dc}'s servers using their own gateway")
    for dc in ("dc2", "dc3"):
        assert gateway_of(wanfed.servers[dc][0], "dc1") == f"{wanfed.wan['dc1']}:{GATEWAY_PORT}"


def test_a_killed_dc1_server_leaves_the_gateway_and_dc2_marks_it_failed(wanfed):
    victim = wanfed.servers["dc1"][2]
    name = node_name(victim)
    cluster = f"{name}.server.dc1.consul"
    gateway = wanfed.gateways["dc1"]
    assert cluster in server_clusters(gateway)
    dc1_members = {f"{node_name(a)}.dc1" for a in wanfed.servers["dc1"]}
    start = time.monotonic()
    victim.kill()
    wait_until(lambda: cluster not in server_clusters(gateway), 60,
               "the killed server's cluster gone from dc1's gateway")
    left_gateway = time.monotonic() - start
    dc2 = wanfed.servers["dc2"][0]
    wait_until(lambda: members_wan(dc2).get(f"{name}.dc1") == "failed", 120,
               "dc2 marking the killed server failed")
    print(f"a killed dc1 server: out of the gateway in {left_gateway:.2f}s, failed in "
          f"dc2's WAN pool in {time.monotonic() - start:.2f}s")
    # Only that one: the others are still reached through the gateways.
    view = members_wan(dc2)
    assert {n: st for n, st in view.items() if st != "alive"} == {f"{name}.dc1": "failed"}
    assert {n for n in view if n.endswith(".dc1")} == dc1_members
    assert cluster not in server_clusters(wanfed.gateways["dc1"])
    assert "server.dc1.consul" in server_clusters(wanfed.gateways["dc2"])




def move_dc1_gateway(wanfed: WanFed, to: AgentProcess, dark: bool) -> dict[str, float]:
    """Start dc1's gateway anew on ``to``'s agent with a new WAN address, wait until dc2 and
    dc3 hold it, passing, in their federation states (what an operator rolling gateways
    one at a time waits for: its TCP check is critical until its first run), then
    deregister and stop the old one (its address refusing connections, or with ``dark``
    dropping them, as a host gone). Seconds from the new one's start until dc2 and dc3
    hold it, and from the old one's end until ``?dc=dc1`` answers from both and until the
    new one has carried connections to every live dc1 server by name (gossip)."""
    dc1_nodes = nodes_of(wanfed.servers["dc2"][0], "dc1")
    old, old_wan, new_wan = wanfed.gateways["dc1"], wanfed.wan["dc1"], wanfed.lab.address("dc1")
    old_agent = next(a for a in wanfed.servers["dc1"] if a.host == old.host)
    wanfed.retired.append(old_wan)
    wanfed.wan["dc1"] = new_wan
    wanfed.wall()
    start = time.monotonic()
    new = wanfed.gateways["dc1"] = wanfed.start_gateway("dc1", to, new_wan)
    for dc in ("dc2", "dc3"):
        wait_until(lambda a=wanfed.servers[dc][0]: new_wan in gateway_addresses(a, "dc1"), 60,
                   f"dc1's new gateway, passing, in {dc}'s federation states")
    took = {"listed": time.monotonic() - start}
    ok(old_agent.put("/v1/agent/service/deregister/mesh-gateway", **as_manager()))
    old.stop()
    if dark:
        wanfed.retired.clear()
        wanfed.wall()
    start = time.monotonic()
    for dc in ("dc2", "dc3"):
        wait_until(lambda a=wanfed.servers[dc][0]: nodes_of(a, "dc1") == dc1_nodes, 30,
                   f"?dc=dc1 from {dc} after the move")
    took["rpc"] = time.monotonic() - start
    live = [node_name(a) for a in wanfed.servers["dc1"] if a.process.poll() is None]
    wait_until(lambda: all(connections(new, f"cluster.{n}.server.dc1.consul.") for n in live),
               60, "connections to every live dc1 server through the new gateway")
    took["gossip"] = time.monotonic() - start
    wanfed.wait_converged(60)
    return took


def test_dc2_and_dc3_keep_federating_when_dc1s_gateway_moves(wanfed):
    # dc2 and dc3 were configured with the old address (primary_gateways), never the new
    took = move_dc1_gateway(wanfed, wanfed.servers["dc1"][1], dark=False)
    print(f"dc1's gateway moved: the new one passing in dc2's and dc3's federation states "
          f"{took['listed']:.2f}s after its start; after the old one stopped, ?dc=dc1 from "
          f"both in {took['rpc']:.2f}s, every dc1 server reached through the new one in "
          f"{took['gossip']:.2f}s")
    assert wanfed.call_api() == (200, "api /hello")


def test_dc2_and_dc3_keep_federating_when_dc1s_old_gateway_addresses_go_dark(wanfed):
    # again, and now every address dc2 and dc3 were configured with drops packets
    took = move_dc1_gateway(wanfed, wanfed.servers["dc1"][0], dark=True)
    print(f"dc1's gateway moved, old addresses dark: the new one passing in dc2's and dc3's "
          f"federation states {took['listed']:.2f}s after its start; ?dc=dc1 from both in "
          f"{took['rpc']:.2f}s, every dc1 server reached through the new one in "
          f"{took['gossip']:.2f}s")
    assert wanfed.call_api() == (200, "api /hello")


def gateway_of(agent: AgentProcess, dc: str) -> str:
    """The gateway ``agent``'s server dials ``dc`` through (operator federation status)."""
    status = ok(agent.get("/v1/operator/federation")).json()
    return next(d.get("Gateway", "") for d in status["Datacenters"] if d["Datacenter"] == dc)


def gateway_addresses(agent: AgentProcess, dc: str) -> list[str]:
    """WAN addresses of ``dc``'s gateways in ``agent``'s federation states that a server
    may dial (no critical check: a gateway's TCP check is critical until its first run)."""
    reply = agent.get("/v1/internal/federation-states/mesh-gateways")
    rows = reply.json().get(dc, []) if reply.status == 200 else []
    return [r["Service"]["TaggedAddresses"]["wan"]["Address"] for r in rows
            if all(c["Status"] != "critical" for c in r["Checks"])]


def server_clusters(envoy: Envoy) -> set[str]:
    """The gateway's clusters for servers (``server.<dc>...`` and ``<node>.server...``)."""
    return {entry["cluster"]["name"] for cfg in envoy.config_dump()["configs"]
            for entry in cfg.get("dynamic_active_clusters", ())
            if ".server." in entry["cluster"]["name"]
            or entry["cluster"]["name"].startswith("server.")}
