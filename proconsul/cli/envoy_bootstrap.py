"""The Envoy bootstrap ``connect envoy`` writes: node, admin, the ``local_agent`` cluster
(the agent's gRPC port) and delta ADS for listeners and clusters."""

from __future__ import annotations

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


def bootstrap(a: BootstrapArgs) -> dict[str, Any]:
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
