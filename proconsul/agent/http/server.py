"""The HTTP API server: routes, and errors turned into Consul's plain-text replies."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from proconsul.agent.http import (
    agent_endpoint,
    agent_info,
    agent_local,
    agent_metrics,
    agent_monitor,
    catalog,
    coordinate,
    event,
    health,
    keyring,
    kv,
    members,
    operator,
    session,
    status,
    txn,
)
from proconsul.agent.log_monitor import LogMonitor
from proconsul.agent.telemetry import emit_runtime_metrics
from proconsul.lib.metrics import registry as metrics
from proconsul.structs.errors import ConsulError

log = logging.getLogger(__name__)

MAX_REQUEST_BODY = 16 * 1024 * 1024

# Consul lists OPTIONS first, then the methods in the order endpoints declare them.
METHOD_ORDER = ("GET", "PUT", "POST", "DELETE", "PATCH")


def allow_header(methods) -> str:
    """``Allow`` as Consul writes it, e.g. ``OPTIONS,GET,PUT,DELETE`` (HEAD is aiohttp's)."""
    return ",".join(["OPTIONS", *(m for m in METHOD_ORDER if m in methods)])


@web.middleware
async def consul_errors(request: web.Request, handler) -> web.StreamResponse:
    """Every failure becomes one line of text with Consul's status code."""
    try:
        return await handler(request)
    except ConsulError as err:
        return web.Response(status=err.status, text=err.message)
    except web.HTTPMethodNotAllowed as err:
        allowed = allow_header(err.allowed_methods)
        if request.method == "OPTIONS":
            return web.Response(status=200, headers={"Allow": allowed})
        return web.Response(status=405, text=f"method {request.method} not allowed",
                            headers={"Allow": allowed})
    except web.HTTPNotFound:
        return web.Response(status=404, text="Invalid URL path: not a recognized HTTP API endpoint\n")
    except web.HTTPRequestEntityTooLarge as err:
        return web.Response(status=413, text=err.text or "Request body too large")
    except web.HTTPException:
        raise
    except Exception as err:  # a bug: say so in one line, keep the traceback in the log
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return web.Response(status=500, text=f"internal error: {type(err).__name__}: {err}")


async def _log_monitor(app: web.Application):
    """The log fan-out for /v1/agent/monitor lives as long as the app serves."""
    app["log_monitor"].install()
    yield
    app["log_monitor"].uninstall()


async def _close_monitors(app: web.Application) -> None:
    """End streaming monitors first, so shutdown does not wait on them."""
    app["log_monitor"].close_subscriptions()


async def _runtime_metrics(app: web.Application):
    task = asyncio.create_task(emit_runtime_metrics(metrics))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def build_app(agent) -> web.Application:
    """The aiohttp application serving ``/v1/...`` for ``agent``."""
    app = web.Application(middlewares=[agent_metrics.observe_requests, consul_errors],
                          client_max_size=MAX_REQUEST_BODY)
    app["agent"] = agent
    app["log_monitor"] = LogMonitor(logging.getLogger())
    app.cleanup_ctx.extend((_log_monitor, _runtime_metrics))
    app.on_shutdown.append(_close_monitors)
    for module in (agent_endpoint, agent_info, agent_local, agent_metrics, agent_monitor, catalog,
                   coordinate, event, health, keyring, kv, members, operator, session, status,
                   txn):
        module.add_routes(app.router)
    return app
