"""/v1/connect/intentions: the legacy ID API, the exact API, check and match;
and /v1/agent/connect/authorize, which judges a client certificate by them.

Intentions are the sources of ``service-intentions`` config entries: reads
list those entries and view them with :mod:`proconsul.server.connect.intentions`;
writes go to the servers' Intention.Apply, which edits the entries.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET

from proconsul.agent.http.acl_gate import identity
from proconsul.agent.http.decode import decode_json
from proconsul.agent.http.params import datacenter, query_options, token
from proconsul.agent.http.reply import json_reply
from proconsul.lib import httpserver as web
from proconsul.server.connect.intentions import (
    DEFAULT_REASON,
    all_intentions,
    authorize,
    decide,
    find_exact,
    match,
)
from proconsul.structs.config_entries import load
from proconsul.structs.config_entries.intentions import (
    DEFAULT_NAMESPACE,
    ServiceIntentionsConfigEntry,
)
from proconsul.structs.config_entry_rpc import (
    INTENTION_OP_CREATE,
    INTENTION_OP_DELETE,
    INTENTION_OP_UPDATE,
    INTENTION_OP_UPSERT,
    ConfigEntryQuery,
    IntentionRequest,
)
from proconsul.structs.connect_ids import InvalidCertURI, SpiffeIDService, parse_cert_uri
from proconsul.structs.errors import BadRequest, NotFound
from proconsul.structs.intention import (
    MATCH_DESTINATION,
    MATCH_SOURCE,
    Intention,
    IntentionQueryExact,
)
from proconsul.structs.query import QueryMeta

KIND = ServiceIntentionsConfigEntry.KIND
ERR_NOT_FOUND = "Intention not found"
ACLS_DISABLED_REASON = "ACLs disabled, access is allowed by default"


class ConnectAuthorizeRequest(msgspec.Struct):
    """The body of ``POST /v1/agent/connect/authorize`` (Consul's api.AgentAuthorizeParams)."""

    Target: str = ""
    ClientCertURI: str = ""
    ClientCertSerial: str = ""


async def _entries(request: web.Request) -> tuple[list[ServiceIntentionsConfigEntry], QueryMeta]:
    req = query_options(request, ConfigEntryQuery(Datacenter=datacenter(request), Kind=KIND))
    reply = await request.app["agent"].rpc("ConfigEntry.List", req)
    return [load(raw) for raw in reply.Entries], reply  # type: ignore[misc]


async def _apply(request: web.Request, op: str, ixn: Intention) -> str:
    req = IntentionRequest(Op=op, Datacenter=datacenter(request), Intention=ixn,
                           Token=token(request))
    return await request.app["agent"].rpc("Intention.Apply", req)


def _name(value: str, what: str) -> tuple[str, str]:
    """``name`` or ``namespace/name`` (Consul's parseIntentionMatchEntry)."""
    namespace, sep, name = value.partition("/")
    if not sep:
        return DEFAULT_NAMESPACE, value
    if "/" in name:
        raise BadRequest(f"{what} {value!r} is invalid: input can contain at most one '/'")
    return namespace, name


def _required(request: web.Request, name: str) -> str:
    values = request.query.getall(name, [])
    if len(values) != 1:
        raise BadRequest(f"required query parameter '{name}' not set")
    return values[0]


async def _body(request: web.Request) -> Intention:
    return decode_json(await request.read() or b"null", Intention)


async def list_intentions(request: web.Request) -> web.Response:
    entries, meta = await _entries(request)
    return json_reply(request, all_intentions(entries), meta=meta)


async def create(request: web.Request) -> web.Response:
    ixn = await _body(request)
    return json_reply(request, {"ID": await _apply(request, INTENTION_OP_CREATE, ixn)})


async def get_by_id(request: web.Request) -> web.Response:
    entries, meta = await _entries(request)
    for ixn in all_intentions(entries):
        if request.match_info["id"] == ixn.ID:
            return json_reply(request, ixn, meta=meta)
    raise NotFound(ERR_NOT_FOUND)


async def update_by_id(request: web.Request) -> web.Response:
    ixn = await _body(request)
    ixn.ID = request.match_info["id"]
    await _apply(request, INTENTION_OP_UPDATE, ixn)
    return json_reply(request, True)


async def delete_by_id(request: web.Request) -> web.Response:
    await _apply(request, INTENTION_OP_DELETE, Intention(ID=request.match_info["id"]))
    return json_reply(request, True)


def _exact(request: web.Request) -> IntentionQueryExact:
    src_ns, src = _name(_required(request, "source"), "source")
    dst_ns, dst = _name(_required(request, "destination"), "destination")
    query = IntentionQueryExact(SourceNS=src_ns, SourceName=src, DestinationNS=dst_ns,
                                DestinationName=dst)
    query.validate()
    return query


async def get_exact(request: web.Request) -> web.Response:
    query = _exact(request)
    entries, meta = await _entries(request)
    found = find_exact(entries, query)
    if found is None:
        raise NotFound(ERR_NOT_FOUND)
    return json_reply(request, found, meta=meta)


async def put_exact(request: web.Request) -> web.Response:
    query = _exact(request)
    ixn = await _body(request)
    ixn.SourceNS, ixn.SourceName = query.SourceNS, query.SourceName
    ixn.DestinationNS, ixn.DestinationName = query.DestinationNS, query.DestinationName
    ixn.ID = UNSET
    await _apply(request, INTENTION_OP_UPSERT, ixn)
    return json_reply(request, True)


async def delete_exact(request: web.Request) -> web.Response:
    query = _exact(request)
    await _apply(request, INTENTION_OP_DELETE, Intention(
        SourceNS=query.SourceNS, SourceName=query.SourceName,
        DestinationNS=query.DestinationNS, DestinationName=query.DestinationName))
    return json_reply(request, True)


async def check(request: web.Request) -> web.Response:
    """Would a connection from ``source`` to ``destination`` be allowed (L4)?"""
    src_ns, src = _name(_required(request, "source"), "source")
    dst_ns, dst = _name(_required(request, "destination"), "destination")
    ident = await identity(request)
    ident.require("service_read", dst)
    entries, meta = await _entries(request)
    default_allow = not ident.enforcing or ident.allowed("intention_default_allow")
    _, summary = decide(all_intentions(entries), src, dst, default_allow, source_ns=src_ns,
                        destination_ns=dst_ns)
    return json_reply(request, {"Allowed": summary.Allowed}, meta=meta)


async def agent_authorize(request: web.Request) -> web.Response:
    """May the holder of ``ClientCertURI`` connect to ``Target``?  As in Consul the
    trust domain is not checked (the TLS handshake verified the certificate) and an
    L7 intention denies, since only a proxy sees the requests."""
    body = decode_json(await request.read() or b"null", ConnectAuthorizeRequest)
    if not body.Target:
        raise BadRequest("Target service must be specified")
    try:
        client = parse_cert_uri(body.ClientCertURI)
    except InvalidCertURI:
        raise BadRequest("ClientCertURI not a valid Connect identifier") from None
    if not isinstance(client, SpiffeIDService):
        raise BadRequest("ClientCertURI not a valid Service identifier")
    ident = await identity(request)
    ident.require("service_write", body.Target)
    entries, meta = await _entries(request)
    default_allow = not ident.enforcing or ident.allowed("intention_default_allow")
    allowed, reason = authorize(all_intentions(entries), client.service, body.Target,
                                default_allow, source_ns=client.namespace,
                                source_partition=client.partition)
    if reason == DEFAULT_REASON and not ident.enforcing:  # no intention matched
        reason = ACLS_DISABLED_REASON
    return json_reply(request, {"Authorized": allowed, "Reason": reason}, meta=meta)


async def match_intentions(request: web.Request) -> web.Response:
    by = request.query.getall("by", [])
    if len(by) != 1:
        raise BadRequest("required query parameter 'by' not set")
    if by[0] not in (MATCH_SOURCE, MATCH_DESTINATION):
        raise BadRequest("'by' parameter must be one of 'source' or 'destination'")
    names = request.query.getall("name", [])
    if not names:
        raise BadRequest("required query parameter 'name' not set")
    wanted = [_name(n, "name") for n in names]
    entries, meta = await _entries(request)
    matches = match(all_intentions(entries), by[0], wanted)
    return json_reply(request, dict(zip(names, matches, strict=True)), meta=meta)


def add_routes(router: web.Router) -> None:
    base = "/v1/connect/intentions"
    router.add_get(base, list_intentions, allow_head=False)
    router.add_post(base, create)
    router.add_get(f"{base}/exact", get_exact, allow_head=False)
    router.add_put(f"{base}/exact", put_exact)
    router.add_delete(f"{base}/exact", delete_exact)
    router.add_get(f"{base}/check", check, allow_head=False)
    router.add_get(f"{base}/match", match_intentions, allow_head=False)
    router.add_get(base + "/{id}", get_by_id, allow_head=False)
    router.add_put(base + "/{id}", update_by_id)
    router.add_delete(base + "/{id}", delete_by_id)
    router.add_post("/v1/agent/connect/authorize", agent_authorize)
