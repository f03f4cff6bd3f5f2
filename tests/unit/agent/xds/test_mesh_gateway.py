"""Mesh gateways: the snapshot planned from datums, its listeners, clusters and endpoints
(Consul's names), how both ADS flavours carry them, and sidecar upstreams through
gateways in modes local and remote."""

from __future__ import annotations

from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryRequest, DiscoveryRequest

from proconsul.agent.proxycfg import mesh_gateway as plan_mod
from proconsul.agent.proxycfg.manager import ALL
from proconsul.agent.xds import mesh_gateway, protos, sidecar
from proconsul.agent.xds.delta import DeltaSession
from proconsul.agent.xds.sotw import SotwSession
from proconsul.structs.catalog import (
    CheckServiceNode,
    ConnectProxyConfig,
    HealthCheck,
    Node,
    NodeService,
    ServiceAddress,
)
from proconsul.structs.config_entries.service import MeshGatewayConfig
from proconsul.structs.discovery_chain import DiscoveryTarget
from tests.unit.agent.xds.test_gateways import ROOTS
from tests.unit.agent.xds.test_sidecar import TD, as_json, datum, snapshot

WANFED = {"consul-wan-federation": "1"}


def gateway_node(dc: str, node: str, lan: str, wan: str, status: str = "passing"):
    return CheckServiceNode(
        Node=Node(Node=node, Address=lan, Datacenter=dc),
        Service=NodeService(ID="mesh-gateway", Service="mesh-gateway", Kind="mesh-gateway",
                            Address=lan, Port=8443, TaggedAddresses={
                                "lan": ServiceAddress(Address=lan, Port=8443),
                                "wan": ServiceAddress(Address=wan, Port=9443)}),
        Checks=[HealthCheck(Status=status)])


def server(node: str, address: str, status: str = "passing") -> CheckServiceNode:
    return CheckServiceNode(Node=Node(Node=node, Address=address),
                            Service=NodeService(ID="consul", Service="consul", Port=8300),
                            Checks=[HealthCheck(CheckID="serfHealth", Status=status)])


API = [CheckServiceNode(Node=Node(Node="n1", Address="10.1.0.5"),
                        Service=NodeService(Service="api-sidecar-proxy", Port=21001,
                                            Meta={"v": "2"}),
                        Checks=[HealthCheck(Status="passing")])]
GATEWAYS = {"dc1": [gateway_node("dc1", "gw1", "10.1.0.9", "192.0.2.1")],
            "dc2": [gateway_node("dc2", "gw2", "10.2.0.9", "192.0.2.2")],
            "dc3": [gateway_node("dc3", "gw3", "10.3.0.9", "192.0.2.3", "critical")]}


def plan(service: NodeService, values: dict) -> plan_mod.MeshGatewaySnapshot:
    """Subscribe as the manager would (known datums only), then assemble."""
    datums = {key: datum(key, value) for key, value in values.items()}
    wanted = plan_mod.wanted_keys(service, "tok", "dc1", datums.get)
    assert set(datums) <= wanted, set(datums) - wanted
    return plan_mod.assemble(service.ID, service, "tok", "dc1", "consul.", datums.get)


def gateway(meta: dict | None = None, config: dict | None = None) -> NodeService:
    return NodeService(ID="mesh-gateway", Service="mesh-gateway", Kind="mesh-gateway",
                       Address="10.1.0.9", Port=8443, Meta=meta or {},
                       TaggedAddresses={"lan": ServiceAddress(Address="10.1.0.9", Port=8443),
                                        "wan": ServiceAddress(Address="192.0.2.1", Port=9443)},
                       Proxy=ConnectProxyConfig(Config=config or {}))


def full(meta: dict | None = None, config: dict | None = None, servers=None):
    values = {("roots", "tok"): ROOTS, ("mesh-gateways", "tok"): GATEWAYS,
              ("services", "tok"): {"api": [], "consul": [], "lonely": []},
              ("resolvers", "tok"): [{"Kind": "service-resolver", "Name": "api",
                                      "Subsets": {"v2": {"Filter": "Service.Meta.v == 2"}}}],
              ("health", "api", "dc1", "tok"): API, ("health", "lonely", "dc1", "tok"): []}
    if meta:
        values[("service-health", "consul", "dc1", "tok")] = servers or [
            server("s1", "10.1.0.1"), server("s2", "10.1.0.2"),
            server("s3", "10.1.0.3", "critical")]
    return plan(gateway(meta, config), values)


def names(built, type_url) -> list[str]:
    return sorted(built[type_url])


def lb(resource) -> list[tuple[str, int, str]]:
    body = as_json(resource)
    return sorted((e["endpoint"]["address"]["socket_address"]["address"],
                   e["endpoint"]["address"]["socket_address"]["port_value"],
                   e.get("health_status", ""))
                  for group in body.get("endpoints", ()) for e in group["lb_endpoints"])


def test_waits_for_its_watches_then_routes_by_sni_without_terminating_tls():
    early = plan(gateway(), {("roots", "tok"): ROOTS, ("mesh-gateways", "tok"): GATEWAYS})
    assert not early.ready()  # the local services are not known yet
    alone = plan(gateway(), {("roots", "tok"): ROOTS, ("services", "tok"): {},
                             ("resolvers", "tok"): []})
    assert alone.ready()  # no federation states yet: local traffic goes on meanwhile
    assert mesh_gateway.build(alone, set(ALL))[protos.CLUSTER] == {}
    snap = full()
    assert snap.ready()
    built = mesh_gateway.build(snap, set(ALL))
    assert names(built, protos.LISTENER) == ["default:10.1.0.9:8443"]
    assert names(built, protos.CLUSTER) == [
        f"api.default.dc1.internal.{TD}", f"dc2.internal.{TD}", f"dc3.internal.{TD}",
        f"v2.api.default.dc1.internal.{TD}"]  # lonely has no connect endpoints
    assert names(built, protos.CLUSTER) == names(built, protos.ENDPOINT)
    listener = as_json(built[protos.LISTENER]["default:10.1.0.9:8443"])
    assert [f["name"] for f in listener["listener_filters"]] == [
        "envoy.filters.listener.tls_inspector"]
    chains = listener["filter_chains"]
    assert [c.get("filter_chain_match", {}).get("server_names") for c in chains] == [
        [f"*.dc2.internal.{TD}"], [f"*.dc3.internal.{TD}"], None]
    assert chains[0]["filters"][0]["typed_config"]["cluster"] == f"dc2.internal.{TD}"
    assert chains[0]["filters"][0]["typed_config"]["stat_prefix"] == \
        "mesh_gateway_remote.default.dc2"
    assert [f["name"] for f in chains[-1]["filters"]] == [
        "envoy.filters.network.sni_cluster", "envoy.filters.network.tcp_proxy"]
    assert all("transport_socket" not in c for c in chains)
    for cluster in built[protos.CLUSTER].values():
        assert "transport_socket" not in as_json(cluster)
    # remote gateways by their WAN address, health kept; local instances as they are
    assert lb(built[protos.ENDPOINT][f"dc2.internal.{TD}"]) == [
        ("192.0.2.2", 9443, "HEALTHY")]
    assert lb(built[protos.ENDPOINT][f"dc3.internal.{TD}"]) == [
        ("192.0.2.3", 9443, "UNHEALTHY")]
    assert lb(built[protos.ENDPOINT][f"v2.api.default.dc1.internal.{TD}"]) == [
        ("10.1.0.5", 21001, "HEALTHY")]


def test_wan_federation_exposes_the_servers():
    built = mesh_gateway.build(full(WANFED), set(ALL))
    assert {"server.dc2.consul", "server.dc3.consul", "server.dc1.consul",
            "s1.server.dc1.consul", "s2.server.dc1.consul"} <= set(built[protos.CLUSTER])
    assert "s3.server.dc1.consul" not in built[protos.CLUSTER]  # its serfHealth is critical
    assert names(built, protos.CLUSTER) == names(built, protos.ENDPOINT)
    assert lb(built[protos.ENDPOINT]["server.dc1.consul"]) == [
        ("10.1.0.1", 8300, ""), ("10.1.0.2", 8300, "")]
    assert lb(built[protos.ENDPOINT]["s2.server.dc1.consul"]) == [("10.1.0.2", 8300, "")]
    assert lb(built[protos.ENDPOINT]["server.dc2.consul"]) == [("192.0.2.2", 9443, "HEALTHY")]
    chains = as_json(built[protos.LISTENER]["default:10.1.0.9:8443"])["filter_chains"]
    assert [c.get("filter_chain_match", {}).get("server_names") for c in chains] == [
        [f"*.dc2.internal.{TD}"], [f"*.dc3.internal.{TD}"], ["*.server.dc2.consul"],
        ["*.server.dc3.consul"], ["s1.server.dc1.consul"], ["s2.server.dc1.consul"], None]
    assert chains[4]["filters"][0]["typed_config"] == {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": "mesh_gateway_local_server.default.dc1",
        "cluster": "s1.server.dc1.consul"}
    # without the meta none of that, and no watch of the servers
    assert ("service-health", "consul", "dc1", "tok") not in plan_mod.wanted_keys(
        gateway(), "tok", "dc1", lambda key: None)
    assert not any("server" in name for name in mesh_gateway.build(full(), set(ALL))[
        protos.CLUSTER])


def test_listeners_on_tagged_and_named_bind_addresses_one_per_address():
    tagged = full(config={"envoy_gateway_no_default_bind": True,
                          "envoy_gateway_bind_tagged_addresses": True})
    assert names(mesh_gateway.build(tagged, {"listeners"}), protos.LISTENER) == [
        "lan:10.1.0.9:8443", "wan:192.0.2.1:9443"]
    both = full(config={"envoy_mesh_gateway_bind_addresses": {  # the older name too
        "extra": {"Address": "10.9.9.9", "Port": 7000},
        "same": {"address": "10.1.0.9", "port": 8443}}})
    assert names(mesh_gateway.build(both, {"listeners"}), protos.LISTENER) == [
        "default:10.1.0.9:8443", "extra:10.9.9.9:7000"]


def test_connect_timeout_from_the_proxy_config():
    built = mesh_gateway.build(full(config={"connect_timeout_ms": 1500}), {"clusters"})
    assert {as_json(c)["connect_timeout"] for c in built[protos.CLUSTER].values()} == {"1.500s"}
    built = mesh_gateway.build(full(), {"clusters"})
    assert {as_json(c)["connect_timeout"] for c in built[protos.CLUSTER].values()} == {"5s"}


def test_hostname_gateways_make_a_logical_dns_cluster():
    remote = gateway_node("dc2", "gw2", "10.2.0.9", "gw.dc2.example.com")
    snap = plan(gateway(), {("roots", "tok"): ROOTS, ("mesh-gateways", "tok"): {"dc2": [remote]},
                            ("services", "tok"): {}, ("resolvers", "tok"): []})
    built = mesh_gateway.build(snap, set(ALL))
    cluster = as_json(built[protos.CLUSTER][f"dc2.internal.{TD}"])
    assert cluster["type"] == "LOGICAL_DNS"
    assert f"dc2.internal.{TD}" not in built[protos.ENDPOINT]


def test_both_ads_flavours_carry_the_gateway():
    built = mesh_gateway.build(full(WANFED), set(ALL))
    sotw, delta = SotwSession(), DeltaSession()
    for type_url in (protos.CLUSTER, protos.LISTENER):
        sotw.on_request(DiscoveryRequest(type_url=type_url))
        delta.on_request(DeltaDiscoveryRequest(type_url=type_url))
    sotw.on_request(DiscoveryRequest(type_url=protos.ENDPOINT,
                                     resource_names=list(built[protos.ENDPOINT])))
    delta.on_request(DeltaDiscoveryRequest(type_url=protos.ENDPOINT,
                                           resource_names_subscribe=list(
                                               built[protos.ENDPOINT])))
    for session in (sotw, delta):
        for type_url, resources in built.items():
            session.set_resources(type_url, resources)
    sent = {r.type_url: len(r.resources) for r in sotw.responses()}
    assert sent == {protos.CLUSTER: len(built[protos.CLUSTER]),
                    protos.ENDPOINT: len(built[protos.ENDPOINT]), protos.LISTENER: 1}
    assert {r.type_url: len(r.resources) for r in delta.responses()} == sent
    assert sotw.responses() == [] and delta.responses() == []  # nothing changed


def upstream_in_dc2(mode: str = "", proxy_mode: str = "", chain_mode: str = "",
                    defaults_mode: str = ""):
    snap = snapshot()
    if defaults_mode:
        snap.proxy_defaults = {"MeshGateway": {"Mode": defaults_mode}}
    up = snap.upstreams[0]
    target = DiscoveryTarget(ID="api.default.default.dc2", Service="api", Datacenter="dc2",
                             SNI=f"api.default.dc2.internal.{TD}",
                             MeshGateway=MeshGatewayConfig(Mode=chain_mode))
    up.chain = up.chain.__class__(ServiceName="api", Datacenter="dc2", Protocol="tcp",
                                  StartNode=up.chain.StartNode, Nodes=up.chain.Nodes,
                                  Targets={target.ID: target})
    up.endpoints = {target.ID: datum(("health",), API)}
    if mode:
        up.upstream.MeshGateway = {"Mode": mode}
    if proxy_mode:
        snap.service.Proxy.MeshGateway = {"Mode": proxy_mode}
    snap.gateways = datum(("mesh-gateways", "tok"), GATEWAYS)
    [cla] = sidecar.endpoints(snap)
    return lb(cla)


def test_sidecar_upstream_in_another_dc_through_gateways_by_mode():
    assert upstream_in_dc2() == [("10.1.0.5", 21001, "HEALTHY")]  # none: directly
    assert upstream_in_dc2("none") == [("10.1.0.5", 21001, "HEALTHY")]
    assert upstream_in_dc2("local") == [("10.1.0.9", 8443, "HEALTHY")]  # dc1's, LAN
    assert upstream_in_dc2("remote") == [("192.0.2.2", 9443, "HEALTHY")]  # dc2's, WAN
    # precedence: the upstream's, the proxy registration's, proxy-defaults', the chain's
    assert upstream_in_dc2(proxy_mode="remote", chain_mode="local") == [
        ("192.0.2.2", 9443, "HEALTHY")]
    assert upstream_in_dc2(proxy_mode="remote", defaults_mode="local") == [
        ("192.0.2.2", 9443, "HEALTHY")]
    assert upstream_in_dc2(defaults_mode="remote", chain_mode="local") == [
        ("192.0.2.2", 9443, "HEALTHY")]
    assert upstream_in_dc2(chain_mode="local") == [("10.1.0.9", 8443, "HEALTHY")]
    assert upstream_in_dc2("none", proxy_mode="local") == [("10.1.0.5", 21001, "HEALTHY")]


def test_gateways_addressed_by_hostname_are_left_out_of_a_sidecars_endpoints():
    named = gateway_node("dc2", "gw2", "10.2.0.9", "gw.dc2.example.com")
    cla = sidecar.gateway_cla("x", [named, GATEWAYS["dc2"][0]], wan=True)
    assert lb(cla) == [("192.0.2.2", 9443, "HEALTHY")]  # EDS takes IP addresses only
