"""The HTTP API server: routes, and errors turned into Consul's plain-text replies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl as ssl_module
from urllib.parse import unquote_to_bytes

from proconsul.agent import unix_socket
from proconsul.agent.http import (
    acl,
    acl_authorize,
    acl_gate,
    agent_endpoint,
    agent_info,
    agent_local,
    agent_metrics,
    agent_monitor,
    catalog,
    catalog_fast,
    config,
    connect_ca,
    coordinate,
    debug_hooks,
    debug_pprof,
    event,
    federation_states,
    health,
    health_fast,
    intentions,
    keyring,
    kv,
    kv_fast,
    members,
    operator,
    peering,
    prepared_query,
    session,
    snapshot,
    status,
    txn,
    ui,
    virtual_ip,
)
from proconsul.agent.http.params import token_source
from proconsul.agent.log_monitor import LogMonitor
from proconsul.agent.telemetry import emit_runtime_metrics
from proconsul.agent.ui import load as load_ui
from proconsul.lib import httpserver as web
from proconsul.lib.metrics import registry as metrics
from proconsul.structs.errors import BadRequest, ConsulError, Forbidden

log = logging.getLogger(__name__)

MAX_REQUEST_BODY = 16 * 1024 * 1024

NOT_FOUND_V1 = "Invalid URL path: not a recognized HTTP API endpoint\n"
NOT_FOUND_OTHER = ("Invalid URL path: if attempting to use the HTTP API, ensure the path "
                   "starts with '/v1/'\n")

# Consul lists OPTIONS first, then the methods in the order endpoints declare them.
METHOD_ORDER = ("GET", "PUT", "POST", "DELETE", "PATCH")


def allow_header(methods) -> str:
    """``Allow`` as Consul writes it, e.g. ``OPTIONS,GET,PUT,DELETE`` (HEAD goes with GET)."""
    return ",".join(["OPTIONS", *(m for m in METHOD_ORDER if m in methods)])


def require_utf8(request: web.Request) -> None:
    """Refuse path parameters and query strings that are not UTF-8.

    Consul's keys and names are byte strings; Proconsul's are text, so bytes it
    cannot keep are refused rather than replaced (``col%ff`` and ``col%fe`` would
    otherwise both name the key ``col\ufffd``).
    """
    for name, value in request.match_info.items():
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise BadRequest(f"Invalid {name}: not valid UTF-8") from None
    query = request.query_string
    if query and ("%" in query or not query.isascii()):
        try:
            unquote_to_bytes(query).decode("utf-8")
        except UnicodeError:
            raise BadRequest("Invalid query string: not valid UTF-8") from None


def api_router() -> web.Router:
    """The agent's route table; handlers find the agent in the request's app, so
    tools can list the routes without one."""
    router = web.Router()
    for module in (agent_endpoint, agent_info, agent_local, agent_metrics, agent_monitor,
                   catalog, connect_ca, coordinate, event, health, keyring, kv, members, operator,
                   session, status, txn, config, intentions, prepared_query, acl,
                   acl_authorize, snapshot, ui, federation_states, virtual_ip, peering):
        module.add_routes(router)
    return router


class HttpApi:
    """The agent's ``/v1/...`` API: routes, per-request metrics and Consul's error replies."""

    def __init__(self, agent) -> None:
        self.app = {"agent": agent, "log_monitor": LogMonitor(logging.getLogger())}
        self._acl_enabled = agent.config.acl.enabled
        self.router = api_router()
        if agent.config.tree.get("enable_debug"):
            debug_pprof.add_routes(self.router)
        debug_hooks.add_routes(self.router)
        ui.StaticUI(load_ui(agent.config.tree, agent.config.dev,
                            agent.config.datacenter)).add_routes(self.router)
        self._servers: list[web.HttpServer] = []
        # limits.http_max_conns_per_client, across the HTTP and HTTPS listeners
        self.conn_limit = web.ConnLimit(agent.config.http_max_conns_per_client)
        self._socket_paths: list[str] = []
        self._spool_dir = None if agent.config.dev else agent.config.data_dir or None
        self._kv_fast = kv_fast.KVFastPath(agent) if agent.server is not None else None
        self._register_fast = (catalog_fast.RegisterFastPath(agent) if agent.server is not None
                               else None)
        self._health_fast = (health_fast.HealthFastPath(agent) if agent.server is not None
                             else None)

    async def start(self, host: str, port: int, ssl: ssl_module.SSLContext | None = None,
                    ssl_handshake_timeout: float | None = None,
                    unix_sockets: dict | None = None) -> None:
        """Listen on ``host:port``, or on the socket of a ``unix:///path`` host (set up as
        ``unix_sockets`` says), over TLS with ``ssl`` (OSError if the address cannot be
        bound). Called once per listener address: HTTP, HTTPS."""
        server = web.HttpServer(self.handle, self.app, max_body=MAX_REQUEST_BODY,
                                conn_limit=self.conn_limit,
                                body_spool=snapshot.spool_upload(self._spool_dir),
                                spool_prefix=snapshot.PATH.encode(),
                                quick=self._quick if self._kv_fast is not None else None)
        path = unix_socket.socket_path(host)
        if path is None:
            await server.start(host, port, ssl, ssl_handshake_timeout)
        else:
            unix_socket.replace_stale(path)
            await server.start_unix(path, ssl, ssl_handshake_timeout)
            try:
                unix_socket.apply_permissions(path, unix_sockets or {})
            except ConsulError:
                await server.stop(grace=0)
                unix_socket.remove(path)
                raise
            self._socket_paths.append(path)
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
        for path in self._socket_paths:
            unix_socket.remove(path)
        self._socket_paths = []

    def _quick(self, request: web.Request
               ) -> web.EncodedResponse | web.Response | web.Pending | None:
        """Plain KV reads and writes, catalog registrations and health queries, answered
        without a task when the connection has nothing else to answer."""
        path = request.path
        if path.startswith("/v1/kv/"):
            fast = self._kv_fast
            assert fast is not None
            if request.method == "GET":
                return fast.get(request)
            if request.method == "PUT":
                return fast.put(request)
        elif path == catalog_fast.ROUTE and request.method == "PUT":
            assert self._register_fast is not None
            return self._register_fast.put(request)
        elif path.startswith(health_fast.PREFIX) and request.method == "GET":
            assert self._health_fast is not None
            return self._health_fast.get(request)
        return None

    async def handle(self, request: web.Request
                     ) -> web.Response | web.StreamResponse | web.EncodedResponse:
        """Route ``request``, time it, and turn every failure into one line of text."""
        fast = self._kv_fast
        if fast is not None and request.path.startswith("/v1/kv/"):
            method = request.method
            if method == "GET":
                response = fast.get(request)
                if response is not None:
                    return response
            elif method == "PUT":
                answer = fast.put(request)
                if type(answer) is web.Pending:
                    with contextlib.suppress(Exception):  # the answer says what went wrong
                        await answer.future
                    return answer.finish(answer.future)
                if answer is not None:
                    return answer
        elif (self._health_fast is not None and request.method == "GET"
              and request.path.startswith(health_fast.PREFIX)):
            response = self._health_fast.get(request)
            if response is not None:
                return response
        start = metrics.timer()
        try:
            handler, request.match_info, resource = self.router.resolve(request.method,
                                                                         request.path)
            request.route = resource.canonical
            require_utf8(request)
            if self._acl_enabled:
                need = acl_gate.check_of(request)
                if need is not None:
                    await acl_gate.gate(request, need)
            return await handler(request)
        except ConsulError as err:
            text = err.message
            if isinstance(err, Forbidden) and " lacks permission " in text:
                text += f" ({token_source(request)[1]})"
            return web.Response(status=err.status, text=text)
        except web.MethodNotAllowed as err:
            allowed = allow_header(err.allowed)
            if request.method == "OPTIONS":
                return web.Response(status=200, headers={"Allow": allowed})
            return web.Response(status=405, text=f"method {request.method} not allowed",
                                headers={"Allow": allowed})
        except web.NotFound:
            return web.Response(status=404, text=NOT_FOUND_V1 if "/v1/" in request.path
                                else NOT_FOUND_OTHER)
        except Exception as err:  # a bug: say so in one line, keep the traceback in the log
            log.exception("unhandled error serving %s %s", request.method, request.path)
            return web.Response(status=500, text=f"internal error: {type(err).__name__}: {err}")
        finally:
            agent_metrics.observe_request(request, start)
