"""The Envoy bootstrap ``connect envoy`` writes: node, admin, the ``local_agent`` cluster
(the agent's gRPC port) and delta ADS for listeners and clusters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

HTTP_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
# Stats tags pulled out of Consul-named clusters (our own patterns, Consul's tag names).
STATS_TAGS = [
    {"tag_name": "consul.destination.service_subset",
     "regex": r"^cluster\.(?:[^.]+~)?(([^.]+)\.)[^.]+\.[^.]+\.[^.]+\.internal[^.]*\.[^.]+\.consul\."},
    {"tag_name": "consul.destination.service",
     "regex": r"^cluster\.(?:[^.]+~)?(?:[^.]+\.)?(([^.]+)\.)[^.]+\.[^.]+\.internal[^.]*\.[^.]+\.consul\."},
    {"tag_name": "consul.destination.datacenter",
     "regex": r"^cluster\.(?:[^.]+~)?(?:[^.]+\.)?[^.]+\.[^.]+\.(([^.]+)\.)internal[^.]*\.[^.]+\.consul\."},
    {"tag_name": "consul.upstream.service",
     "regex": r"^(?:tcp|http)\.upstream\.(([^.]+)(?:\.[^.]+)*\.)"},
]


@dataclass
class BootstrapArgs:
    proxy_id: str
    cluster: str  # the service the proxy fronts (stats' local_cluster)
    admin_host: str
    admin_port: int
    admin_access_log: str
    grpc_host: str  # or a unix socket path when grpc_unix
    grpc_port: int
    grpc_unix: bool
    grpc_tls: bool
    grpc_ca_pem: str
    token: str
    node_name: str = ""
    proxy_config: dict[str, Any] | None = None  # the proxy's Config: envoy_* bootstrap keys
    ready_bind: str = ""  # host:port of an ``envoy_ready_listener`` (ingress gateways' check)


class BootstrapConfigError(ValueError):
    """A proxy Config key for the bootstrap is malformed (the message names it)."""


ROUTER = {"name": "envoy.filters.http.router", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
HCM = ("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
       "HttpConnectionManager")


def _bind(key: str, value: Any) -> dict[str, Any]:
    host, _, port = str(value).rpartition(":")
    if not host or not port.isdigit():
        raise BootstrapConfigError(f"{key}: want host:port, got {value!r}")
    return {"socket_address": {"address": host.strip("[]"), "port_value": int(port)}}


def _admin_listener(name: str, stat: str, address: dict, match: dict,
                    rewrite: str | None) -> dict[str, Any]:
    route: dict[str, Any] = {"cluster": "self_admin"}
    if rewrite:
        route["prefix_rewrite"] = rewrite
    return {"name": name, "address": address, "filter_chains": [{"filters": [{
        "name": "envoy.filters.network.http_connection_manager", "typed_config": {
            "@type": HCM, "stat_prefix": stat, "codec_type": "HTTP1",
            "route_config": {"name": "self_admin_route", "virtual_hosts": [{
                "name": "self_admin", "domains": ["*"], "routes": [
                    {"match": match, "route": route},
                    {"match": {"prefix": "/"}, "direct_response": {"status": 404}}]}]},
            "http_filters": [ROUTER]}}]}]}


def _json_list(key: str, text: Any) -> list[dict[str, Any]]:
    """``envoy_extra_static_*_json``: one JSON object or several separated by commas."""
    try:
        value = json.loads(f"[{text}]")
    except ValueError as err:
        raise BootstrapConfigError(f"{key}: invalid JSON: {err}") from None
    if not all(isinstance(v, dict) for v in value):
        raise BootstrapConfigError(f"{key}: want JSON objects")
    return value


def apply_proxy_config(doc: dict[str, Any], a: BootstrapArgs) -> None:
    """The bootstrap knobs of the proxy's Config (Consul's ``envoy_*`` keys we act on)."""
    config = a.proxy_config or {}
    statics = doc["static_resources"]
    admin = {"socket_address": {"address": a.admin_host, "port_value": a.admin_port}}
    listeners = []
    if config.get("envoy_prometheus_bind_addr"):
        listeners.append(_admin_listener(
            "envoy_prometheus_metrics_listener", "envoy_prometheus_metrics",
            _bind("envoy_prometheus_bind_addr", config["envoy_prometheus_bind_addr"]),
            {"path": "/metrics"}, "/stats/prometheus"))
    if config.get("envoy_stats_bind_addr"):
        listeners.append(_admin_listener(
            "envoy_metrics_listener", "envoy_metrics",
            _bind("envoy_stats_bind_addr", config["envoy_stats_bind_addr"]),
            {"prefix": "/stats"}, None))
    if a.ready_bind:
        listeners.append(_admin_listener("envoy_ready_listener", "envoy_ready",
                                         _bind("ready address", a.ready_bind),
                                         {"path": "/ready"}, None))
    if listeners:
        statics["clusters"].append({
            "name": "self_admin", "ignore_health_on_host_removal": False,
            "connect_timeout": "5s", "type": "STATIC", "load_assignment": {
                "cluster_name": "self_admin", "endpoints": [{"lb_endpoints": [
                    {"endpoint": {"address": admin}}]}]}})
    if config.get("envoy_extra_static_clusters_json"):
        statics["clusters"] += _json_list("envoy_extra_static_clusters_json",
                                          config["envoy_extra_static_clusters_json"])
    if config.get("envoy_extra_static_listeners_json"):
        listeners += _json_list("envoy_extra_static_listeners_json",
                                config["envoy_extra_static_listeners_json"])
    if listeners:
        statics["listeners"] = listeners
    if config.get("envoy_stats_flush_interval"):
        doc["stats_flush_interval"] = str(config["envoy_stats_flush_interval"])


def bootstrap(a: BootstrapArgs) -> dict[str, Any]:
    """The bootstrap document; BootstrapConfigError for a malformed ``envoy_*`` key."""
    doc = _base(a)
    apply_proxy_config(doc, a)
    return doc


def _base(a: BootstrapArgs) -> dict[str, Any]:
    if a.grpc_unix:
        address: dict[str, Any] = {"pipe": {"path": a.grpc_host}}
    else:
        address = {"socket_address": {"address": a.grpc_host, "port_value": a.grpc_port}}
    local_agent: dict[str, Any] = {
        "name": "local_agent", "ignore_health_on_host_removal": False,
        "connect_timeout": "1s", "type": "STATIC",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": HTTP_OPTIONS, "explicit_http_config": {"http2_protocol_options": {}}}},
        "load_assignment": {"cluster_name": "local_agent", "endpoints": [
            {"lb_endpoints": [{"endpoint": {"address": address}}]}]}}
    if a.grpc_tls:
        context: dict[str, Any] = {}
        if a.grpc_ca_pem:
            context["validation_context"] = {"trusted_ca": {"inline_string": a.grpc_ca_pem}}
        local_agent["transport_socket"] = {"name": "tls", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
                     "UpstreamTlsContext", "common_tls_context": context}}
    metadata = {"namespace": "default", "partition": "default"}
    if a.node_name:
        metadata["node_name"] = a.node_name
    ads = {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"}
    return {
        "admin": {
            "access_log": [{"name": "envoy.access_loggers.file", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3."
                         "FileAccessLog", "path": a.admin_access_log}}],
            "address": {"socket_address": {"address": a.admin_host,
                                           "port_value": a.admin_port}}},
        "node": {"cluster": a.cluster, "id": a.proxy_id, "metadata": metadata},
        "layered_runtime": {"layers": [{"name": "base", "static_layer": {
            "re2.max_program_size.error_level": 1048576}}]},
        "static_resources": {"clusters": [local_agent]},
        "stats_config": {"stats_tags": [
            *STATS_TAGS, {"tag_name": "local_cluster", "fixed_value": a.cluster}],
            "use_all_default_tags": True},
        "dynamic_resources": {
            "lds_config": ads, "cds_config": ads,
            "ads_config": {"api_type": "DELTA_GRPC", "transport_api_version": "V3",
                           "grpc_services": {"initial_metadata": [
                               {"key": "x-consul-token", "value": a.token}],
                               "envoy_grpc": {"cluster_name": "local_agent"}}}},
    }
