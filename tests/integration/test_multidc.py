"""Several datacenters, each in its own network namespace, federated over a WAN bridge:
``?dc=`` reads, writes and blocking queries from another datacenter's client, DNS for
another datacenter, catalog datacenters, and a cut WAN link that fails fast and heals."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest

from tests.support.agent_process import AgentProcess, Reply, blocking_count, wait_until
from tests.support.cli_process import run_cli
from tests.support.datacenters import network, start_datacenters
from tests.support.netns import WanLab, run

DATACENTERS = ["dc1", "dc2", "dc3"]


@pytest.fixture
def lab():
    with network(DATACENTERS) as lab:
        yield lab


def ok(reply: Reply) -> Reply:
    assert reply.status == 200, (reply.status, reply.text)
    return reply


def dc_answers(agent: AgentProcess, dc: str) -> bool:
    try:
        return agent.get(f"/v1/kv/probe?dc={dc}", timeout=15).status in (200, 404)
    except OSError:
        return False


def dig(agent: AgentProcess, name: str) -> list[str]:
    out = subprocess.run(["dig", "+short", "+time=5", "+tries=1", "-p", str(agent.dns_port),
                          f"@{agent.host}", name, "A"], capture_output=True, text=True,
                         timeout=30)
    return out.stdout.split()


def dig_status(agent: AgentProcess, name: str) -> str:
    out = subprocess.run(["dig", "+time=5", "+tries=1", "-p", str(agent.dns_port),
                          f"@{agent.host}", name, "A"], capture_output=True, text=True,
                         timeout=30)
    return out.stdout.split("status: ", 1)[1].split(",", 1)[0]


def test_a_client_in_dc2_reads_writes_and_blocks_on_dc1_and_survives_a_wan_cut(lab):
    fed = start_datacenters(lab, {"dc1": 1, "dc2": 1, "dc3": 1}, ("dc2",), primary=None)
    servers, clients = fed.servers, fed.clients
    dc1, dc2, client = servers["dc1"][0], servers["dc2"][0], clients["dc2"]

    # Catalog datacenters: all three, the client's own first (0 RTT), from both sides.
    dcs = ok(client.get("/v1/catalog/datacenters")).json()
    assert dcs[0] == "dc2" and sorted(dcs) == DATACENTERS
    assert ok(dc1.get("/v1/catalog/datacenters")).json()[0] == "dc1"
    assert ok(dc1.get("/v1/agent/self")).json()["Stats"]["consul"]["known_datacenters"] == "3"

    # KV through dc2's client, stored in dc1 only.
    ok(client.put("/v1/kv/shared/greeting?dc=dc1", "hello from dc2"))
    got = ok(client.get("/v1/kv/shared/greeting?dc=dc1&raw"))
    assert got.text == "hello from dc2"
    assert got.headers["X-Consul-KnownLeader"] == "true" and got.index > 1
    assert dc1.get("/v1/kv/shared/greeting?raw").text == "hello from dc2"
    assert client.get("/v1/kv/shared/greeting").status == 404
    stale = ok(client.get("/v1/kv/shared/greeting?dc=dc1&stale"))
    assert "X-Consul-LastContact" in stale.headers

    # A blocking query on dc1 data, woken by a write made in dc1.
    index = got.index
    result: dict = {}

    def block() -> None:
        result["reply"] = client.get(f"/v1/kv/shared/greeting?dc=dc1&index={index}&wait=60s",
                                     timeout=90)
        result["at"] = time.monotonic()

    waiter = threading.Thread(target=block)
    parked = blocking_count(dc1)
    waiter.start()
    wait_until(lambda: blocking_count(dc1) > parked, 30, "the read parked in dc1")
    assert waiter.is_alive()
    written = time.monotonic()
    ok(dc1.put("/v1/kv/shared/greeting", "changed in dc1"))
    waiter.join(30)
    assert not waiter.is_alive()
    woke = result["reply"]
    assert woke.status == 200 and woke.index > index and result["at"] >= written
    assert json.loads(woke.body)[0]["Value"]  # base64 of the new value

    # Catalog and health of dc1, and DNS for dc1 asked of dc2's client.
    ok(dc1.put("/v1/agent/service/register", {"Name": "web", "Port": 80, "Tags": ["v1"]}))
    wait_until(lambda: client.get("/v1/catalog/service/web?dc=dc1").json(), 30,
               "web in dc1's catalog")
    assert client.get("/v1/catalog/service/web").json() == []
    health = ok(client.get("/v1/health/service/web?dc=dc1&passing")).json()
    assert [h["Node"]["Datacenter"] for h in health] == ["dc1"]
    nodes = ok(client.get("/v1/catalog/nodes?dc=dc1")).json()
    assert [n["Node"] for n in nodes] == [dc1_node(dc1)]
    assert dig(client, "web.service.dc1.consul") == [dc1.host]
    assert dig(client, f"{dc1_node(dc1)}.node.dc1.consul") == [dc1.host]
    assert dig(client, "v1.web.service.dc1.consul") == [dc1.host]
    assert dig(client, "v2.web.service.dc1.consul") == []
    assert dig(client, "web.service.consul") == []  # not in dc2
    assert dig_status(client, "web.service.dc9.consul") == "NXDOMAIN"  # no such DC

    # A user event fired from dc2 into dc1 reaches dc1's agents only.
    fired = ok(client.put("/v1/event/fire/deploy?dc=dc1", "v2")).json()
    wait_until(lambda: any(e["ID"] == fired["ID"] for e in dc1.get("/v1/event/list").json()),
               30, "the event in dc1")
    assert not any(e["ID"] == fired["ID"] for e in client.get("/v1/event/list").json())

    # The CLI's -datacenter flag, catalog datacenters and members -wan.
    cli = run_cli(client, "kv", "get", "-datacenter", "dc1", "shared/greeting")
    assert (cli.returncode, cli.stdout.strip()) == (0, b"changed in dc1")
    cli = run_cli(client, "catalog", "nodes", "-datacenter", "dc1")
    assert cli.returncode == 0 and dc1_node(dc1).encode() in cli.stdout
    cli = run_cli(client, "catalog", "datacenters")
    assert cli.returncode == 0 and sorted(cli.stdout.split()) == [b"dc1", b"dc2", b"dc3"]
    cli = run_cli(dc2, "members", "-wan")
    assert cli.returncode == 0 and cli.stdout.count(b"alive") == 3
    assert len(ok(dc2.get("/v1/agent/members?wan=1&segment=_all")).json()) == 3
    # A client agent is in no WAN pool: Consul's answers.
    assert ok(client.get("/v1/agent/members?wan=1")).json() == []
    joined = client.put(f"/v1/agent/join/{dc1.host}?wan=1")
    assert (joined.status, joined.text) == (500, "Must be a server to join WAN cluster")
    left = client.put(f"/v1/agent/force-leave/{dc1_node(dc1)}.dc1?wan=1")
    assert (left.status, left.text) == \
        (500, "Must be a server to force-leave a node from the WAN cluster")
    wan_rtt = wait_until(lambda: (r := run_cli(dc2, "rtt", "-wan", f"{dc1_node(dc1)}.dc1"))
                         .returncode == 0 and r, 60, "WAN coordinates for rtt -wan")
    assert b"(using WAN coordinates)" in wan_rtt.stdout
    maps = ok(client.get("/v1/coordinate/datacenters")).json()
    assert maps[0]["Datacenter"] == "dc2"  # nearest first: the local one
    assert {m["Datacenter"]: [c["Node"] for c in m["Coordinates"]] for m in maps}["dc1"] == \
        [dc1_node(dc1)]

    # Beyond Consul: the federation as dc2's server sees it, over HTTP and the CLI.
    fed = ok(client.get("/v1/operator/federation")).json()
    assert fed["Datacenter"] == "dc2"
    by_dc = {d["Datacenter"]: d for d in fed["Datacenters"]}
    assert fed["Datacenters"][0]["Datacenter"] == "dc2" and sorted(by_dc) == DATACENTERS
    assert by_dc["dc1"]["Leader"] == f"{dc1.host}:8300" and not by_dc["dc1"]["LastError"]
    assert [s["Reachable"] for s in by_dc["dc1"]["Servers"]] == [True]
    cli = run_cli(client, "operator", "federation", "status", "-servers")
    assert cli.returncode == 0 and f"{dc1.host}:8300".encode() in cli.stdout

    # An unknown datacenter: Consul's error.
    nowhere = client.get("/v1/kv/x?dc=dc9")
    assert (nowhere.status, nowhere.text) == (500, "No path to datacenter")

    # Cut dc1 <-> dc2: requests for dc1 fail with a clear error, and fast after the first.
    lab.cut("dc1", "dc2")
    started = time.monotonic()
    first = client.get("/v1/kv/shared/greeting?dc=dc1", timeout=30)
    first_took = time.monotonic() - started
    print(f"first request over the cut link: {first_took:.2f}s: {first.text}")
    assert first.status == 500
    assert first.text.startswith("rpc error forwarding KVS.Get to datacenter dc1") or \
        first.text == "Remote DC has no server currently reachable"
    # a ping unanswered for 2 s, then the DC probed for 2 s: an error, not the 30 s timeout
    assert first_took < 20.0
    for _ in range(3):
        started = time.monotonic()
        again = client.get("/v1/kv/shared/greeting?dc=dc1", timeout=30)
        assert (again.status, again.text) == (500, "Remote DC has no server currently reachable")
        assert time.monotonic() - started < 2.0  # no new 2 s probe: the DC is known down
    cut_view = {d["Datacenter"]: d for d in
                ok(client.get("/v1/operator/federation")).json()["Datacenters"]}
    assert cut_view["dc1"]["Leader"] == "" and cut_view["dc1"]["LastError"]
    assert cut_view["dc3"]["Leader"] == f"{servers['dc3'][0].host}:8300"
    # Each datacenter goes on locally; dc3 still reaches dc1.
    ok(client.put("/v1/kv/local/dc2", "yes"))
    assert ok(client.get("/v1/kv/local/dc2?raw")).text == "yes"
    ok(dc1.put("/v1/kv/local/dc1", "yes"))
    assert ok(dc1.get("/v1/kv/local/dc1?raw")).text == "yes"
    assert ok(servers["dc3"][0].get("/v1/kv/shared/greeting?dc=dc1&raw")).text == \
        "changed in dc1"

    # Heal: no restart; membership and ?dc=dc1 come back.
    lab.heal()
    wait_until(lambda: dc_answers(client, "dc1"), 90, "?dc=dc1 answering again")
    assert ok(client.get("/v1/kv/shared/greeting?dc=dc1&raw")).text == "changed in dc1"
    wan = ok(dc2.get("/v1/agent/members?wan=1")).json()
    wait_until(lambda: all(m["Status"] == 1 for m in dc2.get("/v1/agent/members?wan=1").json()),
               90, "every WAN member alive")
    assert sorted(m["Name"] for m in wan) == sorted(
        f"{s.host and node_of(s)}.{dc}" for dc, group in servers.items() for s in group)


def dc1_node(agent: AgentProcess) -> str:
    return node_of(agent)


def node_of(agent: AgentProcess) -> str:
    return agent.get("/v1/agent/self").json()["Config"]["NodeName"]


def test_three_servers_and_a_client_per_datacenter_plus_a_single_server_dc3(lab):
    fed = start_datacenters(lab, {"dc1": 3, "dc2": 3, "dc3": 1}, ("dc1", "dc2"), primary=None)
    servers, clients = fed.servers, fed.clients
    client, dc1_client = clients["dc2"], clients["dc1"]
    dcs = ok(client.get("/v1/catalog/datacenters")).json()
    assert dcs[0] == "dc2" and sorted(dcs) == DATACENTERS

    # Writes from dc2 land in dc1's replicated store, read back through dc1's own client.
    ok(client.put("/v1/kv/big/key?dc=dc1", "one"))
    assert ok(dc1_client.get("/v1/kv/big/key?raw&consistent")).text == "one"
    got = ok(client.get("/v1/kv/big/key?dc=dc1&consistent"))
    assert got.headers["X-Consul-KnownLeader"] == "true"

    # A blocking read from dc2 woken by a write through dc1's client.
    result: dict = {}
    waiter = threading.Thread(target=lambda: result.update(reply=client.get(
        f"/v1/kv/big/key?dc=dc1&index={got.index}&wait=60s&raw", timeout=90)))
    parked = sum(blocking_count(s) for s in servers["dc1"])
    waiter.start()
    wait_until(lambda: sum(blocking_count(s) for s in servers["dc1"]) > parked, 30,
               "the read parked in dc1")
    assert waiter.is_alive()
    ok(dc1_client.put("/v1/kv/big/key", "two"))
    waiter.join(30)
    assert not waiter.is_alive() and result["reply"].text == "two"

    # dc1's three servers, seen from dc2: health and DNS through dc2's client.
    dc1_hosts = sorted(s.host for s in servers["dc1"])
    wait_until(lambda: len(client.get("/v1/health/service/consul?dc=dc1&passing").json()) == 3,
               60, "three passing consul servers in dc1")
    assert sorted(dig(client, "consul.service.dc1.consul")) == dc1_hosts

    # Cut dc1 <-> dc2: every dc1 server goes silent; fail within one probe round, then at once.
    lab.cut("dc1", "dc2")
    started = time.monotonic()
    first = client.get("/v1/kv/big/key?dc=dc1", timeout=30)
    assert first.status == 500 and time.monotonic() - started < 8.0, first.text
    started = time.monotonic()
    again = client.get("/v1/kv/big/key?dc=dc1", timeout=30)
    assert (again.status, again.text) == (500, "Remote DC has no server currently reachable")
    assert time.monotonic() - started < 1.0
    ok(client.put("/v1/kv/big/local", "dc2 goes on"))
    ok(dc1_client.put("/v1/kv/big/local", "dc1 goes on"))
    assert ok(servers["dc3"][0].get("/v1/kv/big/key?dc=dc1&raw")).text == "two"

    lab.heal()
    wait_until(lambda: dc_answers(client, "dc1"), 90, "?dc=dc1 answering again")
    assert ok(client.get("/v1/kv/big/local?dc=dc1&raw")).text == "dc1 goes on"


def test_a_new_lab_removes_what_dead_runs_left_and_its_own_on_close():
    run("ip", "netns", "add", "pcn-999999-dead-dc1")  # of a run whose process is gone
    lab = WanLab(["dc1", "dc2"])
    try:
        names = run("ip", "netns", "list")
        assert "pcn-999999-dead-dc1" not in names and f"{lab.prefix}-dc2" in names
        assert f"{lab.prefix}-wan" in names
        assert f"pcv{lab.token}" in run("ip", "-o", "link", "show")
    finally:
        lab.close()
    assert lab.prefix not in run("ip", "netns", "list")
    # the root end of the test's veth goes with the WAN namespace (the kernel frees it soon)
    wait_until(lambda: f"pcv{lab.token}" not in run("ip", "-o", "link", "show"), 10,
               "the test's veth gone")
    assert f"10.{lab.octet}." not in run("ip", "route")
