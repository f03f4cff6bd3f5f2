"""ACL checks of the agent's own HTTP routes.

Most routes reach a server, which checks the token (the server decides, so a
client agent cannot be bypassed). Routes the agent answers itself are checked
here: :data:`AGENT_CHECKS` names, per ``(method, pattern)``, the check Consul's
agent endpoint makes and what it is made on; :func:`check_of` finds it and
:func:`gate` applies it before the handler runs. Handlers whose check depends on what they look up (a local
service's name, a check's service) or that filter a list call :func:`identity`.
"""

from __future__ import annotations

from proconsul.agent.http.params import token
from proconsul.lib import httpserver as web
from proconsul.server.acl_enforce import UNRESTRICTED, Identity
from proconsul.structs.query import QueryMeta

NODE = "<agent node>"  # the check is made on this agent's node name

# (method, pattern) -> (check, what it is made on: NODE, a path parameter, or "" for none)
AGENT_CHECKS: dict[tuple[str, str], tuple[str, str]] = {
    ("GET", "/v1/agent/self"): ("agent_read", NODE),
    ("GET", "/v1/agent/host"): ("operator_read", ""),
    ("PUT", "/v1/agent/token/{slot}"): ("agent_write", NODE),
    ("PUT", "/v1/agent/reload"): ("agent_write", NODE),
    ("GET", "/v1/agent/metrics"): ("agent_read", NODE),
    ("GET", "/v1/agent/monitor"): ("agent_read", NODE),
    ("PUT", "/v1/agent/maintenance"): ("node_write", NODE),
    ("PUT", "/v1/agent/join/{address}"): ("agent_write", NODE),
    ("PUT", "/v1/agent/leave"): ("agent_write", NODE),
    ("PUT", "/v1/agent/force-leave/{node}"): ("operator_write", ""),
    ("PUT", "/v1/event/fire/{name}"): ("event_write", "name"),
    ("GET", "/v1/operator/keyring"): ("keyring_read", ""),
    ("POST", "/v1/operator/keyring"): ("keyring_write", ""),
    ("PUT", "/v1/operator/keyring"): ("keyring_write", ""),
    ("DELETE", "/v1/operator/keyring"): ("keyring_write", ""),
    ("GET", "/v1/agent/connect/ca/leaf/{service}"): ("service_write", "service"),
    ("GET", "/v1/agent/health/service/name/{name}"): ("service_read", "name"),
    ("GET", "/debug/pprof/"): ("operator_read", ""),
    ("GET", "/debug/pprof/profile"): ("operator_read", ""),
    ("GET", "/debug/pprof/trace"): ("operator_read", ""),
    ("GET", "/debug/pprof/cmdline"): ("operator_read", ""),
    ("GET", "/debug/pprof/{name}"): ("operator_read", ""),
    ("PUT", "/v1/proconsul/test-hooks/routine/{name}/fail"): ("operator_write", ""),
    ("GET", "/v1/agent/metrics/stream"): ("agent_read", NODE),
    ("GET", "/v1/connect/ca/health"): ("operator_write", ""),
}


async def identity(request: web.Request) -> Identity:
    """The identity of the request's token, from the agent's resolver (cached)."""
    agent = request.app["agent"]
    if not agent.config.acl.enabled:
        return UNRESTRICTED
    secret = token(request)
    return Identity.of(await agent.acl.resolve(secret), secret)


def check_of(request: web.Request) -> tuple[str, str] | None:
    """The route's entry of :data:`AGENT_CHECKS` (None for the routes servers check);
    plain, so the routes without one cost no coroutine."""
    method = "GET" if request.method == "HEAD" else request.method
    return AGENT_CHECKS.get((method, request.route))


async def gate(request: web.Request, need: tuple[str, str]) -> None:
    """Apply ``need``, the route's entry of :data:`AGENT_CHECKS` (403 unless allowed)."""
    check, target = need
    agent = request.app["agent"]
    name = agent.config.node_name if target == NODE else request.match_info.get(target, "")
    (await identity(request)).require(check, name)


async def require_management(request: web.Request) -> None:
    """403 unless the token may manage ACLs (``acl:write``): what snapshots need."""
    (await identity(request)).require("acl_write")


def mark_filtered(response: web.Response, meta: QueryMeta) -> web.Response:
    """``X-Consul-Results-Filtered-By-ACLs: true`` when :meth:`Identity.keep` dropped
    something from an agent-local list (not said to anonymous requests)."""
    if meta.ResultsFilteredByACLs:
        response.headers["X-Consul-Results-Filtered-By-ACLs"] = "true"
    return response
