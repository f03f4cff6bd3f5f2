"""What this cluster publishes on a peering's stream, read from the state store with a
watch set (the stream re-reads when it fires): the services exported to that peer
with their instances and health, the CA roots and, from an acceptor, the servers'
peering addresses.

An exported mesh service (one with sidecars, Connect-native instances or a discovery
chain) also gets ``<name>-sidecar-proxy``: as Consul's, synthetic proxies, one per local
mesh gateway instance at the gateway's addresses, carrying in ``Connect.PeerMeta`` the
SNI and SPIFFE IDs the importing side's proxies dial through that gateway. Without a
mesh gateway (or once the service leaves the mesh) the list is empty: the peer cannot
reach the service, and drops the proxies it had."""

from __future__ import annotations

from collections.abc import Sequence

from proconsul.server.connect.ca import indexed_roots
from proconsul.server.peering.stream import resources
from proconsul.state.node_dump import service_dump
from proconsul.state.store import Store
from proconsul.state.watch import WatchSet
from proconsul.structs import pbpeerstream as pb
from proconsul.structs.service_kinds import MESH_GATEWAY

__all__ = ["Resource", "exported_resources"]

Resource = tuple[str, str, pb.Any]  # (ResourceURL, ResourceID, payload)


def exported_resources(store: Store, ws: WatchSet | None, peer_name: str, datacenter: str,
                       server_addresses: Sequence[str] = ()) -> list[Resource]:
    """Everything ``peer_name`` (our name for the peering) gets from ``datacenter`` now."""
    _, exported = store.exported_services_for_peer(ws, peer_name)
    names = list(exported.Services or ())
    out: list[Resource] = [(pb.TYPE_URL_EXPORTED_SERVICE_LIST, "",
                            resources.encode_service_list(names))]
    for name in names:
        _, rows = store.check_service_nodes(ws, name)
        out.append((pb.TYPE_URL_EXPORTED_SERVICE, name, resources.encode_service(
            [resources.exported_instance(row) for row in rows
             if resources.exportable(row)])))
    _, roots = store.ca_roots_read(ws)
    config = store.ca_config
    trust_domain = ""
    if roots and config is not None and config.ClusterID:
        built = indexed_roots(roots, config.ClusterID, 0)
        trust_domain = built.TrustDomain
        out.append((pb.TYPE_URL_PEERING_TRUST_BUNDLE, "", resources.encode_trust_bundle(
            trust_domain, [r.RootCert for r in built.Roots or ()])))
    mesh = set(exported.ConnectServices or ())
    gateways = service_dump(store, ws, MESH_GATEWAY)[1] if mesh and trust_domain else []
    for name in names:  # none (sent, so the peer drops any it has) when not in the mesh
        proxies = []
        if name in mesh and gateways:
            site = resources.MeshSite(peer_name, datacenter, trust_domain,
                                      store.service_protocol(name, ws))
            proxies = resources.synthetic_proxies(name, site, gateways)
        out.append((pb.TYPE_URL_EXPORTED_SERVICE, name + resources.PROXY_SUFFIX,
                    resources.encode_service(proxies)))
    if server_addresses:
        out.append((pb.TYPE_URL_PEERING_SERVER_ADDRESSES, "",
                    resources.encode_addresses(list(server_addresses))))
    return out
