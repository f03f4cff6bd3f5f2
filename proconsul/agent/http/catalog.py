"""/v1/catalog/*: register, deregister and the catalog reads."""

from __future__ import annotations

import logging

from msgspec.structs import replace

from proconsul.agent.cache import (
    CatalogDatacenters,
    CatalogListServices,
    CatalogServices,
    GatewayServices,
)
from proconsul.agent.http.cached import cached_rpc, set_cache_meta
from proconsul.agent.http.decode import decode_json
from proconsul.agent.http.params import datacenter, node_meta, peer, query_options, token
from proconsul.agent.http.reply import json_reply, shared_json_reply
from proconsul.agent.http.shared_reads import shared
from proconsul.lib import httpserver as web
from proconsul.structs.catalog import DeregisterRequest, NodeServiceList, RegisterRequest
from proconsul.structs.errors import BadRequest
from proconsul.structs.requests import (
    DCSpecificRequest,
    NodeSpecificRequest,
    QuerySource,
    ServiceSpecificRequest,
)

log = logging.getLogger("agent.http")

DATACENTERS, LIST_SERVICES, SERVICES = CatalogDatacenters(), CatalogListServices(), CatalogServices()
GATEWAY_SERVICES = GatewayServices()


OWNED_NODE_WARNING = ('299 proconsul "node {node} is managed by its agent: anti-entropy '
                      'will revert this catalog change; register with the agent instead"')


def owned_node_warning(request: web.Request, node: str,
                        response: web.Response) -> web.Response:
    """Say so when a catalog write touches a node whose own agent keeps it in sync
    (see :func:`agent_owned`)."""
    if agent_owned(request.app["agent"], node):
        response.headers["Warning"] = OWNED_NODE_WARNING.format(node=node)
    return response


def agent_owned(agent, node: str) -> bool:
    """Whether ``node`` is agent-owned, logged as such: a live member of LAN gossip.
    For this agent's own node the revert is started at once."""
    wanted = node.lower()
    own = wanted == agent.config.node_name.lower()
    if not (own or any(m.name.lower() == wanted and int(m.status) == 1
                       for m in agent.gossip.lan.members())):
        return False
    log.warning("catalog write for node %s, which an agent owns: anti-entropy will "
                "revert it", node)
    if own:
        agent.anti_entropy.trigger_full_sync()
    return True


async def register(request: web.Request) -> web.Response:
    req = decode_json(await request.read(), RegisterRequest)
    req.Datacenter = req.Datacenter or datacenter(request)
    req.Token = token(request)
    await request.app["agent"].rpc("Catalog.Register", req)
    return owned_node_warning(request, req.Node, json_reply(request, True))


async def deregister(request: web.Request) -> web.Response:
    req = decode_json(await request.read(), DeregisterRequest)
    req.Datacenter = req.Datacenter or datacenter(request)
    req.Token = token(request)
    await request.app["agent"].rpc("Catalog.Deregister", req)
    return owned_node_warning(request, req.Node, json_reply(request, True))


async def datacenters(request: web.Request) -> web.Response:
    req = query_options(request, DCSpecificRequest())
    names, cached = await cached_rpc(request, DATACENTERS, req)
    return set_cache_meta(json_reply(request, names), cached)


async def nodes(request: web.Request) -> web.Response:
    req = query_options(request, DCSpecificRequest(Datacenter=datacenter(request),
                                                   NodeMetaFilters=node_meta(request.query),
                                                   Source=near_source(request),
                                                   PeerName=peer(request)))
    reply = await request.app["agent"].rpc("Catalog.ListNodes", req)
    return shared_json_reply(request, reply.Nodes, reply)


async def services(request: web.Request) -> web.Response:
    req = query_options(request, DCSpecificRequest(Datacenter=datacenter(request),
                                                   NodeMetaFilters=node_meta(request.query),
                                                   PeerName=peer(request)))
    reply, cached = await cached_rpc(request, LIST_SERVICES, req)
    return set_cache_meta(shared_json_reply(request, reply.Services, reply), cached)


def service_request(request: web.Request) -> ServiceSpecificRequest:
    """The shared parameters of per-service reads (catalog and health)."""
    name = request.match_info.get("service", "")
    if not name:
        raise BadRequest("Missing service name")
    tags = request.query.getall("tag", [])
    req = ServiceSpecificRequest(Datacenter=datacenter(request), ServiceName=name,
                                 ServiceTags=tags or None, TagFilter=bool(tags),
                                 NodeMetaFilters=node_meta(request.query),
                                 Source=near_source(request), PeerName=peer(request))
    return query_options(request, req)


def near_source(request: web.Request) -> QuerySource | None:
    """``?near=<node>`` (``_agent``: this agent's node) as the read's source."""
    near = request.query.get("near", "")
    if not near:
        return None
    config = request.app["agent"].config
    return QuerySource(Datacenter=config.datacenter,
                       Node=config.node_name if near == "_agent" else near)


async def connect(request: web.Request) -> web.Response:
    """Connect-capable instances: sidecar proxies for the service, and native instances."""
    req = replace(service_request(request), Connect=True, ServiceTags=None, TagFilter=False)
    reply, cached = await cached_rpc(request, SERVICES, req)
    rows = [row if row.ServiceTags is not None else replace(row, ServiceTags=[])
            for row in reply.ServiceNodes]
    return set_cache_meta(json_reply(request, rows, meta=reply), cached)


async def gateway_services(request: web.Request) -> web.Response:
    """The services an ingress or terminating gateway fronts."""
    name = request.match_info.get("gateway", "")
    if not name:
        raise BadRequest("Missing gateway name")
    req = query_options(request, ServiceSpecificRequest(Datacenter=datacenter(request),
                                                        ServiceName=name))
    reply, cached = await cached_rpc(request, GATEWAY_SERVICES, req)
    return set_cache_meta(json_reply(request, reply.Services or [], meta=reply), cached)


async def service(request: web.Request) -> web.Response:
    reply, cached = await cached_rpc(request, SERVICES, service_request(request))
    rows = [row if row.ServiceTags is not None else replace(row, ServiceTags=[])
            for row in reply.ServiceNodes]
    return set_cache_meta(json_reply(request, rows, meta=reply), cached)


def node_request(request: web.Request) -> NodeSpecificRequest:
    name = request.match_info.get("node", "")
    if not name:
        raise BadRequest("Missing node name")
    return query_options(request, NodeSpecificRequest(Datacenter=datacenter(request), Node=name,
                                                      PeerName=peer(request)))


async def node(request: web.Request) -> web.Response:
    reply = await request.app["agent"].rpc("Catalog.NodeServices", node_request(request))
    found = reply.NodeServices
    if found is not None:
        found = replace(found, Services={
            sid: s if s.Tags is not None else replace(s, Tags=[])
            for sid, s in found.Services.items()})
    return json_reply(request, found, meta=reply)


async def node_services(request: web.Request) -> web.Response:
    reply = await request.app["agent"].rpc("Catalog.NodeServiceList", node_request(request))
    found = reply.NodeServices
    if found is None:  # Consul replies with its zero NodeServiceList
        return json_reply(request, {"Node": None, "Services": None}, meta=reply)
    services = [s if s.Tags is not None else replace(s, Tags=[]) for s in found.Services]
    return json_reply(request, NodeServiceList(Node=found.Node, Services=services), meta=reply)


def add_routes(router: web.Router) -> None:
    router.add_put("/v1/catalog/register", register)
    router.add_put("/v1/catalog/deregister", deregister)
    router.add_get("/v1/catalog/datacenters", datacenters)
    router.add_get("/v1/catalog/nodes", shared(nodes))
    router.add_get("/v1/catalog/services", shared(services))
    router.add_get("/v1/catalog/service/{service:.*}", shared(service))
    router.add_get("/v1/catalog/node/{node:.*}", node)
    router.add_get("/v1/catalog/node-services/{node:.*}", node_services)
    router.add_get("/v1/catalog/connect/{service:.*}", connect)
    router.add_get("/v1/catalog/gateway-services/{gateway:.*}", gateway_services)
