"""Catalog.*: register and deregister, and the catalog reads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from msgspec.structs import replace

from proconsul.lib.metrics import Key, sample_key, timed
from proconsul.lib.metrics import registry as metrics
from proconsul.server import acl_filter
from proconsul.server.acl_vet import vet_deregister, vet_register
from proconsul.server.filtering import ResultFilter
from proconsul.server.near import sort_near
from proconsul.structs.catalog import (
    DeregisterRequest,
    HealthCheck,
    Node,
    NodeService,
    RegisterRequest,
    ServiceNode,
)
from proconsul.structs.errors import BadRequest, ConsulError
from proconsul.structs.gateway_services import GatewayService, IndexedGatewayServices
from proconsul.structs.messages import MessageType
from proconsul.structs.requests import (
    DCSpecificRequest,
    IndexedNodes,
    IndexedNodeServiceList,
    IndexedNodeServices,
    IndexedServiceNodes,
    IndexedServices,
    NodeSpecificRequest,
    ServiceSpecificRequest,
)
from proconsul.structs.service_kinds import multi_error, validate_service

if TYPE_CHECKING:
    from proconsul.server.server import Server

UNSPECIFIED_ADDRESSES = ("0.0.0.0", "::", "[::]")


def check_type(check: HealthCheck) -> str:
    """The Type Consul derives from how a catalog check is defined."""
    d = check.Definition
    for field, name in (("ScriptArgs", "script"), ("HTTP", "http"), ("TCP", "tcp"),
                        ("UDP", "udp"), ("GRPC", "grpc"), ("H2PING", "h2ping"),
                        ("DockerContainerID", "docker"), ("OSService", "os_service")):
        if getattr(d, field):
            return name
    return check.Type


class Catalog:
    """The Catalog RPC service."""

    NAME = "Catalog"
    METHODS = ("Register", "Deregister", "ListDatacenters", "ListNodes", "ListServices",
               "ServiceNodes", "NodeServices", "NodeServiceList", "GatewayServices",
               "VirtualIPForService")

    def __init__(self, server: Server) -> None:
        self.server = server

    @timed("consul.catalog.register")
    async def Register(self, req: RegisterRequest) -> bool:
        self.prepare_register(req)
        await self.server.raft_apply(MessageType.REGISTER, req)
        return True

    def prepare_register(self, req: RegisterRequest) -> None:
        """Check a registration (a 400 or 403 says what is wrong) and fill in what Consul
        fills in (service and check IDs, check nodes and types, the datacenter)."""
        if has_peer_name(req):  # only the peering stream writes imported rows
            raise ConsulError("cannot register requests with PeerName in them")
        if not req.Node:
            raise BadRequest("Must provide node")
        if not req.Address and not req.SkipNodeUpdate:
            raise BadRequest("Must provide address if SkipNodeUpdate is not set")
        if req.Service is not None:
            req.Service = self._service_pre_apply(req.Service)
        checks = ([req.Check] if req.Check is not None else []) + list(req.Checks or ())
        fixed = []
        for check in checks:
            if not check.Node:
                check = replace(check, Node=req.Node)
            if check.Node.lower() != req.Node.lower():
                raise BadRequest(f'check node "{check.Node}" does not match node "{req.Node}"')
            if not check.CheckID:
                if not check.Name:
                    raise BadRequest("Must provide check name or ID")
                check = replace(check, CheckID=check.Name)
            fixed.append(replace(check, Type=check_type(check)))
        req.Check, req.Checks = None, fixed or None
        vet_register(self.server.authz.resolve(req.Token), self.server.store, req)
        req.Datacenter = req.Datacenter or self.server.config.datacenter

    @staticmethod
    def _service_pre_apply(service: NodeService) -> NodeService:
        sidecar = service.Connect.SidecarService
        problems = validate_service(service, sidecar if isinstance(sidecar, dict) else None)
        if problems:
            raise BadRequest(multi_error(problems).rstrip("\n"))
        if not service.ID and service.Service:
            service = replace(service, ID=service.Service)
        if not service.Service:
            raise BadRequest("Must provide service name with ID")
        if service.Address in UNSPECIFIED_ADDRESSES:
            raise BadRequest("Invalid service address")
        return service

    @timed("consul.catalog.deregister")
    async def Deregister(self, req: DeregisterRequest) -> bool:
        if not req.Node:
            raise BadRequest("Must provide node")
        store = self.server.store
        vet_deregister(self.server.authz.resolve(req.Token),
                       store.peer_catalog(req.PeerName) if req.PeerName else store, req)
        await self.server.raft_apply(MessageType.DEREGISTER, req)
        return True

    async def ListDatacenters(self, req: DCSpecificRequest) -> list[str]:
        return self.server.datacenters_by_distance()

    async def ListNodes(self, req: DCSpecificRequest) -> IndexedNodes:
        keep = ResultFilter(req.Filter, Node)
        ident = self.server.authz.resolve(req.Token)
        store = self.server.store
        if not (req.Filter or req.NodeMetaFilters or req.Source or req.PeerName):
            return await self.server.read_into(  # shared until a node changes
                req, IndexedNodes(), "Nodes", store.shared_nodes, None,
                lambda rows, reply: acl_filter.nodes(ident, rows, reply))
        catalog = store.catalog_reader(req.PeerName)
        source = None if req.PeerName else req.Source  # imported nodes have no coordinates

        def shape(rows: list[Node]) -> list[Node]:
            return sort_near(store, source, self.server.config.datacenter,
                             keep.apply(rows), lambda n: n.Node)

        return await self.server.read_into(
            req, IndexedNodes(), "Nodes",
            lambda ws: catalog.list_nodes(ws, req.NodeMetaFilters), shape,
            lambda rows, reply: acl_filter.nodes(ident, rows, reply))

    async def ListServices(self, req: DCSpecificRequest) -> IndexedServices:
        keep = ResultFilter(req.Filter, ServiceNode)
        ident = self.server.authz.resolve(req.Token)
        if not (req.Filter or req.NodeMetaFilters or req.PeerName):  # the name -> tags view
            return await self.server.read_into(
                req, IndexedServices(), "Services", self.server.store.service_tags, None,
                lambda services, reply: acl_filter.services(ident, services, reply))

        def by_name(rows: list[ServiceNode]) -> dict[str, list[str]]:
            services: dict[str, list[str]] = {}
            for row in keep.apply(rows):
                tags = services.setdefault(row.ServiceName, [])
                tags.extend(t for t in row.ServiceTags or () if t not in tags)
            return services

        return await self.server.read_into(
            req, IndexedServices(), "Services",
            lambda ws: self.server.store.catalog_reader(req.PeerName).list_services(
                ws, req.NodeMetaFilters), by_name,
            lambda services, reply: acl_filter.services(ident, services, reply))

    async def ServiceNodes(self, req: ServiceSpecificRequest) -> IndexedServiceNodes:
        if not req.ServiceName and not req.ServiceAddress:
            raise BadRequest("Must provide service name")
        keep = ResultFilter(req.Filter, ServiceNode)
        ident = self.server.authz.resolve(req.Token)
        store = self.server.store
        catalog = store.catalog_reader(req.PeerName)
        source = None if req.PeerName else req.Source
        if req.PeerName and req.ServiceAddress:
            raise BadRequest("peer is not supported for service address lookups")
        if req.ServiceAddress:
            def read(ws):
                return store.service_address_nodes(ws, req.ServiceAddress)
        elif req.Connect:
            # the proxies of a service the token may not read show as none (no 403), as Consul's
            may_read = ident.allowed("service_read", req.ServiceName)

            def read(ws):
                index, rows = catalog.connect_service_nodes(ws, req.ServiceName,
                                                            req.NodeMetaFilters)
                return index, rows if may_read else []
        else:
            tags = req.ServiceTags if req.TagFilter else None

            def read(ws):
                return catalog.service_nodes(ws, req.ServiceName, tags, req.NodeMetaFilters,
                                             req.ServiceKind)
        def shape(rows: list[ServiceNode]) -> list[ServiceNode]:
            return sort_near(store, source, self.server.config.datacenter,
                             keep.apply(rows), lambda r: r.Node)

        reply = await self.server.read_into(
            req, IndexedServiceNodes(), "ServiceNodes", read, shape,
            lambda rows, reply: acl_filter.service_nodes(ident, rows, reply))
        if req.ServiceName:
            count_service_query("catalog", req.ServiceName, not reply.ServiceNodes)
        return reply

    async def GatewayServices(self, req: ServiceSpecificRequest) -> IndexedGatewayServices:
        if not req.ServiceName:
            raise BadRequest("Must provide gateway name")
        keep = ResultFilter(req.Filter, GatewayService)
        ident = self.server.authz.resolve(req.Token)
        ident.require("service_read", req.ServiceName)
        return await self.server.read_into(
            req, IndexedGatewayServices(), "Services",
            lambda ws: self.server.store.gateway_services_of(ws, req.ServiceName),
            lambda rows: keep.apply(rows) or None,
            lambda rows, reply: acl_filter.gateway_services(ident, rows, reply))

    async def VirtualIPForService(self, req: ServiceSpecificRequest) -> str:
        """The service's automatic virtual IP ("" for none); needs ``service:read``."""
        self.server.authz.resolve(req.Token).require("service_read", req.ServiceName)
        return self.server.store.virtual_ip_for_service(req.ServiceName, req.PeerName)

    async def NodeServices(self, req: NodeSpecificRequest) -> IndexedNodeServices:
        if not req.Node:
            raise BadRequest("Must provide node")
        keep = ResultFilter(req.Filter, NodeService)
        ident = self.server.authz.resolve(req.Token)
        return await self.server.read_into(
            req, IndexedNodeServices(), "NodeServices",
            lambda ws: self.server.store.catalog_reader(req.PeerName).node_services(
                ws, req.Node),
            lambda found: found and replace(found, Services=keep.apply_map(found.Services)),
            lambda found, reply: acl_filter.node_services(ident, found, reply))

    async def NodeServiceList(self, req: NodeSpecificRequest) -> IndexedNodeServiceList:
        if not req.Node:
            raise BadRequest("Must provide node")
        keep = ResultFilter(req.Filter, NodeService)
        ident = self.server.authz.resolve(req.Token)
        return await self.server.read_into(
            req, IndexedNodeServiceList(), "NodeServices",
            lambda ws: self.server.store.catalog_reader(req.PeerName).node_service_list(
                ws, req.Node),
            lambda found: found and replace(found, Services=keep.apply(found.Services)),
            lambda found, reply: acl_filter.node_services(ident, found, reply))


def has_peer_name(req: RegisterRequest) -> bool:
    """Whether a registration names a peer anywhere (node, service or a check)."""
    if req.PeerName or (req.Service is not None and req.Service.PeerName) \
            or (req.Check is not None and req.Check.PeerName):
        return True
    if req.Checks:  # a loop, not any(): every registration goes through here
        for check in req.Checks:
            if check.PeerName:
                return True
    return False


_SERVICE_QUERY_KEYS: dict[tuple[str, str, bool], tuple[Key, ...]] = {}
SERVICE_QUERY_KEYS_KEPT = 4096  # services whose counter keys are made once


def count_service_query(kind: str, service: str, not_found: bool) -> None:
    """Consul's consul.<catalog|health>.service.query (and .not-found) counters."""
    keys = _SERVICE_QUERY_KEYS.get((kind, service, not_found))
    if keys is None:
        labels = {"service": service}
        if len(_SERVICE_QUERY_KEYS) >= SERVICE_QUERY_KEYS_KEPT:  # no more keys kept
            metrics.incr_counter(f"consul.{kind}.service.query", labels=labels)
            if not_found:
                metrics.incr_counter(f"consul.{kind}.service.not-found", labels=labels)
            return
        keys = (sample_key(f"consul.{kind}.service.query", labels),)
        if not_found:
            keys += (sample_key(f"consul.{kind}.service.not-found", labels),)
        _SERVICE_QUERY_KEYS[kind, service, not_found] = keys
    metrics.incr_counters(keys)  # routed once per keys, kept by the registry too
