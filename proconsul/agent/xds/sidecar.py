"""The xDS resources of a ``connect-proxy`` sidecar, with Consul's names.

Listeners ``public_listener:<addr>:<port>`` (mTLS with the leaf and roots,
client certificates required, RBAC from intentions, to ``local_app``) and
``<upstream-id>:<addr>:<port>`` per upstream; clusters ``local_app`` and one
per discovery-chain target named by its SNI (EDS, SPIFFE SAN validation);
endpoints of the targets' passing connect instances; a route configuration
per HTTP-like upstream. A proxy in transparent mode also gets
``outbound_listener:127.0.0.1:<port>`` (see :func:`_outbound_listener`) and the
clusters of the upstreams intentions allow it. A gateway kind is one more module
beside this one.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import msgspec

from proconsul.agent.config.tls import CIPHER_SUITES
from proconsul.agent.proxycfg.manager import CLUSTERS, ENDPOINTS, LISTENERS, ROUTES
from proconsul.agent.proxycfg.mesh_gateway import healthy, is_ip
from proconsul.agent.proxycfg.snapshot import ConfigSnapshot, UpstreamSnapshot
from proconsul.agent.proxycfg.watches import Datum
from proconsul.agent.xds import protos, rbac, routes
from proconsul.agent.xds.protos import Resource, typed
from proconsul.lib.bexpr import FilterError, compile_filter
from proconsul.structs.catalog import HEALTH_CRITICAL, HEALTH_PASSING, CheckServiceNode

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
HTTP_LIKE = ("http", "http2", "grpc")
TLS_VERSIONS = ("TLS_AUTO", "TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3")
TLS = "envoy.extensions.transport_sockets.tls.v3."
ORIGINAL_DST = "envoy.extensions.filters.listener.original_dst.v3.OriginalDst"
ADS_SOURCE = {"ads": {}, "resource_api_version": "V3"}
HTTP2_OPTIONS = {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": typed(
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
    explicit_http_config={"http2_protocol_options": {}})}
ORIGINAL_DESTINATION = "original-destination"  # the passthrough cluster of a transparent proxy
VIRTUAL_ADDRESSES = ("consul-virtual", "virtual")  # tagged addresses an upstream is dialed at
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": typed("envoy.extensions.filters.http.router.v3.Router")}

Resources = dict[str, dict[str, Resource]]


def build(snap: ConfigSnapshot, kinds: set[str]) -> Resources:
    """The resources of the given kinds (clusters, endpoints, listeners, routes)."""
    out: Resources = {}
    if CLUSTERS in kinds:
        out[protos.CLUSTER] = _encode(protos.CLUSTER, clusters(snap))
    if ENDPOINTS in kinds:
        out[protos.ENDPOINT] = {r.name: r for r in endpoints(snap)}
    if LISTENERS in kinds:
        out[protos.LISTENER] = _encode(protos.LISTENER, listeners(snap))
    if ROUTES in kinds:
        out[protos.ROUTE] = _encode(protos.ROUTE, route_configs(snap))
    return out


def _encode(type_url: str, bodies: list[dict[str, Any] | Resource]) -> dict[str, Resource]:
    out = {}
    for body in bodies:
        r = body if isinstance(body, Resource) else protos.encode(type_url, body["name"], body)
        out[r.name] = r
    return out


# Resources whose inputs many proxies share (the same upstream, leaf and roots) are
# encoded once: keyed by the identity of their inputs, which the entry keeps alive.
_SHARED: dict[tuple, tuple[tuple, Resource]] = {}
SHARED_MAX = 50_000


def _shared(type_url: str, key: tuple, keep: tuple, body) -> Resource:
    hit = _SHARED.get(key)
    if hit is not None:
        return hit[1]
    if len(_SHARED) >= SHARED_MAX:
        _SHARED.clear()
    made = body()
    resource = protos.encode(type_url, made["name"], made)
    _SHARED[key] = (keep, resource)
    return resource


# ---- TLS ----------------------------------------------------------------------------


def tls_params(mesh: dict[str, Any], direction: str) -> dict[str, Any]:
    """``mesh`` entry ``TLS.Incoming`` / ``TLS.Outgoing`` as Envoy's ``tls_params``."""
    settings = ((mesh.get("TLS") or {}).get(direction) or {})
    params: dict[str, Any] = {}
    if settings.get("TLSMinVersion") in TLS_VERSIONS:
        params["tls_minimum_protocol_version"] = settings["TLSMinVersion"]
    if settings.get("TLSMaxVersion") in TLS_VERSIONS:
        params["tls_maximum_protocol_version"] = settings["TLSMaxVersion"]
    elif params.get("tls_minimum_protocol_version") == "TLSv1_3":
        # Envoy's client side stops at TLS 1.2 unless told otherwise
        params["tls_maximum_protocol_version"] = "TLSv1_3"
    suites = [CIPHER_SUITES[s] for s in settings.get("CipherSuites") or () if s in CIPHER_SUITES]
    if suites:
        params["cipher_suites"] = suites
    return params


def _common_tls(snap: ConfigSnapshot, sans: list[str] | None = None,
                alpn: list[str] | None = None, direction: str = "Incoming") -> dict[str, Any]:
    roots = "\n".join(r.RootCert.strip() for r in snap.roots.Roots or ()) + "\n"
    validation: dict[str, Any] = {"trusted_ca": {"inline_string": roots}}
    if sans:
        validation["match_typed_subject_alt_names"] = [
            {"san_type": "URI", "matcher": {"exact": san}} for san in sans]
    tls: dict[str, Any] = {
        "tls_params": tls_params(snap.mesh, direction),
        "tls_certificates": [{"certificate_chain": {"inline_string": snap.leaf.CertPEM},
                              "private_key": {"inline_string": snap.leaf.PrivateKeyPEM}}],
        "validation_context": validation}
    if alpn:
        tls["alpn_protocols"] = alpn
    return tls


def spiffe_service(trust_domain: str, datacenter: str, service: str,
                   namespace: str = "default") -> str:
    return f"spiffe://{trust_domain}/ns/{namespace or 'default'}/dc/{datacenter}/svc/{service}"


def _address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": int(port)}}


# ---- clusters ------------------------------------------------------------------------


def clusters(snap: ConfigSnapshot) -> list[dict[str, Any] | Resource]:
    proxy = snap.service.Proxy
    timeout_ms = int(snap.config.get("local_connect_timeout_ms", 5000))
    local: dict[str, Any] = {
        "name": "local_app", "type": "STATIC", "connect_timeout": f"{timeout_ms / 1000}s",
        "load_assignment": {"cluster_name": "local_app", "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": _address(proxy.LocalServiceAddress or "127.0.0.1",
                                              proxy.LocalServicePort or 0)}}]}]}}
    if snap.protocol in ("http2", "grpc"):
        local["typed_extension_protocol_options"] = HTTP2_OPTIONS
    out = [local]
    for path in _exposed_paths(snap):
        port = int(path.get("LocalPathPort") or 0)
        if port and port != proxy.LocalServicePort and \
                all(c["name"] != f"exposed_cluster_{port}" for c in out):
            exposed = {**local, "name": f"exposed_cluster_{port}", "load_assignment": {
                "cluster_name": f"exposed_cluster_{port}", "endpoints": [{"lb_endpoints": [
                    {"endpoint": {"address": _address(
                        proxy.LocalServiceAddress or "127.0.0.1", port)}}]}]}}
            exposed.pop("typed_extension_protocol_options", None)
            if path.get("Protocol") == "http2":
                exposed["typed_extension_protocol_options"] = HTTP2_OPTIONS
            out.append(exposed)
    if snap.transparent and not snap.mesh_destinations_only:
        out.append({"name": ORIGINAL_DESTINATION, "type": "ORIGINAL_DST",
                    "lb_policy": "CLUSTER_PROVIDED", "connect_timeout": local["connect_timeout"]})
    seen = set()
    for up in snap.all_upstreams:
        for target in (up.chain.Targets or {}).values():
            if target.SNI in seen:
                continue
            seen.add(target.SNI)
            config = msgspec.json.encode(up.upstream.Config or {}, order="deterministic")
            out.append(_shared(protos.CLUSTER, (
                "cluster", id(snap.leaf), id(snap.roots), id(target), id(up.chain),
                snap.datacenter, config, id(snap.mesh)),
                (snap.leaf, snap.roots, target, up.chain, snap.mesh),
                lambda up=up, target=target: _upstream_cluster(snap, up, target)))
    return out


def _upstream_cluster(snap: ConfigSnapshot, up: UpstreamSnapshot, target) -> dict[str, Any]:
    config = up.upstream.Config or {}
    timeout = config.get("connect_timeout_ms")
    san = spiffe_service(snap.trust_domain, target.Datacenter, target.Service,
                         target.Namespace or "default")
    cluster: dict[str, Any] = {
        "name": target.SNI, "alt_stat_name": target.SNI, "type": "EDS",
        "eds_cluster_config": {"eds_config": ADS_SOURCE},
        "connect_timeout": f"{int(timeout) / 1000}s" if timeout else
        routes.seconds(target.ConnectTimeout or "5s"),
        "circuit_breakers": _circuit_breakers(config.get("limits")),
        "outlier_detection": _outlier_detection(config.get("passive_health_check")),
        "common_lb_config": {"healthy_panic_threshold": {}},
        "transport_socket": {"name": "tls", "typed_config": typed(
            TLS + "UpstreamTlsContext",
            common_tls_context=_common_tls(snap, [san], direction="Outgoing"),
            sni=target.SNI)}}
    if (up.chain.Protocol or "tcp") in ("http2", "grpc"):
        cluster["typed_extension_protocol_options"] = HTTP2_OPTIONS
    return cluster


def _circuit_breakers(limits: Any) -> dict[str, Any]:
    """Upstream ``limits`` as Envoy's default-priority thresholds."""
    if not isinstance(limits, dict):
        return {}
    keys = {"max_connections": "max_connections",
            "max_pending_requests": "max_pending_requests",
            "max_concurrent_requests": "max_requests"}
    threshold = {envoy: int(limits[ours]) for ours, envoy in keys.items()
                 if isinstance(limits.get(ours), int | float) and limits[ours] >= 0}
    return {"thresholds": [threshold]} if threshold else {}


def _outlier_detection(check: Any) -> dict[str, Any]:
    """Upstream ``passive_health_check`` as Envoy's outlier detection."""
    if not isinstance(check, dict):
        return {}
    out: dict[str, Any] = {}
    if check.get("interval"):
        out["interval"] = routes.seconds(check["interval"])
    if isinstance(check.get("max_failures"), int | float):
        out["consecutive_5xx"] = int(check["max_failures"])
    if isinstance(check.get("enforcing_consecutive_5xx"), int | float):
        out["enforcing_consecutive_5xx"] = int(check["enforcing_consecutive_5xx"])
    if isinstance(check.get("max_ejection_percent"), int | float):
        out["max_ejection_percent"] = int(check["max_ejection_percent"])
    if check.get("base_ejection_time"):
        out["base_ejection_time"] = routes.seconds(check["base_ejection_time"])
    return out


# ---- endpoints -----------------------------------------------------------------------


def gateway_mode(snap: ConfigSnapshot, up: UpstreamSnapshot, target) -> str:
    """The upstream's ``mesh_gateway`` mode for a target, by Consul's precedence: the
    upstream's own, the proxy registration's, proxy-defaults' (Consul merges it into the
    registration, so it overrides the chain), then the target's from its chain (the
    target service's service-defaults); "" is none."""
    for config in (up.upstream.MeshGateway, snap.service.Proxy.MeshGateway,
                   snap.proxy_defaults.get("MeshGateway")):
        if isinstance(config, dict) and config.get("Mode"):
            return str(config["Mode"])
    return str(target.MeshGateway.Mode or "")


def endpoints(snap: ConfigSnapshot) -> list[Resource]:
    out, seen = [], set()
    for up in snap.all_upstreams:
        for tid, target in (up.chain.Targets or {}).items():
            if target.SNI in seen:
                continue
            seen.add(target.SNI)
            remote = isinstance(snap, ConfigSnapshot) and target.Datacenter and \
                target.Datacenter != snap.datacenter
            mode = gateway_mode(snap, up, target) if remote else ""
            if mode in ("local", "remote"):
                out.append(_through_gateways(snap, target, mode))
                continue
            datum = up.endpoints.get(tid)
            if datum is None:
                out.append(_cla(target, []))
            else:
                out.append(datum.derive(("cla", target.SNI, target.Subset.Filter or "",
                                         bool(target.Subset.OnlyPassing)),
                                        lambda value, t=target: _cla(
                                            t, getattr(value, "Nodes", value))))
    return out


def _through_gateways(snap: ConfigSnapshot, target, mode: str) -> Resource:
    """A target in another datacenter reached through mesh gateways, SNI unchanged: this
    datacenter's (``local``, their LAN addresses) or the target's (``remote``, WAN)."""
    dc = snap.datacenter if mode == "local" else target.Datacenter
    if snap.gateways is None:
        return gateway_cla(target.SNI, [], mode == "remote")
    return snap.gateways.derive(("gateway-cla", target.SNI, dc), lambda known: gateway_cla(
        target.SNI, (known or {}).get(dc) or [], mode == "remote"))


def gateway_cla(name: str, nodes: list[CheckServiceNode], wan: bool) -> Resource:
    """A load assignment whose endpoints are mesh gateways, by their LAN or WAN address
    (those addressed by hostname are left out: EDS takes IP addresses only)."""
    lb = [{"endpoint": {"address": _address(host, port)},
           "health_status": "HEALTHY" if healthy(node) else "UNHEALTHY"}
          for node in nodes for host, port in [node.best_address(wan)] if is_ip(host)]
    return protos.encode(protos.ENDPOINT, name, {
        "cluster_name": name, "endpoints": [{"lb_endpoints": lb}] if lb else []})


def _cla(target, nodes: list[CheckServiceNode]) -> Resource:
    if target.Subset.Filter:
        try:
            nodes = compile_filter(target.Subset.Filter, CheckServiceNode).apply(nodes)
        except FilterError:
            nodes = []
    lb = []
    for node in nodes:
        svc = node.Service
        statuses = {c.Status for c in node.Checks}
        warning = statuses - {HEALTH_PASSING}
        weights = svc.Weights
        weight = (weights.Warning if warning else weights.Passing) if weights else 1
        healthy = HEALTH_CRITICAL not in statuses and not (
            target.Subset.OnlyPassing and warning) and weight > 0
        lb.append({"endpoint": {"address": _address(svc.Address or node.Node.Address,
                                                    svc.Port)},
                   "health_status": "HEALTHY" if healthy else "UNHEALTHY",
                   "load_balancing_weight": min(max(int(weight), 1), 128)})
    body = {"cluster_name": target.SNI, "endpoints": [{"lb_endpoints": lb}] if lb else []}
    return protos.encode(protos.ENDPOINT, target.SNI, body)


# ---- listeners -----------------------------------------------------------------------


def listeners(snap: ConfigSnapshot) -> list[dict[str, Any] | Resource]:
    out: list[dict[str, Any] | Resource] = [_public_listener(snap)]
    for up in snap.upstreams:
        u = up.upstream
        out.append(_shared(protos.LISTENER, (
            "listener", up.id, u.LocalBindAddress, u.LocalBindPort, u.Datacenter,
            id(up.chain), snap.datacenter), (up.chain,),
            lambda up=up: _upstream_listener(snap, up)))
    out += _exposed_listeners(snap)
    if snap.transparent:
        outbound = _outbound_listener(snap)
        if outbound is not None:
            out.append(outbound)
    return out


def _rules(snap: ConfigSnapshot, http: bool) -> dict[str, Any]:
    datum: Datum = snap.intentions  # type: ignore[assignment]
    key = ("rbac", snap.destination, snap.trust_domain, snap.default_allow, http)

    def make(entries):
        hits = rbac.intentions_for(entries or [], snap.destination)
        rules = rbac.http_rules if http else rbac.network_rules
        return rules(hits, snap.trust_domain, snap.default_allow)

    return datum.derive(key, make)


def _public_listener(snap: ConfigSnapshot) -> dict[str, Any]:
    svc = snap.service
    host = snap.config.get("bind_address") or svc.Address or "0.0.0.0"
    port = int(snap.config.get("bind_port") or svc.Port)
    protocol = snap.protocol
    http = protocol in HTTP_LIKE
    if http:
        hcm = {
            "stat_prefix": "public_listener",
            "route_config": {"name": "public_listener", "virtual_hosts": [
                {"name": "public_listener", "domains": ["*"],
                 "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "local_app"}}]}]},
            "http_filters": [
                {"name": "envoy.filters.http.rbac", "typed_config": typed(
                    "envoy.extensions.filters.http.rbac.v3.RBAC",
                    rules=_rules(snap, True))},
                ROUTER],
            "tracing": {"random_sampling": {}}}
        sanitize = (snap.mesh.get("HTTP") or {}).get("SanitizeXForwardedClientCert")
        if protocol != "grpc" and not sanitize:
            hcm["forward_client_cert_details"] = "APPEND_FORWARD"
            hcm["set_current_client_cert_details"] = {
                "subject": True, "cert": True, "chain": True, "dns": True, "uri": True}
        if protocol in ("http2", "grpc"):
            hcm["http2_protocol_options"] = {}
        filters = [{"name": "envoy.filters.network.http_connection_manager",
                    "typed_config": typed("envoy.extensions.filters.network."
                                          "http_connection_manager.v3.HttpConnectionManager",
                                          **hcm)}]
        alpn = ["h2", "http/1.1"] if protocol in ("http2", "grpc") else ["http/1.1"]
    else:
        filters = [
            {"name": "envoy.filters.network.rbac", "typed_config": typed(
                "envoy.extensions.filters.network.rbac.v3.RBAC",
                rules=_rules(snap, False), stat_prefix="connect_authz")},
            {"name": "envoy.filters.network.tcp_proxy", "typed_config": typed(
                "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                stat_prefix="public_listener", cluster="local_app")}]
        alpn = None
    return {
        "name": f"public_listener:{host}:{port}", "address": _address(host, port),
        "traffic_direction": "INBOUND",
        "filter_chains": [{"filters": filters, "transport_socket": {
            "name": "tls", "typed_config": typed(
                TLS + "DownstreamTlsContext",
                common_tls_context=_common_tls(snap, alpn=alpn),
                require_client_certificate=True)}}]}


def _upstream_listener(snap: ConfigSnapshot, up: UpstreamSnapshot) -> dict[str, Any]:
    upstream = up.upstream
    host = upstream.LocalBindAddress or "127.0.0.1"
    port = int(upstream.LocalBindPort or 0)
    return {"name": f"{up.id}:{host}:{port}", "address": _address(host, port),
            "traffic_direction": "OUTBOUND",
            "filter_chains": [{"filters": _upstream_filters(snap, up)}]}


def _upstream_filters(snap: ConfigSnapshot, up: UpstreamSnapshot) -> list[dict[str, Any]]:
    """An upstream's network filters: an HCM on its routes (HTTP-like), else a TCP proxy to
    its chain's first target."""
    upstream, chain = up.upstream, up.chain
    dc = upstream.Datacenter or snap.datacenter
    stat = f"upstream.{upstream.DestinationName}.default.default.{dc}"
    if (chain.Protocol or "tcp") in HTTP_LIKE:
        hcm: dict[str, Any] = {
            "stat_prefix": stat,
            "rds": {"config_source": ADS_SOURCE, "route_config_name": up.id},
            "http_filters": [ROUTER], "tracing": {"random_sampling": {}}}
        if chain.Protocol in ("http2", "grpc"):
            hcm["http2_protocol_options"] = {}
        filters = [{"name": "envoy.filters.network.http_connection_manager",
                    "typed_config": typed("envoy.extensions.filters.network."
                                          "http_connection_manager.v3.HttpConnectionManager",
                                          **hcm)}]
    else:
        start = (chain.Nodes or {})[chain.StartNode]
        cluster = routes.target_cluster(chain, start.Resolver.Target)
        filters = [{"name": "envoy.filters.network.tcp_proxy", "typed_config": typed(
            "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            stat_prefix=stat, cluster=cluster)}]
    return filters


def _outbound_listener(snap: ConfigSnapshot) -> dict[str, Any] | None:
    """A transparent proxy's ``outbound_listener:127.0.0.1:<port>``, where the redirected
    outbound traffic lands: the ``original_dst`` listener filter restores the dialed
    address, which picks the filter chain of the upstream it belongs to (its virtual IPs,
    and with ``DialedDirectly`` its instances' addresses); anything else passes through to
    ``original-destination`` unless the mesh allows mesh destinations only. None when no
    chain would remain (Envoy refuses a listener without one)."""
    chains = []
    for up in snap.intention_upstreams:
        prefixes = _dialed_addresses(up)
        if prefixes:
            chains.append({"name": up.id, "filter_chain_match": {"prefix_ranges": [
                {"address_prefix": str(ip), "prefix_len": ip.max_prefixlen} for ip in prefixes]},
                "filters": _upstream_filters(snap, up)})
    port = snap.outbound_port
    listener: dict[str, Any] = {
        "name": f"outbound_listener:127.0.0.1:{port}", "address": _address("127.0.0.1", port),
        "traffic_direction": "OUTBOUND",
        "listener_filters": [{"name": "envoy.filters.listener.original_dst", "typed_config":
                              typed(ORIGINAL_DST)}],
        "filter_chains": chains}
    if not snap.mesh_destinations_only:
        listener["default_filter_chain"] = {"name": ORIGINAL_DESTINATION, "filters": [{
            "name": "envoy.filters.network.tcp_proxy", "typed_config": typed(
                "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                stat_prefix=f"upstream.{ORIGINAL_DESTINATION}",
                cluster=ORIGINAL_DESTINATION)}]}
    elif not chains:
        return None
    return listener


def _dialed_addresses(up: UpstreamSnapshot) -> list[IPAddress]:
    """The addresses an upstream is dialed at: its instances' virtual IPs, and their
    own addresses where the target's service-defaults set ``DialedDirectly``."""
    addresses = set()
    for tid, target in (up.chain.Targets or {}).items():
        datum = up.endpoints.get(tid)
        if datum is None:
            continue
        direct = bool(target.TransparentProxy.DialedDirectly)
        addresses |= datum.derive(("dialed", direct), lambda value, direct=direct: _addresses(
            getattr(value, "Nodes", value) or (), direct))
    return sorted(addresses, key=lambda ip: (ip.version, ip))


def _addresses(nodes: list[CheckServiceNode], direct: bool) -> frozenset[IPAddress]:
    out = set()
    for node in nodes:
        svc = node.Service
        for key in VIRTUAL_ADDRESSES:
            tagged = (svc.TaggedAddresses or {}).get(key)
            if tagged is not None and tagged.Address:
                out.add(tagged.Address)
        if direct:
            out.add(svc.Address or node.Node.Address)
    return frozenset(ipaddress.ip_address(ip) for ip in out if is_ip(ip))


def _exposed_paths(snap: ConfigSnapshot) -> list[dict[str, Any]]:
    return list((snap.service.Proxy.Expose or {}).get("Paths") or ())


def _exposed_listeners(snap: ConfigSnapshot) -> list[dict[str, Any]]:
    """``Expose.Paths``: plain-HTTP listeners for health checkers, one per path, to
    ``local_app`` or to ``exposed_cluster_<port>`` when the path is on another port."""
    out = []
    host = snap.service.Address or "0.0.0.0"
    for path in _exposed_paths(snap):
        port = int(path.get("ListenerPort") or 0)
        local_port = int(path.get("LocalPathPort") or 0)
        cluster = f"exposed_cluster_{local_port}" if local_port and \
            local_port != snap.service.Proxy.LocalServicePort else "local_app"
        name = re.sub(r"[^A-Za-z0-9]", "", path.get("Path", ""))
        route = {"match": {"path": path.get("Path", "/")}, "route": {"cluster": cluster}}
        hcm = {"stat_prefix": f"exposed_path_{name}",
               "route_config": {"name": f"exposed_path_route_{name}", "virtual_hosts": [
                   {"name": f"exposed_path_vhost_{name}", "domains": ["*"],
                    "routes": [route]}]},
               "http_filters": [ROUTER]}
        if path.get("Protocol") == "http2":
            hcm["http2_protocol_options"] = {}
        out.append({"name": f"exposed_path_{name}:{host}:{port}",
                    "address": _address(host, port), "traffic_direction": "INBOUND",
                    "filter_chains": [{"filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": typed("envoy.extensions.filters.network."
                                              "http_connection_manager.v3."
                                              "HttpConnectionManager", **hcm)}]}]})
    return out


# ---- routes ---------------------------------------------------------------------------


def route_configs(snap: ConfigSnapshot) -> list[dict[str, Any]]:
    return [routes.route_config(up.id, up.chain) for up in snap.all_upstreams
            if (up.chain.Protocol or "tcp") in HTTP_LIKE]
