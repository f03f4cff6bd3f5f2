"""Whole-catalog reads for the web UI: every node with its services and checks, and
every service instance with its checks (Consul's Internal.NodeDump and ServiceDump).

Pure functions over a :class:`~proconsul.state.store.Store` (or one peer's catalog):
one pass over the tables, grouped by node, watching the whole tables (a dump changes
with any row). The imported dumps cover every peer's catalog, and wake on a new one.
"""

from __future__ import annotations

from collections import defaultdict

from proconsul.state.base import lower
from proconsul.state.peered_catalog import PEER_CATALOGS_TOPIC, PeerWatchSet
from proconsul.state.watch import WatchSet
from proconsul.structs.catalog import CheckServiceNode, HealthCheck, NodeService
from proconsul.structs.node_dump import NodeInfo

GATEWAY_TABLE = "gateway-services"


def _by_node(store) -> tuple[dict[str, list[NodeService]], dict[str, list[HealthCheck]]]:
    services: dict[str, list[NodeService]] = defaultdict(list)
    for stored in store.services.rows():
        services[lower(stored.Node)].append(stored.Service)
    checks: dict[str, list[HealthCheck]] = defaultdict(list)
    for check in store.checks.rows():
        checks[lower(check.Node)].append(check)
    return services, checks


def _info(node, services: list[NodeService], checks: list[HealthCheck]) -> NodeInfo:
    return NodeInfo(ID=node.ID, Node=node.Node, PeerName=node.PeerName or "",
                    Address=node.Address,
                    Datacenter=node.Datacenter, TaggedAddresses=node.TaggedAddresses,
                    Meta=node.Meta, Services=sorted(services, key=lambda s: s.ID),
                    Checks=sorted(checks, key=lambda c: c.CheckID))


def node_dump(store, ws: WatchSet | None) -> tuple[int, list[NodeInfo]]:
    """Every node, sorted by name, with its services and checks."""
    if ws is not None:
        ws.add(("rows", "nodes"))
        ws.add(("rows", "services"))
        ws.add(("rows", "checks"))
    services, checks = _by_node(store)
    dump = [_info(node, services.get(lower(node.Node), []), checks.get(lower(node.Node), []))
            for node in sorted(store.nodes.rows(), key=lambda n: lower(n.Node))]
    return store.max_index("nodes", "services", "checks"), dump


def node_info(store, ws: WatchSet | None, name: str) -> tuple[int, list[NodeInfo]]:
    """One node with its services and checks (an empty list for an unknown node)."""
    key = lower(name)
    if ws is not None:
        for topic in ("node_row", "node_services", "node_checks"):
            ws.add((topic, key))
    index = store.max_index("nodes", "services", "checks")
    node = store.nodes.get(key)
    if node is None:
        return index, []
    services = [s.Service for s in store.services.by("node", key)]
    return index, [_info(node, services, store.checks.by("node", key))]


def service_dump(store, ws: WatchSet | None, kind: str | None = None
                 ) -> tuple[int, list[CheckServiceNode], list]:
    """Every service instance (of ``kind`` when given) with its node's checks and its own,
    sorted by service name then node; and every gateway-service link."""
    if ws is not None:
        ws.add(("index", GATEWAY_TABLE))
    index, rows = instances(store, ws, kind)
    gateways = sorted(store.gateway_services.rows(),
                      key=lambda g: (lower(g.Gateway.Name), lower(g.Service.Name)))
    return max(index, store.max_index(GATEWAY_TABLE)), rows, gateways


def instances(store, ws: WatchSet | None, kind: str | None = None
              ) -> tuple[int, list[CheckServiceNode]]:
    """The instances of :func:`service_dump`, without the gateway links."""
    if ws is not None:
        ws.add(("rows", "nodes"))
        ws.add(("rows", "services"))
        ws.add(("rows", "checks"))
    # checks by (node, service ID); a node's own checks under (node, "")
    checks: dict[tuple[str, str], list[HealthCheck]] = defaultdict(list)
    for check in store.checks.rows():
        checks[lower(check.Node), check.ServiceID].append(check)
    rows = []
    for stored in store.services.rows():
        service = stored.Service
        if kind is not None and (service.Kind or "") != kind:
            continue
        node_key = lower(stored.Node)
        node = store.nodes.get(node_key)
        if node is None:
            continue
        own = checks.get((node_key, ""), []) + checks.get((node_key, service.ID), [])
        rows.append(CheckServiceNode(Node=node, Service=service, Checks=own))
    rows.sort(key=lambda r: (lower(r.Service.Service), lower(r.Node.Node), r.Service.ID))
    return store.max_index("nodes", "services", "checks"), rows

def peer_dump(store, ws: WatchSet | None, peer: str, dump):
    """``dump`` (:func:`node_dump` or :func:`service_dump`) over ``peer``'s imported rows."""
    return dump(store.peer_catalog(peer), PeerWatchSet(ws, peer) if ws is not None else None)


def imported_node_dump(store, ws: WatchSet | None) -> tuple[int, list[NodeInfo]]:
    """Every peer's imported nodes (peers by name), as :func:`node_dump` gives them."""
    if ws is not None:
        ws.add(PEER_CATALOGS_TOPIC)
    index, dump = 0, []
    for peer in sorted(store.peer_catalogs):
        at, rows = peer_dump(store, ws, peer, node_dump)
        index, dump = max(index, at), dump + rows
    return index, dump


def imported_service_dump(store, ws: WatchSet | None, kind: str | None = None,
                          peer: str = "") -> tuple[int, list[CheckServiceNode]]:
    """The imported instances of ``peer`` (of every peer by name if "") as
    :func:`service_dump` gives them (no gateway links: none front an imported service)."""
    if ws is not None and not peer:
        ws.add(PEER_CATALOGS_TOPIC)
    index, rows = 0, []
    for name in [peer] if peer else sorted(store.peer_catalogs):
        at, found = peer_dump(store, ws, name, lambda c, w: instances(c, w, kind))
        index, rows = max(index, at), rows + found
    return index, rows
