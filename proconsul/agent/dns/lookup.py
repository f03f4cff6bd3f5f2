"""Where DNS answers come from: the catalog reads, behind one small interface.

:class:`Lookup` is the seam: the resolver only ever calls these methods, so
tests can hand it an in-memory catalog or one that fails on demand.
:class:`AgentLookup` is the real one, reading through the agent's RPC path
with Consul's stale-read rules.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from proconsul.lib.metrics import registry as metrics
from proconsul.structs.catalog import CheckServiceNode, Node, ServiceNode
from proconsul.structs.errors import ERR_NO_PATH_TO_DC, ConsulError
from proconsul.structs.prepared_query import (
    ERR_QUERY_NOT_FOUND,
    PreparedQueryExecuteRequest,
    QuerySource,
)
from proconsul.structs.requests import (
    DCSpecificRequest,
    NodeSpecificRequest,
    ServiceSpecificRequest,
)

if TYPE_CHECKING:
    from proconsul.agent.agent import Agent


class NameNotFound(Exception):
    """The name does not exist (no path to the datacenter, unknown prepared query): NXDOMAIN."""


class LookupFailed(Exception):
    """A read failed (no leader, servers unreachable ...): SERVFAIL, or a stale answer."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    """What a prepared query found: instances in answer order, where, and its DNS TTL."""

    service: str
    nodes: list[CheckServiceNode]
    datacenter: str
    ttl: str = ""
    peer: str = ""  # the cluster peer the instances were imported from


class Lookup(Protocol):
    """The catalog reads DNS answers are built from.

    Reads raise :class:`NameNotFound` for a name that cannot exist and
    :class:`LookupFailed` when they cannot be answered right now.
    """

    def version(self) -> Hashable | None:
        """A value that changes whenever any read below could answer differently.

        Answers are cached while it stays the same; None disables the cache.
        """

    async def service_nodes(self, datacenter: str, service: str, tag: str,
                            kind: str = "service", peer: str = "") -> list[CheckServiceNode]:
        """Instances of ``service`` (with ``tag`` if not empty) and their checks.

        ``kind`` is ``service``, or ``connect``/``ingress`` for the Connect
        endpoints and the ingress gateways of the service; with ``peer``, the
        instances imported from that cluster peer.
        """

    async def node(self, datacenter: str, name: str, peer: str = "") -> Node | None:
        """The node ``name`` (imported from ``peer`` if given), None if unknown."""

    async def nodes(self) -> list[Node]:
        """Every node of the local datacenter, ordered by name."""

    async def service_address_nodes(self, address: str) -> list[ServiceNode]:
        """Service instances of the local datacenter whose service address is ``address``."""

    async def virtual_ip(self, service: str, peer: str) -> str:
        """The service's virtual IP in the local datacenter ("" when it has none)."""

    async def prepared_query(self, datacenter: str, name: str, client_ip: str = "") -> QueryResult:
        """Execute the prepared query ``name`` (an ID or name) as this agent, for a client
        at ``client_ip``."""


class AgentLookup:
    """Reads through the agent's RPC path (its own server in server mode)."""

    def __init__(self, agent: Agent, allow_stale: bool, max_stale_ms: int) -> None:
        self._agent = agent
        self._datacenter = agent.config.datacenter
        self._allow_stale = allow_stale
        self._max_stale_ms = max_stale_ms

    def version(self) -> Hashable | None:
        return self._agent.catalog_version(self._allow_stale, self._max_stale_ms)

    async def _read(self, method: str, req: Any) -> Any:
        """One read with the agent's DNS token (names it may not read look absent, as the
        servers filter them); a stale reply older than ``max_stale`` is asked again of the
        leader."""
        tokens = self._agent.tokens
        req.Token = tokens.get("dns") or tokens.default
        req.AllowStale = self._allow_stale
        req.MaxStaleDuration = self._max_stale_ms * 1_000_000
        try:
            reply = await self._agent.rpc(method, req)
            if req.AllowStale and reply.LastContact > self._max_stale_ms:
                metrics.incr_counter("consul.dns.stale_queries")
                req.AllowStale = False
                reply = await self._agent.rpc(method, req)
        except ConsulError as err:
            if err.message == ERR_NO_PATH_TO_DC:
                raise NameNotFound(err.message) from None
            raise LookupFailed(err.message) from None
        return reply

    async def service_nodes(self, datacenter: str, service: str, tag: str,
                            kind: str = "service", peer: str = "") -> list[CheckServiceNode]:
        reply = await self._read("Health.ServiceNodes", ServiceSpecificRequest(
            Datacenter=datacenter, ServiceName=service, ServiceTags=[tag] if tag else None,
            TagFilter=bool(tag), Connect=kind == "connect", Ingress=kind == "ingress",
            PeerName=peer))
        return reply.Nodes

    async def node(self, datacenter: str, name: str, peer: str = "") -> Node | None:
        reply = await self._read("Catalog.NodeServices", NodeSpecificRequest(
            Datacenter=datacenter, Node=name, PeerName=peer))
        return reply.NodeServices.Node if reply.NodeServices is not None else None

    async def nodes(self) -> list[Node]:
        reply = await self._read("Catalog.ListNodes", DCSpecificRequest(Datacenter=self._datacenter))
        return sorted(reply.Nodes, key=lambda n: n.Node.lower())

    async def service_address_nodes(self, address: str) -> list[ServiceNode]:
        reply = await self._read("Catalog.ServiceNodes", ServiceSpecificRequest(
            Datacenter=self._datacenter, ServiceAddress=address))
        return reply.ServiceNodes

    async def prepared_query(self, datacenter: str, name: str, client_ip: str = "") -> QueryResult:
        config = self._agent.config
        agent = QuerySource(Datacenter=config.datacenter, Node=config.node_name)
        try:
            reply = await self._read("PreparedQuery.Execute", PreparedQueryExecuteRequest(
                Datacenter=datacenter, QueryIDOrName=name, Agent=agent,
                Source=QuerySource(Datacenter=config.datacenter, Ip=client_ip)))
        except LookupFailed as err:
            if str(err) == ERR_QUERY_NOT_FOUND:
                raise NameNotFound(name) from None
            raise
        return QueryResult(reply.Service, reply.Nodes, reply.Datacenter, reply.DNS.TTL,
                           reply.PeerName)

    async def virtual_ip(self, service: str, peer: str) -> str:
        tokens = self._agent.tokens
        try:
            return await self._agent.rpc("Catalog.VirtualIPForService", ServiceSpecificRequest(
                Datacenter=self._datacenter, ServiceName=service, PeerName=peer,
                Token=tokens.get("dns") or tokens.default, AllowStale=self._allow_stale))
        except ConsulError as err:
            raise LookupFailed(err.message) from None
