"""``proconsul connect proxy``: run the built-in Connect proxy (Consul's command).

The proxy is configured from a ``connect-proxy`` registration on the local
agent (``-proxy-id``, or ``-sidecar-for`` the service it fronts) or, in dev
mode, from ``-service``/``-listen``/``-service-addr``/``-upstream`` flags.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from proconsul.agent.log_monitor import json_line, text_line
from proconsul.api import Client, ClientError
from proconsul.cli.command import Command, Context
from proconsul.structs.service_kinds import CONNECT_PROXY

LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO,
          "warn": logging.WARNING, "warning": logging.WARNING, "err": logging.ERROR,
          "error": logging.ERROR}


class _LineHandler(logging.Handler):
    """hclog-shaped lines on stdout, like the agent's."""

    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self._format = json_line if as_json else text_line

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self._format(record))
            sys.stdout.flush()
        except (OSError, ValueError):
            pass


class SidecarLookupError(ValueError):
    """No sidecar proxy, or more than one, is registered for the service asked for."""


def lookup_sidecar(client: Client, sidecar_for: str) -> str:
    """The ID of the one connect-proxy registered with DestinationServiceID
    ``sidecar_for`` (any case), as ``connect proxy`` and ``connect envoy`` look it up;
    SidecarLookupError naming the candidates otherwise."""
    try:
        services = client.agent().services()
    except ClientError as err:
        raise SidecarLookupError(f"Failed looking up sidecar proxy info for {sidecar_for}: "
                                 f"{err}") from None
    found = sorted(svc["ID"] for svc in services.values()
                   if svc.get("Kind") == CONNECT_PROXY
                   and (svc.get("Proxy") or {}).get("DestinationServiceID", "").casefold()
                   == sidecar_for.casefold())
    if not found:
        raise SidecarLookupError(f"No sidecar proxy registered for {sidecar_for}")
    if len(found) > 1:
        raise SidecarLookupError(f"More than one sidecar proxy registered for {sidecar_for}.\n"
                                 f"    Start proxy with -proxy-id and one of the following "
                                 f"IDs: {', '.join(found)}")
    return found[0]


def check_proxy(client: Client, proxy_id: str) -> None:
    """Fail early, and clearly, when ``proxy_id`` is not a local connect-proxy."""
    try:
        svc, _ = client.agent().service(proxy_id)
    except ClientError as err:
        raise ValueError(f"Cannot read proxy {proxy_id} from the local agent: {err}") from None
    if svc.get("Kind") != CONNECT_PROXY:
        raise ValueError(f"Service {proxy_id} is not a connect-proxy "
                         f"(Kind {svc.get('Kind') or 'typical'!r})")


def run(ctx: Context) -> int:
    from proconsul.agent.proxy.config import (
        ProxyConfigError,
        from_flags,
        parse_upstream_flag,
        split_host_port,
    )
    if ctx.args:
        ctx.error("Should have no non-flag arguments.")
        return 1
    level = LEVELS.get(ctx["log-level"].lower())
    if level is None:
        ctx.error(f"==> Invalid log level: {ctx['log-level']}")
        return 1
    proxy_id = ctx["proxy-id"] or os.environ.get("CONNECT_PROXY_ID", "")
    sidecar_for = ctx["sidecar-for"] or os.environ.get("CONNECT_SIDECAR_FOR", "")
    try:
        upstreams = [parse_upstream_flag(value) for value in ctx["upstream"]]
    except ProxyConfigError as err:
        ctx.error(f"==> {err}")
        return 1
    if ctx["register"] and (not ctx["service"] or not ctx["listen"]):
        ctx.error("==> Failed initializing registration: -register may only be specified "
                  "with -service and -listen")
        return 1
    config = ctx.config()
    client = Client(config)
    ctx.info("==> Consul Connect proxy starting...")
    static = None
    try:
        if proxy_id or sidecar_for:
            if not proxy_id:
                proxy_id = lookup_sidecar(client, sidecar_for)
            check_proxy(client, proxy_id)
            ctx.info("    Configuration mode: Agent API")
            if sidecar_for:
                ctx.info(f"        Sidecar for ID: {sidecar_for}")
            ctx.info(f"              Proxy ID: {proxy_id}")
        elif ctx["service"]:
            static = from_flags(ctx["service"], ctx["listen"], ctx["service-addr"], upstreams)
            ctx.info("    Configuration mode: Flags")
            ctx.info(f"               Service: {static.service}")
            for up in static.upstreams:
                ctx.info(f"              Upstream: {up.destination_name} => "
                         f"{up.local_bind_address}:{up.local_bind_port}")
            if static.public is not None:
                ctx.info(f"       Public listener: {static.public.bind_address}:"
                         f"{static.public.bind_port} => {static.public.local_service_address}")
            else:
                ctx.info("       Public listener: Disabled")
        else:
            raise ValueError("-service or -proxy-id must be specified so that proxy can "
                             "configure itself.")
    except (ValueError, ProxyConfigError) as err:
        ctx.error(f"==> Error preparing configuration: {err}")
        return 1
    registration = None
    if ctx["register"]:
        host, port = split_host_port(ctx["listen"], "-listen")
        registration = (ctx["service"], host, port, ctx["register-id"])
    handler = _LineHandler(bool(ctx["log-json"]))
    logger = logging.getLogger("proxy")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    ctx.info("")
    ctx.info("==> Log data will now stream in as it occurs:\n")
    try:
        import uvloop
        uvloop.run(_serve(_endpoint(config), proxy_id, static, registration))
    except ClientError as err:
        ctx.error(f"==> Error connecting to Consul agent: {err}")
        return 1
    except KeyboardInterrupt:
        pass
    ctx.info("==> Consul Connect proxy shutdown")
    return 0


def _endpoint(config):
    from proconsul.agent.proxy.agent_api import AgentEndpoint
    from proconsul.api.transport import ssl_context
    context = ssl_context(config) if config.scheme == "https" else None
    return AgentEndpoint(address=config.address, scheme=config.scheme,
                         token=config.effective_token(), ssl_context=context)


async def _serve(endpoint, proxy_id: str, static, registration) -> None:
    from proconsul.agent.proxy.agent_api import AgentAPI
    from proconsul.agent.proxy.proxy import Proxy
    from proconsul.agent.proxy.register import Registration
    api = AgentAPI(endpoint)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    proxy = Proxy(api, proxy_id=proxy_id, static=static)
    monitor = Registration(api, *registration) if registration else None
    if monitor is not None:
        proxy.routines.start("proxy-register", monitor.run)
    try:
        await proxy.run(stop)
    finally:
        logging.getLogger("proxy").info("shutting down")
        if monitor is not None:
            await monitor.deregister()
        await api.close()


PROXY = Command("""
Usage: proconsul connect proxy [options]

  Starts a Consul Connect proxy and runs until an interrupt is received.
  The proxy can be used to accept inbound connections for a service,
  wrap outbound connections to upstream services, or both. This enables
  a non-Connect-aware application to use Connect.

  The proxy requires service:write permissions for the service it represents.
  The token may be passed via the CLI or the CONSUL_HTTP_TOKEN environment
  variable.

  Run as the sidecar of a service registered with a connect sidecar_service:

    $ proconsul connect proxy -sidecar-for web

  Or without a registration, representing "frontend" with an upstream to "db"
  on local port 8181:

    $ proconsul connect proxy -service frontend -upstream db:8181

  A proxy that also accepts inbound connections on port 8443, authorizes them,
  then forwards them to port 8080:

    $ proconsul connect proxy -service frontend -service-addr 127.0.0.1:8080 \\
        -listen ':8443'
""", "Runs a Consul Connect proxy", run, lambda fs: (
    fs.string("proxy-id", "", "The proxy's ID on the local agent."),
    fs.string("sidecar-for", "", "The ID of a service instance on the local agent that this "
              "proxy should become a sidecar for. It requires that the proxy service is "
              "registered with the agent as a connect-proxy with Proxy.DestinationServiceID "
              "set to this value. If more than one such proxy is registered it will fail."),
    fs.string("log-level", "INFO", "Specifies the log level."),
    fs.boolean("log-json", False, "Output logs in JSON format."),
    fs.string("service", "", "Name of the service this proxy is representing."),
    fs.strings("upstream", "Upstream service to support connecting to. The format should be "
               "'name:addr', such as 'db:8181'. This will make 'db' available on port 8181. "
               "This can be repeated multiple times."),
    fs.string("service-addr", "", "Address of the local service to proxy. Only useful if "
              "-listen and -service are both set."),
    fs.string("listen", "", "Address to listen for inbound connections to the proxied "
              "service. Must be specified with -service and -service-addr."),
    fs.boolean("register", False, "Self-register with the local Consul agent. Only useful "
               "with -listen."),
    fs.string("register-id", "", "ID suffix for the service. Use this to disambiguate with "
              "other proxies."),
))
