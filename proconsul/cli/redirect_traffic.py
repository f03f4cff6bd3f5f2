"""``proconsul connect redirect-traffic``: iptables rules that send a host's (or a network
namespace's) TCP traffic through its transparent proxy, as Consul 1.22 applies them.

The rule set is built by :func:`rules` (pure) in Consul's order, with Consul's chains:
``CONSUL_PROXY_INBOUND`` / ``CONSUL_PROXY_IN_REDIRECT`` for traffic arriving (jumped to
from PREROUTING, redirected to the proxy's inbound port), ``CONSUL_PROXY_OUTPUT`` /
``CONSUL_PROXY_REDIRECT`` for traffic leaving (jumped to from OUTPUT, redirected to the
outbound port except the proxy's own traffic and 127.0.0.1), and ``CONSUL_DNS_REDIRECT``
for DNS to Consul. Exclusions are inserted first in their chain so they win. With
``-netns`` each command runs through ``nsenter --net=PATH``. With ``-proxy-id`` the ports
and exclusions come from the proxy's registration.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from proconsul.api import ClientError
from proconsul.cli.command import Command, Context
from proconsul.structs.service_kinds import CONNECT_PROXY

INBOUND = "CONSUL_PROXY_INBOUND"
IN_REDIRECT = "CONSUL_PROXY_IN_REDIRECT"
OUTPUT = "CONSUL_PROXY_OUTPUT"
REDIRECT = "CONSUL_PROXY_REDIRECT"
DNS = "CONSUL_DNS_REDIRECT"
DEFAULT_OUTBOUND_PORT = 15001


class SetupError(Exception):
    """The rules could not be worked out or applied; the message says why."""


@dataclass
class RedirectConfig:
    """What to redirect where (Consul's iptables.Config)."""

    proxy_uid: str
    inbound_port: int
    outbound_port: int = DEFAULT_OUTBOUND_PORT
    dns_ip: str = ""
    dns_port: int = 0
    exclude_inbound_ports: list[str] = field(default_factory=list)
    exclude_outbound_ports: list[str] = field(default_factory=list)
    exclude_outbound_cidrs: list[str] = field(default_factory=list)
    exclude_uids: list[str] = field(default_factory=list)


def _nat(*args: str | int) -> list[str]:
    return ["iptables", "-t", "nat", *map(str, args)]


def _dns_rules(cfg: RedirectConfig) -> list[list[str]]:
    if cfg.dns_port:
        ip = cfg.dns_ip or "127.0.0.1"
        return [*(_nat("-A", DNS, "-p", proto, "-d", ip, "--dport", 53, "-j", "DNAT",
                       "--to-destination", f"{ip}:{cfg.dns_port}") for proto in ("udp", "tcp")),
                *(_nat("-A", "OUTPUT", "-p", proto, "-d", ip, "--dport", 53, "-j", DNS)
                  for proto in ("udp", "tcp"))]
    if cfg.dns_ip:
        return [*(_nat("-A", DNS, "-p", proto, "--dport", 53, "-j", "DNAT",
                       "--to-destination", cfg.dns_ip) for proto in ("udp", "tcp")),
                *(_nat("-A", "OUTPUT", "-p", proto, "--dport", 53, "-j", DNS)
                  for proto in ("udp", "tcp"))]
    return []


def rules(cfg: RedirectConfig) -> list[list[str]]:
    """The iptables commands, in the order they must run."""
    out = [_nat("-N", chain) for chain in (INBOUND, IN_REDIRECT, OUTPUT, REDIRECT, DNS)]
    # outbound: DNS first so port-53 traffic is matched before the catch-all TCP jump
    out.append(_nat("-A", REDIRECT, "-p", "tcp", "-j", "REDIRECT", "--to-port",
                    cfg.outbound_port))
    out += _dns_rules(cfg)
    out += [_nat("-A", "OUTPUT", "-p", "tcp", "-j", OUTPUT),
            _nat("-A", OUTPUT, "-m", "owner", "--uid-owner", cfg.proxy_uid, "-j", "RETURN"),
            _nat("-A", OUTPUT, "-d", "127.0.0.1/32", "-j", "RETURN"),
            _nat("-A", OUTPUT, "-j", REDIRECT)]
    out += [_nat("-I", OUTPUT, "-p", "tcp", "--dport", port, "-j", "RETURN")
            for port in cfg.exclude_outbound_ports]
    out += [_nat("-I", OUTPUT, "-d", cidr, "-j", "RETURN") for cidr in cfg.exclude_outbound_cidrs]
    out += [_nat("-I", OUTPUT, "-m", "owner", "--uid-owner", uid, "-j", "RETURN")
            for uid in cfg.exclude_uids]
    # inbound
    out += [_nat("-A", IN_REDIRECT, "-p", "tcp", "-j", "REDIRECT", "--to-port",
                 cfg.inbound_port),
            _nat("-A", "PREROUTING", "-p", "tcp", "-j", INBOUND),
            _nat("-A", INBOUND, "-p", "tcp", "-j", IN_REDIRECT)]
    out += [_nat("-I", INBOUND, "-p", "tcp", "--dport", port, "-j", "RETURN")
            for port in cfg.exclude_inbound_ports]
    return out


def apply(commands: list[list[str]], netns: str = "") -> None:
    """Run the commands one by one (not atomic, as in Consul: a failure leaves the
    earlier rules in place); ``netns`` runs them inside that network namespace."""
    if shutil.which("iptables") is None:
        raise SetupError('exec: "iptables": executable file not found in $PATH')
    for argv in commands:
        if netns:
            argv = ["nsenter", f"--net={netns}", "--", *argv]
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise SetupError(f"failed to run command: {' '.join(argv)}, err: {err}") from None
        if result.returncode != 0:
            raise SetupError(f"failed to run command: {' '.join(argv)}, err: exit status "
                             f"{result.returncode}, output: "
                             f"{(result.stdout + result.stderr).strip()}")


def _port_of(addr: str, key: str) -> str:
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port:
        raise SetupError(f"failed parsing host and port from {key}: address {addr}: "
                         "missing port in address")
    return port


def _proxy_service(ctx: Context) -> dict[str, Any]:
    proxy_id, node = ctx["proxy-id"], ctx["node-name"]
    client = ctx.client()
    if not node:
        try:
            return client.agent().service(proxy_id)[0]
        except ClientError as err:
            raise SetupError(f"failed to fetch proxy service from Consul Agent: {err}") from None
    try:
        listing, _ = client.query(f"/v1/catalog/node-services/{quote(node, safe='')}",
                                  ctx.query_options(),
                                  [("filter", f'ID == "{proxy_id}"'),
                                   ("merge-central-config", "")])
    except ClientError as err:
        raise SetupError(f"failed to fetch proxy service from Consul: {err}") from None
    services = (listing or {}).get("Services") or []
    if not services:
        raise SetupError(f'proxy service with ID "{proxy_id}" not found')
    if len(services) > 1:
        raise SetupError(f'expected to find only one proxy service with ID "{proxy_id}", but '
                         "more were found")
    return services[0]


def _from_proxy(ctx: Context, cfg: RedirectConfig) -> None:
    """Consul's generateConfigFromFlags for ``-proxy-id``: ports and exclusions from the
    proxy's registration (bind_port, transparent proxy outbound port, Envoy's metrics
    listeners, exposed paths and, with a local agent, exposed check ports)."""
    svc = _proxy_service(ctx)
    proxy = svc.get("Proxy")
    if svc.get("Kind") != CONNECT_PROXY or not proxy:
        raise SetupError(f"service {ctx['proxy-id']} is not a proxy service")
    opaque = proxy.get("Config") or {}
    try:
        bind_port = int(opaque.get("bind_port") or 0)
    except (TypeError, ValueError):
        raise SetupError("failed parsing Proxy.Config: bind_port is not a number") from None
    cfg.inbound_port = bind_port or int(svc.get("Port") or 0)
    tproxy = proxy.get("TransparentProxy") or {}
    cfg.outbound_port = int(tproxy.get("OutboundListenerPort") or DEFAULT_OUTBOUND_PORT)
    for key in ("envoy_prometheus_bind_addr", "envoy_stats_bind_addr"):
        if opaque.get(key):
            cfg.exclude_inbound_ports.append(_port_of(str(opaque[key]), key))
    expose = proxy.get("Expose") or {}
    cfg.exclude_inbound_ports += [str(p["ListenerPort"]) for p in expose.get("Paths") or []
                                  if p.get("ListenerPort")]
    if expose.get("Checks") and not ctx["node-name"]:
        name = proxy.get("DestinationServiceName", "")
        try:
            checks, _ = ctx.client().query("/v1/agent/checks", ctx.query_options(),
                                           [("filter", f'ServiceName == "{name}"')])
        except ClientError as err:
            raise SetupError(str(err)) from None
        cfg.exclude_inbound_ports += [str(c["ExposedPort"]) for c in (checks or {}).values()
                                      if c.get("ExposedPort")]


def _validate(ctx: Context) -> str | None:
    if not ctx["proxy-uid"]:
        return "-proxy-uid is required"
    if not ctx["proxy-id"] and not ctx["proxy-inbound-port"]:
        return "either -proxy-id or -proxy-inbound-port are required"
    if ctx["proxy-id"] and (ctx["proxy-inbound-port"] or
                            ctx["proxy-outbound-port"] != DEFAULT_OUTBOUND_PORT):
        return ("-proxy-inbound-port or -proxy-outbound-port cannot be provided together with "
                "-proxy-id. Proxy's inbound and outbound ports are retrieved from the proxy's "
                "configuration instead.")
    return None


def redirect(ctx: Context) -> int:
    problem = _validate(ctx)
    if problem:
        ctx.error(f"==> {problem}")
        return 1
    cfg = RedirectConfig(proxy_uid=ctx["proxy-uid"], inbound_port=ctx["proxy-inbound-port"],
                         outbound_port=ctx["proxy-outbound-port"], dns_ip=ctx["consul-dns-ip"],
                         dns_port=ctx["consul-dns-port"])
    try:
        if ctx["proxy-id"]:
            _from_proxy(ctx, cfg)
    except SetupError as err:
        ctx.error(f"==> Failed to create configuration to apply traffic redirection rules: "
                  f"{err}")
        return 1
    cfg.exclude_inbound_ports += ctx["exclude-inbound-port"]
    cfg.exclude_outbound_ports += ctx["exclude-outbound-port"]
    cfg.exclude_outbound_cidrs += ctx["exclude-outbound-cidr"]
    cfg.exclude_uids += ctx["exclude-uid"]
    if not cfg.inbound_port:
        ctx.error("==> Error setting up traffic redirection rules: ProxyInboundPort is required "
                  "to set up traffic redirection")
        return 1
    try:
        apply(rules(cfg), ctx["netns"])
    except SetupError as err:
        ctx.error(f"==> Error setting up traffic redirection rules: {err}")
        return 1
    ctx.info("    Successfully applied traffic redirection rules")
    return 0


def _flags(fs) -> None:
    fs.string("node-name", "", "The node name where the proxy service is registered. It "
              "requires proxy-id to be specified. This is needed if running in an environment "
              "without client agents.")
    fs.string("consul-dns-ip", "", "IP used to reach Consul DNS. If provided, DNS queries will "
              "be redirected to Consul.")
    fs.integer("consul-dns-port", 0, "Port used to reach Consul DNS. If provided, DNS queries "
               "will be redirected to Consul.")
    fs.string("proxy-uid", "", "The user ID of the proxy to exclude from traffic redirection.")
    fs.string("proxy-id", "", "The service ID of the proxy service registered with Consul.")
    fs.integer("proxy-inbound-port", 0, "The inbound port that the proxy is listening on.")
    fs.integer("proxy-outbound-port", DEFAULT_OUTBOUND_PORT, "The outbound port that the "
               "proxy is listening on. When not provided, 15001 is used by default.")
    fs.strings("exclude-inbound-port", "Inbound port to exclude from traffic redirection. May "
               "be provided multiple times.")
    fs.strings("exclude-outbound-port", "Outbound port to exclude from traffic redirection. "
               "May be provided multiple times.")
    fs.strings("exclude-outbound-cidr", "Outbound CIDR to exclude from traffic redirection. May "
               "be provided multiple times.")
    fs.strings("exclude-uid", "Additional user ID to exclude from traffic redirection. May be "
               "provided multiple times.")
    fs.string("netns", "", "The network namespace where traffic redirection rules should "
              "apply.This must be a path to the network namespace, e.g. /var/run/netns/foo.")


REDIRECT_TRAFFIC = Command("""
Usage: proconsul connect redirect-traffic [options]

  Applies iptables rules for inbound and outbound traffic redirection.

  Requires that the iptables command line utility is installed.

  Examples:

    $ proconsul connect redirect-traffic -proxy-uid 1234 -proxy-id web

    $ proconsul connect redirect-traffic -proxy-uid 1234 -proxy-inbound-port 20000
""", "Applies iptables rules for traffic redirection", redirect, _flags)
