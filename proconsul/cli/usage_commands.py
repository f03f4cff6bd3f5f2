"""``proconsul operator usage instances``: service instance and node counts, as Consul
prints them from ``/v1/operator/usage``."""

from __future__ import annotations

from proconsul.api import ClientError
from proconsul.cli.command import Command, Context
from proconsul.cli.tabular import tabwrite


def _table(header: list[str], rows: list[list[str]], total: list[str] | None,
           gap: bool = True) -> str:
    """Go tabwriter columns; a total row after an empty one (``gap``), as Consul prints."""
    lines = ["\t".join(header)] + ["\t".join(row) for row in rows]
    if total is not None:
        lines += ["\t" * (len(header) - 1)] if gap else []
        lines.append("\t".join(total))
    return tabwrite("\n".join(lines)).strip()


def billable_table(usage: dict[str, dict], per_dc: bool) -> str:
    rows = [([dc] if per_dc else []) + [str(u["Services"]), str(u["BillableServiceInstances"])]
            for dc, u in sorted(usage.items())]
    total = None
    if per_dc:
        total = ["Total", str(sum(u["Services"] for u in usage.values())),
                 str(sum(u["BillableServiceInstances"] for u in usage.values()))]
    return _table((["Datacenter"] if per_dc else []) + ["Services", "Service instances"],
                  rows, total)


def nodes_table(usage: dict[str, dict]) -> str:
    rows = [[dc, str(u.get("Nodes", 0))] for dc, u in sorted(usage.items())]
    return _table(["Datacenter", "Count"], rows,
                  ["Total", str(sum(u.get("Nodes", 0) for u in usage.values()))], gap=False)


def connect_table(usage: dict[str, dict], per_dc: bool) -> str:
    rows = [([dc] if per_dc else []) + [kind, str(count)]
            for dc, u in sorted(usage.items())
            for kind, count in sorted(u["ConnectServiceInstances"].items())]
    total = None
    if per_dc:
        total = ["Total", "", str(sum(sum(u["ConnectServiceInstances"].values())
                                      for u in usage.values()))]
    return _table((["Datacenter"] if per_dc else []) + ["Type", "Service instances"],
                  rows, total)


def instances(ctx: Context) -> int:
    if ctx.args:
        ctx.error(f"Too many arguments (expected 0, got {len(ctx.args)})")
        return 1
    if ctx["billable"] and ctx["connect"]:
        ctx.error("Cannot specify both -billable and -connect flags")
        return 1
    per_dc = bool(ctx["all-datacenters"])
    try:
        params = [("global", "")] if per_dc else []
        reply, _ = ctx.client().query("/v1/operator/usage", ctx.query_options(), params)
    except ClientError as err:
        ctx.error(f"Error fetching usage information: {err}")
        return 1
    usage = reply.get("Usage") or {}
    if not ctx["connect"]:
        total = sum(u["BillableServiceInstances"] for u in usage.values())
        ctx.info(f"Billable Service Instances Total: {total}")
        for dc, u in sorted(usage.items()):
            ctx.info(f"{dc} Billable Service Instances: {u['BillableServiceInstances']}")
        ctx.info("\nBillable Services")
        ctx.info(billable_table(usage, per_dc) + "\n")
        ctx.info("Nodes")
        ctx.info(nodes_table(usage) + "\n")
    if not ctx["billable"]:
        ctx.info("Connect Services")
        ctx.info(connect_table(usage, per_dc))
    return 0


def _flags(fs) -> None:
    fs.boolean("billable", False, "Display only billable service info. Cannot be used with "
               "-connect.")
    fs.boolean("connect", False, "Display only Connect service info. Cannot be used with "
               "-billable.")
    fs.boolean("all-datacenters", False, "Display service counts from all datacenters.")


INSTANCES = Command("""
Usage: proconsul operator usage instances [options]

  Retrieves usage information about the number of services registered in a given
  datacenter. By default, the datacenter of the local agent is queried.

  To retrieve the service usage data:

      $ proconsul operator usage instances

  To show only billable service instance counts:

      $ proconsul operator usage instances -billable

  To show only connect service instance counts:

      $ proconsul operator usage instances -connect
""", "Display service instance usage information", instances, _flags)
