"""``proconsul intention create|delete|get|list|check|match`` over the legacy intentions API."""

from __future__ import annotations

import datetime
import json
from typing import Any
from urllib.parse import quote

from proconsul.api import ClientError
from proconsul.cli.command import Command, Context, parse_map
from proconsul.cli.tabular import DELIM, columnize

BASE = "/v1/connect/intentions"


def _target(value: str) -> str:
    """``name`` as Consul's CLI shows it: the default namespace is left out."""
    return value.removeprefix("default/")


def describe(ixn: dict[str, Any]) -> str:
    """Consul's api.Intention.String(): ``SRC => DST (action)``."""
    src = _target(f"{ixn.get('SourceNS') or 'default'}/{ixn['SourceName']}")
    dst = _target(f"{ixn.get('DestinationNS') or 'default'}/{ixn['DestinationName']}")
    return f"{src} => {dst} ({ixn.get('Action', '')})"


def _get_exact(ctx: Context, source: str, destination: str) -> dict[str, Any] | None:
    reply, _ = ctx.client().query_raw(f"{BASE}/exact", ctx.query_options(),
                                      [("source", source), ("destination", destination)],
                                      ok=(200, 404))
    return json.loads(reply.body) if reply.status == 200 else None


def _from_args(ctx: Context) -> dict[str, Any] | None:
    """Consul's GetFromArgs: one ID, or a source and a destination."""
    args = ctx.args
    try:
        if len(args) == 1:
            reply, _ = ctx.client().query_raw(f"{BASE}/{quote(args[0], safe='')}",
                                              ctx.query_options(), ok=(200, 404))
            if reply.status == 404:
                ctx.error(f'Intention not found with ID "{args[0]}"')
                return None
            return json.loads(reply.body)
        if len(args) == 2:
            ixn = _get_exact(ctx, args[0], args[1])
            if ixn is None:
                ctx.error(f'Intention not found with source "{args[0]}" and destination '
                          f'"{args[1]}"')
            return ixn
    except ClientError as err:
        ctx.error(f"Error reading the intention: {err}")
        return None
    ctx.error("command requires exactly 1 or 2 arguments")
    return None


def create(ctx: Context) -> int:
    if ctx["allow"] and ctx["deny"]:
        ctx.error("Only one of -allow or -deny may be specified.")
        return 1
    action = "deny" if ctx["deny"] else "allow"
    if ctx["file"]:
        ixns = []
        for path in ctx.args:
            try:
                with open(path, encoding="utf-8") as f:
                    ixns.append(json.load(f))
            except (OSError, ValueError) as err:
                ctx.error(f"Error: {err}")
                return 1
    elif len(ctx.args) != 2:
        ctx.error("Error: Must specify two arguments: source and destination")
        return 1
    else:
        ixns = [{"SourceName": ctx.args[0], "DestinationName": ctx.args[1],
                 "SourceType": "consul", "Action": action,
                 **({"Meta": parse_map(ctx["meta"])} if ctx["meta"] else {})}]
    client = ctx.client()
    for ixn in ixns:
        try:
            if ctx["replace"]:
                old = _get_exact(ctx, ixn["SourceName"], ixn["DestinationName"])
                if old is not None and old.get("ID"):
                    client.write("PUT", f"{BASE}/{old['ID']}", {**ixn, "ID": old["ID"]})
                    continue
            client.write("POST", BASE, ixn)
        except ClientError as err:
            ctx.error(f'Error creating intention "{describe(ixn)}": {err}')
            return 1
        ctx.info(f"Created: {describe(ixn)}")
    return 0


def delete(ctx: Context) -> int:
    ixn = _from_args(ctx)
    if ixn is None:
        return 1
    try:
        if ixn.get("ID"):
            ctx.client().write("DELETE", f"{BASE}/{ixn['ID']}")
        else:
            ctx.client().write("DELETE", f"{BASE}/exact", params=[
                ("source", ixn["SourceName"]), ("destination", ixn["DestinationName"])])
    except ClientError as err:
        ctx.error(f"Error deleting intention: {err}")
        return 1
    ctx.info("Intention deleted.")
    return 0


def get(ctx: Context) -> int:
    ixn = _from_args(ctx)
    if ixn is None:
        return 1
    src, dst = describe(ixn).rsplit(" (", 1)[0].split(" => ")
    rows = [f"Source:{DELIM}{src}", f"Destination:{DELIM}{dst}"]
    if ixn.get("Action"):
        rows.append(f"Action:{DELIM}{ixn['Action']}")
    if ixn.get("ID"):
        rows.append(f"ID:{DELIM}{ixn['ID']}")
    if ixn.get("Description"):
        rows.append(f"Description:{DELIM}{ixn['Description']}")
    for key in sorted(ixn.get("Meta") or {}):
        rows.append(f"Meta[{key}]:{DELIM}{ixn['Meta'][key]}")
    rows.append(f"Created At:{DELIM}{_rfc850(ixn.get('CreatedAt'))}")
    ctx.info(columnize(rows))
    if ixn.get("Permissions"):
        ctx.info("Permissions:\n" + json.dumps(ixn["Permissions"], indent=2))
    return 0


def _rfc850(stamp: str | None) -> str:
    """Go's time.RFC850 of the local time (the zero time when the intention has none)."""
    if not stamp:
        return "Monday, 01-Jan-01 00:00:00 UTC"
    when = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone()
    return when.strftime("%A, %d-%b-%y %H:%M:%S %Z")


def list_intentions(ctx: Context) -> int:
    try:
        ixns = ctx.client().query(BASE, ctx.query_options())[0] or []
    except ClientError as err:
        ctx.error(f"Failed to retrieve the intentions list: {err}")
        return 1
    if not ixns:
        ctx.error("There are no intentions.")
        return 2
    rows = [f"ID{DELIM}Source{DELIM}Action{DELIM}Destination{DELIM}Precedence"]
    for ixn in ixns:
        src, dst = describe(ixn).rsplit(" (", 1)[0].split(" => ")
        rows.append(DELIM.join([ixn.get("ID", ""), src, ixn.get("Action", ""), dst,
                                str(ixn.get("Precedence", 0))]))
    ctx.info(columnize(rows))
    return 0


def check(ctx: Context) -> int:
    if len(ctx.args) != 2:
        ctx.error("command requires exactly 2 arguments: source and destination")
        return 1
    try:
        reply = ctx.client().query(f"{BASE}/check", ctx.query_options(),
                                   [("source", ctx.args[0]), ("destination", ctx.args[1])])[0]
    except ClientError as err:
        ctx.error(f"Error checking the connection: {err}")
        return 1
    if reply.get("Allowed"):
        ctx.info("Allowed")
        return 0
    ctx.info("Denied")
    return 2


def match(ctx: Context) -> int:
    if ctx["source"] and ctx["destination"]:
        ctx.error("Only one of -source or -destination may be specified.")
        return 1
    if len(ctx.args) != 1:
        ctx.error("command requires exactly one argument: src or dst")
        return 1
    by = "source" if ctx["source"] else "destination"
    try:
        reply = ctx.client().query(f"{BASE}/match", ctx.query_options(),
                                   [("by", by), ("name", ctx.args[0])])[0]
    except ClientError as err:
        ctx.error(f"Error matching the connection: {err}")
        return 1
    for ixn in reply.get(ctx.args[0]) or []:
        ctx.info(describe(ixn))
    return 0


def _create_flags(fs) -> None:
    fs.boolean("allow", False, "Create an intention that allows when matched.")
    fs.boolean("deny", False, "Create an intention that denies when matched.")
    fs.boolean("file", False, "Read intention data from one or more files.")
    fs.boolean("replace", False, "Replace matching intentions.")
    fs.strings("meta", "Metadata to set on the intention, formatted as key=value. This flag "
               "may be specified multiple times to set multiple meta fields.")


def _match_flags(fs) -> None:
    fs.boolean("destination", False, "Match intentions by destination.")
    fs.boolean("source", False, "Match intentions by source.")


CREATE = Command("""
Usage: proconsul intention create [options] SRC DST
Usage: proconsul intention create [options] -file FILE...

  Create one or more intentions. The data can be specified as a single
  source and destination pair or via a set of files when the "-file" flag
  is specified.

      $ proconsul intention create web db

  An "allow" intention is created by default (allowlist). To create a
  "deny" intention, the "-deny" flag should be specified. If a conflicting
  intention is found, creation will fail; "-replace" replaces it.
""", "Create intentions for service connections.", create, _create_flags)
DELETE = Command("""
Usage: proconsul intention delete [options] SRC DST
Usage: proconsul intention delete [options] ID

  Delete an intention. The intention is identified by its source and
  destination or by its unique ID.
""", "Delete an intention.", delete)
GET = Command("""
Usage: proconsul intention get [options] SRC DST
Usage: proconsul intention get [options] ID

  Read and show the details about an intention. The intention can be looked
  up via an exact source/destination match or via the unique intention ID.

      $ proconsul intention get web db
""", "Show information about an intention.", get)
LIST = Command("""
Usage: proconsul intention list

  List all intentions.
""", "List intentions.", list_intentions)
CHECK = Command("""
Usage: proconsul intention check [options] SRC DST

  Check whether a connection between SRC and DST would be allowed by
  intentions. The exit code is 0 when allowed, 2 when denied, and 1 on error.
""", "Check whether a connection between two services is allowed.", check)
MATCH = Command("""
Usage: proconsul intention match [options] SRC|DST

  Show the list of intentions that would be enforced for a given source
  or destination, in the order they are evaluated.

      $ proconsul intention match -source web
""", "Show intentions that match a source or destination.", match, _match_flags)
