"""``PUT /v1/internal/service-virtual-ip``: assign manual virtual IPs to a service
(Consul's AssignManualServiceVIPs), answered by the Internal.AssignManualServiceVIPs RPC."""

from __future__ import annotations

from msgspec.structs import replace

from proconsul.agent.http.decode import decode_json
from proconsul.agent.http.params import datacenter, token
from proconsul.agent.http.reply import json_reply
from proconsul.lib import httpserver as web
from proconsul.structs.errors import BadRequest
from proconsul.structs.virtual_ip import AssignServiceManualVIPsRequest, manual_vips_problem


async def assign_manual_vips(request: web.Request) -> web.Response:
    """A 400 for a body without a service or with a non-IPv4 VIP, else the RPC's reply
    ``{"Found": ..., "UnassignedFrom": [...]}``."""
    body = decode_json(await request.read() or b"{}", AssignServiceManualVIPsRequest)
    if not body.Service:
        raise BadRequest("Missing service name")
    problem = manual_vips_problem(body.ManualVIPs or [])
    if problem:
        raise BadRequest(problem)
    req = replace(body, Datacenter=datacenter(request), Token=token(request))
    reply = await request.app["agent"].rpc("Internal.AssignManualServiceVIPs", req)
    return json_reply(request, reply)


def add_routes(router: web.Router) -> None:
    router.add_put("/v1/internal/service-virtual-ip", assign_manual_vips)
