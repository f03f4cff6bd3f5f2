"""``proconsul rtt``: estimated round trip time between two nodes, from coordinates."""

from __future__ import annotations

from proconsul.api import ClientError
from proconsul.api.coordinate import distance
from proconsul.cli.command import Command, Context


def _lan(ctx: Context, client, nodes: list[str]) -> tuple[dict | None, dict | None, str]:
    entries = client.coordinate().nodes()[0] or []
    if len(nodes) == 1:
        nodes.append(client.agent().node_name())
    first = next((e for e in entries if e["Node"] == nodes[0]), None)
    second = next((e for e in entries if e["Node"] == nodes[1]
                   and (first is None or e.get("Segment", "") == first.get("Segment", ""))),
                  None)
    return first, second, "LAN"


class WanNameError(ValueError):
    """A -wan node name that is not ``<node name>.<datacenter>``."""


def _wan(ctx: Context, client, nodes: list[str]) -> tuple[dict | None, dict | None, str]:
    if len(nodes) == 1:
        me = client.agent().self()
        nodes.append(f"{me['Config']['NodeName']}.{me['Config']['Datacenter']}")
    wanted = [node.split(".") for node in nodes]
    if any(len(parts) != 2 for parts in wanted):
        raise WanNameError("Node names must be specified as <node name>.<datacenter> with -wan")
    found: list[dict | None] = [None, None]
    for dc in client.coordinate().datacenters() or []:
        for coord in dc.get("Coordinates") or []:
            for i, (node, datacenter) in enumerate(wanted):
                if dc["Datacenter"] == datacenter and coord["Node"].lower() == node.lower():
                    found[i] = coord
    return found[0], found[1], "WAN"


def rtt(ctx: Context) -> int:
    nodes = list(ctx.args)
    if len(nodes) not in (1, 2):
        ctx.error("One or two node names must be specified")
        return 1
    client = ctx.client()
    try:
        first, second, area = (_wan if ctx["wan"] else _lan)(ctx, client, nodes)
    except WanNameError as err:
        ctx.error(str(err))
        return 1
    except (ClientError, ValueError) as err:
        ctx.error(f"Error getting coordinates: {err}")
        return 1
    for node, entry in zip(nodes, (first, second), strict=True):
        if entry is None:
            ctx.error(f"Could not find a coordinate for node {node!r}".replace("'", '"'))
            return 1
    seconds = distance(first["Coord"], second["Coord"])
    ctx.info(f"Estimated {nodes[0]} <-> {nodes[1]} rtt: {seconds * 1000:.3f} ms "
             f"(using {area} coordinates)")
    return 0


RTT = Command("""
Usage: proconsul rtt [options] node1 [node2]

  Estimates the round trip time between two nodes using Consul's network
  coordinate model of the cluster.

  At least one node name is required. If the second node name isn't given, it
  is set to the agent's node name. These are the node names as known to
  Consul as the "consul members" command would show, not IP addresses.

  By default, the two nodes are assumed to be nodes in the local datacenter
  and the LAN coordinates are used. If the -wan option is given, then the WAN
  coordinates are used, and the node names must be suffixed by a period and
  the datacenter (eg. "myserver.dc1").
""", "Estimates network round trip time between nodes", rtt,
    lambda fs: fs.boolean("wan", False, "Use WAN coordinates instead of LAN coordinates."))
