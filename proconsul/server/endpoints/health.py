"""Health.*: node, service and state check reads, and healthy service instances."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proconsul.server import acl_filter
from proconsul.server.endpoints.catalog import count_service_query
from proconsul.server.filtering import ResultFilter
from proconsul.server.near import sort_near
from proconsul.structs.catalog import HEALTH_ANY, HEALTH_STATES, CheckServiceNode, HealthCheck
from proconsul.structs.errors import BadRequest
from proconsul.structs.requests import (
    ChecksInStateRequest,
    IndexedCheckServiceNodes,
    IndexedHealthChecks,
    NodeSpecificRequest,
    QuerySource,
    ServiceSpecificRequest,
)

if TYPE_CHECKING:
    from proconsul.server.server import Server


class Health:
    """The Health RPC service."""

    NAME = "Health"
    METHODS = ("NodeChecks", "ServiceChecks", "ChecksInState", "ServiceNodes")

    def __init__(self, server: Server) -> None:
        self.server = server

    async def NodeChecks(self, req: NodeSpecificRequest) -> IndexedHealthChecks:
        if not req.Node:
            raise BadRequest("Must provide node")
        return await self._checks(req, lambda ws: self.server.store.catalog_reader(
            req.PeerName).node_checks(ws, req.Node))

    async def ServiceChecks(self, req: ServiceSpecificRequest) -> IndexedHealthChecks:
        if not req.ServiceName:
            raise BadRequest("Must provide service name")
        return await self._checks(req, lambda ws: self.server.store.catalog_reader(
            req.PeerName).service_checks(ws, req.ServiceName, req.NodeMetaFilters),
            None if req.PeerName else req.Source)

    async def ChecksInState(self, req: ChecksInStateRequest) -> IndexedHealthChecks:
        if req.State not in HEALTH_STATES and req.State != HEALTH_ANY:
            raise BadRequest(f"Invalid state: {req.State}")
        return await self._checks(req, lambda ws: self.server.store.catalog_reader(
            req.PeerName).checks_in_state(ws, req.State, req.NodeMetaFilters),
            None if req.PeerName else req.Source)

    async def _checks(self, req, read, source: QuerySource | None = None
                      ) -> IndexedHealthChecks:
        """Checks read by ``read``, filtered, nearest ``source`` first when given."""
        keep = ResultFilter(req.Filter, HealthCheck)
        ident = self.server.authz.resolve(req.Token)

        def shape(checks: list[HealthCheck]) -> list[HealthCheck]:
            return sort_near(self.server.store, source, self.server.config.datacenter,
                             keep.apply(checks), lambda c: c.Node)

        return await self.server.read_into(
            req, IndexedHealthChecks(), "HealthChecks", read, shape,
            lambda checks, reply: acl_filter.health_checks(ident, checks, reply))

    async def ServiceNodes(self, req: ServiceSpecificRequest) -> IndexedCheckServiceNodes:
        if not req.ServiceName:
            raise BadRequest("Must provide service name")
        keep = ResultFilter(req.Filter, CheckServiceNode)
        store = self.server.store
        ident = self.server.authz.resolve(req.Token)
        # the proxies or gateways of a service the token may not read show as none (no 403)
        may_read = ident.allowed("service_read", req.ServiceName)
        if req.PeerName and req.Ingress:
            raise BadRequest("peer is not supported for ingress lookups")
        if req.Connect:
            catalog = store.catalog_reader(req.PeerName)

            def read(ws):
                index, rows = catalog.check_connect_service_nodes(ws, req.ServiceName,
                                                                  req.NodeMetaFilters)
                return index, rows if may_read else []
        elif req.Ingress:
            def read(ws):
                index, rows = store.check_ingress_service_nodes(ws, req.ServiceName,
                                                                req.NodeMetaFilters)
                return index, rows if may_read else []
        elif not (req.TagFilter or req.NodeMetaFilters or req.ServiceKind is not None
                  or req.Filter or req.Source or req.PeerName):
            # the hot read: rows shared with every reader until the service changes
            reply = await self.server.read_into(
                req, IndexedCheckServiceNodes(), "Nodes",
                lambda ws: store.shared_check_service_nodes(ws, req.ServiceName), None,
                lambda rows, reply: acl_filter.check_service_nodes(ident, rows, reply))
            count_service_query("health", req.ServiceName, not reply.Nodes)
            return reply
        else:
            tags = req.ServiceTags if req.TagFilter else None
            catalog = store.catalog_reader(req.PeerName)

            def read(ws):
                return catalog.check_service_nodes(ws, req.ServiceName, tags,
                                                   req.NodeMetaFilters, req.ServiceKind)
        source = None if req.PeerName else req.Source  # imported nodes have no coordinates

        def shape(nodes: list[CheckServiceNode]) -> list[CheckServiceNode]:
            return sort_near(store, source, self.server.config.datacenter,
                             keep.apply(nodes), lambda n: n.Node.Node)

        reply = await self.server.read_into(
            req, IndexedCheckServiceNodes(), "Nodes", read, shape,
            lambda rows, reply: acl_filter.check_service_nodes(ident, rows, reply))
        count_service_query("health", req.ServiceName, not reply.Nodes)
        return reply
