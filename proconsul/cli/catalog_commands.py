"""``proconsul catalog datacenters|nodes|services``."""

from __future__ import annotations

from proconsul.api import ClientError
from proconsul.cli.command import Command, Context, parse_map
from proconsul.cli.kv_commands import read_data
from proconsul.cli.tabular import columnize, tabwrite


def _no_args(ctx: Context) -> bool:
    if ctx.args:
        ctx.error(f"Too many arguments (expected 0, got {len(ctx.args)})")
        return False
    return True


def _pairs(mapping: dict | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((mapping or {}).items()))


def datacenters(ctx: Context) -> int:
    if not _no_args(ctx):
        return 1
    try:
        dcs = ctx.client().catalog().datacenters()
    except ClientError as err:
        ctx.error(f"Error listing datacenters: {err}")
        return 1
    if not dcs:
        ctx.error("No datacenters found")
        return 1
    for dc in dcs:
        ctx.info(dc)
    return 0


def node_rows(nodes: list[dict], detailed: bool) -> list[str]:
    if detailed:
        rows = ["Node\x1fID\x1fAddress\x1fDC\x1fTaggedAddresses\x1fMeta"]
        rows += [f"{n['Node']}\x1f{n.get('ID', '')}\x1f{n['Address']}\x1f{n['Datacenter']}"
                 f"\x1f{_pairs(n.get('TaggedAddresses'))}\x1f{_pairs(n.get('Meta'))}"
                 for n in nodes]
        return rows
    rows = ["Node\x1fID\x1fAddress\x1fDC"]
    for n in nodes:
        node_id = n.get("ID", "")
        if node_id.find("-") > 0:
            node_id = node_id[:node_id.index("-")]
        rows.append(f"{n['Node']}\x1f{node_id}\x1f{n['Address']}\x1f{n['Datacenter']}")
    return rows


def nodes(ctx: Context) -> int:
    if not _no_args(ctx):
        return 1
    filter_expr = ctx["filter"]
    if filter_expr:
        try:
            filter_expr = read_data(filter_expr).decode()
        except ValueError as err:
            ctx.error(f"Could not process filter argument: {err}")
            return 1
    q = ctx.query_options(near=ctx["near"], node_meta=parse_map(ctx["node-meta"]),
                          filter=filter_expr)
    catalog = ctx.client().catalog()
    try:
        if ctx["service"]:
            entries = catalog.service(ctx["service"], q=q)[0] or []
            found = [{"ID": s.get("ID", ""), "Node": s["Node"], "Address": s["Address"],
                      "Datacenter": s["Datacenter"], "TaggedAddresses": s.get("TaggedAddresses"),
                      "Meta": s.get("NodeMeta")} for s in entries]
        else:
            found = catalog.nodes(q)[0] or []
    except ClientError as err:
        what = "nodes for service" if ctx["service"] else "nodes"
        ctx.error(f"Error listing {what}: {err}")
        return 1
    if not found:
        ctx.error("No nodes match the given query - try expanding your search.")
        return 0
    ctx.info(columnize(node_rows(found, ctx["detailed"])))
    return 0


def _nodes_flags(fs) -> None:
    fs.string("filter", "", "Filter to use with the request")
    fs.boolean("detailed", False, "Output detailed information about the nodes including "
               "their addresses and metadata.")
    fs.string("near", "", "Node name to sort the node list in ascending order based on "
              "estimated round-trip time from that node. Passing \"_agent\" will use this "
              "agent's node for sorting.")
    fs.strings("node-meta", "Metadata to filter nodes with the given `key=value` pairs. This "
               "flag may be specified multiple times to filter on multiple sources of metadata.")
    fs.string("service", "", "Service `id or name` to filter nodes. Only nodes which are "
              "providing the given service will be returned.")


def services(ctx: Context) -> int:
    if not _no_args(ctx):
        return 1
    q = ctx.query_options(node_meta=parse_map(ctx["node-meta"]))
    catalog = ctx.client().catalog()
    try:
        if ctx["node"]:
            node = catalog.node(ctx["node"], q)[0]
            found: dict[str, list[str]] = {}
            for svc in (node or {}).get("Services", {}).values():
                found.setdefault(svc["Service"], []).extend(svc.get("Tags") or [])
        else:
            found = catalog.services(q)[0] or {}
    except ClientError as err:
        what = "services for node" if ctx["node"] else "services"
        ctx.error(f"Error listing {what}: {err}")
        return 1
    if not found:
        ctx.error("No services match the given query - try expanding your search.")
        return 0
    if ctx["tags"]:
        text = "".join(f"{name}\t{','.join(sorted(found[name] or []))}\n"
                       for name in sorted(found))
        ctx.info(tabwrite(text).strip())
    else:
        for name in sorted(found):
            ctx.info(name)
    return 0


def _services_flags(fs) -> None:
    fs.string("node", "", "Node `id or name` for which to list services.")
    fs.strings("node-meta", "Metadata to filter nodes with the given `key=value` pairs. If "
               "specified, only services running on nodes matching the given metadata will be "
               "returned. This flag may be specified multiple times to filter on multiple "
               "sources of metadata.")
    fs.boolean("tags", False, "Display each service's tags as a comma-separated list beside "
               "each service entry.")


DATACENTERS = Command("""
Usage: proconsul catalog datacenters [options]

  Retrieves the list of all known datacenters. This datacenters are sorted in
  ascending order based on the estimated median round trip time from the servers
  in this datacenter to the servers in other datacenters.
""", "Lists all known datacenters", datacenters)
NODES = Command("""
Usage: proconsul catalog nodes [options]

  Retrieves the list nodes registered in a given datacenter. By default, the
  datacenter of the local agent is queried.
""", "Lists all nodes in the given datacenter", nodes, _nodes_flags)
SERVICES = Command("""
Usage: proconsul catalog services [options]

  Retrieves the list services registered in a given datacenter. By default, the
  datacenter of the local agent is queried.
""", "Lists all registered services in a datacenter", services, _services_flags)
