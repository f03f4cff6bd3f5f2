"""/v1/agent/self: the agent's configuration, membership and build."""

from __future__ import annotations

import platform

from proconsul import CONSUL_COMPAT_VERSION, __version__
from proconsul.agent.checks.script import ScriptRunner
from proconsul.agent.checks.ttl import TTLRunner
from proconsul.agent.gossip import agent_member, member_tags
from proconsul.agent.http.debug_config import debug_config
from proconsul.agent.http.reply import json_reply
from proconsul.gossip.serf import MemberStatus
from proconsul.lib import httpserver as web
from proconsul.structs.agent import AgentMember

REVISION = f"proconsul-{__version__}"
BUILD_DATE = "2026-11-22T00:00:00Z"


async def agent_self(request: web.Request) -> web.Response:
    agent = request.app["agent"]
    cfg = agent.config
    body = {
        "Config": {
            "Datacenter": cfg.datacenter,
            "PrimaryDatacenter": cfg.primary_datacenter,
            "NodeName": cfg.node_name,
            "NodeID": cfg.node_id,
            "Revision": REVISION,
            "Server": cfg.server,
            "Version": CONSUL_COMPAT_VERSION,
            "BuildDate": BUILD_DATE,
        },
        "DebugConfig": debug_config(cfg, REVISION),
        "Coord": None,
        "Member": _local_member(agent),
        "Stats": {
            "agent": _agent_stats(agent),
            "build": {"prerelease": "", "revision": REVISION, "version": CONSUL_COMPAT_VERSION},
            **_consul_stats(agent),
            "runtime": {"os": platform.system().lower(), "arch": platform.machine(),
                        "python": platform.python_version()},
        },
        "Meta": dict(agent.anti_entropy.node.meta),
        "xDS": None,
        "Routines": agent.routine_statuses(),  # Proconsul's own: supervised background tasks
    }
    return json_reply(request, body)


def _local_member(agent) -> AgentMember:
    """This agent's entry in the LAN pool, exactly as ``/v1/agent/members`` lists it."""
    member = agent.gossip.local_member()
    if member is not None:
        return agent_member(member)
    cfg = agent.config
    return AgentMember(Name=cfg.node_name, Addr=cfg.advertise_addr, Port=cfg.serf_lan_port,
                       Tags=member_tags(cfg), Status=int(MemberStatus.ALIVE))


def _agent_stats(agent) -> dict[str, str]:
    """Counts of the agent's local services and checks and of its TTL and script checks."""
    runners = agent.registry.runners.values()
    return {
        "check_monitors": str(sum(isinstance(r, ScriptRunner) for r in runners)),
        "check_ttls": str(sum(isinstance(r, TTLRunner) for r in runners)),
        "checks": str(len(agent.local.live_checks())),
        "services": str(len(agent.local.live_services())),
    }


def _consul_stats(agent) -> dict:
    """``consul`` (and on servers ``raft``) stats: leadership, or known servers on clients."""
    if agent.server is None:
        return {"consul": {"known_servers": str(len(agent.router.servers())),
                           "server": "false"}}
    consensus = agent.server.consensus
    return {
        "consul": {"leader": str(consensus.is_leader()).lower(),
                   "leader_addr": consensus.leader_address() or "", "server": "true"},
        "raft": {"last_log_index": str(consensus.last_index())},
    }


def add_routes(router: web.Router) -> None:
    router.add_get("/v1/agent/self", agent_self)
