"""``/v1/peering/*`` and ``/v1/peerings``: cluster peering (Consul's
agent/peering_endpoint.go), answered by the servers' Peering.* RPCs."""

from __future__ import annotations

import msgspec

from proconsul.agent.http.decode import decode_json
from proconsul.agent.http.params import datacenter, query_options, token
from proconsul.agent.http.reply import json_reply
from proconsul.lib import httpserver as web
from proconsul.structs.errors import BadRequest, NotFound
from proconsul.structs.peering import (
    Peering,
    PeeringDeleteByNameRequest,
    PeeringEstablishRequest,
    PeeringGenerateTokenRequest,
    PeeringListRequest,
    PeeringReadRequest,
)

ERR_NO_BODY = "The peering arguments must be provided in the body"
POST_ONLY = frozenset({"token", "establish"})  # /v1/peering/<these> take POST alone


class GenerateTokenBody(msgspec.Struct):
    """api.PeeringGenerateTokenRequest (unknown fields ignored, as Go's decoder does)."""

    PeerName: str = ""
    Partition: str = ""
    Meta: dict[str, str] | None = None
    ServerExternalAddresses: list[str] | None = None


class EstablishBody(msgspec.Struct):
    """api.PeeringEstablishRequest."""

    PeerName: str = ""
    PeeringToken: str = ""
    Partition: str = ""
    Meta: dict[str, str] | None = None


async def _body(request: web.Request, target: type) -> msgspec.Struct:
    raw = await request.read()
    if not raw.strip():
        raise BadRequest(ERR_NO_BODY)
    return decode_json(raw, target, "Body decoding failed")


def api_view(peering: Peering) -> Peering:
    """A peering as api.Peering shows it (without the manual server addresses)."""
    return msgspec.structs.replace(peering, ManualServerAddresses=msgspec.UNSET)


async def generate_token(request: web.Request) -> web.Response:
    body = await _body(request, GenerateTokenBody)
    if not body.PeerName:
        raise BadRequest("PeerName is required in the payload when generating a new peering "
                         "token.")
    reply = await request.app["agent"].rpc("Peering.GenerateToken", PeeringGenerateTokenRequest(
        PeerName=body.PeerName, Partition=body.Partition, Meta=body.Meta,
        ServerExternalAddresses=body.ServerExternalAddresses, Datacenter=datacenter(request),
        Token=token(request)))
    return json_reply(request, reply)


async def establish(request: web.Request) -> web.Response:
    body = await _body(request, EstablishBody)
    if not body.PeerName:
        raise BadRequest("PeerName is required in the payload when establishing a peering.")
    if not body.PeeringToken:
        raise BadRequest("PeeringToken is required in the payload when establishing a "
                         "peering.")
    await request.app["agent"].rpc("Peering.Establish", PeeringEstablishRequest(
        PeerName=body.PeerName, PeeringToken=body.PeeringToken, Partition=body.Partition,
        Meta=body.Meta, Datacenter=datacenter(request), Token=token(request)))
    return json_reply(request, {})


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    if name in POST_ONLY:
        raise web.MethodNotAllowed(request.method, {"POST"})
    if not name:
        raise BadRequest("Must specify a name to fetch.")
    return name


async def read(request: web.Request) -> web.Response:
    name = _name(request)
    req = query_options(request, PeeringReadRequest(
        Name=name, Partition=request.query.get("partition", ""), Datacenter=datacenter(request)))
    reply = await request.app["agent"].rpc("Peering.Read", req)
    if reply.Peering is None:
        raise NotFound(f'Peering not found for "{name}"')
    return json_reply(request, api_view(reply.Peering), meta=reply)


async def delete(request: web.Request) -> web.Response:
    name = _name(request)
    await request.app["agent"].rpc("Peering.Delete", PeeringDeleteByNameRequest(
        Name=name, Partition=request.query.get("partition", ""), Datacenter=datacenter(request),
        Token=token(request)))
    return web.Response(status=200)


async def peerings(request: web.Request) -> web.Response:
    req = query_options(request, PeeringListRequest(
        Partition=request.query.get("partition", ""), Datacenter=datacenter(request)))
    reply = await request.app["agent"].rpc("Peering.List", req)
    return json_reply(request, [api_view(p) for p in reply.Peerings], meta=reply)


def add_routes(router: web.Router) -> None:
    router.add_post("/v1/peering/token", generate_token)
    router.add_post("/v1/peering/establish", establish)
    router.add_get("/v1/peering/{name:.*}", read)
    router.add_delete("/v1/peering/{name:.*}", delete)
    router.add_get("/v1/peerings", peerings)
