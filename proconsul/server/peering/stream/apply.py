"""The stream's writes as raft commands on the receiving leader: imported instances
become REGISTER/DEREGISTER commands with the peering's local name as PeerName (only
what changed), trust bundles and server addresses the peering FSM types."""

from __future__ import annotations

from typing import TYPE_CHECKING

from msgspec.structs import replace

from proconsul.server.peering.stream import resources
from proconsul.server.peering.stream.session import (
    ImportService,
    ImportServiceList,
    MarkTerminated,
    StoreServerAddresses,
    StoreTrustBundle,
    Write,
)
from proconsul.structs.catalog import CheckServiceNode, DeregisterRequest, RegisterRequest
from proconsul.structs.messages import MessageType
from proconsul.structs.peering import (
    Peering,
    PeeringTerminateByIDRequest,
    PeeringTrustBundle,
    PeeringTrustBundleDeleteRequest,
    PeeringTrustBundleWriteRequest,
    PeeringWriteRequest,
)

if TYPE_CHECKING:
    from proconsul.server.server import Server

__all__ = ["apply_writes", "remove_imported"]


async def apply_writes(server: Server, peering: Peering, writes: list[Write]) -> None:
    """Carry out ``writes`` received on ``peering``'s stream, in order."""
    for write in writes:
        if isinstance(write, ImportService):
            await _import_service(server, peering.Name, write.name, write.nodes)
        elif isinstance(write, ImportServiceList):
            for name in _imported_names(server, peering.Name) - resources.with_proxies(
                    write.names):
                await _import_service(server, peering.Name, name, [])
        elif isinstance(write, StoreTrustBundle):
            await server.raft_apply(MessageType.PEERING_TRUST_BUNDLE_WRITE,
                                    PeeringTrustBundleWriteRequest(PeeringTrustBundle(
                                        TrustDomain=write.trust_domain,
                                        PeerName=peering.Name, RootPEMs=write.root_pems)))
        elif isinstance(write, StoreServerAddresses):
            current = server.store.peering_read_by_id(None, peering.ID)[1]
            if current is not None and current.PeerServerAddresses != write.addresses:
                await server.raft_apply(MessageType.PEERING_WRITE, PeeringWriteRequest(
                    replace(current, PeerServerAddresses=write.addresses)))
        elif isinstance(write, MarkTerminated):
            await server.raft_apply(MessageType.PEERING_TERMINATE_BY_ID,
                                    PeeringTerminateByIDRequest(ID=peering.ID))
            await remove_imported(server, peering.Name)
            await server.raft_apply(MessageType.PEERING_TRUST_BUNDLE_DELETE,
                                    PeeringTrustBundleDeleteRequest(Name=peering.Name))


async def remove_imported(server: Server, peer_name: str) -> None:
    """Drop the nodes, services and checks ``peer_name`` exported to us."""
    catalog = server.store.peer_catalogs.get(peer_name)
    for node in list(catalog.nodes.rows()) if catalog is not None else ():
        await server.raft_apply(MessageType.DEREGISTER,
                                DeregisterRequest(Node=node.Node, PeerName=peer_name))


def _imported_names(server: Server, peer_name: str) -> set[str]:
    catalog = server.store.peer_catalogs.get(peer_name)
    if catalog is None:
        return set()
    return {stored.Service.Service for stored in catalog.services.rows()}


async def _import_service(server: Server, peer_name: str, name: str,
                          nodes: list[CheckServiceNode]) -> None:
    """Make ``peer_name``'s imported instances of ``name`` exactly ``nodes``."""
    reader = server.store.catalog_reader(peer_name)
    current = {(row.Node.Node, row.Service.ID): row
               for row in reader.check_service_nodes(None, name)[1]}
    wanted = {(row.Node.Node, row.Service.ID): resources.imported_instance(row, peer_name)
              for row in nodes}
    for key, row in wanted.items():
        if _same(current.get(key), row):
            continue
        node = row.Node
        await server.raft_apply(MessageType.REGISTER, RegisterRequest(
            ID=node.ID, Node=node.Node, Address=node.Address,
            TaggedAddresses=node.TaggedAddresses, NodeMeta=node.Meta, Service=row.Service,
            Checks=row.Checks, PeerName=peer_name))
    for node_name, service_id in current.keys() - wanted.keys():
        await server.raft_apply(MessageType.DEREGISTER, DeregisterRequest(
            Node=node_name, ServiceID=service_id, PeerName=peer_name))
        catalog = server.store.peer_catalogs.get(peer_name)
        if catalog is not None and not any(
                s.Node == node_name for s in catalog.services.rows()):
            await server.raft_apply(MessageType.DEREGISTER, DeregisterRequest(
                Node=node_name, PeerName=peer_name))


def _same(stored: CheckServiceNode | None, row: CheckServiceNode) -> bool:
    """Whether the stored instance already says what ``row`` says (indexes aside)."""
    if stored is None:
        return False

    def bare(r: CheckServiceNode) -> CheckServiceNode:
        return CheckServiceNode(
            Node=replace(r.Node, CreateIndex=0, ModifyIndex=0),
            Service=replace(r.Service, CreateIndex=0, ModifyIndex=0),
            Checks=[replace(c, CreateIndex=0, ModifyIndex=0) for c in r.Checks])

    return bare(stored) == bare(row)
