"""Gateway snapshots planned and assembled from datums, and their resources' names."""

from __future__ import annotations

from proconsul.agent.proxycfg import gateways
from proconsul.agent.proxycfg.manager import ALL
from proconsul.agent.xds import ingress, protos, terminating
from proconsul.cli.connect_envoy import EnvoyError, gateway_address
from proconsul.structs.base import UNSET
from proconsul.structs.catalog import CheckServiceNode, HealthCheck, Node, NodeService
from proconsul.structs.connect import CARoot, IndexedCARoots, IssuedCert
from proconsul.structs.gateway_services import GatewayService, ServiceName
from tests.unit.agent.xds.test_sidecar import SNI, TD, as_json, chain, datum

ROOTS = IndexedCARoots(TrustDomain=TD, Roots=[CARoot(RootCert="ROOT")])
LEAF = IssuedCert(CertPEM="LEAF", PrivateKeyPEM="KEY")
API_NODES = [CheckServiceNode(Node=Node(Node="n1", Address="10.0.0.2"),
                              Service=NodeService(Service="api-sidecar-proxy", Port=21001),
                              Checks=[HealthCheck(Status="passing")])]


def plan(service: NodeService, values: dict) -> gateways.GatewaySnapshot:
    """Subscribe as the manager would (known datums only), then assemble."""
    datums = {key: datum(key, value) for key, value in values.items()}
    wanted = gateways.wanted_keys(service, "tok", "dc1", datums.get)
    assert set(datums) <= wanted, set(datums) - wanted
    return gateways.assemble(service.ID, service, "tok", "dc1", True, datums.get)


def ingress_snapshot(entry: dict) -> gateways.GatewaySnapshot:
    service = NodeService(ID="ingress", Service="ingress", Kind="ingress-gateway",
                          Address="10.0.0.9", Port=8443)
    return plan(service, {
        ("roots", "tok"): ROOTS, ("mesh", "tok"): None, ("leaf", "ingress", "tok"): LEAF,
        ("ingress-entry", "ingress", "tok"): entry, ("chain", "api", "dc1", "tok"): chain(),
        ("health", "api", "dc1", "tok"): API_NODES})


def test_ingress_waits_for_its_chains_then_names_things_as_consul():
    service = NodeService(ID="ingress", Service="ingress", Kind="ingress-gateway")
    entry = {"Listeners": [{"Port": 8080, "Protocol": "http", "Services": [{"Name": "api"}]}]}
    early = plan(service, {("roots", "tok"): ROOTS, ("leaf", "ingress", "tok"): LEAF,
                           ("ingress-entry", "ingress", "tok"): entry})
    assert not early.ready()  # api's chain is not known yet
    snap = ingress_snapshot({"Listeners": [
        {"Port": 8080, "Protocol": "http", "Services": [{"Name": "api",
                                                         "Hosts": ["api.example.com"]}]},
        {"Port": 9090, "Protocol": "tcp", "Services": [{"Name": "api"}]}]})
    assert snap.ready()
    built = ingress.build(snap, set(ALL))
    assert sorted(built[protos.LISTENER]) == ["api:10.0.0.9:9090", "http:10.0.0.9:8080"]
    assert list(built[protos.CLUSTER]) == [SNI]
    assert list(built[protos.ENDPOINT]) == [SNI]
    [vhost] = as_json(built[protos.ROUTE]["8080"])["virtual_hosts"]
    assert vhost["domains"] == ["api.example.com", "api.example.com:8080"]
    tcp = as_json(built[protos.LISTENER]["api:10.0.0.9:9090"])
    assert tcp["filter_chains"][0]["filters"][0]["typed_config"]["cluster"] == SNI
    assert "transport_socket" not in tcp["filter_chains"][0]


def test_ingress_wildcard_expands_from_gateway_services_rows():
    service = NodeService(ID="ingress", Service="ingress", Kind="ingress-gateway")
    entry = {"Listeners": [{"Port": 8080, "Protocol": "http", "Services": [{"Name": "*"}]}]}
    base = {("roots", "tok"): ROOTS, ("leaf", "ingress", "tok"): LEAF,
            ("ingress-entry", "ingress", "tok"): entry}
    assert not plan(service, base).ready()  # the rows are not known yet
    rows = [GatewayService(Gateway=ServiceName(Name="ingress"), Service=ServiceName(Name=name),
                           Port=8080, FromWildcard=True if name != "*" else UNSET)
            for name in ("*", "api")]
    snap = plan(service, {**base, ("gateway-services", "ingress", "tok"): rows,
                          ("chain", "api", "dc1", "tok"): chain(),
                          ("health", "api", "dc1", "tok"): API_NODES})
    assert snap.ready()
    [vhost] = as_json(ingress.build(snap, set(ALL))[protos.ROUTE]["8080"])["virtual_hosts"]
    assert (vhost["name"], vhost["domains"]) == ("api", ["api.ingress.*", "api.ingress.*:8080"])


def test_ingress_limits_and_header_changes():
    snap = ingress_snapshot({"Defaults": {"MaxConnections": 10, "MaxPendingRequests": 5},
                             "Listeners": [{"Port": 8080, "Protocol": "http", "Services": [{
                                 "Name": "api", "MaxConnections": 3,
                                 "RequestHeaders": {"Add": {"x-a": "1"}, "Set": {"x-s": "2"},
                                                    "Remove": ["x-r"]},
                                 "ResponseHeaders": {"Remove": ["server"]}}]}]})
    built = ingress.build(snap, set(ALL))
    cluster = as_json(built[protos.CLUSTER][SNI])
    assert cluster["circuit_breakers"] == {"thresholds": [{"max_connections": 3,
                                                           "max_pending_requests": 5}]}
    [vhost] = as_json(built[protos.ROUTE]["8080"])["virtual_hosts"]
    assert vhost["request_headers_to_add"] == [
        {"header": {"key": "x-a", "value": "1"}},  # APPEND_IF_EXISTS_OR_ADD: the default
        {"header": {"key": "x-s", "value": "2"},
         "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]
    assert vhost["request_headers_to_remove"] == ["x-r"]
    assert vhost["response_headers_to_remove"] == ["server"]


def test_ingress_default_domains_and_tls():
    snap = ingress_snapshot({"TLS": {"Enabled": True, "TLSMinVersion": "TLSv1_2"}, "Listeners": [
        {"Port": 8080, "Protocol": "http", "Services": [{"Name": "api"}],
         "TLS": {"TLSMaxVersion": "TLSv1_2"}}]})
    built = ingress.build(snap, set(ALL))
    [vhost] = as_json(built[protos.ROUTE]["8080"])["virtual_hosts"]
    assert vhost["domains"] == ["api.ingress.*", "api.ingress.*:8080"]
    listener = as_json(built[protos.LISTENER]["http:10.0.0.9:8080"])
    tls = listener["filter_chains"][0]["transport_socket"]["typed_config"]
    assert tls["common_tls_context"]["tls_certificates"][0]["certificate_chain"] == {
        "inline_string": "LEAF"}
    assert tls["common_tls_context"]["tls_params"] == {
        "tls_minimum_protocol_version": "TLSv1_2", "tls_maximum_protocol_version": "TLSv1_2"}


def test_terminating_gateway_chain_per_linked_service():
    service = NodeService(ID="tgw", Service="tgw", Kind="terminating-gateway",
                          Address="10.0.0.7", Port=8443)
    row = GatewayService(Gateway=ServiceName(Name="tgw"), Service=ServiceName(Name="ext"),
                         GatewayKind="terminating-gateway", CAFile="/ca.pem", SNI="ext.io")
    ext = [CheckServiceNode(Node=Node(Node="ext-node", Address="192.0.2.1"),
                            Service=NodeService(Service="ext", Port=443), Checks=[])]
    deny = [{"Kind": "service-intentions", "Name": "ext",
             "Sources": [{"Name": "web", "Action": "deny"}]}]
    values = {("roots", "tok"): ROOTS, ("mesh", "tok"): None, ("intentions", "tok"): deny,
              ("gateway-services", "tgw", "tok"): [row]}
    assert not plan(service, values).ready()  # ext's leaf and instances are not known yet
    snap = plan(service, {**values,
                          ("leaf", "ext", "tok"): IssuedCert(CertPEM="EXT", PrivateKeyPEM="K"),
                          ("service-health", "ext", "dc1", "tok"): ext,
                          ("chain", "ext", "dc1", "tok"): chain()})
    assert snap.ready()
    built = terminating.build(snap, set(ALL))
    ext_sni = f"ext.default.dc1.internal.{TD}"
    listener = as_json(built[protos.LISTENER]["default:10.0.0.7:8443"])
    [fc] = listener["filter_chains"]
    assert fc["filter_chain_match"]["server_names"] == [ext_sni]
    tls = fc["transport_socket"]["typed_config"]
    assert tls["require_client_certificate"] is True
    assert tls["common_tls_context"]["tls_certificates"][0]["certificate_chain"] == {
        "inline_string": "EXT"}
    rules = fc["filters"][0]["typed_config"]["rules"]
    assert rules["action"] == "DENY" and "svc/web" in str(rules["policies"])
    cluster = as_json(built[protos.CLUSTER][ext_sni])
    upstream_tls = cluster["transport_socket"]["typed_config"]
    assert upstream_tls["sni"] == "ext.io"
    assert upstream_tls["common_tls_context"]["validation_context"]["trusted_ca"] == {
        "filename": "/ca.pem"}
    cla = as_json(built[protos.ENDPOINT][ext_sni])
    [lb] = cla["endpoints"][0]["lb_endpoints"]
    assert lb["endpoint"]["address"]["socket_address"] == {"address": "192.0.2.1",
                                                           "port_value": 443}


def test_terminating_gateway_resolves_hostname_instances_with_dns():
    service = NodeService(ID="tgw", Service="tgw", Kind="terminating-gateway", Port=8443)
    row = GatewayService(Gateway=ServiceName(Name="tgw"), Service=ServiceName(Name="ext"))
    ext = [CheckServiceNode(Node=Node(Node="ext-node", Address="192.0.2.1"),
                            Service=NodeService(Service="ext", Address="ext.example.com",
                                                Port=80), Checks=[])]
    snap = plan(service, {("roots", "tok"): ROOTS, ("intentions", "tok"): [],
                          ("gateway-services", "tgw", "tok"): [row],
                          ("leaf", "ext", "tok"): LEAF,
                          ("service-health", "ext", "dc1", "tok"): ext,
                          ("chain", "ext", "dc1", "tok"): chain()})
    built = terminating.build(snap, set(ALL))
    ext_sni = f"ext.default.dc1.internal.{TD}"
    cluster = as_json(built[protos.CLUSTER][ext_sni])
    assert cluster["type"] == "LOGICAL_DNS" and "transport_socket" not in cluster
    [lb] = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert lb["endpoint"]["address"]["socket_address"] == {"address": "ext.example.com",
                                                           "port_value": 80}
    assert built[protos.ENDPOINT] == {}


def test_terminating_gateway_http_service_gets_l7_rbac():
    service = NodeService(ID="tgw", Service="tgw", Kind="terminating-gateway", Port=8443)
    row = GatewayService(Gateway=ServiceName(Name="tgw"), Service=ServiceName(Name="ext"))
    l7 = [{"Kind": "service-intentions", "Name": "ext", "Sources": [{"Name": "web", "Permissions": [
        {"Action": "deny", "HTTP": {"PathPrefix": "/admin"}}]}]}]
    snap = plan(service, {("roots", "tok"): ROOTS, ("intentions", "tok"): l7,
                          ("gateway-services", "tgw", "tok"): [row],
                          ("leaf", "ext", "tok"): LEAF,
                          ("service-health", "ext", "dc1", "tok"): [],
                          ("chain", "ext", "dc1", "tok"): chain("http")})
    built = terminating.build(snap, set(ALL))
    [fc] = as_json(built[protos.LISTENER]["default:0.0.0.0:8443"])["filter_chains"]
    [hcm] = fc["filters"]
    assert hcm["name"] == "envoy.filters.network.http_connection_manager"
    config = hcm["typed_config"]
    assert [f["name"] for f in config["http_filters"]] == ["envoy.filters.http.rbac",
                                                           "envoy.filters.http.router"]
    assert "/admin" in str(config["http_filters"][0]["typed_config"]["rules"])
    [route] = config["route_config"]["virtual_hosts"][0]["routes"]
    assert route["route"]["auto_host_rewrite"] is True
    assert fc["transport_socket"]["typed_config"]["common_tls_context"][
        "alpn_protocols"] == ["http/1.1"]


def test_terminating_gateway_without_links_has_no_listener():
    service = NodeService(ID="tgw", Service="tgw", Kind="terminating-gateway", Port=8443)
    snap = plan(service, {("roots", "tok"): ROOTS, ("intentions", "tok"): [],
                          ("gateway-services", "tgw", "tok"): []})
    assert snap.ready()
    assert terminating.build(snap, set(ALL))[protos.LISTENER] == {}


def test_gateway_address_flag():
    assert gateway_address("") == ("", 8443)
    assert gateway_address("10.0.0.5") == ("10.0.0.5", 8443)
    assert gateway_address("10.0.0.5:9000") == ("10.0.0.5", 9000)
    assert gateway_address("[::1]:9000") == ("::1", 9000)
    assert gateway_address("::1") == ("::1", 8443)
    for bad in ("host", "h:port", "10.0.0.1:70000"):
        try:
            gateway_address(bad)
        except EnvoyError as err:
            assert "Invalid -address" in str(err)
        else:
            raise AssertionError(bad)
