"""/v1/kv/<key>: get (single, recurse, keys, raw), put (set, cas, acquire, release), delete."""

from __future__ import annotations

from urllib.parse import urlencode

from proconsul.agent.http.params import datacenter, query_options, set_meta, token, uint
from proconsul.agent.http.reply import empty_reply, json_reply
from proconsul.agent.http.shared_reads import shared
from proconsul.lib import httpserver as web
from proconsul.structs.errors import BadRequest, TooLarge
from proconsul.structs.kv import DirEntry, KVOp, KVSRequest
from proconsul.structs.requests import KeyListRequest, KeyRequest

KV_MAX_VALUE_SIZE = 512 * 1024
KV_SIZE_DOC = "https://developer.hashicorp.com/consul/docs/agent/config/config-files#kv_max_value_size"


def _key(request: web.Request) -> str:
    return request.match_info.get("key", "")


def _missing_key(key: str) -> None:
    if not key:
        raise BadRequest("Missing key name")


async def get(request: web.Request) -> web.StreamResponse:
    agent = request.app["agent"]
    query = request.query
    key = _key(request)
    dc = datacenter(request)
    if "keys" in query:
        separator = query.get("separator", query.get("seperator", ""))
        req = query_options(request, KeyListRequest(Datacenter=dc, Prefix=key,
                                                    Seperator=separator))
        reply = await agent.rpc("KVS.ListKeys", req)
        if not reply.Keys and key:
            return empty_reply(404, reply)
        return json_reply(request, reply.Keys, meta=reply)
    recurse = "recurse" in query
    if not recurse:
        _missing_key(key)
    req = query_options(request, KeyRequest(Datacenter=dc, Key=key))
    reply = await agent.rpc("KVS.List" if recurse else "KVS.Get", req)
    if not reply.Entries:
        return empty_reply(404, reply)
    if "raw" in query:
        response = web.Response(body=reply.Entries[0].Value or b"", status=200)
        response.headers["Content-Type"] = "text/plain"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "sandbox"
        set_meta(response, reply)
        return response
    return json_reply(request, reply.Entries, meta=reply)


def _conflicting(request: web.Request, names: tuple[str, ...]) -> None:
    if not request.query_string:
        return
    present = [n for n in names if n in request.query]
    if len(present) > 1:
        raise BadRequest("Conflicting flags: " + urlencode(
            [(n, request.query[n]) for n in sorted(request.query) if n in names]))


async def put(request: web.Request) -> web.Response:
    key = _key(request)
    _missing_key(key)
    query = request.query
    _conflicting(request, ("cas", "acquire", "release"))
    entry = DirEntry(Key=key, Flags=uint(query, "flags", "Invalid flags") or 0)
    op = KVOp.SET
    if "cas" in query:
        op = KVOp.CAS
        entry.ModifyIndex = uint(query, "cas", "Invalid cas index") or 0
    elif "acquire" in query:
        op, entry.Session = KVOp.LOCK, query["acquire"]
    elif "release" in query:
        op, entry.Session = KVOp.UNLOCK, query["release"]
    body = await request.read()
    if len(body) > KV_MAX_VALUE_SIZE:
        raise TooLarge(f"Request body({len(body)} bytes) too large, max size: "
                       f"{KV_MAX_VALUE_SIZE} bytes. See {KV_SIZE_DOC}.")
    entry.Value = body or None
    req = KVSRequest(Op=op, DirEnt=entry, Datacenter=datacenter(request), Token=token(request))
    return json_reply(request, await request.app["agent"].rpc("KVS.Apply", req))


async def delete(request: web.Request) -> web.Response:
    key = _key(request)
    query = request.query
    _conflicting(request, ("recurse", "cas"))
    entry = DirEntry(Key=key)
    if "recurse" in query:
        op = KVOp.DELETE_TREE
    else:
        _missing_key(key)
        op = KVOp.DELETE
        if "cas" in query:
            op = KVOp.DELETE_CAS
            entry.ModifyIndex = uint(query, "cas", "Invalid cas index") or 0
    req = KVSRequest(Op=op, DirEnt=entry, Datacenter=datacenter(request), Token=token(request))
    return json_reply(request, await request.app["agent"].rpc("KVS.Apply", req))


def add_routes(router: web.Router) -> None:
    shared_get = shared(get)
    for path in ("/v1/kv/{key:.*}", "/v1/kv"):
        router.add_get(path, shared_get, allow_head=False)
        router.add_put(path, put)
        router.add_delete(path, delete)
