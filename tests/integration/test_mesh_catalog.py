"""Catalog and health reads for the mesh through a -dev agent: /v1/catalog/connect,
/v1/health/connect, /v1/health/ingress and /v1/catalog/gateway-services."""

from __future__ import annotations

from urllib.parse import quote

from proconsul.api import Client, Config
from tests.support.agent_process import Reply, wait_until


def _ok(reply: Reply) -> Reply:
    assert reply.status == 200, (reply.status, reply.text)
    return reply


def register(agent, node: str, service: dict, checks: list | None = None,
             address: str = "10.0.0.1") -> None:
    _ok(agent.put("/v1/catalog/register", {"Node": node, "Address": address,
                                           "Service": service, "Checks": checks}))


def proxy(sid: str, dest: str, port: int = 21000) -> dict:
    return {"ID": sid, "Service": f"{dest}-sidecar-proxy", "Kind": "connect-proxy",
            "Port": port, "Proxy": {"DestinationServiceName": dest}}


def write_entry(agent, entry: dict) -> None:
    reply = _ok(agent.put("/v1/config", entry))
    assert reply.json() is True


def test_catalog_connect_lists_proxies_and_native_instances(agent, unique):
    web = f"{unique}-web"
    register(agent, f"{unique}-n1", {"ID": web, "Service": web, "Port": 80})
    register(agent, f"{unique}-n1", proxy(f"{web}-proxy", web))
    register(agent, f"{unique}-n2", {"ID": web, "Service": web, "Port": 81,
                                     "Connect": {"Native": True}})
    register(agent, f"{unique}-n3", {"ID": web, "Service": web, "Port": 82})  # not Connect
    register(agent, f"{unique}-n3", proxy(f"{unique}-other-proxy", f"{unique}-other"))

    reply = _ok(agent.get(f"/v1/catalog/connect/{web}"))
    rows = sorted(reply.json(), key=lambda r: r["Node"])
    assert [(r["Node"], r["ServiceID"], r["ServiceKind"]) for r in rows] == [
        (f"{unique}-n1", f"{web}-proxy", "connect-proxy"),
        (f"{unique}-n2", web, ""),
    ]
    assert rows[0]["ServiceProxy"]["DestinationServiceName"] == web
    assert rows[1]["ServiceConnect"] == {"Native": True}
    # As Consul: the index is the target service's own, not the proxies'.
    plain = _ok(agent.get(f"/v1/catalog/service/{web}"))
    assert reply.headers["X-Consul-Index"] == plain.headers["X-Consul-Index"]

    assert _ok(agent.get(f"/v1/catalog/connect/{unique}-none")).json() == []


def test_health_connect_checks_passing_filter_and_index(agent, unique):
    web = f"{unique}-web"
    register(agent, f"{unique}-n1", proxy(f"{web}-p1", web),
             [{"CheckID": "p1", "Name": "p1", "ServiceID": f"{web}-p1", "Status": "passing"}])
    register(agent, f"{unique}-n2", proxy(f"{web}-p2", web, 21001),
             [{"CheckID": "p2", "Name": "p2", "ServiceID": f"{web}-p2", "Status": "critical"}])

    reply = _ok(agent.get(f"/v1/health/connect/{web}"))
    nodes = reply.json()
    assert sorted(n["Service"]["ID"] for n in nodes) == [f"{web}-p1", f"{web}-p2"]
    assert all(len(n["Checks"]) == 1 for n in nodes)
    # The proxies' own service index, which their checks move.
    proxies = _ok(agent.get(f"/v1/health/service/{web}-sidecar-proxy"))
    assert reply.headers["X-Consul-Index"] == proxies.headers["X-Consul-Index"]

    passing = _ok(agent.get(f"/v1/health/connect/{web}?passing")).json()
    assert [n["Service"]["ID"] for n in passing] == [f"{web}-p1"]
    expr = quote(f'Node.Node == "{unique}-n2"')
    filtered = _ok(agent.get(f"/v1/health/connect/{web}?filter={expr}")).json()
    assert [n["Service"]["ID"] for n in filtered] == [f"{web}-p2"]
    bad = agent.get(f"/v1/health/connect/{web}?filter={quote('Node.Node ==')}")
    assert bad.status == 400


def test_health_connect_near_sorts_by_coordinate(agent, unique):
    web = f"{unique}-web"
    for i, x in ((1, 0.5), (2, 0.01), (3, 0.2)):
        register(agent, f"{unique}-n{i}", proxy(f"{web}-p{i}", web, 21000 + i))
        vec = [x] + [0.0] * 7
        _ok(agent.put("/v1/coordinate/update", {
            "Node": f"{unique}-n{i}", "Coord": {"Vec": vec, "Error": 0.1, "Adjustment": 0,
                                                 "Height": 1e-5}}))
    src = f"{unique}-src"
    register(agent, src, {"ID": "x", "Service": f"{unique}-x"})
    _ok(agent.put("/v1/coordinate/update", {"Node": src, "Coord": {
        "Vec": [0.0] * 8, "Error": 0.1, "Adjustment": 0, "Height": 1e-5}}))

    def order() -> list[str]:
        reply = _ok(agent.get(f"/v1/health/connect/{web}?near={src}"))
        return [n["Node"]["Node"] for n in reply.json()]

    wait_until(lambda: order() == [f"{unique}-n2", f"{unique}-n3", f"{unique}-n1"],
               timeout=10)


def test_ingress_health_and_gateway_services(agent, unique):
    web, api, gw = f"{unique}-web", f"{unique}-api", f"{unique}-ingress"
    register(agent, f"{unique}-n1", {"ID": gw, "Service": gw, "Kind": "ingress-gateway",
                                     "Port": 8080},
             [{"CheckID": "gw", "Name": "gw", "ServiceID": gw, "Status": "passing"}])
    write_entry(agent, {"Kind": "ingress-gateway", "Name": gw, "Listeners": [
        {"Port": 8080, "Protocol": "http", "Services": [{"Name": web, "Hosts": ["web.example"]}]},
        {"Port": 9090, "Protocol": "tcp", "Services": [{"Name": api}]},
    ]})

    reply = _ok(agent.get(f"/v1/catalog/gateway-services/{gw}"))
    rows = reply.json()
    for row in rows:
        assert row.pop("CreateIndex") == row.pop("ModifyIndex") > 0
    assert rows == [
        {"Gateway": {"Name": gw}, "Service": {"Name": api}, "GatewayKind": "ingress-gateway",
         "Port": 9090, "Protocol": "tcp"},
        {"Gateway": {"Name": gw}, "Service": {"Name": web}, "GatewayKind": "ingress-gateway",
         "Port": 8080, "Protocol": "http", "Hosts": ["web.example"]},
    ]

    nodes = _ok(agent.get(f"/v1/health/ingress/{web}")).json()
    assert [(n["Service"]["ID"], n["Service"]["Kind"]) for n in nodes] == [
        (gw, "ingress-gateway")]
    assert [c["CheckID"] for c in nodes[0]["Checks"]] == ["gw"]
    assert _ok(agent.get(f"/v1/health/ingress/{unique}-absent")).json() == []
    assert _ok(agent.get(f"/v1/catalog/gateway-services/{unique}-nogw")).json() == []

    _ok(agent.delete(f"/v1/config/ingress-gateway/{gw}"))
    assert _ok(agent.get(f"/v1/health/ingress/{web}")).json() == []
    assert _ok(agent.get(f"/v1/catalog/gateway-services/{gw}")).json() == []


def test_terminating_gateway_services_wildcard_and_connect(agent, unique):
    db, legacy, tgw = f"{unique}-db", f"{unique}-legacy", f"{unique}-tgw"
    register(agent, f"{unique}-n1", {"ID": db, "Service": db, "Port": 5432})
    register(agent, f"{unique}-n2", {"ID": tgw, "Service": tgw, "Kind": "terminating-gateway",
                                     "Port": 8443})
    write_entry(agent, {"Kind": "terminating-gateway", "Name": tgw, "Services": [
        {"Name": db, "CAFile": "/ca.pem", "CertFile": "/c.pem", "KeyFile": "/k.pem",
         "SNI": "db.example"},
        {"Name": "*"},
    ]})
    rows = _ok(agent.get(f"/v1/catalog/gateway-services/{tgw}")).json()
    mine = {r["Service"]["Name"]: r for r in rows if r["Service"]["Name"].startswith(unique)}
    assert mine[db]["CAFile"] == "/ca.pem" and mine[db]["SNI"] == "db.example"
    assert mine[db]["ServiceKind"] == "service" and "FromWildcard" not in mine[db]

    # A service registered later joins through the wildcard.
    register(agent, f"{unique}-n3", {"ID": legacy, "Service": legacy, "Port": 80})
    rows = _ok(agent.get(f"/v1/catalog/gateway-services/{tgw}")).json()
    joined = [r for r in rows if r["Service"]["Name"] == legacy]
    assert len(joined) == 1 and joined[0]["FromWildcard"] is True

    # The terminating gateway is the Connect endpoint of the services it fronts.
    connect = _ok(agent.get(f"/v1/catalog/connect/{legacy}")).json()
    assert [(r["ServiceID"], r["ServiceKind"]) for r in connect] == [
        (tgw, "terminating-gateway")]
    health = _ok(agent.get(f"/v1/health/connect/{db}")).json()
    assert [n["Service"]["ID"] for n in health] == [tgw]

    _ok(agent.put("/v1/catalog/deregister", {"Node": f"{unique}-n3", "ServiceID": legacy}))
    rows = _ok(agent.get(f"/v1/catalog/gateway-services/{tgw}")).json()
    assert legacy not in [r["Service"]["Name"] for r in rows]


def test_api_client_reads_the_mesh_endpoints(agent, unique):
    web, gw = f"{unique}-web", f"{unique}-igw"
    register(agent, f"{unique}-n1", proxy(f"{web}-proxy", web))
    register(agent, f"{unique}-n1", {"ID": gw, "Service": gw, "Kind": "ingress-gateway"})
    write_entry(agent, {"Kind": "ingress-gateway", "Name": gw, "Listeners": [
        {"Port": 8080, "Protocol": "tcp", "Services": [{"Name": web}]}]})
    client = Client(Config(address=f"{agent.host}:{agent.port}"))
    rows, meta = client.catalog().connect(web)
    assert [r["ServiceID"] for r in rows] == [f"{web}-proxy"] and meta.last_index > 0
    nodes, _ = client.health().connect(web, passing_only=True)
    assert [n["Service"]["ID"] for n in nodes] == [f"{web}-proxy"]  # no checks: passing
    gateways, _ = client.health().ingress(web)
    assert [n["Service"]["ID"] for n in gateways] == [gw]
    linked, _ = client.catalog().gateway_services(gw)
    assert [(r["Service"]["Name"], r["Port"]) for r in linked] == [(web, 8080)]
