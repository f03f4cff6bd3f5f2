"""/v1/status/*: the leader and the raft peers."""

from __future__ import annotations

from proconsul.agent.http.params import datacenter
from proconsul.agent.http.reply import json_reply
from proconsul.lib import httpserver as web
from proconsul.structs.requests import DCSpecificRequest


async def leader(request: web.Request) -> web.Response:
    req = DCSpecificRequest(Datacenter=datacenter(request))
    return json_reply(request, await request.app["agent"].rpc("Status.Leader", req))


async def peers(request: web.Request) -> web.Response:
    req = DCSpecificRequest(Datacenter=datacenter(request))
    return json_reply(request, await request.app["agent"].rpc("Status.Peers", req))


def add_routes(router: web.Router) -> None:
    router.add_get("/v1/status/leader", leader)
    router.add_get("/v1/status/peers", peers)
