"""/v1/agent/monitor: the agent's log lines, streamed as they happen."""

from __future__ import annotations

import asyncio

from proconsul.agent.log_monitor import LEVELS
from proconsul.lib import httpserver as web
from proconsul.structs.errors import BadRequest

# How often a quiet stream checks whether its client is still there.
DISCONNECT_CHECK = 1.0


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def monitor(request: web.Request) -> web.StreamResponse:
    level_name = request.query.get("loglevel") or "INFO"
    level = LEVELS.get(level_name.lower())
    if level is None:
        raise BadRequest(f"Unknown log level: {level_name}")
    hub = request.app["log_monitor"]
    sub = hub.subscribe(level, "logjson" in request.query)
    try:
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        while not _gone(request):
            try:
                line = await asyncio.wait_for(sub.get(), DISCONNECT_CHECK)
            except TimeoutError:
                continue
            if line is None:  # the agent is shutting down
                break
            await response.write(line.encode())
    except ConnectionError:
        pass
    finally:
        hub.unsubscribe(sub)
    return response


def add_routes(router: web.Router) -> None:
    router.add_get("/v1/agent/monitor", monitor)
