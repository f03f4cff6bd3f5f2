"""/v1/config (config entries) and /v1/discovery-chain/:service."""

from __future__ import annotations

from typing import Any

from proconsul.agent.http.decode import decode_raw
from proconsul.agent.http.params import datacenter, query_options, set_meta, token, uint
from proconsul.agent.http.reply import json_reply
from proconsul.lib import httpserver as web
from proconsul.lib.duration import DurationError, parse_duration
from proconsul.structs.config_entries import ConfigEntryError, decode, make_entry
from proconsul.structs.config_entry_rpc import (
    OP_DELETE,
    OP_DELETE_CAS,
    OP_UPSERT,
    OP_UPSERT_CAS,
    ConfigEntryQuery,
    ConfigEntryRequest,
    DiscoveryChainRequest,
    MeshGatewayOverride,
    entry_payload,
    prepare,
)
from proconsul.structs.errors import BadRequest, NotFound

MESH_GATEWAY_MODES = ("", "none", "local", "remote")


def _cas(request: web.Request) -> int | None:
    if not request.query.get("cas"):
        return None
    return uint(request.query, "cas", f"Invalid cas index: {request.query['cas']!r}")


async def apply(request: web.Request) -> web.Response:
    """PUT /v1/config: upsert an entry (``?cas=<index>``: only over that ModifyIndex)."""
    raw = decode_raw(await request.read(), "Request decoding failed")
    try:
        entry = decode(raw)
    except ConfigEntryError as err:
        raise BadRequest(f"Request decoding failed: {err.message}") from None
    prepare(entry)  # a bad entry is a 400 here, whichever server would have applied it
    op = OP_UPSERT
    cas = _cas(request)
    if cas is not None:
        op, entry.ModifyIndex = OP_UPSERT_CAS, cas
    req = ConfigEntryRequest(Op=op, Datacenter=datacenter(request), Entry=entry_payload(entry),
                             Token=token(request))
    return json_reply(request, await request.app["agent"].rpc("ConfigEntry.Apply", req))


async def exported_services(request: web.Request) -> web.Response:
    """GET /v1/exported-services: what this cluster exports, to which peers."""
    req = query_options(request, ConfigEntryQuery(Datacenter=datacenter(request)))
    reply = await request.app["agent"].rpc("ConfigEntry.GetResolvedExportedServices", req)
    return json_reply(request, reply.Services, meta=reply)


async def get_kind(request: web.Request) -> web.Response:
    """GET /v1/config/:kind: every entry of a kind (of every kind when empty)."""
    kind = request.match_info.get("kind", "")
    req = query_options(request, ConfigEntryQuery(Datacenter=datacenter(request), Kind=kind))
    reply = await request.app["agent"].rpc("ConfigEntry.List", req)
    return json_reply(request, reply.Entries, meta=reply)


async def get_entry(request: web.Request) -> web.Response:
    """GET /v1/config/:kind/:name: one entry, 404 when there is none."""
    kind, name = request.match_info["kind"], request.match_info["name"]
    req = query_options(request, ConfigEntryQuery(Datacenter=datacenter(request), Kind=kind,
                                                  Name=name))
    reply = await request.app["agent"].rpc("ConfigEntry.Get", req)
    if reply.Entry is None:
        response = web.Response(status=404,
                                text=f'Config entry not found for "{kind}" / "{name}"')
        set_meta(response, reply)
        return response
    return json_reply(request, reply.Entry, meta=reply)


async def delete_entry(request: web.Request) -> web.Response:
    """DELETE /v1/config/:kind/:name (``?cas=<index>`` answers whether it was deleted)."""
    kind, name = request.match_info["kind"], request.match_info["name"]
    try:
        entry = make_entry(kind, name)
    except ConfigEntryError as err:
        raise BadRequest(err.message) from None
    op = OP_DELETE
    cas = _cas(request)
    if cas is not None:
        op, entry.ModifyIndex = OP_DELETE_CAS, cas
    req = ConfigEntryRequest(Op=op, Datacenter=datacenter(request), Entry=entry_payload(entry),
                             Token=token(request))
    reply = await request.app["agent"].rpc("ConfigEntry.Delete", req)
    return json_reply(request, reply.Deleted if op == OP_DELETE_CAS else {})


async def delete_kind(request: web.Request) -> web.Response:
    raise NotFound("Must provide both a kind and name to delete")


# ---- discovery chain ---------------------------------------------------------------

_OVERRIDE_KEYS = {"overrideprotocol": "OverrideProtocol",
                  "overrideconnecttimeout": "OverrideConnectTimeout",
                  "overridemeshgateway": "OverrideMeshGateway"}


def _overrides(raw: Any, req: DiscoveryChainRequest) -> None:
    """Fill the POST body's overrides (CamelCase or snake_case, weakly typed as Consul)."""
    if raw is None:
        return
    if not isinstance(raw, dict):
        raise BadRequest("Request decoding failed: expected an object")
    body = {_OVERRIDE_KEYS.get(k.replace("_", "").lower(), k): v for k, v in raw.items()}
    protocol = body.get("OverrideProtocol")
    if protocol is not None:
        if not isinstance(protocol, str | int | float | bool):
            raise BadRequest(f"Request decoding failed: OverrideProtocol: invalid type "
                             f"{type(protocol).__name__}")
        req.OverrideProtocol = str(protocol).lower() if isinstance(protocol, bool) \
            else str(protocol)
    timeout = body.get("OverrideConnectTimeout")
    if isinstance(timeout, str):
        try:
            req.OverrideConnectTimeout = parse_duration(timeout)
        except DurationError as err:
            raise BadRequest(f"Request decoding failed: {err}") from None
    elif isinstance(timeout, int | float) and not isinstance(timeout, bool):
        req.OverrideConnectTimeout = int(timeout)
    gateway = body.get("OverrideMeshGateway")
    if isinstance(gateway, dict):
        mode = next((v for k, v in gateway.items() if k.lower() == "mode"), "")
        mode = str(mode) if mode is not None else ""
        if mode not in MESH_GATEWAY_MODES:
            raise BadRequest("Invalid OverrideMeshGateway.Mode parameter")
        req.OverrideMeshGateway = MeshGatewayOverride(Mode=mode)


async def discovery_chain(request: web.Request) -> web.Response:
    """GET/POST /v1/discovery-chain/:service (``?compile-dc``; POST carries overrides)."""
    name = request.match_info.get("service", "")
    if not name:
        raise BadRequest("Missing chain name")
    req = query_options(request, DiscoveryChainRequest(
        Datacenter=datacenter(request), Name=name,
        EvaluateInDatacenter=request.query.get("compile-dc", "")))
    if request.method == "POST":
        _overrides(decode_raw(await request.read(), "Request decoding failed"), req)
    reply = await request.app["agent"].rpc("DiscoveryChain.Get", req)
    return json_reply(request, {"Chain": reply.Chain}, meta=reply)


def add_routes(router: web.Router) -> None:
    router.add_put("/v1/config", apply)
    router.add_get("/v1/config/", get_kind, allow_head=False)
    router.add_get("/v1/config/{kind}", get_kind, allow_head=False)
    router.add_delete("/v1/config/{kind}", delete_kind)
    router.add_get("/v1/config/{kind}/{name:.+}", get_entry, allow_head=False)
    router.add_delete("/v1/config/{kind}/{name:.+}", delete_entry)
    router.add_get("/v1/discovery-chain/{service:.*}", discovery_chain, allow_head=False)
    router.add_post("/v1/discovery-chain/{service:.*}", discovery_chain)
    router.add_get("/v1/exported-services", exported_services)
