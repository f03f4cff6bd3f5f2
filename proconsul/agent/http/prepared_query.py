"""/v1/query: create, list, read, update, delete, execute and explain prepared queries."""

from __future__ import annotations

import ipaddress

from proconsul.agent.cache.types import PreparedQueryExecute
from proconsul.agent.http.cached import cached_rpc, set_cache_meta
from proconsul.agent.http.decode import decode_json
from proconsul.agent.http.params import datacenter, flag, query_options, token
from proconsul.agent.http.reply import json_reply
from proconsul.lib import httpserver as web
from proconsul.structs.errors import BadRequest
from proconsul.structs.prepared_query import (
    QUERY_OP_CREATE,
    QUERY_OP_DELETE,
    QUERY_OP_UPDATE,
    PreparedQuery,
    PreparedQueryExecuteRequest,
    PreparedQueryRequest,
    PreparedQuerySpecificRequest,
    QuerySource,
)
from proconsul.structs.requests import DCSpecificRequest

EXECUTE = PreparedQueryExecute()


async def _apply(request: web.Request, op: str, query: PreparedQuery) -> str:
    req = PreparedQueryRequest(Op=op, Query=query, Datacenter=datacenter(request),
                               Token=token(request))
    return await request.app["agent"].rpc("PreparedQuery.Apply", req)


async def create(request: web.Request) -> web.Response:
    body = await request.read()
    query = decode_json(body, PreparedQuery) if body.strip() else PreparedQuery()
    query_id = await _apply(request, QUERY_OP_CREATE, query)
    return json_reply(request, {"ID": query_id})


async def query_list(request: web.Request) -> web.Response:
    req = query_options(request, DCSpecificRequest(Datacenter=datacenter(request)))
    reply = await request.app["agent"].rpc("PreparedQuery.List", req)
    return json_reply(request, reply.Queries, meta=reply)


async def get(request: web.Request) -> web.Response:
    req = query_options(request, PreparedQuerySpecificRequest(
        Datacenter=datacenter(request), QueryID=request.match_info["id"]))
    reply = await request.app["agent"].rpc("PreparedQuery.Get", req)
    return json_reply(request, reply.Queries, meta=reply)


async def update(request: web.Request) -> web.Response:
    body = await request.read()
    query = decode_json(body, PreparedQuery) if body.strip() else PreparedQuery()
    query.ID = request.match_info["id"]  # the URL's ID, not the body's
    await _apply(request, QUERY_OP_UPDATE, query)
    return web.Response(status=200)


async def delete(request: web.Request) -> web.Response:
    await _apply(request, QUERY_OP_DELETE, PreparedQuery(ID=request.match_info["id"]))
    return web.Response(status=200)


def source_ip(request: web.Request) -> str:
    """The caller's address for ``near=_ip``: the first valid X-Forwarded-For entry, else
    the connection's peer (as Consul's ``sourceAddrFromRequest``)."""
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
    try:
        return str(ipaddress.ip_address(forwarded))
    except ValueError:
        return request.remote or ""


def execute_request(request: web.Request) -> PreparedQueryExecuteRequest:
    """The execute/explain request: the agent as the caller, ``?near``, ``?limit``, ``?connect``."""
    config = request.app["agent"].config
    query = request.query
    limit = 0
    if query.get("limit"):
        try:
            limit = int(query["limit"])
        except ValueError:
            raise BadRequest(f"Bad limit: strconv.Atoi: parsing {query['limit']!r}: "
                             "invalid syntax") from None
    source = QuerySource(Datacenter=config.datacenter, Node=query.get("near", ""),
                         Ip=source_ip(request))
    req = PreparedQueryExecuteRequest(
        Datacenter=datacenter(request), QueryIDOrName=request.match_info["id"], Limit=limit,
        Connect=flag(query, "connect"), Source=source,
        Agent=QuerySource(Datacenter=config.datacenter, Node=config.node_name))
    return query_options(request, req)


async def execute(request: web.Request) -> web.Response:
    reply, cached = await cached_rpc(request, EXECUTE, execute_request(request))
    return set_cache_meta(json_reply(request, reply, meta=reply), cached)


async def explain(request: web.Request) -> web.Response:
    reply = await request.app["agent"].rpc("PreparedQuery.Explain", execute_request(request))
    return json_reply(request, reply, meta=reply)


def add_routes(router: web.Router) -> None:
    router.add_get("/v1/query", query_list)
    router.add_post("/v1/query", create)
    router.add_get("/v1/query/{id:.+}/execute", execute)
    router.add_get("/v1/query/{id:.+}/explain", explain)
    router.add_get("/v1/query/{id:[^/]*}", get)
    router.add_put("/v1/query/{id:[^/]*}", update)
    router.add_delete("/v1/query/{id:[^/]*}", delete)
