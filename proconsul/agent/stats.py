"""The ``Stats`` of ``/v1/agent/self`` (and so ``proconsul info``): Consul's sections and
keys, every value a string.

``agent``, ``build``, ``consul``, ``runtime`` and ``serf_lan`` on every agent;
``raft`` and ``serf_wan`` on servers. Python stands in for Go in ``runtime``
(asyncio tasks for goroutines, the interpreter's version for Go's).
"""

from __future__ import annotations

import os
import platform
from typing import Any

from proconsul import CONSUL_COMPAT_VERSION
from proconsul.agent.checks.script import ScriptRunner
from proconsul.agent.checks.ttl import TTLRunner
from proconsul.gossip.serf import MemberStatus
from proconsul.lib.taskcount import live_tasks

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "AMD64": "amd64"}


def agent_stats(agent: Any, revision: str) -> dict[str, dict[str, str]]:
    stats = {
        "agent": _local(agent),
        "build": {"prerelease": "", "revision": revision, "version": CONSUL_COMPAT_VERSION,
                  "version_metadata": ""},
        "consul": _consul(agent),
        "runtime": _runtime(),
        "serf_lan": serf_stats(agent.gossip.lan),
    }
    if agent.server is not None:
        stats["raft"] = agent.server.consensus.stats()
    if agent.gossip.wan is not None:
        stats["serf_wan"] = serf_stats(agent.gossip.wan)
    return stats


def _local(agent: Any) -> dict[str, str]:
    """Counts of the agent's local services and checks and of its TTL and script checks."""
    runners = agent.registry.runners.values()
    return {
        "check_monitors": str(sum(isinstance(r, ScriptRunner) for r in runners)),
        "check_ttls": str(sum(isinstance(r, TTLRunner) for r in runners)),
        "checks": str(len(agent.local.live_checks())),
        "services": str(len(agent.local.live_services())),
    }


def _consul(agent: Any) -> dict[str, str]:
    """Leadership and known datacenters on servers, known servers on clients; ACLs on or off."""
    acl = "enabled" if agent.config.acl.enabled else "disabled"
    if agent.server is None:
        return {"acl": acl, "known_servers": str(len(agent.router.servers())),
                "server": "false"}
    server = agent.server
    consensus = server.consensus
    return {"acl": acl, "bootstrap": str(agent.config.bootstrap).lower(),
            "known_datacenters": str(len(server.wan_router.datacenters())),
            "leader": str(consensus.is_leader()).lower(),
            "leader_addr": consensus.leader_address() or "", "server": "true"}


def _runtime() -> dict[str, str]:
    cpus = str(os.cpu_count() or 1)
    try:
        tasks = str(live_tasks())
    except RuntimeError:  # no running loop
        tasks = "0"
    return {"arch": _ARCH.get(platform.machine(), platform.machine()), "cpu_count": cpus,
            "goroutines": tasks, "max_procs": cpus, "os": platform.system().lower(),
            "version": f"python{platform.python_version()}"}


def serf_stats(pool: Any) -> dict[str, str]:
    """serf's ``Stats()`` for one pool."""
    serf = pool.serf
    members = pool.members()
    coordinates = serf.coordinates
    return {
        "coordinate_resets": str(coordinates.resets if coordinates is not None else 0),
        "encrypted": str(serf.config.memberlist.keyring is not None).lower(),
        "event_queue": str(len(serf.event_broadcasts)),
        "event_time": str(serf.event_clock.time()),
        "failed": str(sum(m.status == MemberStatus.FAILED for m in members)),
        "health_score": str(serf.memberlist.awareness.score),
        "intent_queue": str(len(serf.intent_broadcasts)),
        "left": str(sum(m.status == MemberStatus.LEFT for m in members)),
        "member_time": str(serf.clock.time()),
        "members": str(len(members)),
        "query_queue": str(len(serf.query_broadcasts)),
        "query_time": str(serf.query_clock.time()),
    }
