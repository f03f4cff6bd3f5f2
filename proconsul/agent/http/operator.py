"""/v1/operator/{raft,autopilot}: Raft peers and leadership, autopilot settings and health."""

from __future__ import annotations

from msgspec.structs import replace

from proconsul.agent.http.decode import decode_json
from proconsul.agent.http.params import datacenter, query_options, token, uint
from proconsul.agent.http.reply import json_reply
from proconsul.lib import httpserver as web
from proconsul.server.endpoints.operator import RaftPeerRequest
from proconsul.structs.errors import BadRequest
from proconsul.structs.operator import (
    AutopilotConfig,
    AutopilotSetConfigRequest,
    OperatorUsageRequest,
)
from proconsul.structs.requests import DCSpecificRequest


def _dc_request(request: web.Request, stale_ok: bool = False) -> DCSpecificRequest:
    """The request of the operator reads: its datacenter and token, and for the reads
    that Consul lets any server answer, ``?stale`` (then no leader is needed)."""
    return DCSpecificRequest(Datacenter=datacenter(request), Token=token(request),
                             AllowStale=stale_ok and "stale" in request.query)


async def raft_configuration(request: web.Request) -> web.Response:
    return json_reply(request, await request.app["agent"].rpc(
        "Operator.RaftGetConfiguration", _dc_request(request, stale_ok=True)))


async def raft_peer(request: web.Request) -> web.Response:
    query = request.query
    req = RaftPeerRequest(ID=query.get("id", ""), Address=query.get("address", ""),
                          Datacenter=datacenter(request), Token=token(request))
    if bool(req.ID) == bool(req.Address):
        raise BadRequest("Must specify either ?id with the server's ID or ?address with "
                         "IP:port of peer to remove")
    method = "Operator.RaftRemovePeerByID" if req.ID else "Operator.RaftRemovePeerByAddress"
    await request.app["agent"].rpc(method, req)
    return web.Response(status=200)


async def transfer_leader(request: web.Request) -> web.Response:
    req = RaftPeerRequest(ID=request.query.get("id", ""), Datacenter=datacenter(request),
                          Token=token(request))
    await request.app["agent"].rpc("Operator.RaftTransferLeader", req)
    return json_reply(request, {"Success": True})


async def autopilot_get(request: web.Request) -> web.Response:
    return json_reply(request, await request.app["agent"].rpc(
        "Operator.AutopilotGetConfiguration", _dc_request(request, stale_ok=True)))


async def autopilot_set(request: web.Request) -> web.Response:
    config = decode_json(await request.read(), AutopilotConfig)
    cas = uint(request.query, "cas", "Error parsing cas value")
    if cas is not None:
        config = replace(config, ModifyIndex=cas)
    req = AutopilotSetConfigRequest(Config=config, CAS=cas is not None,
                                    Datacenter=datacenter(request), Token=token(request))
    return json_reply(request, await request.app["agent"].rpc(
        "Operator.AutopilotSetConfiguration", req))


async def autopilot_health(request: web.Request) -> web.Response:
    reply = await request.app["agent"].rpc("Operator.ServerHealth", _dc_request(request))
    return json_reply(request, reply, status=200 if reply.Healthy else 429)


async def autopilot_state(request: web.Request) -> web.Response:
    """The newer state view: servers keyed by ID with their role, plus the voter list."""
    health = await request.app["agent"].rpc("Operator.ServerHealth", _dc_request(request))
    servers = {}
    leader = ""
    for s in health.Servers:
        status = "leader" if s.Leader else "voter" if s.Voter else "non-voter"
        leader = s.ID if s.Leader else leader
        servers[s.ID] = {"ID": s.ID, "Name": s.Name, "Address": s.Address,
                         "NodeStatus": s.SerfStatus, "Version": s.Version,
                         "LastContact": s.LastContact, "LastTerm": s.LastTerm,
                         "LastIndex": s.LastIndex, "Healthy": s.Healthy,
                         "StableSince": s.StableSince, "ReadReplica": False, "Status": status,
                         "Meta": {}, "NodeType": "voter" if s.Voter else "non-voter"}
    voters = [s.ID for s in health.Servers if s.Voter]
    return json_reply(request, {
        "Healthy": health.Healthy, "FailureTolerance": health.FailureTolerance,
        "OptimisticFailureTolerance": health.FailureTolerance, "Servers": servers,
        "Leader": leader, "Voters": voters, "ReadReplicas": None, "RedundancyZones": None,
        "Upgrade": None})


async def federation_status(request: web.Request) -> web.Response:
    """Beyond Consul: every datacenter, its servers and leader, as a server sees the WAN."""
    reply = await request.app["agent"].rpc("Federation.Status", _dc_request(request))
    return json_reply(request, reply)


async def usage(request: web.Request) -> web.Response:
    """Service and node counts per datacenter, with the read's meta in the body too."""
    req = query_options(request, OperatorUsageRequest(Datacenter=datacenter(request),
                                                      Global="global" in request.query))
    reply = await request.app["agent"].rpc("Operator.Usage", req)
    return json_reply(request, reply, meta=reply)


def add_routes(router: web.Router) -> None:
    router.add_get("/v1/operator/raft/configuration", raft_configuration)
    router.add_delete("/v1/operator/raft/peer", raft_peer)
    router.add_post("/v1/operator/raft/transfer-leader", transfer_leader)
    router.add_get("/v1/operator/autopilot/configuration", autopilot_get)
    router.add_put("/v1/operator/autopilot/configuration", autopilot_set)
    router.add_get("/v1/operator/autopilot/health", autopilot_health)
    router.add_get("/v1/operator/autopilot/state", autopilot_state)
    router.add_get("/v1/operator/federation", federation_status)
    router.add_get("/v1/operator/usage", usage)
