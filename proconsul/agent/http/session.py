"""/v1/session/*: create, destroy, info, node, list, renew."""

from __future__ import annotations

import asyncio
from typing import Any

from proconsul.agent.http.decode import decode_json
from proconsul.agent.http.params import datacenter, query_options, token
from proconsul.agent.http.reply import json_reply
from proconsul.lib import httpserver as web
from proconsul.lib.duration import SECOND, DurationError, parse_duration
from proconsul.structs.base import INT64_MAX, INT64_MIN, Record
from proconsul.structs.catalog import SERF_CHECK_ID
from proconsul.structs.errors import BadRequest, NotFound
from proconsul.structs.requests import (
    DCSpecificRequest,
    NodeSpecificRequest,
    SessionSpecificRequest,
)
from proconsul.structs.session import (
    DEFAULT_LOCK_DELAY_NS,
    ServiceCheck,
    Session,
    SessionRequest,
)

LOCK_DELAY_SECONDS_THRESHOLD = 1000


class SessionCreateBody(Record):
    """The JSON body of ``PUT /v1/session/create``."""

    Name: str = ""
    Node: str = ""
    LockDelay: Any = None
    Behavior: str = ""
    TTL: str = ""
    Checks: list[str] | None = None
    NodeChecks: list[str] | None = None
    ServiceChecks: list[ServiceCheck] | None = None
    Namespace: str = ""
    Partition: str = ""


def lock_delay_ns(value: Any) -> int:
    """LockDelay as Consul reads it: a duration string, or a number (< 1000 means seconds)."""
    if value is None:
        return DEFAULT_LOCK_DELAY_NS
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except DurationError as err:
            raise BadRequest(f"Request decode failed: {err}") from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        nanos = int(value)
        nanos = nanos * SECOND if nanos < LOCK_DELAY_SECONDS_THRESHOLD else nanos
        if not INT64_MIN <= nanos <= INT64_MAX:
            raise BadRequest(f"Request decode failed: LockDelay {value} overflows a duration")
        return nanos
    raise BadRequest("Request decode failed: LockDelay must be a duration or a number")


async def create(request: web.Request) -> web.Response:
    agent = request.app["agent"]
    raw = await request.read()
    body = decode_json(raw, SessionCreateBody) if raw.strip() else SessionCreateBody()
    node_checks = body.NodeChecks if body.NodeChecks is not None else body.Checks
    if node_checks is None and body.ServiceChecks is None:
        node_checks = [SERF_CHECK_ID]
    session = Session(Name=body.Name, Node=body.Node or agent.config.node_name,
                      LockDelay=lock_delay_ns(body.LockDelay), Behavior=body.Behavior,
                      TTL=body.TTL, NodeChecks=node_checks, ServiceChecks=body.ServiceChecks)
    req = SessionRequest(Op="create", Session=session, Datacenter=datacenter(request),
                         Token=token(request))
    if session.Node == agent.config.node_name and not request.app.get("own_node_ready"):
        await _own_node_ready(request, node_checks or [])
    session_id = await agent.rpc("Session.Apply", req)
    return json_reply(request, {"ID": session_id})


async def _own_node_ready(request: web.Request, checks: list[str]) -> None:
    """On a fresh agent, wait (bounded) until the catalog has this node and, when the
    session uses it, its serfHealth check (the leader adds that), so a session created
    as soon as a leader is reported does not fail with "Missing node registration"."""
    agent = request.app["agent"]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + agent.config.rpc_hold_timeout
    if not await agent.anti_entropy.node_registration(agent.config.rpc_hold_timeout) or \
            SERF_CHECK_ID not in checks:
        return
    index = 0
    while (remaining := deadline - loop.time()) > 0:
        reply = await agent.rpc("Health.NodeChecks", NodeSpecificRequest(
            Datacenter=agent.config.datacenter, Node=agent.config.node_name,
            MinQueryIndex=index, MaxQueryTime=int(remaining * 1e9), Token=token(request)))
        if any(check.CheckID == SERF_CHECK_ID for check in reply.HealthChecks):
            request.app["own_node_ready"] = True  # once seen, later creates skip all this
            return
        index = reply.Index


def _session_id(request: web.Request) -> str:
    session_id = request.match_info.get("id", "")
    if not session_id:
        raise BadRequest("Missing session")
    return session_id


async def destroy(request: web.Request) -> web.Response:
    req = SessionRequest(Op="destroy", Session=Session(ID=_session_id(request)),
                         Datacenter=datacenter(request), Token=token(request))
    await request.app["agent"].rpc("Session.Apply", req)
    return json_reply(request, True)


async def info(request: web.Request) -> web.Response:
    req = query_options(request, SessionSpecificRequest(Datacenter=datacenter(request),
                                                        SessionID=_session_id(request)))
    reply = await request.app["agent"].rpc("Session.Get", req)
    return json_reply(request, reply.Sessions, meta=reply)


async def renew(request: web.Request) -> web.Response:
    session_id = _session_id(request)
    req = SessionSpecificRequest(Datacenter=datacenter(request), SessionID=session_id,
                                 Token=token(request))
    reply = await request.app["agent"].rpc("Session.Renew", req)
    if not reply.Sessions:
        raise NotFound(f"Session id '{session_id}' not found")
    return json_reply(request, reply.Sessions, meta=reply)


async def node_sessions(request: web.Request) -> web.Response:
    node = request.match_info.get("node", "")
    if not node:
        raise BadRequest("Missing node name")
    req = query_options(request, NodeSpecificRequest(Datacenter=datacenter(request), Node=node))
    reply = await request.app["agent"].rpc("Session.NodeSessions", req)
    return json_reply(request, reply.Sessions, meta=reply)


async def session_list(request: web.Request) -> web.Response:
    req = query_options(request, DCSpecificRequest(Datacenter=datacenter(request)))
    reply = await request.app["agent"].rpc("Session.List", req)
    return json_reply(request, reply.Sessions, meta=reply)


def add_routes(router: web.Router) -> None:
    router.add_put("/v1/session/create", create)
    router.add_put("/v1/session/destroy/{id:.*}", destroy)
    router.add_get("/v1/session/info/{id:.*}", info)
    router.add_put("/v1/session/renew/{id:.*}", renew)
    router.add_get("/v1/session/node/{node:.*}", node_sessions)
    router.add_get("/v1/session/list", session_list)


