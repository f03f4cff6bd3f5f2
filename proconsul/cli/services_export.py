"""``proconsul services export``: add consumers to the ``exported-services`` config entry."""

from __future__ import annotations

from proconsul.api import ClientError
from proconsul.api.errors import APIError
from proconsul.cli.command import Command, Context

ENTRY_PATH = "/v1/config/exported-services/default"


def _names(ctx: Context, flag: str, what: str) -> list[str] | None:
    """A comma-separated flag as a list; None (after saying why) if an item is empty."""
    if not ctx[flag]:
        return []
    names = ctx[flag].split(",")
    if "" in names:
        ctx.error(f'Invalid {what} ""')
        return None
    return names


def add_consumers(entry: dict, service: str, peers: list[str], partitions: list[str]) -> dict:
    """``entry`` with ``service`` exported to every peer and partition not consuming it yet."""
    wanted = [{"Peer": p} for p in peers] + [{"Partition": p} for p in partitions]
    services = entry.get("Services") or []
    entry["Services"] = services
    for exported in services:
        if exported.get("Name") == service and not exported.get("Namespace"):
            consumers = exported.get("Consumers") or []
            exported["Consumers"] = consumers
            present = {(k, v) for c in consumers for k, v in c.items() if v}
            consumers.extend(c for c in wanted if not present & c.items())
            return entry
    services.append({"Name": service, "Consumers": wanted})
    return entry


def export(ctx: Context) -> int:
    if not ctx["name"]:
        ctx.error("Missing the required -name flag")
        return 1
    if not ctx["consumer-peers"]:
        ctx.error("Missing the required -consumer-peers flag")
        return 1
    peers = _names(ctx, "consumer-peers", "peer")
    partitions = _names(ctx, "consumer-partitions", "partition")
    if peers is None or partitions is None:
        return 1
    client = ctx.client()
    try:
        entry = client.query(ENTRY_PATH)[0]
    except APIError as err:
        if err.status != 404:
            ctx.error(f"Error reading config entry exported-services/default: {err}")
            return 1
        entry = {"Kind": "exported-services", "Name": "default"}
    except ClientError as err:
        ctx.error(f"Error reading config entry exported-services/default: {err}")
        return 1
    entry = add_consumers(entry, ctx["name"], peers, partitions)
    try:
        written = client.write("PUT", "/v1/config", entry,
                               params=[("cas", str(entry.get("ModifyIndex", 0)))])[0]
    except ClientError as err:
        ctx.error(f"Error writing config entry: {err}")
        return 1
    if written is not True:
        ctx.error("Config entry was changed during update. Please try again")
        return 1
    quoted = ctx["name"], ctx["consumer-peers"], ctx["consumer-partitions"]
    if partitions:
        ctx.info(f'Successfully exported service "{quoted[0]}" to peers "{quoted[1]}" and to '
                 f'partitions "{quoted[2]}"')
    else:
        ctx.info(f'Successfully exported service "{quoted[0]}" to peers "{quoted[1]}"')
    return 0


def _flags(fs) -> None:
    fs.string("name", "", "(Required) Specify the name of the service you want to export.")
    fs.string("consumer-peers", "", "(Required) Peers the service will be exported to, "
              "formatted as a comma-separated list.")
    fs.string("consumer-partitions", "", "The local partitions within the same datacenter "
              "that the service will be exported to, formatted as a comma-separated list. "
              "Admin Partitions are a Consul Enterprise feature.")


EXPORT = Command("""
Usage: proconsul services export [options] -name <service name> -consumer-peers <other cluster name>

  Export a service. The peers given are the names this cluster uses locally
  for the other clusters the service is exported to. Running it again with
  the same arguments changes nothing.

      $ proconsul services export -name=web -consumer-peers=other-cluster
""", "Export a service", export, _flags)
