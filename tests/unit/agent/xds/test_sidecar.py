"""The sidecar's resources from a hand-built snapshot: Consul's names and the details."""

from __future__ import annotations

from google.protobuf import json_format

from proconsul.agent.proxycfg.manager import ALL
from proconsul.agent.proxycfg.snapshot import ConfigSnapshot, UpstreamSnapshot
from proconsul.agent.proxycfg.watches import Datum
from proconsul.agent.xds import protos, sidecar
from proconsul.structs.catalog import (
    CheckServiceNode,
    ConnectProxyConfig,
    HealthCheck,
    Node,
    NodeService,
    Upstream,
)
from proconsul.structs.connect import CARoot, IndexedCARoots, IssuedCert
from proconsul.structs.discovery_chain import (
    CompiledDiscoveryChain,
    DiscoveryGraphNode,
    DiscoveryResolver,
    DiscoveryTarget,
)

TD = "11111111-2222-3333-4444-555555555555.consul"
SNI = f"api.default.dc1.internal.{TD}"


def chain(protocol: str = "tcp") -> CompiledDiscoveryChain:
    tid = "api.default.default.dc1"
    return CompiledDiscoveryChain(
        ServiceName="api", Datacenter="dc1", Protocol=protocol,
        StartNode=f"resolver:{tid}",
        Nodes={f"resolver:{tid}": DiscoveryGraphNode(
            Type="resolver", Name=tid, Resolver=DiscoveryResolver(Target=tid))},
        Targets={tid: DiscoveryTarget(ID=tid, Service="api", Datacenter="dc1",
                                      Namespace="default", SNI=SNI)})


def datum(key, value) -> Datum:
    d = Datum(key)
    d.value, d.valid, d.index = value, True, 1
    return d


def snapshot(protocol: str = "tcp", intentions: list | None = None,
             mesh: dict | None = None) -> ConfigSnapshot:
    upstream = Upstream(DestinationName="api", LocalBindPort=9191, Config={
        "limits": {"max_connections": 10, "max_concurrent_requests": 5},
        "passive_health_check": {"interval": "10s", "max_failures": 3}})
    service = NodeService(ID="web-sidecar-proxy", Service="web-sidecar-proxy",
                          Kind="connect-proxy", Address="10.0.0.1", Port=21000,
                          Proxy=ConnectProxyConfig(DestinationServiceName="web",
                                                   LocalServicePort=8080,
                                                   Upstreams=[upstream]))
    nodes = [CheckServiceNode(
        Node=Node(Node="n1", Address="10.0.0.2"),
        Service=NodeService(ID="api-sidecar-proxy", Service="api-sidecar-proxy", Port=21001),
        Checks=[HealthCheck(Status=status)]) for status in ("passing", "critical")]
    up = UpstreamSnapshot("api", upstream, chain(protocol),
                          {"api.default.default.dc1": datum(("health",), nodes)})
    return ConfigSnapshot(
        proxy_id="web-sidecar-proxy", service=service, datacenter="dc1",
        node_address="10.0.0.1", default_allow=True,
        roots=IndexedCARoots(TrustDomain=TD, Roots=[CARoot(RootCert="ROOT")]),
        leaf=IssuedCert(CertPEM="LEAF", PrivateKeyPEM="KEY"),
        intentions=datum(("intentions",), intentions or []),
        own_chain=CompiledDiscoveryChain(Protocol=protocol), upstreams=[up],
        defaults_known=True, mesh_known=True, mesh=mesh or {})


def as_json(resource) -> dict:
    message = protos.MESSAGES[resource.any.type_url]()
    resource.any.Unpack(message)
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def test_names_and_details_of_a_tcp_sidecar():
    built = sidecar.build(snapshot(), set(ALL))
    assert sorted(built[protos.CLUSTER]) == sorted(["local_app", SNI])
    assert sorted(built[protos.LISTENER]) == ["api:127.0.0.1:9191",
                                              "public_listener:10.0.0.1:21000"]
    assert built[protos.ROUTE] == {}
    up = as_json(built[protos.CLUSTER][SNI])
    tls = up["transport_socket"]["typed_config"]
    assert tls["sni"] == SNI
    assert tls["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "URI", "matcher": {"exact": f"spiffe://{TD}/ns/default/dc/dc1/svc/api"}}]
    assert up["circuit_breakers"] == {"thresholds": [{"max_connections": 10,
                                                      "max_requests": 5}]}
    assert up["outlier_detection"] == {"interval": "10s", "consecutive_5xx": 3}
    public = as_json(built[protos.LISTENER]["public_listener:10.0.0.1:21000"])
    chain_ = public["filter_chains"][0]
    assert [f["name"] for f in chain_["filters"]] == ["envoy.filters.network.rbac",
                                                      "envoy.filters.network.tcp_proxy"]
    assert chain_["transport_socket"]["typed_config"]["require_client_certificate"] is True
    cla = as_json(built[protos.ENDPOINT][SNI])
    assert [(e["endpoint"]["address"]["socket_address"]["address"], e["health_status"])
            for e in cla["endpoints"][0]["lb_endpoints"]] == [("10.0.0.2", "HEALTHY"),
                                                              ("10.0.0.2", "UNHEALTHY")]


def test_http_sidecar_uses_rds_and_http_rbac():
    built = sidecar.build(snapshot("http"), set(ALL))
    assert list(built[protos.ROUTE]) == ["api"]
    route = as_json(built[protos.ROUTE]["api"])
    assert route["virtual_hosts"][0]["routes"] == [
        {"match": {"prefix": "/"}, "route": {"cluster": SNI}}]
    public = as_json(built[protos.LISTENER]["public_listener:10.0.0.1:21000"])
    hcm = public["filter_chains"][0]["filters"][0]["typed_config"]
    assert [f["name"] for f in hcm["http_filters"]] == ["envoy.filters.http.rbac",
                                                        "envoy.filters.http.router"]
    assert hcm["forward_client_cert_details"] == "APPEND_FORWARD"


def test_only_the_asked_kinds_are_built_and_shared_inputs_encode_once():
    snap = snapshot()
    assert set(sidecar.build(snap, {"endpoints"})) == {protos.ENDPOINT}
    first = sidecar.build(snap, {"clusters", "endpoints"})
    again = sidecar.build(snapshot(), {"clusters"})  # other snapshot objects: not shared
    same = sidecar.build(snap, {"clusters", "endpoints"})
    assert same[protos.CLUSTER][SNI] is first[protos.CLUSTER][SNI]
    assert same[protos.ENDPOINT][SNI] is first[protos.ENDPOINT][SNI]
    assert again[protos.CLUSTER][SNI].version == first[protos.CLUSTER][SNI].version


def test_mesh_tls_settings_and_xfcc_sanitizing():
    mesh = {"TLS": {"Incoming": {"TLSMinVersion": "TLSv1_3"},
                    "Outgoing": {"TLSMinVersion": "TLSv1_2", "CipherSuites": [
                        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]}},
            "HTTP": {"SanitizeXForwardedClientCert": True}}
    built = sidecar.build(snapshot("http", mesh=mesh), set(ALL))
    public = as_json(built[protos.LISTENER]["public_listener:10.0.0.1:21000"])
    chain_ = public["filter_chains"][0]
    assert chain_["transport_socket"]["typed_config"]["common_tls_context"]["tls_params"] == {
        "tls_minimum_protocol_version": "TLSv1_3", "tls_maximum_protocol_version": "TLSv1_3"}
    assert "forward_client_cert_details" not in chain_["filters"][0]["typed_config"]
    up = as_json(built[protos.CLUSTER][SNI])
    assert up["transport_socket"]["typed_config"]["common_tls_context"]["tls_params"] == {
        "tls_minimum_protocol_version": "TLSv1_2",
        "cipher_suites": ["ECDHE-ECDSA-AES128-GCM-SHA256"]}
