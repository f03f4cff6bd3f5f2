"""/v1/agent/{services,service,checks,check,health,maintenance}: the agent's own registrations."""

from __future__ import annotations

import asyncio

from proconsul.agent.config.validate import ConfigError
from proconsul.agent.http.acl_gate import identity, mark_filtered
from proconsul.agent.http.decode import decode_json
from proconsul.agent.http.params import flag, token
from proconsul.agent.http.reply import json_reply
from proconsul.agent.local.registration import ServiceRegistration
from proconsul.agent.local.state import content_hash
from proconsul.lib import httpserver as web
from proconsul.lib.duration import DurationError, parse_duration
from proconsul.server.blocking import query_timeout
from proconsul.server.filtering import ResultFilter
from proconsul.structs.agent import AgentService
from proconsul.structs.base import Record
from proconsul.structs.catalog import (
    HEALTH_CRITICAL,
    HEALTH_MAINT,
    HEALTH_PASSING,
    HEALTH_WARNING,
    HealthCheck,
)
from proconsul.structs.errors import BadRequest, ConsulError, NotFound
from proconsul.structs.query import QueryMeta


def _agent(request: web.Request):
    return request.app["agent"]


async def services(request: web.Request) -> web.Response:
    keep = ResultFilter(request.query.get("filter", ""), AgentService)
    agent, ident, meta = _agent(request), await identity(request), QueryMeta()
    visible = ident.keep(agent.local.live_services().items(),
                         lambda item: ident.allowed("service_read", item[1].Service), meta)
    dc = agent.config.datacenter
    found = {sid: AgentService.from_node_service(s, dc) for sid, s in visible}
    return mark_filtered(json_reply(request, keep.apply_map(found)), meta)


async def _require_service(request: web.Request, check: str, service_id: str) -> None:
    """``check`` (service read/write) on the name of local service ``service_id``, if any."""
    found = _agent(request).local.service(service_id)
    if found is not None:
        (await identity(request)).require(check, found.Service)


async def _require_check(request: web.Request, check_id: str) -> None:
    """Writing a local check needs ``service:write`` on its service, else ``node:write``."""
    agent = _agent(request)
    found = agent.local.check(check_id)
    if found is None:
        return
    if found.ServiceID:
        await _require_service(request, "service_write", found.ServiceID)
    else:
        (await identity(request)).require("node_write", agent.config.node_name)


async def service(request: web.Request) -> web.Response:
    """One service with hash-based blocking: ``?hash=<ContentHash>&wait=``."""
    agent = _agent(request)
    service_id = request.match_info["id"]
    wanted = request.query.get("hash", "")
    wait = 0
    if "wait" in request.query:
        try:
            wait = parse_duration(request.query["wait"])
        except DurationError:
            raise BadRequest("Invalid wait time") from None
    deadline = asyncio.get_running_loop().time() + query_timeout(wait)
    await _require_service(request, "service_read", service_id)
    while True:
        changed = agent.local.changed()
        found = agent.local.service(service_id)
        if found is None:
            raise NotFound(f"unknown service ID: {service_id}")
        body = AgentService.from_node_service(found, agent.config.datacenter)
        digest = content_hash(body)
        remaining = deadline - asyncio.get_running_loop().time()
        if wanted != digest or remaining <= 0:
            break
        try:
            async with asyncio.timeout(remaining):
                await changed.wait()
        except TimeoutError:
            break
    body.ContentHash = digest
    response = json_reply(request, body)
    response.headers["X-Consul-ContentHash"] = digest
    return response


async def register_service(request: web.Request) -> web.Response:
    agent = _agent(request)
    body = decode_json(await request.read(), ServiceRegistration)
    ident = await identity(request)
    ident.require("service_write", body.Name)
    await _require_service(request, "service_write", body.ID or body.Name)
    if body.Connect is not None and body.Connect.SidecarService is not None:
        ident.require("service_write", body.Connect.SidecarService.Name
                      or f"{body.Name}-sidecar-proxy")
    replace_checks = flag(request.query, "replace-existing-checks")
    await agent.registry.register_service(body, token=token(request),
                                          replace_existing_checks=replace_checks)
    await agent.anti_entropy.settle()
    return web.Response(status=200)


async def deregister_service(request: web.Request) -> web.Response:
    await _require_service(request, "service_write", request.match_info["id"])
    await _agent(request).registry.deregister_service(request.match_info["id"])
    await _agent(request).anti_entropy.settle()
    return web.Response(status=200)


def _maintenance_params(request: web.Request) -> tuple[bool, str]:
    if "enable" not in request.query:
        raise BadRequest("Missing value for enable")
    value = request.query["enable"]
    if value not in ("true", "false"):
        raise BadRequest(f"Invalid value for enable: {value!r}")
    return value == "true", request.query.get("reason", "")


async def service_maintenance(request: web.Request) -> web.Response:
    enable, reason = _maintenance_params(request)
    await _require_service(request, "service_write", request.match_info["id"])
    _agent(request).registry.set_service_maintenance(request.match_info["id"], enable, reason,
                                                     token(request))
    return web.Response(status=200)


async def node_maintenance(request: web.Request) -> web.Response:
    enable, reason = _maintenance_params(request)
    _agent(request).registry.set_node_maintenance(enable, reason, token(request))
    return web.Response(status=200)


async def checks(request: web.Request) -> web.Response:
    keep = ResultFilter(request.query.get("filter", ""), HealthCheck)
    agent, ident, meta = _agent(request), await identity(request), QueryMeta()
    node = agent.config.node_name
    found = dict(ident.keep(agent.local.live_checks().items(), lambda item: (
        ident.allowed("service_read", item[1].ServiceName) if item[1].ServiceID
        else ident.allowed("node_read", node)), meta))
    return mark_filtered(json_reply(request, keep.apply_map(found)), meta)


async def register_check(request: web.Request) -> web.Response:
    raw = decode_json(await request.read(), dict)
    service_id = raw.get("ServiceID") or raw.get("service_id")
    if isinstance(service_id, str) and service_id:
        await _require_service(request, "service_write", service_id)
    else:
        (await identity(request)).require("node_write", _agent(request).config.node_name)
    await _agent(request).registry.register_check(raw, token=token(request))
    await _agent(request).anti_entropy.settle()
    return web.Response(status=200)


async def deregister_check(request: web.Request) -> web.Response:
    await _require_check(request, request.match_info["id"])
    await _agent(request).registry.deregister_check(request.match_info["id"])
    await _agent(request).anti_entropy.settle()
    return web.Response(status=200)


def _ttl_handler(status: str):
    async def handler(request: web.Request) -> web.Response:
        await _require_check(request, request.match_info["id"])
        _agent(request).registry.ttl_update(request.match_info["id"], status,
                                            request.query.get("note", ""))
        return web.Response(status=200)
    return handler


class CheckUpdate(Record):
    """Body of ``PUT /v1/agent/check/update/:id``."""

    Status: str = ""
    Output: str = ""


async def update_check(request: web.Request) -> web.Response:
    update = decode_json(await request.read(), CheckUpdate)
    if update.Status not in (HEALTH_PASSING, HEALTH_WARNING, HEALTH_CRITICAL):
        raise BadRequest(f"Invalid check status: '{update.Status}'")
    await _require_check(request, request.match_info["id"])
    _agent(request).registry.ttl_update(request.match_info["id"], update.Status, update.Output)
    return web.Response(status=200)


def _health_reply(request: web.Request, status: str, body) -> web.Response:
    code = {HEALTH_PASSING: 200, HEALTH_WARNING: 429}.get(status, 503)
    if request.query.get("format") == "text":
        return web.Response(status=code, text=status)
    return json_reply(request, body, status=code)


def _service_and_node_checks(agent, service_id: str) -> list[HealthCheck]:
    """The checks a service's health is aggregated from: its own and the node's."""
    return [c for c in agent.local.live_checks().values() if c.ServiceID in ("", service_id)]


async def health_by_id(request: web.Request) -> web.Response:
    agent = _agent(request)
    service_id = request.match_info["id"]
    found = agent.local.service(service_id)
    if found is not None:
        (await identity(request)).require("service_read", found.Service)
    if found is None:
        if request.query.get("format") == "text":
            return web.Response(status=404, text=f"ServiceId {service_id} not found")
        raise NotFound(f"ServiceId {service_id} not found")
    status = agent.local.aggregated_status(service_id)
    return _health_reply(request, status, {
        "AggregatedStatus": status,
        "Service": AgentService.from_node_service(found, agent.config.datacenter),
        "Checks": _service_and_node_checks(agent, service_id),
    })


async def health_by_name(request: web.Request) -> web.Response:
    agent = _agent(request)
    name = request.match_info["name"]
    entries, worst = [], HEALTH_PASSING
    order = {HEALTH_PASSING: 0, HEALTH_WARNING: 1, HEALTH_CRITICAL: 2, HEALTH_MAINT: 3}
    for sid, found in agent.local.live_services().items():
        if found.Service != name:
            continue
        status = agent.local.aggregated_status(sid)
        worst = max(worst, status, key=order.__getitem__)
        entries.append({
            "AggregatedStatus": status,
            "Service": AgentService.from_node_service(found, agent.config.datacenter),
            "Checks": _service_and_node_checks(agent, sid),
        })
    if not entries:
        if request.query.get("format") == "text":
            return web.Response(status=404, text=f"ServiceName {name} Not Found")
        raise NotFound(f"ServiceName {name} Not Found")
    return _health_reply(request, worst, entries)


def add_routes(router: web.Router) -> None:
    router.add_get("/v1/agent/services", services)
    router.add_get("/v1/agent/service/{id:.+}", service)
    router.add_put("/v1/agent/service/register", register_service)
    router.add_put("/v1/agent/service/deregister/{id:.+}", deregister_service)
    router.add_put("/v1/agent/service/maintenance/{id:.+}", service_maintenance)
    router.add_put("/v1/agent/maintenance", node_maintenance)
    router.add_get("/v1/agent/checks", checks)
    router.add_put("/v1/agent/check/register", register_check)
    router.add_put("/v1/agent/check/deregister/{id:.+}", deregister_check)
    for verb, status in (("pass", HEALTH_PASSING), ("warn", HEALTH_WARNING),
                         ("fail", HEALTH_CRITICAL)):
        router.add_put(f"/v1/agent/check/{verb}/{{id:.+}}", _ttl_handler(status))
    router.add_put("/v1/agent/check/update/{id:.+}", update_check)
    router.add_get("/v1/agent/health/service/id/{id:.+}", health_by_id)
    router.add_get("/v1/agent/health/service/name/{name:.+}", health_by_name)
    router.add_put("/v1/agent/reload", reload)



async def reload(request: web.Request) -> web.Response:
    """Reload config files; changed keys that need a restart come back in a header."""
    try:
        restart = await _agent(request).reload()
    except ConfigError as err:
        raise ConsulError("Failed reloading config: " + "; ".join(err.problems)) from None
    response = web.Response(status=200)
    if restart:
        response.headers["X-Proconsul-Restart-Required"] = ",".join(restart)
    return response

