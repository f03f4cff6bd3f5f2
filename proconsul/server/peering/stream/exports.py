"""What this cluster publishes on a peering's stream, read from the state store with a
watch set (the stream re-reads when it fires): the services exported to that peer
with their instances and health, the CA roots and, from an acceptor, the servers'
peering addresses."""

from __future__ import annotations

from collections.abc import Sequence

from proconsul.server.connect.ca import indexed_roots
from proconsul.server.peering.stream import resources
from proconsul.state.store import Store
from proconsul.state.watch import WatchSet
from proconsul.structs import pbpeerstream as pb

__all__ = ["Resource", "exported_resources"]

Resource = tuple[str, str, pb.Any]  # (ResourceURL, ResourceID, payload)


def exported_resources(store: Store, ws: WatchSet | None, peer_name: str,
                       server_addresses: Sequence[str] = ()) -> list[Resource]:
    """Everything ``peer_name`` (our name for the peering) gets from us now."""
    _, exported = store.exported_services_for_peer(ws, peer_name)
    names = list(exported.Services or ())
    out: list[Resource] = [(pb.TYPE_URL_EXPORTED_SERVICE_LIST, "",
                            resources.encode_service_list(names))]
    for name in names:
        _, rows = store.check_service_nodes(ws, name)
        out.append((pb.TYPE_URL_EXPORTED_SERVICE, name, resources.encode_service(
            [resources.exported_instance(row) for row in rows])))
    _, roots = store.ca_roots_read(ws)
    config = store.ca_config
    if roots and config is not None and config.ClusterID:
        built = indexed_roots(roots, config.ClusterID, 0)
        out.append((pb.TYPE_URL_PEERING_TRUST_BUNDLE, "", resources.encode_trust_bundle(
            built.TrustDomain, [r.RootCert for r in built.Roots or ()])))
    if server_addresses:
        out.append((pb.TYPE_URL_PEERING_SERVER_ADDRESSES, "",
                    resources.encode_addresses(list(server_addresses))))
    return out
