"""The replication stream between two real single-server clusters peered through the HTTP
API: dc1 exports ``web`` to dc2, dc2 reads it (and its health) with ``?peer=dc1``, both
sides show ACTIVE and their stream status, un-exporting removes it, the acceptor's
kill -9 and restart brings the stream back, and deleting the peering on one side
terminates it on the other. A mesh service reaches the peer with Consul's synthetic
sidecar proxies at dc1's mesh gateway, beside dc1's trust bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.agent_process import wait_until
from tests.support.cli_process import run_cli
from tests.support.peering_lab import PeeringCluster, two_clusters


@pytest.fixture
def peered(tmp_path: Path):
    with two_clusters(tmp_path) as (dc1, dc2):
        token = dc1.agent.call("POST", "/v1/peering/token", {"PeerName": "dc2"})
        assert token.status == 200, token.text
        reply = dc2.agent.call("POST", "/v1/peering/establish", {
            "PeerName": "dc1", "PeeringToken": token.json()["PeeringToken"]})
        assert reply.status == 200, reply.text
        yield dc1, dc2


def register_web(cluster: PeeringCluster, status: str) -> None:
    reply = cluster.agent.put("/v1/catalog/register", {
        "Node": "web-node", "Address": "10.1.0.1",
        "Service": {"ID": "web-1", "Service": "web", "Port": 8080},
        "Check": {"CheckID": "web-alive", "Name": "web alive", "Status": status,
                  "ServiceID": "web-1"}})
    assert reply.status == 200, reply.text


def export(cluster: PeeringCluster, services: list[str]) -> None:
    reply = cluster.agent.put("/v1/config", {
        "Kind": "exported-services", "Name": "default",
        "Services": [{"Name": s, "Consumers": [{"Peer": "dc2"}]} for s in services]})
    assert reply.status == 200, reply.text


def imported_web(dc2: PeeringCluster) -> list[tuple[str, str, str, str]]:
    reply = dc2.agent.get("/v1/health/service/web?peer=dc1")
    assert reply.status == 200, reply.text
    return [(e["Node"]["Node"], e["Service"]["ID"], e["Service"]["PeerName"],
             ",".join(c["Status"] for c in e["Checks"])) for e in reply.json()]


def peering(cluster: PeeringCluster, name: str) -> dict:
    return cluster.agent.get(f"/v1/peering/{name}").json()


def test_exported_services_reach_the_peer_and_follow_its_changes(peered):
    dc1, dc2 = peered
    register_web(dc1, "passing")
    export(dc1, ["web"])
    wait_until(lambda: imported_web(dc2) == [("web-node", "web-1", "dc1", "passing")],
               what="web from dc1 in dc2")
    accepting = wait_until(lambda: (p := peering(dc1, "dc2"))["State"] == "ACTIVE" and p,
                           what="dc1's side ACTIVE")
    assert accepting["StreamStatus"]["ExportedServices"] == ["web"]
    listed = run_cli(dc1.agent, "peering", "exported-services", "-name", "dc2")
    assert (listed.returncode, listed.stdout.decode()) == (0, "web\n"), listed
    listed = run_cli(dc1.agent, "peering", "exported-services", "-name", "dc2", "-format=json")
    assert json.loads(listed.stdout) == [{"ID": "web"}], listed
    ui_listing = dc1.agent.get("/v1/internal/ui/exported-services?peer=dc2").json()
    assert [(s["Name"], s["Datacenter"], s["InstanceCount"]) for s in ui_listing] == \
        [("web", "dc1", 0)]
    assert dc1.agent.get("/v1/internal/ui/exported-services?peer=nobody").status == 404
    assert dc1.agent.get("/v1/internal/ui/exported-services").status == 400
    unknown = run_cli(dc1.agent, "peering", "exported-services", "-name", "nobody")
    assert unknown.returncode == 1
    assert unknown.stderr.decode() == "No peering with name nobody found.\n"
    dialing = wait_until(lambda: (p := peering(dc2, "dc1"))["StreamStatus"]["ImportedServices"]
                         and p, what="dc2's imported services")
    assert dialing["State"] == "ACTIVE"
    assert dialing["StreamStatus"]["ImportedServices"] == ["web"]
    assert dialing["StreamStatus"]["LastReceive"] and dialing["StreamStatus"]["LastSend"]
    # health changes in dc1 reach dc2
    register_web(dc1, "critical")
    wait_until(lambda: imported_web(dc2) == [("web-node", "web-1", "dc1", "critical")],
               what="web critical in dc2")
    # local reads in dc2 never see the imported rows
    assert dc2.agent.get("/v1/health/service/web").json() == []
    # un-exporting removes them
    export(dc1, [])
    wait_until(lambda: imported_web(dc2) == [] and
               dc2.agent.get("/v1/catalog/nodes?peer=dc1").json() == [],
               what="web and its node gone from dc2")


def test_the_stream_comes_back_after_the_acceptor_is_killed(peered):
    dc1, dc2 = peered
    register_web(dc1, "passing")
    export(dc1, ["web"])
    wait_until(lambda: imported_web(dc2), what="web from dc1 in dc2")
    dc1.agent.kill()
    dc1.start()
    register_web(dc1, "warning")  # a change dc2 can only learn from a new stream
    wait_until(lambda: imported_web(dc2) == [("web-node", "web-1", "dc1", "warning")],
               what="the change after dc1's restart")
    wait_until(lambda: peering(dc1, "dc2")["State"] == "ACTIVE", what="dc1's side ACTIVE")
    assert peering(dc2, "dc1")["State"] == "ACTIVE"


@pytest.mark.parametrize("deleter", ["acceptor", "dialer"])
def test_deleting_on_one_side_terminates_the_other(peered, deleter: str):
    dc1, dc2 = peered
    register_web(dc1, "passing")
    export(dc1, ["web"])
    wait_until(lambda: imported_web(dc2), what="web from dc1 in dc2")
    wait_until(lambda: peering(dc1, "dc2")["State"] == "ACTIVE", what="dc1's side ACTIVE")
    here, name, there, other = (dc1, "dc2", dc2, "dc1") if deleter == "acceptor" else \
        (dc2, "dc1", dc1, "dc2")
    assert here.agent.delete(f"/v1/peering/{name}").status == 200
    wait_until(lambda: peering(there, other)["State"] == "TERMINATED",
               what="the other side TERMINATED")
    wait_until(lambda: imported_web(dc2) == [], what="dc2's imported rows removed")
    wait_until(lambda: here.agent.get(f"/v1/peering/{name}").status == 404,
               what="the deleted peering gone")


def test_a_mesh_service_reaches_the_peer_through_dc1s_mesh_gateway(peered, tmp_path: Path):
    dc1, dc2 = peered
    register_web(dc1, "passing")
    for service, check in (
            ({"ID": "web-sidecar-proxy-1", "Service": "web-sidecar-proxy", "Port": 21000,
              "Kind": "connect-proxy", "Proxy": {"DestinationServiceName": "web"}}, None),
            ({"ID": "mesh-gateway", "Service": "mesh-gateway", "Kind": "mesh-gateway",
              "Address": "192.0.2.10", "Port": 8443},
             {"CheckID": "gw-alive", "Name": "gw", "Status": "warning",
              "ServiceID": "mesh-gateway"})):
        reply = dc1.agent.put("/v1/catalog/register", {
            "Node": "web-node" if check is None else "gw-node", "Address": "10.1.0.2",
            "Service": service, **({"Check": check} if check else {})})
        assert reply.status == 200, reply.text
    export(dc1, ["web"])

    def proxies() -> list[dict]:
        reply = dc2.agent.get("/v1/health/connect/web?peer=dc1")
        assert reply.status == 200, reply.text
        return reply.json()

    [entry] = wait_until(proxies, what="web's proxies from dc1 in dc2")
    service = entry["Service"]
    assert (entry["Node"]["Node"], service["ID"], service["Service"], service["Kind"],
            service["Address"], service["Port"], service["PeerName"]) == (
        "gw-node", "web-sidecar-proxy-instance-0", "web-sidecar-proxy", "connect-proxy",
        "192.0.2.10", 8443, "dc1")
    assert service["Proxy"]["DestinationServiceName"] == "web"
    assert service["Proxy"]["DestinationServiceID"] == "web-instance-0"
    assert service["Connect"]["PeerMeta"] == {
        "SNI": [f"web.default.default.dc2.external.{dc1.trust_domain}"],
        "SpiffeID": [f"spiffe://{dc1.trust_domain}/ns/default/dc/dc1/svc/web",
                     f"spiffe://{dc1.trust_domain}/gateway/mesh/dc/dc1"],
        "Protocol": "tcp"}
    assert [(c["CheckID"], c["Status"]) for c in entry["Checks"]] == [
        ("web-sidecar-proxy-instance-0:overall-check", "warning")]
    # the typical instance goes without its real sidecar, which stays in dc1
    assert [(n, i) for n, i, _, _ in imported_web(dc2)] == [("web-node", "web-1")]
    assert dc2.agent.get("/v1/health/service/web-sidecar-proxy?peer=dc1").json()[0][
        "Service"]["ID"] == "web-sidecar-proxy-instance-0"
    # dc1's trust bundle is stored in dc2 for the peer
    saved = dc2.agent.get("/v1/snapshot", timeout=60)
    assert saved.status == 200, saved.text
    (tmp_path / "dc2.snap").write_bytes(saved.body)
    decoded = run_cli(None, "snapshot", "decode", str(tmp_path / "dc2.snap"))
    assert decoded.returncode == 0, decoded.stderr
    bundles = [d["Data"] for d in map(json.loads, decoded.stdout.decode().splitlines())
               if d["Type"] == "PeeringTrustBundle"]
    assert [(b["PeerName"], b["TrustDomain"], b["RootPEMs"]) for b in bundles] == [
        ("dc1", dc1.trust_domain, [dc1.root_pem])]
    # without a mesh gateway the peer cannot reach web: its proxies go, web stays
    reply = dc1.agent.put("/v1/catalog/deregister", {"Node": "gw-node"})
    assert reply.status == 200, reply.text
    wait_until(lambda: proxies() == [], what="the proxies gone from dc2")
    assert [(n, i) for n, i, _, _ in imported_web(dc2)] == [("web-node", "web-1")]
    # un-exporting takes the rest
    export(dc1, [])
    wait_until(lambda: proxies() == [] and
               dc2.agent.get("/v1/catalog/nodes?peer=dc1").json() == [],
               what="web and its node gone from dc2")
