"""/v1/agent/self: the agent's configuration, membership and build."""

from __future__ import annotations

import platform

from proconsul import CONSUL_COMPAT_VERSION, __version__
from proconsul.agent.http.reply import json_reply
from proconsul.lib import httpserver as web

REVISION = f"proconsul-{__version__}"
BUILD_DATE = "2026-11-22T00:00:00Z"


async def agent_self(request: web.Request) -> web.Response:
    agent = request.app["agent"]
    cfg = agent.config
    tags = {
        "build": f"{CONSUL_COMPAT_VERSION}:{REVISION}",
        "dc": cfg.datacenter,
        "id": cfg.node_id,
        "port": str(cfg.server_port),
        "role": "consul" if cfg.server else "node",
        "segment": "",
        "vsn": "2", "vsn_max": "3", "vsn_min": "2",
    }
    if cfg.bootstrap:
        tags["bootstrap"] = "1"
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
        "DebugConfig": {
            "Datacenter": cfg.datacenter,
            "NodeName": cfg.node_name,
            "NodeID": cfg.node_id,
            "ServerMode": cfg.server,
            "DevMode": cfg.dev,
            "Bootstrap": cfg.bootstrap,
            "ClientAddrs": [cfg.client_addr],
            "BindAddr": cfg.bind_addr,
            "AdvertiseAddrLAN": cfg.advertise_addr,
            "HTTPPort": cfg.http_port,
            "HTTPSPort": cfg.https_port,
            "ServerPort": cfg.server_port,
            "DataDir": cfg.data_dir,
            "LogLevel": cfg.log_level,
        },
        "Coord": None,
        "Member": {
            "Name": cfg.node_name, "Addr": cfg.advertise_addr, "Port": cfg.serf_lan_port,
            "Tags": tags, "Status": 1,
            "ProtocolMin": 1, "ProtocolMax": 5, "ProtocolCur": 2,
            "DelegateMin": 2, "DelegateMax": 5, "DelegateCur": 4,
        },
        "Stats": {
            "agent": {"checks": "0", "services": "0"},
            "build": {"prerelease": "", "revision": REVISION, "version": CONSUL_COMPAT_VERSION},
            **_consul_stats(agent),
            "runtime": {"os": platform.system().lower(), "arch": platform.machine(),
                        "python": platform.python_version()},
        },
        "Meta": {"consul-network-segment": "", "consul-version": CONSUL_COMPAT_VERSION},
        "xDS": None,
        "Routines": agent.routine_statuses(),  # Proconsul's own: supervised background tasks
    }
    return json_reply(request, body)


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
