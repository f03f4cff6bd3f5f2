"""``proconsul operator federation status`` (beyond Consul): the datacenters as a server
sees them over the WAN."""

from __future__ import annotations

import json
from typing import Any

from proconsul.api import ClientError
from proconsul.cli.command import Command, Context
from proconsul.cli.tabular import DELIM, columnize


def _rtt(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.3f}ms"


def status_lines(status: dict[str, Any], show_servers: bool) -> list[str]:
    """One row per datacenter (nearest first); with ``show_servers`` its servers below.
    A Gateway column shows the mesh gateway each one is reached through, when any is."""
    datacenters = status.get("Datacenters") or []
    gateways = any(dc.get("Gateway") for dc in datacenters)
    rows = [DELIM.join(("Datacenter", "Leader", "RTT", "Servers",
                        *(("Gateway",) if gateways else ()), "Error"))]
    for dc in datacenters:
        servers = dc.get("Servers") or []
        alive = sum(1 for s in servers if s.get("Reachable"))
        name = dc["Datacenter"] + (" (local)" if dc.get("Local") else "")
        via = ((dc.get("Gateway") or "-",) if gateways else ())
        rows.append(DELIM.join((name, dc.get("Leader") or "(none)", _rtt(dc.get("RTTMillis")),
                                f"{alive}/{len(servers)} reachable", *via,
                                dc.get("LastError", ""))))
        if show_servers:
            for s in servers:
                state = s["Status"] if s.get("Reachable") or s["Status"] != "alive" \
                    else "unreachable"
                rows.append(DELIM.join((f"- {s['Node']}", s["Address"], "", state,
                                        *(("",) if gateways else ()), "")))
    table = [line.rstrip() for line in columnize(rows).splitlines()]
    return [f"Seen from {status.get('Server', '')} ({status.get('Datacenter', '')})", *table]


def status(ctx: Context) -> int:
    if ctx.args:
        ctx.error(f"Too many arguments (expected 0, got {len(ctx.args)})")
        return 1
    if ctx["format"] not in ("pretty", "json"):
        ctx.error(f"Error: invalid format '{ctx['format']}'")
        return 1
    try:
        current = ctx.client().operator().federation_status(ctx.query_options())
    except ClientError as err:
        ctx.error(f"Error querying federation status: {err}")
        return 1
    if ctx["format"] == "json":
        ctx.info(json.dumps(current, indent=3))
    else:
        ctx.info("\n".join(status_lines(current, ctx["servers"])))
    return 0


def _flags(fs) -> None:
    fs.string("format", "pretty", "Output format (pretty or json).")
    fs.boolean("servers", False, "List each datacenter's servers under it.")


FEDERATION_STATUS = Command("""
Usage: proconsul operator federation status [options]

  Shows every datacenter the queried server knows over the WAN, nearest first:
  its leader as answered over the WAN, the estimated round-trip time, how many
  of its servers are reachable, the mesh gateway it is reached through (with WAN
  federation through mesh gateways), and the last error. Not part of Consul.
""", "Show the datacenters of the federation and their health", status, _flags)
