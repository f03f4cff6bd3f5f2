"""/v1/health/*: checks by node, service and state; healthy service instances."""

from __future__ import annotations

from msgspec.structs import replace

from proconsul.agent.cache import HealthServices
from proconsul.agent.http.cached import cached_rpc, set_cache_meta
from proconsul.agent.http.catalog import near_source, node_request, service_request
from proconsul.agent.http.params import datacenter, flag, node_meta, peer, query_options
from proconsul.agent.http.reply import json_reply, shared_json_reply
from proconsul.agent.http.shared_reads import shared
from proconsul.lib import httpserver as web
from proconsul.structs.catalog import HEALTH_PASSING, CheckServiceNode
from proconsul.structs.errors import BadRequest
from proconsul.structs.requests import ChecksInStateRequest, ServiceSpecificRequest

HEALTH_SERVICES = HealthServices()


async def node_checks(request: web.Request) -> web.Response:
    reply = await request.app["agent"].rpc("Health.NodeChecks", node_request(request))
    return json_reply(request, reply.HealthChecks, meta=reply)


async def service_checks(request: web.Request) -> web.Response:
    reply = await request.app["agent"].rpc("Health.ServiceChecks", service_request(request))
    return json_reply(request, reply.HealthChecks, meta=reply)


async def checks_in_state(request: web.Request) -> web.Response:
    state = request.match_info.get("state", "")
    if not state:
        raise BadRequest("Missing check state")
    req = ChecksInStateRequest(Datacenter=datacenter(request), State=state,
                               NodeMetaFilters=node_meta(request.query),
                               Source=near_source(request), PeerName=peer(request))
    reply = await request.app["agent"].rpc("Health.ChecksInState", query_options(request, req))
    return json_reply(request, reply.HealthChecks, meta=reply)


async def service_nodes(request: web.Request) -> web.Response:
    return await _service_nodes(request, service_request(request))


async def connect_nodes(request: web.Request) -> web.Response:
    """Connect-capable instances of a service with their checks."""
    return await _service_nodes(request, replace(service_request(request), Connect=True))


async def ingress_nodes(request: web.Request) -> web.Response:
    """The ingress gateways exposing a service, with their checks."""
    return await _service_nodes(request, replace(service_request(request), Ingress=True))


async def _service_nodes(request: web.Request, req: ServiceSpecificRequest) -> web.Response:
    try:
        passing = flag(request.query, "passing")
    except BadRequest:
        raise BadRequest("Invalid value for ?passing") from None
    reply, cached = await cached_rpc(request, HEALTH_SERVICES, req)
    response = shared_json_reply(request, reply.Nodes, reply,
                                 _passing_nodes if passing else listed_nodes, passing)
    return set_cache_meta(response, cached)


def listed_nodes(nodes: list[CheckServiceNode]) -> list[CheckServiceNode]:
    """Instances as Consul lists them: a service without tags has ``Tags: []``."""
    return [n if n.Service.Tags is not None
            else replace(n, Service=replace(n.Service, Tags=[])) for n in nodes]


def _passing_nodes(nodes: list[CheckServiceNode]) -> list[CheckServiceNode]:
    """``?passing``: the instances whose checks all pass."""
    return listed_nodes([n for n in nodes if all(c.Status == HEALTH_PASSING for c in n.Checks)])


def add_routes(router: web.Router) -> None:
    router.add_get("/v1/health/node/{node:.*}", shared(node_checks))
    router.add_get("/v1/health/checks/{service:.*}", shared(service_checks))
    router.add_get("/v1/health/state/{state:.*}", shared(checks_in_state))
    router.add_get("/v1/health/service/{service:.*}", shared(service_nodes))
    router.add_get("/v1/health/connect/{service:.*}", connect_nodes)
    router.add_get("/v1/health/ingress/{service:.*}", ingress_nodes)
