"""``proconsul connect envoy``: bootstrap and run an Envoy sidecar for a registered proxy."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from urllib.parse import urlsplit

from proconsul.agent.xds import versions
from proconsul.api import ClientError
from proconsul.cli.command import Command, Context
from proconsul.cli.connect_proxy_command import SidecarLookupError, lookup_sidecar
from proconsul.cli.envoy_bootstrap import BootstrapArgs, BootstrapConfigError, bootstrap
from proconsul.structs.service_kinds import (
    INGRESS_GATEWAY,
    MESH_GATEWAY,
    TERMINATING_GATEWAY,
    WAN_FEDERATION_META,
)

HOT_RESTART_FLAGS = ("--restart-epoch", "--hot-restart-version", "--drain-time-s",
                     "--parent-shutdown-time-s")
GATEWAY_KINDS = ("mesh", "terminating", "ingress", "api")
SERVED_GATEWAYS = {"ingress": INGRESS_GATEWAY, "terminating": TERMINATING_GATEWAY,
                   "mesh": MESH_GATEWAY}
DEFAULT_GATEWAY_PORT = 8443  # Consul's default port for a registered gateway's -address


class EnvoyError(Exception):
    pass


def grpc_target(ctx: Context, http_host: str) -> tuple[str, int, bool, bool]:
    """(host or socket path, port, unix?, tls?) from -grpc-addr, CONSUL_GRPC_ADDR or the agent."""
    addr = ctx["grpc-addr"] or os.environ.get("CONSUL_GRPC_ADDR", "")
    if not addr:
        xds = (ctx.client().agent().self().get("xDS") or {})
        ports = xds.get("Ports") or {}
        if (ports.get("TLS") or 0) > 0:
            addr = f"https://{http_host}:{ports['TLS']}"
        elif (ports.get("Plaintext") or 0) > 0:
            addr = f"http://{http_host}:{ports['Plaintext']}"
        else:
            ctx.error("Warning: the agent has no gRPC port (ports.grpc); using localhost:8502")
            addr = "localhost:8502"
    if addr.startswith("unix://"):
        return addr[len("unix://"):], 0, True, False
    tls = addr.startswith("https://")
    if "://" not in addr:
        addr = "http://" + addr
    parts = urlsplit(addr)
    if not parts.hostname or not parts.port:
        raise EnvoyError(f"Invalid -grpc-addr {addr!r}: want [http[s]://]host:port or "
                         f"unix:///path")
    return _resolve(parts.hostname), parts.port, False, tls


def _resolve(host: str) -> str:
    try:
        return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0]
    except OSError:
        raise EnvoyError(f"cannot resolve {host!r}") from None


def _admin(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise EnvoyError(f"Invalid -admin-bind {bind!r}: want host:port")
    return _resolve(host.strip("[]")), int(port)


def envoy_version(binary: str) -> tuple[int, int, int]:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             timeout=30).stdout
    except OSError as err:
        raise EnvoyError(f"could not run {binary}: {err.strerror}") from None
    version = versions.parse(out.rpartition("version:")[2])
    if version is None:
        raise EnvoyError(f"could not read the Envoy version from {binary!r}: {out.strip()!r}")
    return version


def run(ctx: Context) -> int:
    try:
        return _run(ctx)
    except (EnvoyError, SidecarLookupError) as err:
        ctx.error(str(err))
        return 1
    except ClientError as err:
        ctx.error(f"Error connecting to Consul agent: {err}")
        return 1


def _run(ctx: Context) -> int:
    gateway = ctx["gateway"]
    if ctx["expose-servers"]:
        if gateway != "mesh":
            raise EnvoyError("'-expose-servers' can only be used for mesh gateways")
        if not ctx["register"]:
            raise EnvoyError("'-expose-servers' requires '-register'")
    if gateway and gateway not in GATEWAY_KINDS:
        raise EnvoyError(f"-gateway must be one of {', '.join(GATEWAY_KINDS)}")
    if gateway and gateway not in SERVED_GATEWAYS:
        raise EnvoyError("API gateways are not supported by Proconsul yet: only sidecars and "
                         "mesh, ingress and terminating gateways")
    if ctx["register"] and not gateway:
        raise EnvoyError("Auto-Registration can only be used for gateways")
    config = ctx.config()
    client = ctx.client()
    proxy_id = ctx["proxy-id"]
    if not proxy_id and not ctx["sidecar-for"] and not gateway:
        raise EnvoyError("No proxy ID specified. One of -proxy-id, -sidecar-for, or -gateway "
                         "is required")
    ready_bind = ""
    if gateway:
        kind = SERVED_GATEWAYS[gateway]
        address = gateway_address(ctx["address"])
        if ctx["register"]:
            proxy_id = proxy_id or ctx["service"] or kind
            register_gateway(ctx, client, kind, proxy_id, address,
                             gateway_address(ctx["wan-address"], "-wan-address")
                             if ctx["wan-address"] else None)
        elif not proxy_id:
            proxy_id = gateway_proxy_id(client.agent().services(), kind)
        if kind == INGRESS_GATEWAY:  # Consul's ready listener, for the registered check
            ready_bind = f"{address[0] or '127.0.0.1'}:{address[1]}"
    if not proxy_id:
        proxy_id = lookup_sidecar(client, ctx["sidecar-for"])
    service = client.agent().service(proxy_id)[0]
    cluster = (service.get("Proxy") or {}).get("DestinationServiceName") or \
        service.get("Service", proxy_id)
    http_host = urlsplit(config.address if "://" in config.address
                         else "http://" + config.address).hostname or "127.0.0.1"
    host, port, unix, tls = grpc_target(ctx, http_host)
    ca_pem = ""
    ca_file = ctx["grpc-ca-file"] or (config.tls.ca_file if tls else "")
    if tls and ca_file:
        try:
            with open(ca_file, encoding="utf-8") as handle:
                ca_pem = handle.read()
        except OSError as err:
            raise EnvoyError(f"Error reading CA file {ca_file}: {err.strerror}") from None
    admin_host, admin_port = _admin(ctx["admin-bind"])
    try:
        doc = bootstrap(BootstrapArgs(
            proxy_id=proxy_id, cluster=cluster, admin_host=admin_host, admin_port=admin_port,
            admin_access_log=ctx["admin-access-log-path"], grpc_host=host, grpc_port=port,
            grpc_unix=unix, grpc_tls=tls, grpc_ca_pem=ca_pem,
            token=config.effective_token(), node_name=ctx["node-name"],
            proxy_config=(service.get("Proxy") or {}).get("Config") or {},
            ready_bind=ready_bind))
    except BootstrapConfigError as err:
        raise EnvoyError(f"Invalid proxy configuration: {err}") from None
    text = json.dumps(doc, indent=2)
    if ctx["bootstrap"]:
        ctx.info(text)
        return 0
    binary = ctx["envoy-binary"] or shutil.which("envoy")
    if not binary:
        raise EnvoyError("Couldn't find envoy binary: not on PATH; use -envoy-binary")
    version = envoy_version(binary)
    reason = versions.unsupported_reason(version)
    if reason and not ctx["ignore-envoy-compatibility"]:
        raise EnvoyError(reason)
    extra = list(ctx.args)
    if not any(flag in arg for arg in extra for flag in HOT_RESTART_FLAGS):
        extra.insert(0, "--disable-hot-restart")
    path = _pipe_bootstrap(text)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(binary, [binary, "--config-path", path, *extra])
    return 1  # not reached


def gateway_address(value: str, flag: str = "-address") -> tuple[str, int]:
    """``-address`` (or ``-wan-address``) as (host, port), as Consul's: ``host:port``, an IP
    alone (port 8443), or nothing (no address: the node's; port 8443)."""
    if not value:
        return "", DEFAULT_GATEWAY_PORT
    host, sep, port = value.rpartition(":")
    if not sep or (host.count(":") and not host.startswith("[")):  # no port, or a bare IPv6
        host, port = value, str(DEFAULT_GATEWAY_PORT)
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            raise EnvoyError(f"Invalid {flag} {value!r}: not an IP address") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise EnvoyError(f"Invalid {flag} {value!r}: want host:port")
    return host.strip("[]"), int(port)


def bind_addresses(values: list[str]) -> dict[str, dict[str, object]]:
    """``-bind-address name=ip:port`` flags as the gateway's ``envoy_gateway_bind_addresses``."""
    out: dict[str, dict[str, object]] = {}
    for value in values:
        name, sep, addr = value.partition("=")
        if not sep or not name or not addr:
            raise EnvoyError(f"Invalid -bind-address {value!r}: want <name>=<ip>:<port>")
        host, port = gateway_address(addr, "-bind-address")
        if not host:
            raise EnvoyError(f"Invalid -bind-address {value!r}: want <name>=<ip>:<port>")
        out[name] = {"Address": host, "Port": port}  # Consul's api.ServiceAddress
    return out


def _ip_version(host: str) -> int:
    """4 or 6 for an IP address, 0 for anything else."""
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return 0


def can_bind(host: str) -> bool:
    """Whether ``host`` is an IP address of this machine (Envoy could listen on it)."""
    version = _ip_version(host)
    if not version:
        return False
    with socket.socket(socket.AF_INET6 if version == 6 else socket.AF_INET) as probe:
        try:
            probe.bind((host, 0))
        except OSError:
            return False
    return True


def gateway_proxy_id(services: dict[str, dict], kind: str) -> str:
    """The one gateway of ``kind`` registered on the agent; EnvoyError otherwise."""
    ids = sorted(sid for sid, svc in services.items() if svc.get("Kind") == kind)
    if not ids:
        raise EnvoyError(f"No {kind} registered on this agent; use -register to register one")
    if len(ids) > 1:
        raise EnvoyError(f"More than one {kind} registered on this agent.\n"
                         f"    Start proxy with -proxy-id and one of the following IDs: "
                         f"{', '.join(ids)}")
    return ids[0]


def register_gateway(ctx: Context, client, kind: str, proxy_id: str,
                     address: tuple[str, int], wan: tuple[str, int] | None = None) -> None:
    """Register (or update) the gateway on the local agent, as Consul's ``-register``:
    with a TCP check on its address that removes it after -deregister-after-critical,
    its LAN and WAN tagged addresses, the listeners Envoy binds (``-bind-address``, else
    both tagged addresses when this machine has them) and, with ``-expose-servers``, the
    WAN-federation meta."""
    host, port = address
    name = ctx["service"] or kind
    registration: dict[str, object] = {
        "Kind": kind, "ID": proxy_id, "Name": name, "Address": host, "Port": port,
        "Check": {"Name": f"{kind} listening", "TCP": f"{_host_port(host or '127.0.0.1')}:"
                  f"{port}", "Interval": "10s",
                  "DeregisterCriticalServiceAfter": ctx["deregister-after-critical"]}}
    tagged: dict[str, dict[str, object]] = {}
    if host:
        tagged["lan"] = {"Address": host, "Port": port}
    if wan is not None and wan[0]:
        tagged["wan"] = {"Address": wan[0], "Port": wan[1]}
    if _ip_version(host) == 4:  # what Consul's agent adds
        tagged["lan_ipv4"] = tagged["wan_ipv4"] = {"Address": host, "Port": port}
    if tagged:
        registration["TaggedAddresses"] = tagged
    binds = bind_addresses(ctx["bind-address"])
    if binds:
        registration["Proxy"] = {"Config": {"envoy_gateway_no_default_bind": True,
                                            "envoy_gateway_bind_addresses": binds}}
    elif can_bind(host) and wan is not None and can_bind(wan[0]):
        registration["Proxy"] = {"Config": {"envoy_gateway_no_default_bind": True,
                                            "envoy_gateway_bind_tagged_addresses": True}}
    elif host and not can_bind(host):
        raise EnvoyError(f"The LAN address {host!r} will not be bindable. Either set a "
                         f"bindable address or override the bind addresses with "
                         f"-bind-address")
    if ctx["expose-servers"]:
        registration["Meta"] = {WAN_FEDERATION_META: "1"}
    try:
        client.agent().service_register(registration)
    except ClientError as err:
        raise EnvoyError(f"Error registering service {name!r}: {err}") from None
    if not ctx["bootstrap"]:
        ctx.info(f"Registered service: {name}")


def _host_port(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _pipe_bootstrap(text: str) -> str:
    """The bootstrap through a FIFO (mode 0600) that a forked child fills, so the token
    never rests on disk; the FIFO is removed once Envoy has read it."""
    directory = tempfile.mkdtemp(prefix="envoy-")
    path = os.path.join(directory, "bootstrap.json")
    os.mkfifo(path, 0o600)
    if os.fork() == 0:  # the child writes and goes (or gives up if Envoy never reads)
        try:
            signal.alarm(60)
            with open(path, "w", encoding="utf-8") as fifo:
                fifo.write(text)
            os.unlink(path)
            os.rmdir(directory)
        finally:
            os._exit(0)
    return path


def _flags(fs) -> None:
    fs.string("proxy-id", "", "The proxy's ID on the local agent.")
    fs.string("sidecar-for", "", "The ID of a service instance on the local agent that this "
              "proxy should become a sidecar for. It requires that the proxy service is "
              "registered with the agent as a connect-proxy with Proxy.DestinationServiceID "
              "set to this value. If more than one such proxy is registered it will fail.")
    fs.boolean("bootstrap", False, "Generate the bootstrap.json but don't exec envoy")
    fs.string("admin-bind", "localhost:19000", "The address:port to start envoy's admin "
              "server on. Envoy requires this but care must be taken to ensure it's not "
              "exposed to an untrusted network as it has full control over the secrets and "
              "config of the proxy.")
    fs.string("admin-access-log-path", "/dev/null", "The path to write the access log for "
              "the administration server.")
    fs.string("envoy-binary", "", "The full path to the envoy binary to run. By default will "
              "just search $PATH.")
    fs.string("grpc-addr", "", "Set the agent's gRPC address and port (in http(s)://host:port "
              "format). Alternatively, you can specify CONSUL_GRPC_ADDR in ENV.")
    fs.string("grpc-ca-file", "", "Path to a CA file to verify the agent's gRPC TLS "
              "certificate (default: -ca-file).")
    fs.string("node-name", "", "The name of the node the proxy service is registered on.")
    fs.boolean("ignore-envoy-compatibility", False, "Run an Envoy this server has not been "
               "tested with.")
    fs.string("envoy-version", "", "Ignored; kept for compatibility.")
    fs.boolean("omit-deprecated-tags", False, "Accepted for compatibility.")
    fs.string("gateway", "", "The type of gateway to register: mesh, terminating or ingress "
              "(api is not supported yet).")
    fs.boolean("register", False, "Register a new gateway service.")
    fs.string("service", "", "Service name to use for the registration (gateways).")
    fs.string("address", "", "LAN address to advertise in the gateway registration "
              "(host:port; the port defaults to 8443).")
    fs.string("deregister-after-critical", "6h", "The amount of time the gateway's health "
              "check can be failing before being deregistered.")
    fs.string("wan-address", "", "WAN address to advertise in the gateway registration "
              "(host:port; the port defaults to 8443).")
    fs.strings("bind-address", "Bind address to use instead of the default binding rules, "
               "as <name>=<ip>:<port>; may be given several times.")
    fs.boolean("expose-servers", False, "Expose the servers for WAN federation via this mesh "
               "gateway (needs -gateway=mesh and -register).")


ENVOY = Command("""
Usage: proconsul connect envoy [options] [-- pass-through options]

  Generates the bootstrap configuration needed to start an Envoy proxy instance
  for use as a Connect sidecar for a particular service instance, and runs
  Envoy with it (found on $PATH or given by -envoy-binary). Options after --
  go to Envoy.

    $ proconsul connect envoy -sidecar-for web
""", "Runs or configures Envoy as a Connect proxy", run, _flags)
