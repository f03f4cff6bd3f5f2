"""The HTTP API server: routes, and errors turned into Consul's plain-text replies."""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module

from proconsul.agent.http import (
    agent_endpoint,
    agent_info,
    agent_local,
    agent_metrics,
    agent_monitor,
    catalog,
    coordinate,
    debug_hooks,
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
from proconsul.lib import httpserver as web
from proconsul.lib.metrics import registry as metrics
from proconsul.structs.errors import ConsulError

log = logging.getLogger(__name__)

MAX_REQUEST_BODY = 16 * 1024 * 1024

# Consul lists OPTIONS first, then the methods in the order endpoints declare them.
METHOD_ORDER = ("GET", "PUT", "POST", "DELETE", "PATCH")


def allow_header(methods) -> str:
    """``Allow`` as Consul writes it, e.g. ``OPTIONS,GET,PUT,DELETE`` (HEAD goes with GET)."""
    return ",".join(["OPTIONS", *(m for m in METHOD_ORDER if m in methods)])


class HttpApi:
    """The agent's ``/v1/...`` API: routes, per-request metrics and Consul's error replies."""

    def __init__(self, agent) -> None:
        self.app = {"agent": agent, "log_monitor": LogMonitor(logging.getLogger())}
        self.router = web.Router()
        for module in (agent_endpoint, agent_info, agent_local, agent_metrics, agent_monitor,
                       catalog, coordinate, event, health, keyring, kv, members, operator,
                       session, status, txn, debug_hooks):
            module.add_routes(self.router)
        self._servers: list[web.HttpServer] = []

    async def start(self, host: str, port: int, ssl: ssl_module.SSLContext | None = None,
                    ssl_handshake_timeout: float | None = None) -> None:
        """Listen on ``host:port``, over TLS with ``ssl`` (OSError if the address cannot be
        bound). Called once per listener: HTTP, HTTPS."""
        server = web.HttpServer(self.handle, self.app, max_body=MAX_REQUEST_BODY)
        await server.start(host, port, ssl, ssl_handshake_timeout)
        if not self._servers:
            self.app["log_monitor"].install()
            self.app["agent"].routines.start("runtime-metrics",
                                             lambda: emit_runtime_metrics(metrics))
        self._servers.append(server)

    async def stop(self) -> None:
        """End streaming monitors, let requests under way finish briefly, close."""
        if not self._servers:
            return
        monitor = self.app["log_monitor"]
        monitor.close_subscriptions()
        await asyncio.gather(*(server.stop() for server in self._servers))
        monitor.uninstall()
        await self.app["agent"].routines.stop("runtime-metrics")
        self._servers = []

    async def handle(self, request: web.Request) -> web.Response | web.StreamResponse:
        """Route ``request``, time it, and turn every failure into one line of text."""
        start = metrics.timer()
        try:
            handler, request.match_info, resource = self.router.resolve(request.method,
                                                                         request.path)
            request.route = resource.canonical
            return await handler(request)
        except ConsulError as err:
            return web.Response(status=err.status, text=err.message)
        except web.MethodNotAllowed as err:
            allowed = allow_header(err.allowed)
            if request.method == "OPTIONS":
                return web.Response(status=200, headers={"Allow": allowed})
            return web.Response(status=405, text=f"method {request.method} not allowed",
                                headers={"Allow": allowed})
        except web.NotFound:
            return web.Response(status=404,
                                text="Invalid URL path: not a recognized HTTP API endpoint\n")
        except Exception as err:  # a bug: say so in one line, keep the traceback in the log
            log.exception("unhandled error serving %s %s", request.method, request.path)
            return web.Response(status=500, text=f"internal error: {type(err).__name__}: {err}")
        finally:
            agent_metrics.observe_request(request, start)
