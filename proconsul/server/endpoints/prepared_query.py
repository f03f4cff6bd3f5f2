"""PreparedQuery.*: apply, get, list, explain, execute (and ExecuteRemote for failover).

Queries are checked here as Consul's endpoint does; name and session
integrity and template compilation are checked inside the FSM write, so all
servers agree. Execute runs the query in this datacenter, sorts the results
by RTT from the source node (or shuffles them), applies the limit, and with
nothing found fails over through the server's ``query_failover`` route.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Protocol

from msgspec.structs import replace

from proconsul.lib.acl.authorizer import permission_denied
from proconsul.lib.duration import DurationError, parse_duration
from proconsul.lib.metrics import timed
from proconsul.raft.interface import ConsensusError
from proconsul.server import acl_filter, query_results
from proconsul.server.acl_enforce import Identity
from proconsul.server.forward import LeaderUnavailable
from proconsul.state.catalog import StateError
from proconsul.structs.errors import BadRequest, ConsulError, Forbidden, NotFound
from proconsul.structs.messages import MessageType
from proconsul.structs.node_meta import node_meta_problem
from proconsul.structs.prepared_query import (
    ERR_QUERY_NOT_FOUND,
    QUERY_OP_CREATE,
    QUERY_OP_DELETE,
    QUERY_OP_UPDATE,
    REDACTED_TOKEN,
    IndexedPreparedQueries,
    PreparedQuery,
    PreparedQueryExecuteRemoteRequest,
    PreparedQueryExecuteRequest,
    PreparedQueryExecuteResponse,
    PreparedQueryExplainResponse,
    PreparedQueryRequest,
    PreparedQuerySpecificRequest,
    QuerySource,
)
from proconsul.structs.requests import DCSpecificRequest

if TYPE_CHECKING:
    from proconsul.server.server import Server

log = logging.getLogger(__name__)


class FailoverRoute(Protocol):
    """How Execute reaches other datacenters (provided by WAN federation)."""

    def datacenters_by_distance(self) -> list[str]:
        """Other known datacenters, nearest first."""

    async def execute_remote(self, datacenter: str, req: PreparedQueryExecuteRemoteRequest
                             ) -> PreparedQueryExecuteResponse:
        """Run ``PreparedQuery.ExecuteRemote`` in ``datacenter``."""


def check_node_meta(meta: dict[str, str] | None) -> None:
    """Consul's ``ValidateNodeMetadata`` (reserved ``consul-`` keys allowed, as for filters)."""
    problem = node_meta_problem(meta, allow_reserved=True)
    if problem:
        raise BadRequest(f"Invalid prepared query: {problem}")


def check_query(query: PreparedQuery) -> None:
    """Consul's ``parseQuery``: what a create or update must satisfy (before the FSM)."""
    if not query.Name and not query.Template.Type and not query.Session:
        raise BadRequest("Invalid prepared query: Must be bound to a session")
    if query.Token == REDACTED_TOKEN:
        raise BadRequest(f"Invalid prepared query: Bad Token '{query.Token}', it looks like a "
                         "query definition with a redacted token was submitted")
    service = query.Service
    if not service.Service:
        raise BadRequest("Invalid prepared query: Must provide a Service name to query")
    failover = service.Failover
    if failover.NearestN < 0:
        raise BadRequest(f"Invalid prepared query: Bad NearestN '{failover.NearestN}', "
                         "must be >= 0")
    if (failover.NearestN or failover.Datacenters) and failover.Targets:
        raise BadRequest("Invalid prepared query: Targets cannot be populated with NearestN "
                         "or Datacenters")
    check_node_meta(service.NodeMeta)
    if query.DNS.TTL:
        try:
            ttl = parse_duration(query.DNS.TTL)
        except DurationError as err:
            raise BadRequest(f"Invalid prepared query: Bad DNS TTL '{query.DNS.TTL}': "
                             f"{err}") from None
        if ttl < 0:
            raise BadRequest(f"Invalid prepared query: DNS TTL '{ttl}', must be >=0")


def require_write(ident: Identity, query: PreparedQuery) -> None:
    """``query:write`` on the query's name (its prefix for a template); an unnamed query
    needs none, its random ID is its protection."""
    prefix = query.acl_prefix()
    if prefix is not None:
        ident.require("query_write", prefix)


class PreparedQueryEndpoint:
    """The PreparedQuery RPC service."""

    NAME = "PreparedQuery"
    METHODS = ("Apply", "Get", "List", "Explain", "Execute", "ExecuteRemote")

    def __init__(self, server: Server) -> None:
        self.server = server

    @timed("consul.prepared-query.apply")
    async def Apply(self, req: PreparedQueryRequest) -> str:
        query = req.Query or PreparedQuery()
        store = self.server.store
        if req.Op == QUERY_OP_CREATE:
            if query.ID:
                raise BadRequest("ID must be empty when creating a new prepared query")
            query_id = str(uuid.uuid4())
            while store.prepared_queries.get(query_id) is not None:
                query_id = str(uuid.uuid4())
            query.ID = query_id
        ident = self.server.authz.resolve(req.Token)
        require_write(ident, query)
        if req.Op != QUERY_OP_CREATE:
            existing = store.prepared_queries.get(query.ID)
            if existing is None:
                raise BadRequest(f"Cannot modify non-existent prepared query: '{query.ID}'")
            require_write(ident, existing)
        if req.Op in (QUERY_OP_CREATE, QUERY_OP_UPDATE):
            check_query(query)
        elif req.Op != QUERY_OP_DELETE:
            raise BadRequest(f"Unknown prepared query operation: {req.Op}")
        req.Query = query
        await self.server.raft_apply(MessageType.PREPARED_QUERY, req)
        return query.ID

    async def Get(self, req: PreparedQuerySpecificRequest) -> IndexedPreparedQueries:
        """One query: an unnamed one to whoever has its ID, a named one with
        ``query:read`` on its name (else 403); the token redacted unless ``acl:write``."""
        ident = self.server.authz.resolve(req.Token)

        def read(ws):
            index, query = self.server.store.prepared_query_get(ws, req.QueryID)
            if query is None:
                raise NotFound(ERR_QUERY_NOT_FOUND)
            return index, [query]

        def visible(queries: list[PreparedQuery], reply) -> list[PreparedQuery]:
            if queries[0].acl_prefix() is None:
                return [acl_filter.prepared_query_token(ident, queries[0])]
            shown = acl_filter.prepared_queries(ident, queries, reply)
            if not shown:
                raise _denied(ident, queries[0])
            return shown

        return await self.server.read_into(req, IndexedPreparedQueries(), "Queries", read,
                                           acl=visible)

    async def List(self, req: DCSpecificRequest) -> IndexedPreparedQueries:
        ident = self.server.authz.resolve(req.Token)
        return await self.server.read_into(
            req, IndexedPreparedQueries(), "Queries", self.server.store.prepared_query_list,
            acl=lambda queries, reply: acl_filter.prepared_queries(ident, queries, reply))

    @timed("consul.prepared-query.explain")
    async def Explain(self, req: PreparedQueryExecuteRequest) -> PreparedQueryExplainResponse:
        """The query a name resolves to (a template rendered), if the token may read it."""
        ident = self.server.authz.resolve(req.Token)
        reply = PreparedQueryExplainResponse()
        await self._consistent(req, reply)
        query = self._resolve(req)
        shown = acl_filter.prepared_queries(ident, [query], None)
        if not shown:
            raise _denied(ident, query)
        reply.Query = shown[0]
        return reply

    @timed("consul.prepared-query.execute")
    async def Execute(self, req: PreparedQueryExecuteRequest) -> PreparedQueryExecuteResponse:
        reply = PreparedQueryExecuteResponse()
        await self._consistent(req, reply)
        query = self._resolve(req)
        self._run(query, req.Token, req.Connect, reply)
        reply.Nodes = query_results.shuffled(reply.Nodes)
        source = self._source(req, query)
        # imported rows have no coordinates here: a peer's instances stay shuffled
        if source.Node and source.Datacenter == self.server.config.datacenter \
                and not query.Service.Peer:
            store = self.server.store
            reply.Nodes = query_results.sort_by_rtt(
                reply.Nodes, store.node_coordinates(None, source.Node)[1], source.Segment,
                lambda node: store.node_coordinates(None, node)[1])
            if reply.Datacenter == source.Datacenter:
                reply.Nodes = query_results.near_first(reply.Nodes, source.Node)
        if req.Limit > 0:
            reply.Nodes = reply.Nodes[:req.Limit]
        if not reply.Nodes:
            await self._failover(query, req, reply)
        return reply

    @timed("consul.prepared-query.execute_remote")
    async def ExecuteRemote(self, req: PreparedQueryExecuteRemoteRequest
                            ) -> PreparedQueryExecuteResponse:
        reply = PreparedQueryExecuteResponse()
        await self._consistent(req, reply)
        self._run(req.Query, req.Token, req.Connect, reply)
        reply.Nodes = query_results.shuffled(reply.Nodes)
        if req.Limit > 0:
            reply.Nodes = reply.Nodes[:req.Limit]
        return reply

    # ---- helpers ------------------------------------------------------------

    async def _consistent(self, req, reply) -> None:
        self.server.set_query_meta(reply, req)
        if req.RequireConsistent:
            try:
                await self.server.consensus.verify_leader()
            except ConsensusError:
                raise LeaderUnavailable() from None

    def _resolve(self, req: PreparedQueryExecuteRequest) -> PreparedQuery:
        try:
            _, query = self.server.store.prepared_query_resolve(req.QueryIDOrName, req.Agent)
        except StateError as err:
            raise BadRequest(str(err)) from None
        if query is None:
            raise NotFound(ERR_QUERY_NOT_FOUND)
        return query

    def _run(self, query: PreparedQuery, token: str, connect: bool,
             reply: PreparedQueryExecuteResponse) -> None:
        """The query in this datacenter (in the imported rows of its ``Peer`` if set),
        filtered, unsorted; what ACLs keep of the instances is decided by the query's
        stored token when it has one, else by the caller's."""
        ident = self.server.authz.resolve(query.Token or token)
        service = query.Service
        store = self.server.store.catalog_reader(service.Peer)
        if service.Connect or connect:
            nodes = store.check_connect_service_nodes(None, service.Service)[1]
        else:
            nodes = store.check_service_nodes(None, service.Service)[1]
        reply.Service = service.Service
        reply.Nodes = acl_filter.check_service_nodes(
            ident, query_results.select(service, nodes), reply)
        reply.DNS = query.DNS
        reply.PeerName = service.Peer
        reply.Datacenter = "" if service.Peer else self.server.config.datacenter

    def _source(self, req: PreparedQueryExecuteRequest, query: PreparedQuery) -> QuerySource:
        """Where to sort from: the caller's ``near``, else the query's ``Near``;
        ``_agent`` is the calling agent, ``_ip`` the node with the caller's address."""
        source = QuerySource(Datacenter=req.Source.Datacenter or req.Agent.Datacenter,
                             Segment=req.Source.Segment or req.Agent.Segment,
                             Node=req.Source.Node or query.Service.Near, Ip=req.Source.Ip)
        if source.Node == "_agent":
            source.Node = req.Agent.Node
        elif source.Node == "_ip":
            source.Node = ""
            if req.Source.Ip:
                for node in self.server.store.nodes.rows():
                    if node.Address == req.Source.Ip:
                        source.Node = node.Node
                        break
            else:
                log.warning("prepared query near=_ip without a source IP: no distance sort")
        return source

    async def _failover(self, query: PreparedQuery, req: PreparedQueryExecuteRequest,
                        reply: PreparedQueryExecuteResponse) -> None:
        """Try each failover target in turn until one has instances: a datacenter through
        ExecuteRemote there, a cluster peer through ExecuteRemote here (its imported rows)."""
        route = self.server.query_failover
        targets = query_results.failover_targets(query.Service, route.datacenters_by_distance())
        failovers = 0
        for target in targets:
            failovers += 1
            datacenter = target.Datacenter or self.server.config.datacenter
            remote = PreparedQueryExecuteRemoteRequest(
                Datacenter=datacenter, Limit=req.Limit, Connect=req.Connect,
                Query=replace(query, Service=replace(query.Service, Peer=target.Peer)),
                Token=req.Token, AllowStale=req.AllowStale,
                RequireConsistent=req.RequireConsistent)
            try:
                if target.Peer:
                    found = await self.ExecuteRemote(remote)
                else:
                    found = await route.execute_remote(datacenter, remote)
            except ConsulError as err:
                log.warning("prepared query failover for service %s to %s failed: %s",
                            query.Service.Service,
                            f"peer {target.Peer}" if target.Peer else f"datacenter {datacenter}",
                            err.message)
                continue
            reply.Nodes, reply.Datacenter, reply.DNS = found.Nodes, found.Datacenter, found.DNS
            reply.PeerName = found.PeerName
            if reply.Nodes:
                break
        reply.Failovers = failovers


def _denied(ident: Identity, query: PreparedQuery) -> Forbidden:
    """The 403 of a query the token may not see: a named one needs ``query:read`` on its
    name, an unnamed one a management token (``acl:write``)."""
    prefix = query.acl_prefix()
    if prefix is None:
        return Forbidden(permission_denied("acl_write", ident.accessor_id))
    return Forbidden(permission_denied("query_read", ident.accessor_id, prefix))
