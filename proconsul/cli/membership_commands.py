"""``proconsul members|join|leave|force-leave``: gossip membership."""

from __future__ import annotations

import re

from proconsul.api import ClientError
from proconsul.api.agent import MEMBER_STATUS
from proconsul.cli.command import Command, Context
from proconsul.cli.tabular import columnize


def _address(member: dict) -> str:
    addr = member["Addr"]
    return f"[{addr}]:{member['Port']}" if ":" in addr else f"{addr}:{member['Port']}"


def _sort_key(member: dict) -> tuple:
    tags = member["Tags"]
    partition = tags.get("ap", "")
    return (tags.get("role") != "consul", partition not in ("", "default"),
            tags.get("segment", ""), partition, member["Name"])


def standard_rows(members: list[dict]) -> list[str]:
    rows = ["Node\x1fAddress\x1fStatus\x1fType\x1fBuild\x1fProtocol\x1fDC\x1fPartition\x1fSegment"]
    for m in members:
        tags = m["Tags"]
        status = MEMBER_STATUS.get(m["Status"], "unknown")
        build = tags.get("build", "") or "< 0.3"
        build = build.split(":", 1)[0]
        kind = {"node": "client", "consul": "server"}.get(tags.get("role", ""))
        if kind is None:
            rows.append(f"{m['Name']}\x1f{_address(m)}\x1f{status}\x1funknown\x1f\x1f\x1f\x1f\x1f")
            continue
        rows.append("\x1f".join([m["Name"], _address(m), status, kind, build,
                                 tags.get("vsn", ""), tags.get("dc", ""), tags["ap"],
                                 tags["segment"]]))
    return rows


def detailed_rows(members: list[dict]) -> list[str]:
    rows = ["Node\x1fAddress\x1fStatus\x1fTags"]
    for m in members:
        tags = ",".join(f"{k}={v}" for k, v in sorted(m["Tags"].items()))
        rows.append(f"{m['Name']}\x1f{_address(m)}\x1f"
                    f"{MEMBER_STATUS.get(m['Status'], 'unknown')}\x1f{tags}")
    return rows


def members(ctx: Context) -> int:
    try:
        status_re = re.compile(ctx["status"])
    except re.error as err:
        ctx.error(f"Failed to compile status regexp: {err}")
        return 1
    try:
        found = ctx.client().agent().members(ctx["wan"], "" if ctx["segment"] == "_all" else
                                             ctx["segment"], ctx["filter"])
    except ClientError as err:
        ctx.error(f"Error retrieving members: {err}")
        return 1
    shown = []
    for m in found:
        tags = m["Tags"] = dict(m.get("Tags") or {})
        tags["ap"] = tags.get("ap") or "default"
        if tags["ap"] == "default":
            if ctx["segment"] == "_all" and tags.get("role") == "consul":
                tags["segment"] = "<all>"
            elif not tags.get("segment"):
                tags["segment"] = "<default>"
        else:
            tags["segment"] = ""
        if status_re.search(MEMBER_STATUS.get(m["Status"], "unknown")):
            shown.append(m)
    if not shown:
        return 2
    shown.sort(key=_sort_key)
    rows = detailed_rows(shown) if ctx["detailed"] else standard_rows(shown)
    ctx.info(columnize(rows))
    return 0


def _members_flags(fs) -> None:
    fs.boolean("detailed", False, "Provides detailed information about nodes.")
    fs.boolean("wan", False, "If the agent is in server mode, this can be used to return the "
               "other peers in the WAN pool.")
    fs.string("status", ".*", "If provided, output is filtered to only nodes matching the "
              "regular expression for status.")
    fs.string("segment", "_all", "(Enterprise-only) If provided, output is filtered to only "
              "nodes in the given segment.")
    fs.string("filter", "", "Filter to use with the request")


def join(ctx: Context) -> int:
    if not ctx.args:
        ctx.error("At least one address to join must be specified.")
        return 1
    agent = ctx.client().agent()
    joined = 0
    for address in ctx.args:
        try:
            agent.join(address, ctx["wan"])
            joined += 1
        except ClientError as err:
            ctx.error(f"Error joining address '{address}': {err}")
    if joined == 0:
        ctx.error("Failed to join any nodes.")
        return 1
    ctx.info(f"Successfully joined cluster by contacting {joined} nodes.")
    return 0


def leave(ctx: Context) -> int:
    if ctx.args:
        ctx.error(f"Error! Too many arguments (expected 0, got {len(ctx.args)})")
        return 1
    try:
        ctx.client().agent().leave()
    except ClientError as err:
        ctx.error(f"Error leaving: {err}")
        return 1
    ctx.info("Graceful leave complete")
    return 0


def force_leave(ctx: Context) -> int:
    if len(ctx.args) != 1:
        ctx.error("A single node name must be specified to force leave.")
        return 1
    try:
        ctx.client().agent().force_leave(ctx.args[0], ctx["prune"], ctx["wan"])
    except ClientError as err:
        ctx.error(f"Error force leaving: {err}")
        return 1
    return 0


def _force_leave_flags(fs) -> None:
    fs.boolean("prune", False, "Remove agent completely from list of members")
    fs.boolean("wan", False, "Exclusively leave the agent from the WAN serf pool.")


MEMBERS = Command("""
Usage: proconsul members [options]

  Outputs the members of a running Consul agent.
""", "Lists the members of a Consul cluster", members, _members_flags)
JOIN = Command("""
Usage: proconsul join [options] address ...

  Tells a running Consul agent (with "consul agent") to join the cluster
  by specifying at least one existing member.
""", "Tell Consul agent to join cluster", join,
    lambda fs: fs.boolean("wan", False, "Joins a server to another server in the WAN pool."))
LEAVE = Command("""
Usage: proconsul leave [options]

  Causes the agent to gracefully leave the Consul cluster and shutdown.
""", "Gracefully leaves the Consul cluster and shuts down", leave)
FORCE_LEAVE = Command("""
Usage: proconsul force-leave [options] name

  Forces an agent to enter the "left" state. This can be used to
  eject nodes which have failed and will not rejoin the cluster.
  Note that if the member is actually still alive, it will
  eventually rejoin the cluster.
""", 'Forces a member of the cluster to enter the "left" state', force_leave,
    _force_leave_flags)
