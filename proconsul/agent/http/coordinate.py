"""/v1/coordinate/*: network coordinates of datacenters and nodes."""

from __future__ import annotations

from proconsul.agent.http.decode import decode_json
from proconsul.agent.http.params import datacenter, query_options, token
from proconsul.agent.http.reply import empty_reply, json_reply
from proconsul.lib import httpserver as web
from proconsul.server.filtering import ResultFilter
from proconsul.structs.coordinate import (
    CoordinateEntry,
    CoordinateNodeRequest,
    CoordinateUpdateRequest,
)
from proconsul.structs.errors import BadRequest


async def datacenters(request: web.Request) -> web.Response:
    return json_reply(request, await request.app["agent"].rpc("Coordinate.ListDatacenters",
                                                              None))


async def nodes(request: web.Request) -> web.Response:
    req = query_options(request, CoordinateNodeRequest(Datacenter=datacenter(request)))
    keep = ResultFilter(req.Filter, CoordinateEntry)
    reply = await request.app["agent"].rpc("Coordinate.ListNodes", req)
    segment = request.query.get("segment")
    entries = [e for e in keep.apply(reply.Coordinates) if segment is None or e.Segment == segment]
    return json_reply(request, entries, meta=reply)


async def node(request: web.Request) -> web.Response:
    name = request.match_info.get("node", "")
    if not name:
        raise BadRequest("Missing node name")
    req = query_options(request, CoordinateNodeRequest(Datacenter=datacenter(request),
                                                       Node=name))
    reply = await request.app["agent"].rpc("Coordinate.Node", req)
    if not reply.Coordinates:
        return empty_reply(404, reply)
    return json_reply(request, reply.Coordinates, meta=reply)


async def update(request: web.Request) -> web.Response:
    req = decode_json(await request.read(), CoordinateUpdateRequest)
    req.Datacenter = req.Datacenter or datacenter(request)
    req.Token = token(request)
    await request.app["agent"].rpc("Coordinate.Update", req)
    return json_reply(request, True)


def add_routes(router: web.Router) -> None:
    router.add_get("/v1/coordinate/datacenters", datacenters)
    router.add_get("/v1/coordinate/nodes", nodes)
    router.add_get("/v1/coordinate/node/{node:.*}", node)
    router.add_put("/v1/coordinate/update", update)
