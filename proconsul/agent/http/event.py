"""/v1/event/{fire,list}: Consul user events over LAN gossip."""

from __future__ import annotations

import uuid

from proconsul.agent.http.acl_gate import identity, mark_filtered
from proconsul.agent.http.params import datacenter, query_options, token
from proconsul.agent.http.reply import json_reply
from proconsul.agent.user_events import UserEventRecord
from proconsul.lib import httpserver as web
from proconsul.server.blocking import query_timeout
from proconsul.structs.errors import BadRequest
from proconsul.structs.event import EventFireRequest
from proconsul.structs.query import QueryMeta, QueryOptions


async def fire(request: web.Request) -> web.Response:
    agent = request.app["agent"]
    dc = datacenter(request)
    name = request.match_info.get("name", "")
    if not name:
        raise BadRequest("Missing name")
    query = request.query
    record = UserEventRecord(ID=str(uuid.uuid4()), Name=name,
                             Payload=(await request.read()) or None,
                             NodeFilter=query.get("node", ""),
                             ServiceFilter=query.get("service", ""),
                             TagFilter=query.get("tag", ""))
    if record.TagFilter and not record.ServiceFilter:
        raise BadRequest("Cannot provide tag filter without service filter.")
    serf_name, payload = agent.user_events.encode(record)
    if dc != agent.config.datacenter:
        await agent.rpc("Internal.EventFire", EventFireRequest(
            Datacenter=dc, Name=name, Payload=payload, Token=token(request)))
        return json_reply(request, record)
    try:
        agent.gossip.lan.driver.user_event(serf_name, payload)
    except ValueError as err:
        raise BadRequest(f"UserEvent payload too large: {err}") from None
    return json_reply(request, record)


async def event_list(request: web.Request) -> web.Response:
    agent = request.app["agent"]
    opts = query_options(request, QueryOptions())
    name = request.query.get("name", "")
    if opts.MinQueryIndex:
        index, events = await agent.user_events.wait_list(name, opts.MinQueryIndex,
                                                          query_timeout(opts.MaxQueryTime))
    else:
        index, events = agent.user_events.list(name)
    ident, meta = await identity(request), QueryMeta()
    events = ident.keep(events, lambda e: ident.allowed("event_read", e.Name), meta)
    response = mark_filtered(json_reply(request, events), meta)
    response.headers["X-Consul-Index"] = str(index)
    return response


def add_routes(router: web.Router) -> None:
    router.add_put("/v1/event/fire/{name:.*}", fire)
    router.add_get("/v1/event/list", event_list)


