"""/v1/agent/{members,join,leave,force-leave}: gossip membership."""

from __future__ import annotations

import asyncio

from proconsul.agent.gossip import agent_member
from proconsul.agent.http.acl_gate import identity, mark_filtered
from proconsul.agent.http.params import flag
from proconsul.agent.http.reply import json_reply
from proconsul.gossip.driver import JoinError
from proconsul.lib import httpserver as web
from proconsul.server.filtering import ResultFilter
from proconsul.structs.agent import AgentMember
from proconsul.structs.errors import BadRequest, ConsulError, NotFound
from proconsul.structs.query import QueryMeta


async def members(request: web.Request) -> web.Response:
    agent = request.app["agent"]
    wan = flag(request.query, "wan")
    segment = request.query.get("segment", "")
    if wan and segment not in ("", "_all"):
        raise BadRequest("Cannot provide a segment with wan=true")
    keep = ResultFilter(request.query.get("filter", ""), AgentMember)
    if wan and agent.gossip.wan is None:
        return json_reply(request, [])  # a client agent is in no WAN pool (Consul: none)
    pool = agent.gossip.pool(wan)
    ident, meta = await identity(request), QueryMeta()
    visible = ident.keep(pool.members(),
                         lambda m: ident.allowed("node_read", _node_name(m.name, wan)), meta)
    return mark_filtered(json_reply(request, keep.apply(agent_member(m) for m in visible)), meta)


def _node_name(member: str, wan: bool) -> str:
    """A WAN member is named ``node.dc``; ACLs name the node."""
    if not wan:
        return member
    return member.rpartition(".")[0] or member


async def join(request: web.Request) -> web.Response:
    agent = request.app["agent"]
    address = request.match_info.get("address", "")
    if not address:
        raise BadRequest("Missing address to join")
    wan = flag(request.query, "wan")
    if wan and agent.gossip.wan is None:
        raise ConsulError("Must be a server to join WAN cluster")
    pool = agent.gossip.pool(wan)
    try:
        await pool.join([address])
    except JoinError as err:
        raise ConsulError(str(err)) from None
    return web.Response(status=200)


async def leave(request: web.Request) -> web.Response:
    agent = request.app["agent"]
    await agent.leave()
    asyncio.get_running_loop().call_soon(agent.shutdown_requested.set)
    return web.Response(status=200)


async def force_leave(request: web.Request) -> web.Response:
    agent = request.app["agent"]
    node = request.match_info.get("node", "")
    if not node:
        raise BadRequest("Missing node name")
    prune = flag(request.query, "prune")
    wan = flag(request.query, "wan")
    if wan and agent.gossip.wan is None:
        raise ConsulError("Must be a server to force-leave a node from the WAN cluster")
    found = False
    for pool in ([agent.gossip.pool(True)] if wan else agent.gossip.pools()):
        if any(m.name == node for m in pool.members()):
            found = True
            pool.serf.remove_failed_node(node, pool.driver.now, prune=prune)
            pool.driver.wake()
    if not found:
        raise NotFound(f"agent: No node found with name '{node}'")
    return web.Response(status=200)


def add_routes(router: web.Router) -> None:
    router.add_get("/v1/agent/members", members)
    router.add_put("/v1/agent/join/{address:.*}", join)
    router.add_put("/v1/agent/leave", leave)
    router.add_put("/v1/agent/force-leave/{node:.*}", force_leave)
