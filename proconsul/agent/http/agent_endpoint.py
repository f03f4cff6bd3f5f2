"""/v1/agent/self: the agent's configuration, membership and build."""

from __future__ import annotations

from proconsul import CONSUL_COMPAT_VERSION, __version__
from proconsul.agent.gossip import agent_member, member_tags
from proconsul.agent.http.debug_config import debug_config
from proconsul.agent.http.reply import json_reply
from proconsul.agent.stats import agent_stats
from proconsul.agent.xds.versions import SUPPORTED_ENVOY_VERSIONS
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
        "Coord": agent.lan_coordinate(),
        "Member": _local_member(agent),
        "Stats": agent_stats(agent, REVISION),
        "Meta": dict(agent.anti_entropy.node.meta),
        "xDS": _xds(cfg),
        "Routines": agent.routine_statuses(),  # Proconsul's own: supervised background tasks
    }
    return json_reply(request, body)


def _xds(cfg) -> dict | None:
    """What ``connect envoy`` reads to find the gRPC port and the supported Envoys."""
    if cfg.grpc_port <= 0 and cfg.grpc_tls_port <= 0:
        return None
    return {"SupportedProxies": {"envoy": list(SUPPORTED_ENVOY_VERSIONS)},
            "Port": cfg.grpc_tls_port if cfg.grpc_tls_port > 0 else cfg.grpc_port,
            "Ports": {"Plaintext": cfg.grpc_port, "TLS": cfg.grpc_tls_port}}


def _local_member(agent) -> AgentMember:
    """This agent's entry in the LAN pool, exactly as ``/v1/agent/members`` lists it."""
    member = agent.gossip.local_member()
    if member is not None:
        return agent_member(member)
    cfg = agent.config
    return AgentMember(Name=cfg.node_name, Addr=cfg.advertise_addr, Port=cfg.serf_lan_port,
                       Tags=member_tags(cfg), Status=int(MemberStatus.ALIVE))


def add_routes(router: web.Router) -> None:
    router.add_get("/v1/agent/self", agent_self)
