"""``proconsul troubleshoot ports``: can this machine open TCP connections to a host's
Consul ports (or to the ports given with ``-ports``)?

As Consul's command: every port is dialled at once (5 s timeout each) and a line is
printed for each as its dial finishes, so the order is that of the answers. The host
defaults to ``CONSUL_HTTP_ADDR``; a scheme or port in it is dropped (Consul would dial
``host:8500:8600`` and report everything closed).
"""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlsplit

from proconsul.cli.command import Command, Context

# Consul's documented default ports: DNS, HTTP, HTTPS, gRPC, gRPC TLS, Serf LAN, Serf WAN,
# server RPC.
DEFAULT_PORTS = ("8600", "8500", "8501", "8502", "8503", "8301", "8302", "8300")
DIAL_TIMEOUT = 5.0


def host_of(addr: str) -> str:
    """The host part of ``CONSUL_HTTP_ADDR``-style text (``http://h:8500``, ``h:8500``,
    ``[::1]:8500``, or a bare host)."""
    if "://" not in addr:
        addr = "//" + addr
    try:
        return urlsplit(addr).hostname or addr.removeprefix("//")
    except ValueError:
        return addr.removeprefix("//")


def parse_ports(text: str) -> list[str]:
    """The comma-separated ``-ports`` list; ValueError names the first bad entry."""
    ports = [p.strip() for p in text.split(",")]
    for port in ports:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"invalid port {port!r}: want a number from 1 to 65535")
    return ports


async def _dial(host: str, port: str) -> tuple[str, bool]:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)),
                                           DIAL_TIMEOUT)
    except (OSError, TimeoutError):
        return port, False
    writer.close()
    return port, True


async def _check_all(ctx: Context, host: str, ports: list[str]) -> None:
    for done in asyncio.as_completed([_dial(host, port) for port in ports]):
        port, is_open = await done
        ctx.info(f"TCP: Port {port} on {host} is open." if is_open else
                 f"TCP: Port {port} on {host} is closed, unreachable, or the connection "
                 "timed out.")


def ports_command(ctx: Context) -> int:
    host = host_of(ctx["host"]) if ctx["host"] else ""
    if not host:
        ctx.error("-host is required. or set environment variable CONSUL_HTTP_ADDR")
        return 1
    if ctx.args:
        ctx.error("This command takes no arguments")
        return 1
    try:
        ports = parse_ports(ctx["ports"]) if ctx["ports"] else list(DEFAULT_PORTS)
    except ValueError as err:
        ctx.error(f"Invalid -ports: {err}")
        return 1
    asyncio.run(_check_all(ctx, host, ports))
    return 0


def _flags(fs) -> None:
    fs.string("host", os.environ.get("CONSUL_HTTP_ADDR", ""), "The consul server host")
    fs.string("ports", "", "Custom ports to troubleshoot")


PORTS = Command("""
Usage: proconsul troubleshoot ports [options]

  Checks TCP connectivity to Consul's default ports on a host, or to the ports
  given with -ports. Default ports are listed here:
  https://developer.hashicorp.com/consul/docs/install/ports

    $ proconsul troubleshoot ports -host localhost

  or, with CONSUL_HTTP_ADDR=localhost in the environment:

    $ proconsul troubleshoot ports

  To check other ports:

    $ proconsul troubleshoot ports -host localhost -ports 1023,1024
""", "Prints open and closed ports on the Consul server", ports_command, _flags, http=False)
