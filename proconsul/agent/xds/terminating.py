"""The xDS resources of a ``terminating-gateway`` (Consul's names).

One listener ``default:<addr>:<port>`` on the gateway's address with a TLS
inspector and a filter chain per linked service, matched on the SNI mesh
clients use for it (``<svc>.default.<dc>.internal.<trust-domain>``): the
gateway answers with that service's own leaf, requires a client certificate,
applies the service's intentions (network RBAC; for an HTTP-like service an HTTP
connection manager with L7 RBAC and host rewriting) and proxies to a cluster of the
same name whose endpoints are the service's catalog instances, reached in
plaintext or, with ``CAFile``/``CertFile``/``KeyFile``/``SNI`` on the link, TLS.
Instances addressed by hostname make a ``LOGICAL_DNS`` cluster instead (Envoy
resolves the name; the first such instance is used, as Consul does).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from proconsul.agent.proxycfg.gateways import GatewaySnapshot, LinkedService
from proconsul.agent.proxycfg.manager import CLUSTERS, ENDPOINTS, LISTENERS
from proconsul.agent.xds import protos, rbac, sidecar
from proconsul.agent.xds.protos import typed
from proconsul.structs.catalog import HEALTH_CRITICAL

TLS_INSPECTOR = {"name": "envoy.filters.listener.tls_inspector", "typed_config": typed(
    "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector")}


def sni(snap: GatewaySnapshot, service: str) -> str:
    return f"{service}.default.{snap.datacenter}.internal.{snap.trust_domain}"


def build(snap: GatewaySnapshot, kinds: set[str]) -> sidecar.Resources:
    """The resources of the given kinds (clusters, endpoints, listeners; no routes)."""
    out: sidecar.Resources = {}
    if CLUSTERS in kinds:
        out[protos.CLUSTER] = sidecar._encode(
            protos.CLUSTER, [_cluster(snap, s) for s in snap.linked])
    if ENDPOINTS in kinds:
        out[protos.ENDPOINT] = {r.name: r for r in (_cla(snap, s) for s in snap.linked
                                                    if not _hostname(s))}
    if LISTENERS in kinds:
        out[protos.LISTENER] = sidecar._encode(
            protos.LISTENER, [_listener(snap)] if snap.linked else [])
    return out


def _address_of(node) -> str:
    return node.Service.Address or node.Node.Address


def _hostname(linked: LinkedService):
    """The first instance addressed by a hostname rather than an IP, if any."""
    for node in linked.instances.value or ():
        try:
            ipaddress.ip_address(_address_of(node))
        except ValueError:
            return node
    return None


def _cluster(snap: GatewaySnapshot, linked: LinkedService) -> dict[str, Any]:
    name = sni(snap, linked.name)
    cluster: dict[str, Any] = {"name": name, "alt_stat_name": name, "connect_timeout": "5s"}
    by_name = _hostname(linked)
    if by_name is None:
        cluster.update(type="EDS", eds_cluster_config={"eds_config": sidecar.ADS_SOURCE})
    else:
        cluster.update(type="LOGICAL_DNS", dns_lookup_family="V4_ONLY", load_assignment={
            "cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {
                "address": sidecar._address(_address_of(by_name), by_name.Service.Port)}}]}]})
    row = linked.row
    if linked.protocol in ("http2", "grpc"):
        cluster["typed_extension_protocol_options"] = sidecar.HTTP2_OPTIONS
    if row.CAFile or row.CertFile:
        common: dict[str, Any] = {}
        if row.CAFile:
            common["validation_context"] = {"trusted_ca": {"filename": row.CAFile}}
        if row.CertFile and row.KeyFile:
            common["tls_certificates"] = [{"certificate_chain": {"filename": row.CertFile},
                                           "private_key": {"filename": row.KeyFile}}]
        tls: dict[str, Any] = {"common_tls_context": common}
        if row.SNI:
            tls["sni"] = row.SNI
        cluster["transport_socket"] = {"name": "tls", "typed_config": typed(
            sidecar.TLS + "UpstreamTlsContext", **tls)}
    return cluster


def _cla(snap: GatewaySnapshot, linked: LinkedService):
    name = sni(snap, linked.name)

    def make(nodes) -> protos.Resource:
        lb = [{"endpoint": {"address": sidecar._address(_address_of(node),
                                                         node.Service.Port)},
               "health_status": "UNHEALTHY" if any(
                   c.Status == HEALTH_CRITICAL for c in node.Checks) else "HEALTHY"}
              for node in nodes or ()]
        return protos.encode(protos.ENDPOINT, name, {
            "cluster_name": name, "endpoints": [{"lb_endpoints": lb}] if lb else []})

    return linked.instances.derive(("terminating-cla", name), make)


def _listener(snap: GatewaySnapshot) -> dict[str, Any]:
    host = snap.service.Address or "0.0.0.0"
    port = snap.service.Port
    entries = snap.intentions.value or []
    chains = []
    for linked in snap.linked:
        name = sni(snap, linked.name)
        intentions = rbac.intentions_for(entries, linked.name)
        alpn = None
        if linked.protocol in sidecar.HTTP_LIKE:
            filters = [_http_filter(snap, linked, name, intentions)]
            alpn = ["h2", "http/1.1"] if linked.protocol in ("http2", "grpc") else \
                ["http/1.1"]
        else:
            rules = rbac.network_rules(intentions, snap.trust_domain, snap.default_allow)
            filters = [
                {"name": "envoy.filters.network.rbac", "typed_config": typed(
                    "envoy.extensions.filters.network.rbac.v3.RBAC", rules=rules,
                    stat_prefix="connect_authz")},
                {"name": "envoy.filters.network.tcp_proxy", "typed_config": typed(
                    "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                    stat_prefix=f"terminating_gateway.{linked.name}", cluster=name)}]
        common = sidecar._common_tls(_AsService(snap, linked.leaf), alpn=alpn)
        chains.append({
            "filter_chain_match": {"server_names": [name]},
            "filters": filters,
            "transport_socket": {"name": "tls", "typed_config": typed(
                sidecar.TLS + "DownstreamTlsContext", common_tls_context=common,
                require_client_certificate=True)}})
    return {"name": f"default:{host}:{port}", "address": sidecar._address(host, port),
            "traffic_direction": "INBOUND", "listener_filters": [TLS_INSPECTOR],
            "filter_chains": chains}


def _http_filter(snap: GatewaySnapshot, linked: LinkedService, cluster: str,
                 intentions: list) -> dict[str, Any]:
    """An HTTP-like linked service: L7 RBAC from its intentions, then to its cluster with
    the Host rewritten to the external endpoint's hostname (when it has one)."""
    rules = rbac.http_rules(intentions, snap.trust_domain, snap.default_allow)
    hcm: dict[str, Any] = {
        "stat_prefix": f"terminating_gateway.{linked.name}",
        "route_config": {"name": linked.name, "virtual_hosts": [{
            "name": linked.name, "domains": ["*"], "routes": [{
                "match": {"prefix": "/"},
                "route": {"cluster": cluster, "auto_host_rewrite": True}}]}]},
        "http_filters": [
            {"name": "envoy.filters.http.rbac", "typed_config": typed(
                "envoy.extensions.filters.http.rbac.v3.RBAC", rules=rules)},
            sidecar.ROUTER]}
    if linked.protocol in ("http2", "grpc"):
        hcm["http2_protocol_options"] = {}
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": typed(
        "envoy.extensions.filters.network.http_connection_manager.v3."
        "HttpConnectionManager", **hcm)}


class _AsService:
    """The gateway seen as one linked service: its roots, mesh TLS settings and that leaf."""

    def __init__(self, snap: GatewaySnapshot, leaf) -> None:
        self.roots, self.mesh, self.leaf = snap.roots, snap.mesh, leaf
