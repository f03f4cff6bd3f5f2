"""``/v1/internal/federation-state(s)``: the read-only federation state endpoints
(Consul's agent/federation_state_endpoint.go), answered by FederationState.* RPCs."""

from __future__ import annotations

from proconsul.agent.http.params import datacenter, query_options
from proconsul.agent.http.reply import empty_reply, json_reply
from proconsul.lib import httpserver as web
from proconsul.structs.errors import BadRequest
from proconsul.structs.federation_state import FederationStateQuery
from proconsul.structs.requests import DCSpecificRequest


async def federation_states(request: web.Request) -> web.Response:
    req = query_options(request, DCSpecificRequest(Datacenter=datacenter(request)))
    reply = await request.app["agent"].rpc("FederationState.List", req)
    return json_reply(request, reply.States, meta=reply)


async def federation_state(request: web.Request) -> web.Response:
    """One datacenter's state, as the whole response object (Consul's shape); 404 when
    that datacenter has none."""
    name = request.match_info.get("dc", "")
    if not name:
        raise BadRequest("Missing datacenter name")
    req = query_options(request, FederationStateQuery(
        Datacenter=name, TargetDatacenter=datacenter(request)))
    reply = await request.app["agent"].rpc("FederationState.Get", req)
    if reply.State is None:
        return empty_reply(404, reply)
    body = {"State": reply.State, "Index": reply.Index,
            "LastContact": reply.LastContact * 1_000_000,  # a Go duration, in ns
            "KnownLeader": reply.KnownLeader, "ConsistencyLevel": reply.ConsistencyLevel,
            "NotModified": False, "Backend": 0,
            "ResultsFilteredByACLs": reply.ResultsFilteredByACLs}
    return json_reply(request, body, meta=reply)


async def federation_state_mesh_gateways(request: web.Request) -> web.Response:
    req = query_options(request, DCSpecificRequest(Datacenter=datacenter(request)))
    reply = await request.app["agent"].rpc("FederationState.ListMeshGateways", req)
    return json_reply(request, reply.DatacenterNodes, meta=reply)


def add_routes(router: web.Router) -> None:
    router.add_get("/v1/internal/federation-states", federation_states)
    router.add_get("/v1/internal/federation-states/mesh-gateways",
                   federation_state_mesh_gateways)
    router.add_get("/v1/internal/federation-state/{dc:.*}", federation_state)
