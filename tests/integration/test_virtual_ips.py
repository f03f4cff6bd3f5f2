"""Service virtual IPs on real agents: a sidecar's registration gives its service an IP
from 240.0.0.0/4 (the ``consul-virtual`` tagged address, ``<svc>.virtual.consul`` over
``dig``), the last instance's deregistration frees it for the next service,
``PUT /v1/internal/service-virtual-ip`` moves manual VIPs, and the tables survive a
snapshot restore, a 3-server cluster's replication and a restart from the data dirs."""

from __future__ import annotations

import ipaddress
import json

import pytest

from tests.interop.test_dns_dig import dig
from tests.support.agent_process import (
    AgentProcess,
    ServerSpec,
    retry_joins,
    start_agent,
    start_server,
    wait_until,
)
from tests.support.cli_process import run_cli

REPEAT = 1  # raise to repeat every test (flakiness runs)


@pytest.fixture(params=range(REPEAT))
def rep(request) -> int:
    return request.param


def _ok(reply):
    assert reply.status == 200, (reply.status, reply.text)
    return reply


def catalog_vip(agent: AgentProcess, service: str, query: str = "") -> str | None:
    """The ``consul-virtual`` address on the first catalog instance of ``service``."""
    reply = agent.get(f"/v1/catalog/service/{service}{query}")
    if reply.status != 200 or not reply.json():
        return None
    tagged = reply.json()[0].get("ServiceTaggedAddresses") or {}
    return tagged.get("consul-virtual", {}).get("Address")


def dns_vip(agent: AgentProcess, service: str) -> list[str]:
    out = dig(agent, f"{service}.virtual.consul", "A")
    assert out.status == "NOERROR", out.text
    return [rdata for _name, _ttl, rtype, rdata in out.rows() if rtype == "A"]


def register_with_sidecar(agent: AgentProcess, name: str, port: int = 8080) -> None:
    _ok(agent.put("/v1/agent/service/register",
                  {"Name": name, "Port": port, "Connect": {"SidecarService": {}}}))


def deregister_with_sidecar(agent: AgentProcess, name: str) -> None:
    _ok(agent.put(f"/v1/agent/service/deregister/{name}-sidecar-proxy"))
    _ok(agent.put(f"/v1/agent/service/deregister/{name}"))


def test_a_sidecar_gives_its_service_a_vip_seen_in_the_catalog_and_dns(agent, unique, rep):
    web, api = f"{unique}-web", f"{unique}-api"
    register_with_sidecar(agent, web)
    vip = wait_until(lambda: catalog_vip(agent, f"{web}-sidecar-proxy"), what="the proxy's VIP")
    assert ipaddress.ip_address(vip) in ipaddress.ip_network("240.0.0.0/4")
    proxy = agent.get(f"/v1/catalog/service/{web}-sidecar-proxy").json()[0]
    assert proxy["ServiceTaggedAddresses"]["consul-virtual"]["Port"] == proxy["ServicePort"]
    assert catalog_vip(agent, web) is None  # the service itself carries none
    assert dns_vip(agent, web) == [vip]
    assert dns_vip(agent, web.upper()) == [vip]

    deregister_with_sidecar(agent, web)
    wait_until(lambda: not agent.get(f"/v1/catalog/service/{web}").json(),
               what="the service gone")
    assert dns_vip(agent, web) == []
    # The freed IP is the next one handed out.
    register_with_sidecar(agent, api)
    assert wait_until(lambda: catalog_vip(agent, f"{api}-sidecar-proxy"),
                      what="the next VIP") == vip
    deregister_with_sidecar(agent, api)


def test_unknown_and_plain_services_answer_no_vip(agent, unique, rep):
    _ok(agent.put("/v1/agent/service/register", {"Name": f"{unique}-plain", "Port": 80}))
    assert dns_vip(agent, f"{unique}-plain") == []
    assert dns_vip(agent, f"{unique}-nothing") == []
    _ok(agent.put(f"/v1/agent/service/deregister/{unique}-plain"))


def test_manual_vips_endpoint(agent, unique, rep):
    a, b = f"{unique}-a", f"{unique}-b"
    for name in (a, b):
        _ok(agent.put("/v1/catalog/register", {
            "Node": f"{unique}-n", "Address": "10.0.0.1",
            "Service": {"Service": name, "Port": 80, "Connect": {"Native": True}}}))
    path = "/v1/internal/service-virtual-ip"
    reply = agent.put(path, {"Service": a, "ManualVIPs": ["not-an-ip"]})
    assert (reply.status, reply.text) == (400, '"<nil>" is not a valid IPv4 address')
    reply = agent.put(path, {"Service": a, "ManualVIPs": ["2001:db8::1"]})
    assert (reply.status, reply.text) == (400, '"2001:db8::1" is not a valid IPv4 address')
    assert agent.put(path, {"ManualVIPs": ["1.2.3.4"]}).status == 400
    assert _ok(agent.put(path, {"Service": f"{unique}-none", "ManualVIPs": ["1.2.3.4"]})
               ).json() == {"Found": False, "UnassignedFrom": None}
    assert _ok(agent.put(path, {"Service": a, "ManualVIPs": ["10.9.0.1", "10.9.0.2"]})
               ).json() == {"Found": True, "UnassignedFrom": []}
    assert _ok(agent.put(path, {"Service": b, "ManualVIPs": ["10.9.0.2"]})).json() == {
        "Found": True, "UnassignedFrom": [{"ServiceName": {"Name": a}, "Peer": ""}]}
    _ok(agent.put("/v1/catalog/deregister", {"Node": f"{unique}-n"}))


def test_the_tables_survive_a_snapshot_restore(agent, unique, rep, tmp_path):
    web, node = f"{unique}-web", f"{unique}-n"
    _ok(agent.put("/v1/catalog/register", {
        "Node": node, "Address": "10.0.0.1",
        "Service": {"Service": web, "Port": 80, "Connect": {"Native": True}}}))
    vip = catalog_vip(agent, web)
    assert vip is not None
    snapshot = _ok(agent.get("/v1/snapshot")).body
    (tmp_path / "s.snap").write_bytes(snapshot)
    inspected = run_cli(None, "snapshot", "inspect", "-format=json", str(tmp_path / "s.snap"))
    assert {"ServiceVirtualIP", "FreeVirtualIP"} <= {
        row["Name"] for row in json.loads(inspected.stdout)["Stats"]}
    _ok(agent.put("/v1/catalog/deregister", {"Node": node}))
    assert dns_vip(agent, web) == []
    _ok(agent.call("PUT", "/v1/snapshot", snapshot))
    assert dns_vip(agent, web) == [vip]
    _ok(agent.put("/v1/catalog/deregister", {"Node": node}))
    assert dns_vip(agent, web) == []


FAST = ("-raft-multiplier", "1", "-retry-interval", "1s")


@pytest.fixture
def cluster(tmp_path):
    specs = [ServerSpec(str(tmp_path / f"s{i}"), node=f"s{i}") for i in range(3)]
    joins = retry_joins(specs)
    for spec in specs:
        spec.extra = ("-bootstrap-expect", "3", *FAST, *joins)
    servers = [start_server(spec) for spec in specs]
    client = start_agent("-data-dir", str(tmp_path / "c"), "-node", "c", *FAST, *joins,
                         dev=False)
    yield specs, servers, client
    client.stop()
    for server in servers:
        server.stop()


def test_cluster_replicates_vips_and_keeps_them_over_a_restart(cluster, rep):
    specs, servers, client = cluster
    # Retried until the client knows a server and the cluster a leader (it is idempotent).
    wait_until(lambda: client.put("/v1/catalog/register", {
        "Node": "ext", "Address": "10.0.0.2",
        "Service": {"Service": "api", "Port": 90, "Connect": {"Native": True}}}).status == 200,
        60, "a catalog registration through the client")
    _ok(client.put("/v1/agent/service/register", {
        "Name": "web", "Port": 80, "Connect": {"SidecarService": {}}}))
    # The agent syncs its registration in the background: either may come first.
    vips = wait_until(lambda: all(pair := (catalog_vip(client, "web-sidecar-proxy"),
                                           catalog_vip(client, "api"))) and pair,
                      60, "both VIPs")
    assert sorted(vips) == ["240.0.0.1", "240.0.0.2"]
    for server in servers:  # every server's FSM assigned the same IPs
        wait_until(lambda server=server: (catalog_vip(server, "web-sidecar-proxy", "?stale"),
                                          catalog_vip(server, "api", "?stale")) == vips,
                   60, f"{server.host} to hold the VIPs")
    assert wait_until(lambda: dns_vip(client, "api") or None, 30, "the VIP over DNS") \
        == [vips[1]]
    _ok(client.put("/v1/catalog/deregister", {"Node": "ext"}))  # frees api's IP

    for server in servers:
        server.stop()
    servers[:] = [start_server(spec) for spec in specs]
    wait_until(lambda: catalog_vip(client, "web-sidecar-proxy") == vips[0], 90,
               "the VIP after the restart")
    # The allocator came back too: the freed IP goes out again before the counter moves.
    _ok(client.put("/v1/catalog/register", {
        "Node": "ext", "Address": "10.0.0.2",
        "Service": {"Service": "db", "Port": 91, "Connect": {"Native": True}}}))
    assert catalog_vip(client, "db") == vips[1]
