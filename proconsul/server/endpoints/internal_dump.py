"""Internal.NodeDump / NodeInfo / ServiceDump: the whole-catalog reads behind the web UI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from msgspec.structs import replace

from proconsul.lib.goquote import go_quote
from proconsul.server.acl_enforce import Identity
from proconsul.server.filtering import ResultFilter
from proconsul.state import node_dump
from proconsul.structs.catalog import CheckServiceNode
from proconsul.structs.errors import BadRequest
from proconsul.structs.node_dump import (
    IndexedNodeDump,
    IndexedNodesWithGateways,
    NodeInfo,
    ServiceDumpRequest,
)
from proconsul.structs.requests import DCSpecificRequest, NodeSpecificRequest

if TYPE_CHECKING:
    from proconsul.server.server import Server


def filter_node_info(ident: Identity, dump: list[NodeInfo], meta) -> list[NodeInfo]:
    """Nodes need ``node:read``; their services and service checks ``service:read``."""
    if not ident.enforcing:
        return dump
    kept = []
    for info in ident.keep(dump, lambda i: ident.allowed("node_read", i.Node), meta):
        services = ident.keep(info.Services,
                              lambda s: ident.allowed("service_read", s.Service), meta)
        checks = ident.keep(info.Checks, lambda c: not c.ServiceName or ident.allowed(
            "service_read", c.ServiceName), meta)
        kept.append(replace(info, Services=services, Checks=checks))
    return kept


class InternalDumps:
    """The dump methods of the Internal RPC service (mixed into it)."""

    METHODS = ("NodeDump", "NodeInfo", "ServiceDump")
    server: Server

    async def NodeDump(self, req: DCSpecificRequest) -> IndexedNodeDump:
        """Every local node in Dump and every peer's imported node in ImportedDump."""
        if req.PeerName:
            raise BadRequest("this endpoint does not support specifying a peer: "
                             f"{go_quote(req.PeerName)}")
        keep = ResultFilter(req.Filter, NodeInfo)
        ident = self.server.authz.resolve(req.Token)
        store = self.server.store
        reply = IndexedNodeDump()

        def query(ws) -> int:
            index, dump = node_dump.node_dump(store, ws)
            peered_index, imported = node_dump.imported_node_dump(store, ws)
            reply.ResultsFilteredByACLs = False
            reply.Dump = filter_node_info(ident, keep.apply(dump), reply)
            reply.ImportedDump = filter_node_info(ident, keep.apply(imported), reply)
            return max(index, peered_index)

        await self.server.blocking_query(req, reply, query)
        return reply

    async def NodeInfo(self, req: NodeSpecificRequest) -> IndexedNodeDump:
        if not req.Node:
            raise BadRequest("Must provide node")
        ident = self.server.authz.resolve(req.Token)
        store = self.server.store

        def read(ws):
            if req.PeerName:
                return node_dump.peer_dump(store, ws, req.PeerName,
                                           lambda c, w: node_dump.node_info(c, w, req.Node))
            return node_dump.node_info(store, ws, req.Node)

        return await self.server.read_into(
            req, IndexedNodeDump(), "Dump", read,
            None, lambda dump, reply: filter_node_info(ident, dump, reply))

    async def ServiceDump(self, req: ServiceDumpRequest) -> IndexedNodesWithGateways:
        keep = ResultFilter(req.Filter, CheckServiceNode)
        ident = self.server.authz.resolve(req.Token)
        store = self.server.store
        reply = IndexedNodesWithGateways()
        kind = req.ServiceKind if req.UseServiceKind else None

        def visible(row: CheckServiceNode) -> bool:
            return ident.allowed("node_read", row.Node.Node) and ident.allowed(
                "service_read", row.Service.Service)

        def query(ws) -> int:
            # with a PeerName only that peer's instances, else the local ones and every peer's
            index, rows, gateways = 0, [], []
            if not req.PeerName:
                index, rows, gateways = node_dump.service_dump(store, ws, kind)
            peered_index, imported = node_dump.imported_service_dump(store, ws, kind,
                                                                     req.PeerName)
            reply.ResultsFilteredByACLs = False
            reply.Nodes = ident.keep(keep.apply(rows), visible, reply)
            reply.ImportedNodes = ident.keep(keep.apply(imported), visible, reply)
            reply.Gateways = ident.keep(gateways, lambda g: ident.allowed(
                "service_read", g.Gateway.Name) and ident.allowed("service_read",
                                                                  g.Service.Name), reply)
            return max(index, peered_index)

        await self.server.blocking_query(req, reply, query)
        return reply
