"""``proconsul peering generate-token|establish|list|read|delete``: cluster peering, with
Consul's flags, messages and output formats."""

from __future__ import annotations

import json
from typing import Any

from proconsul.api import ClientError
from proconsul.cli.command import Command, Context, parse_map
from proconsul.cli.tabular import DELIM, columnize

FORMATS = ("json", "pretty")
NAME_USAGE = "(Required) The local name assigned to the peer cluster."
META_USAGE = ("Metadata to associate with the peering, formatted as key=value. This flag may "
              "be specified multiple times to set multiple metadata fields.")


def _checked(ctx: Context, needs_name: bool = True) -> bool:
    """Consul's common checks: the -name flag, then the -format value."""
    if needs_name and not ctx["name"]:
        ctx.error("Missing the required -name flag")
        return False
    if ctx["format"] not in FORMATS:
        ctx.error("Invalid format, valid formats are {json|pretty}")
        return False
    return True


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def generate_token(ctx: Context) -> int:
    if not _checked(ctx):
        return 1
    request: dict[str, Any] = {"PeerName": ctx["name"]}
    if ctx["meta"]:
        request["Meta"] = parse_map(ctx["meta"])
    if ctx["server-external-addresses"]:
        request["ServerExternalAddresses"] = ctx["server-external-addresses"].split(",")
    try:
        reply, _ = ctx.client().peerings().generate_token(request)
    except ClientError as err:
        ctx.error(f"Error generating peering token for {ctx['name']}: {err}")
        return 1
    ctx.info(_json(reply) if ctx["format"] == "json" else reply["PeeringToken"])
    return 0


def establish(ctx: Context) -> int:
    if not ctx["name"]:
        ctx.error("Missing the required -name flag")
        return 1
    if not ctx["peering-token"]:
        ctx.error("Missing the required -peering-token flag")
        return 1
    request: dict[str, Any] = {"PeerName": ctx["name"], "PeeringToken": ctx["peering-token"]}
    if ctx["meta"]:
        request["Meta"] = parse_map(ctx["meta"])
    try:
        ctx.client().peerings().establish(request)
    except ClientError as err:
        ctx.error(f"Error establishing peering for {ctx['name']}: {err}")
        return 1
    ctx.info(f"Successfully established peering connection with {ctx['name']}")
    return 0


def _count(peering: dict[str, Any], field: str) -> int:
    return len((peering.get("StreamStatus") or {}).get(field) or [])


def list_peerings(ctx: Context) -> int:
    if not _checked(ctx, needs_name=False):
        return 1
    try:
        peerings, _ = ctx.client().peerings().list(ctx.query_options())
    except ClientError:
        ctx.error("Error listing peerings")
        return 1
    peerings.sort(key=lambda p: p["Name"])
    if ctx["format"] == "json":
        ctx.info(_json(peerings))
        return 0
    if not peerings:
        ctx.info("There are no peering connections.")
        return 0
    rows = [DELIM.join(("Name", "State", "Imported Svcs", "Exported Svcs", "Meta"))]
    for p in peerings:
        meta = ",".join(f"{k}={v}" for k, v in (p.get("Meta") or {}).items())
        rows.append(DELIM.join((p["Name"], p["State"], str(_count(p, "ImportedServices")),
                                str(_count(p, "ExportedServices")), meta)))
    ctx.info(columnize(rows))
    return 0


def describe(p: dict[str, Any]) -> str:
    """Consul's ``peering read`` layout."""
    lines = [f"Name:         {p['Name']}", f"ID:           {p['ID']}"]
    if p.get("Partition"):
        lines.append(f"Partition:    {p['Partition']}")
    if p.get("DeletedAt"):
        lines.append(f"DeletedAt:    {p['DeletedAt']}")
    lines.append(f"State:        {p['State']}")
    if p.get("Meta"):
        lines += ["Meta:", *(f"    {k}={v}" for k, v in p["Meta"].items())]
    lines += ["", f"Peer ID:               {p.get('PeerID', '')}",
              f"Peer Server Name:      {p.get('PeerServerName', '')}",
              f"Peer CA Pems:          {len(p.get('PeerCAPems') or [])}"]
    if p.get("PeerServerAddresses"):
        lines += ["Peer Server Addresses:", *(f"    {a}" for a in p["PeerServerAddresses"])]
    lines += ["", f"Imported Services: {_count(p, 'ImportedServices')}",
              f"Exported Services: {_count(p, 'ExportedServices')}", "",
              f"Create Index: {p['CreateIndex']}", f"Modify Index: {p['ModifyIndex']}"]
    return "\n".join(lines) + "\n"


def _read_named(ctx: Context) -> dict[str, Any] | None:
    """The peering ``-name`` names, or None after saying why there is none."""
    if not _checked(ctx):
        return None
    try:
        peering, _ = ctx.client().peerings().read(ctx["name"], ctx.query_options())
    except ClientError as err:
        ctx.error(f"Error reading peering: {err}")
        return None
    if peering is None:
        ctx.error(f"No peering with name {ctx['name']} found.")
    return peering


def read(ctx: Context) -> int:
    peering = _read_named(ctx)
    if peering is None:
        return 1
    ctx.info(_json(peering) if ctx["format"] == "json" else describe(peering))
    return 0


def exported_services(ctx: Context) -> int:
    """The services this cluster exports to the peer, from its peering's stream status."""
    peering = _read_named(ctx)
    if peering is None:
        return 1
    names = (peering.get("StreamStatus") or {}).get("ExportedServices") or []
    if ctx["format"] == "json":
        ctx.info(_json([{"ID": name} for name in names]))
    else:
        ctx.info("\n".join(names))
    return 0


def delete(ctx: Context) -> int:
    if not ctx["name"]:
        ctx.error("Missing the required -name flag")
        return 1
    try:
        ctx.client().peerings().delete(ctx["name"])
    except ClientError as err:
        ctx.error(f"Error deleting peering for {ctx['name']}: {err}")
        return 1
    ctx.info(f"Successfully submitted peering connection, {ctx['name']}, for deletion")
    return 0


def _format_flag(fs) -> None:
    fs.string("format", "pretty", "Output format {json|pretty} (default: pretty)")


def _name_flag(fs) -> None:
    fs.string("name", "", NAME_USAGE)


def _generate_flags(fs) -> None:
    _name_flag(fs)
    fs.strings("meta", META_USAGE)
    fs.string("server-external-addresses", "",
              "A list of addresses to put into the generated token, formatted as a "
              "comma-separate list. Addresses are the form of <host or IP>:port. This could be "
              "used to specify load balancer(s) or external IPs to reach the servers from the "
              "dialing side, and will override any server addresses obtained from the "
              '"consul" service.')
    _format_flag(fs)


def _establish_flags(fs) -> None:
    _name_flag(fs)
    fs.string("peering-token", "", "(Required) The peering token from the accepting cluster.")
    fs.strings("meta", META_USAGE)


def _read_flags(fs) -> None:
    _name_flag(fs)
    _format_flag(fs)


GENERATE_TOKEN = Command("""
Usage: proconsul peering generate-token [options] -name <peer name>

  Generate a peering token. The name provided will be used locally by
  this cluster to refer to the peering connection. Re-generating a token
  for a given name will not interrupt any active connection, but will
  invalidate any unused token for that name.

  Example:

    $ proconsul peering generate-token -name west-dc
""", "Generate a peering token", generate_token, _generate_flags)
ESTABLISH = Command("""
Usage: proconsul peering establish [options] -name <peer name> -peering-token <token>

  Establish a peering connection. The name provided will be used locally by
  this cluster to refer to the peering connection. The peering token can
  only be used once to establish the connection.

  Example:

    $ proconsul peering establish -name west-dc -peering-token <token>
""", "Establish a peering connection", establish, _establish_flags)
LIST = Command("""
Usage: proconsul peering list [options]

  List all peering connections.  The results will be filtered according
  to ACL policy configuration.

  Example:

    $ proconsul peering list
""", "List peering connections", list_peerings, _format_flag)
READ = Command("""
Usage: proconsul peering read [options] -name <peer name>

  Read a peering connection with the provided name.  If one is not found,
  the command will exit with a non-zero code. The result will be filtered according
  to ACL policy configuration.

  Example:

    $ proconsul peering read -name west-dc
""", "Read a peering connection", read, _read_flags)
EXPORTED_SERVICES = Command("""
Usage: proconsul peering exported-services [options] -name <peer name>

  Lists services exported to the peer with the provided name. If the peer is not found,
  the command exits with a non-zero code. The result is filtered according
  to ACL policy configuration.

  Example:

    $ proconsul peering exported-services -name west-dc
""", "Lists exported services to a peer", exported_services, _read_flags)
DELETE = Command("""
Usage: proconsul peering delete [options] -name <peer name>

  Delete a peering connection.  Consul deletes all data imported from the peer
  in the background. The peering connection is removed after all associated
  data has been deleted. Operators can still read the peering connections
  while the data is being removed. A 'DeletedAt' field will be populated with
  the timestamp of when the peering was marked for deletion.

  Example:

    $ proconsul peering delete -name west-dc
""", "Delete a peering connection", delete, _name_flag)
