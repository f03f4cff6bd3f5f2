"""The xDS resources of a ``mesh-gateway`` (Consul's names); it never terminates TLS.

Listeners: ``default:<addr>:<port>`` on the service address (unless the proxy config
says ``envoy_gateway_no_default_bind``), ``<tag>:<addr>:<port>`` per tagged address
with ``envoy_gateway_bind_tagged_addresses`` and ``<name>:<addr>:<port>`` per
``envoy_gateway_bind_addresses`` entry, one per address. Each has a TLS inspector
and routes by SNI alone: ``*.<dc>.internal.<td>`` to the cluster
``<dc>.internal.<td>`` of each other datacenter (its gateways' WAN addresses), and
anything else through ``sni_cluster`` to the cluster named by the SNI: a local
service ``<svc>.default.<dc>.internal.<td>`` (its connect endpoints) or one of its
resolver subsets. With the WAN-federation meta it also routes ``*.server.<dc>.
<domain>`` of each other datacenter to that datacenter's gateways, each live local
server's ``<node>.server.<dc>.<domain>`` to that server, and ``server.<dc>.
<domain>`` to all live local servers.
"""

from __future__ import annotations

from typing import Any

import msgspec

from proconsul.agent.proxycfg.manager import CLUSTERS, ENDPOINTS, LISTENERS
from proconsul.agent.proxycfg.mesh_gateway import (
    LocalService,
    MeshGatewaySnapshot,
    is_ip,
)
from proconsul.agent.xds import protos, sidecar
from proconsul.agent.xds.protos import typed
from proconsul.agent.xds.terminating import TLS_INSPECTOR
from proconsul.structs.catalog import CheckServiceNode
from proconsul.structs.config_entries.chain import ServiceResolverSubset
from proconsul.structs.discovery_chain import DiscoveryTarget

TCP_PROXY = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
SNI_CLUSTER = {"name": "envoy.filters.network.sni_cluster", "typed_config": typed(
    "envoy.extensions.filters.network.sni_cluster.v3.SniCluster")}


def build(snap: MeshGatewaySnapshot, kinds: set[str]) -> sidecar.Resources:
    """The resources of the given kinds (clusters, endpoints, listeners; no routes)."""
    out: sidecar.Resources = {}
    if CLUSTERS in kinds:
        out[protos.CLUSTER] = sidecar._encode(protos.CLUSTER, clusters(snap))
    if ENDPOINTS in kinds:
        out[protos.ENDPOINT] = {r.name: r for r in endpoints(snap)}
    if LISTENERS in kinds:
        out[protos.LISTENER] = sidecar._encode(protos.LISTENER, listeners(snap))
    return out


def dc_sni(dc: str, trust_domain: str) -> str:
    """The name of a datacenter's gateways as mesh traffic addresses them."""
    return f"{dc}.internal.{trust_domain}"


def service_sni(snap: MeshGatewaySnapshot, service: str, subset: str = "") -> str:
    prefix = f"{subset}." if subset else ""
    return f"{prefix}{service}.default.{snap.datacenter}.internal.{snap.trust_domain}"


def _server_address(node: CheckServiceNode) -> tuple[str, int]:
    return node.Service.Address or node.Node.Address, node.Service.Port


def _subset_targets(snap: MeshGatewaySnapshot, svc: LocalService) -> list[DiscoveryTarget]:
    """The service's default target and one per resolver subset, named by their SNI."""
    out = [DiscoveryTarget(SNI=service_sni(snap, svc.name))]
    for name, subset in sorted(svc.subsets.items()):
        try:
            parsed = msgspec.convert(subset or {}, ServiceResolverSubset)
        except msgspec.ValidationError:
            continue
        out.append(DiscoveryTarget(SNI=service_sni(snap, svc.name, name), Subset=parsed))
    return out


def _has_endpoints(svc: LocalService) -> bool:
    value = svc.endpoints.value
    return bool(getattr(value, "Nodes", value))


# ---- clusters ---------------------------------------------------------------------------


def _connect_timeout(snap: MeshGatewaySnapshot) -> str:
    """The proxy config's ``connect_timeout_ms`` (Consul's default 5000) as Envoy's."""
    value = (snap.service.Proxy.Config or {}).get("connect_timeout_ms")
    try:
        millis = int(value) if value is not None else 5000
    except (TypeError, ValueError):
        millis = 5000
    return f"{max(millis, 1) / 1000}s"


def clusters(snap: MeshGatewaySnapshot) -> list[dict[str, Any]]:
    out = []
    timeout = _connect_timeout(snap)
    remote = snap.remote_gateways()
    for dc, nodes in remote.items():
        out.append(_gateway_cluster(dc_sni(dc, snap.trust_domain), nodes, timeout))
    if snap.wan_federation:
        for dc, nodes in remote.items():
            out.append(_gateway_cluster(snap.server_sni(dc), nodes, timeout))
        out.append(_eds_cluster(snap.server_sni(snap.datacenter), timeout))
        for node in snap.local_servers():
            out.append(_eds_cluster(snap.server_sni(snap.datacenter, node.Node.Node), timeout))
    for svc in snap.services:
        if _has_endpoints(svc):
            out += [_eds_cluster(target.SNI, timeout) for target in _subset_targets(snap, svc)]
    return out


def _eds_cluster(name: str, timeout: str) -> dict[str, Any]:
    return {"name": name, "alt_stat_name": name, "type": "EDS", "connect_timeout": timeout,
            "eds_cluster_config": {"eds_config": sidecar.ADS_SOURCE},
            "outlier_detection": {}}


def _gateway_cluster(name: str, nodes: list[CheckServiceNode], timeout: str) -> dict[str, Any]:
    """Another datacenter's gateways: EDS, or LOGICAL_DNS (the first one) when they are
    addressed by hostname, as Consul does."""
    for node in nodes:
        host, port = node.best_address(wan=True)
        if not is_ip(host):
            return {"name": name, "alt_stat_name": name, "type": "LOGICAL_DNS",
                    "connect_timeout": timeout, "dns_lookup_family": "V4_ONLY",
                    "dns_refresh_rate": "10s", "outlier_detection": {},
                    "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
                        {"endpoint": {"address": sidecar._address(host, port)}}]}]}}
    return _eds_cluster(name, timeout)


# ---- endpoints --------------------------------------------------------------------------


def endpoints(snap: MeshGatewaySnapshot) -> list[protos.Resource]:
    out = []
    remote = snap.remote_gateways()
    for dc, nodes in remote.items():
        if all(is_ip(n.best_address(wan=True)[0]) for n in nodes):
            out.append(sidecar.gateway_cla(dc_sni(dc, snap.trust_domain), nodes, wan=True))
            if snap.wan_federation:
                out.append(sidecar.gateway_cla(snap.server_sni(dc), nodes, wan=True))
    if snap.wan_federation:
        servers = snap.local_servers()
        out.append(_servers_cla(snap.server_sni(snap.datacenter), servers))
        for node in servers:
            out.append(_servers_cla(snap.server_sni(snap.datacenter, node.Node.Node), [node]))
    for svc in snap.services:
        if not _has_endpoints(svc):
            continue
        for target in _subset_targets(snap, svc):
            out.append(svc.endpoints.derive(
                ("cla", target.SNI, target.Subset.Filter or "", bool(target.Subset.OnlyPassing)),
                lambda value, t=target: sidecar._cla(t, getattr(value, "Nodes", value))))
    return out


def _servers_cla(name: str, servers: list[CheckServiceNode]) -> protos.Resource:
    lb = [{"endpoint": {"address": sidecar._address(*_server_address(node))}}
          for node in servers]
    return protos.encode(protos.ENDPOINT, name, {
        "cluster_name": name, "endpoints": [{"lb_endpoints": lb}] if lb else []})


# ---- listeners --------------------------------------------------------------------------


def _gateway_config(config: dict[str, Any], key: str) -> Any:
    """A gateway proxy-config key, or its older ``envoy_mesh_gateway_`` name."""
    value = config.get(f"envoy_gateway_{key}")
    return config.get(f"envoy_mesh_gateway_{key}") if value is None else value


def _field(addr: dict[str, Any], name: str) -> Any:
    """A bind address's ``Address``/``Port``, in either case (Consul decodes weakly)."""
    return addr.get(name) if addr.get(name) is not None else addr.get(name.lower())


def binds(snap: MeshGatewaySnapshot) -> list[tuple[str, str, int]]:
    """(name, address, port) of each listener, as Consul picks them: by name, one per
    address."""
    svc = snap.service
    config = svc.Proxy.Config or {}
    wanted: list[tuple[str, str, int]] = []
    if not _gateway_config(config, "no_default_bind"):
        wanted.append(("default", svc.Address or "0.0.0.0", svc.Port))
    if _gateway_config(config, "bind_tagged_addresses"):
        wanted += [(name, addr.Address, addr.Port or svc.Port)
                   for name, addr in (svc.TaggedAddresses or {}).items() if addr.Address]
    bind_addresses = _gateway_config(config, "bind_addresses")
    for name, addr in (bind_addresses if isinstance(bind_addresses, dict) else {}).items():
        if isinstance(addr, dict) and _field(addr, "Address"):
            wanted.append((name, str(_field(addr, "Address")),
                           int(_field(addr, "Port") or svc.Port)))
    out, seen = [], set()
    for name, host, port in sorted(wanted):
        if (host, port) not in seen:
            seen.add((host, port))
            out.append((name, host, port))
    return out


def listeners(snap: MeshGatewaySnapshot) -> list[dict[str, Any]]:
    chains = _filter_chains(snap)
    return [{"name": f"{name}:{host}:{port}", "address": sidecar._address(host, port),
             "listener_filters": [TLS_INSPECTOR],
             "filter_chains": chains} for name, host, port in binds(snap)]


def _tcp_proxy(cluster: str, stat_prefix: str) -> dict[str, Any]:
    return {"name": "envoy.filters.network.tcp_proxy",
            "typed_config": typed(TCP_PROXY, stat_prefix=stat_prefix, cluster=cluster)}


def _filter_chains(snap: MeshGatewaySnapshot) -> list[dict[str, Any]]:
    remote = snap.remote_gateways()
    chains = []
    for dc in remote:
        cluster = dc_sni(dc, snap.trust_domain)
        chains.append({"filter_chain_match": {"server_names": [f"*.{cluster}"]},
                       "filters": [_tcp_proxy(cluster, f"mesh_gateway_remote.default.{dc}")]})
    if snap.wan_federation:
        for dc in remote:
            cluster = snap.server_sni(dc)
            chains.append({"filter_chain_match": {"server_names": [f"*.{cluster}"]},
                           "filters": [_tcp_proxy(cluster,
                                                  f"mesh_gateway_remote.default.{dc}")]})
        for node in snap.local_servers():
            cluster = snap.server_sni(snap.datacenter, node.Node.Node)
            chains.append({"filter_chain_match": {"server_names": [cluster]},
                           "filters": [_tcp_proxy(cluster, "mesh_gateway_local_server."
                                                  f"default.{snap.datacenter}")]})
    chains.append({"filters": [SNI_CLUSTER, _tcp_proxy("", "mesh_gateway_local.default")]})
    return chains
