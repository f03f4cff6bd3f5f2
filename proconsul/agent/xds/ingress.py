"""The xDS resources of an ``ingress-gateway``, from its config entry (Consul's names).

One listener per entry listener on the gateway's address: ``http:<addr>:<port>``
(an HTTP connection manager whose route configuration ``<port>`` has a virtual
host per service, its ``Hosts`` or ``<svc>.ingress.*``, routed through the
service's discovery chain) or ``<svc>:<addr>:<port>`` for tcp (one service).
Clusters and endpoints are the chains' targets, reached with the gateway's own
leaf, as a sidecar reaches its upstreams. With TLS enabled in the entry (or the
listener) the listener presents the gateway's leaf, with the TLS versions and
cipher suites set there. A service's connection limits (or the entry's
``Defaults``) become its cluster's circuit breakers, and its ``RequestHeaders``/
``ResponseHeaders`` its virtual host's header changes.
"""

from __future__ import annotations

from typing import Any

from proconsul.agent.proxycfg.gateways import GatewaySnapshot, IngressListener
from proconsul.agent.proxycfg.manager import CLUSTERS, ENDPOINTS, LISTENERS, ROUTES
from proconsul.agent.xds import protos, routes, sidecar
from proconsul.agent.xds.protos import typed

HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def build(snap: GatewaySnapshot, kinds: set[str]) -> sidecar.Resources:
    """The resources of the given kinds (clusters, endpoints, listeners, routes)."""
    ups = [up for listener in snap.listeners for _, up in listener.services]
    out: sidecar.Resources = {}
    if CLUSTERS in kinds:
        seen: dict[str, dict[str, Any]] = {}
        for listener in snap.listeners:
            for svc, up in listener.services:
                for target in (up.chain.Targets or {}).values():
                    if target.SNI not in seen:
                        cluster = seen[target.SNI] = sidecar._upstream_cluster(snap, up, target)
                        cluster["circuit_breakers"] = _limits(snap.defaults, svc)
        out[protos.CLUSTER] = sidecar._encode(protos.CLUSTER, list(seen.values()))
    if ENDPOINTS in kinds:
        out[protos.ENDPOINT] = {r.name: r for r in sidecar.endpoints(_Upstreams(ups))}
    if LISTENERS in kinds:
        out[protos.LISTENER] = sidecar._encode(
            protos.LISTENER, [_listener(snap, lst) for lst in snap.listeners
                              if lst.services])
    if ROUTES in kinds:
        out[protos.ROUTE] = sidecar._encode(
            protos.ROUTE, [_route_config(lst) for lst in snap.listeners
                           if lst.services and lst.protocol in sidecar.HTTP_LIKE])
    return out


class _Upstreams:
    """The sidecar endpoint builder's view of the gateway: its upstreams."""

    def __init__(self, upstreams) -> None:
        self.all_upstreams = upstreams


def _limits(defaults: dict[str, Any], service: dict[str, Any]) -> dict[str, Any]:
    """A service's ``MaxConnections``/``MaxPendingRequests``/``MaxConcurrentRequests``
    (else the entry's ``Defaults``) as the cluster's circuit-breaker thresholds."""
    keys = {"MaxConnections": "max_connections", "MaxPendingRequests": "max_pending_requests",
            "MaxConcurrentRequests": "max_requests"}
    threshold = {}
    for ours, envoy in keys.items():
        value = service.get(ours) or defaults.get(ours)
        if isinstance(value, int) and value > 0:
            threshold[envoy] = value
    return {"thresholds": [threshold]} if threshold else {}


def _headers(spec: dict[str, Any] | None, direction: str) -> dict[str, Any]:
    """``RequestHeaders``/``ResponseHeaders`` (Add, Set, Remove) for a virtual host."""
    spec = spec or {}
    add = [{"header": {"key": k, "value": v}, "append_action": "APPEND_IF_EXISTS_OR_ADD"}
           for k, v in (spec.get("Add") or {}).items()]
    add += [{"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
            for k, v in (spec.get("Set") or {}).items()]
    out: dict[str, Any] = {}
    if add:
        out[f"{direction}_headers_to_add"] = add
    if spec.get("Remove"):
        out[f"{direction}_headers_to_remove"] = list(spec["Remove"])
    return out


def domains(service: dict[str, Any], port: int) -> list[str]:
    """A service's virtual-host domains, each also with ``:<port>``: its ``Hosts``, else
    ``<svc>.ingress.*`` (Consul's)."""
    hosts = list(service.get("Hosts") or ()) or [f"{service['Name']}.ingress.*"]
    return [d for host in hosts for d in (host, f"{host}:{port}")]


def _route_config(listener: IngressListener) -> dict[str, Any]:
    name = str(listener.port)
    return {"name": name, "validate_clusters": False, "virtual_hosts": [
        {"name": svc["Name"], "domains": domains(svc, listener.port),
         "routes": routes.chain_routes(up.chain),
         **_headers(svc.get("RequestHeaders"), "request"),
         **_headers(svc.get("ResponseHeaders"), "response")}
        for svc, up in listener.services]}


def _listener(snap: GatewaySnapshot, listener: IngressListener) -> dict[str, Any]:
    host = snap.service.Address or "0.0.0.0"
    if listener.protocol in sidecar.HTTP_LIKE:
        name = f"{listener.protocol}:{host}:{listener.port}"
        hcm: dict[str, Any] = {
            "stat_prefix": f"ingress_upstream_{listener.port}",
            "rds": {"config_source": sidecar.ADS_SOURCE,
                    "route_config_name": str(listener.port)},
            "http_filters": [sidecar.ROUTER], "tracing": {"random_sampling": {}}}
        if listener.protocol in ("http2", "grpc"):
            hcm["http2_protocol_options"] = {}
        filters = [{"name": "envoy.filters.network.http_connection_manager",
                    "typed_config": typed(HCM, **hcm)}]
    else:
        svc, up = listener.services[0]
        start = (up.chain.Nodes or {})[up.chain.StartNode]
        name = f"{svc['Name']}:{host}:{listener.port}"
        filters = [{"name": "envoy.filters.network.tcp_proxy", "typed_config": typed(
            "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            stat_prefix=f"upstream.{svc['Name']}.default.default.{snap.datacenter}",
            cluster=routes.target_cluster(up.chain, start.Resolver.Target))}]
    chain: dict[str, Any] = {"filters": filters}
    if listener.tls:
        chain["transport_socket"] = {"name": "tls", "typed_config": typed(
            sidecar.TLS + "DownstreamTlsContext", common_tls_context={
                "tls_params": sidecar.tls_params({"TLS": {"Incoming": listener.tls}},
                                                 "Incoming"),
                "tls_certificates": [{
                    "certificate_chain": {"inline_string": snap.leaf.CertPEM},
                    "private_key": {"inline_string": snap.leaf.PrivateKeyPEM}}]},
            require_client_certificate=False)}
    return {"name": name, "address": sidecar._address(host, listener.port),
            "traffic_direction": "OUTBOUND", "filter_chains": [chain]}
