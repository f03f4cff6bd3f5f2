"""``proconsul services export`` and ``services exported-services``: what this cluster
exports (the ``exported-services`` config entry), to which peers."""

from __future__ import annotations

import json

import msgspec

from proconsul.api import APIError, ClientError
from proconsul.cli.command import Command, Context
from proconsul.cli.tabular import columnize

FORMATS = ("pretty", "json")


def _only_consumer(services: list[dict], peer: str, partition: str) -> list[dict]:
    """``-consumerPeer``/``-consumerPartition``: the services with that consumer, each
    listing only it."""
    if not (peer or partition):
        return services
    kept = []
    for service in services:
        consumers = service.get("Consumers") or {}
        only: dict = {}
        if partition and partition in (consumers.get("Partitions") or ()):
            only["Partitions"] = [partition]
        if peer and peer in (consumers.get("Peers") or ()):
            only["Peers"] = [peer]
        if only:
            kept.append({**{k: v for k, v in service.items() if k != "Consumers"},
                         "Consumers": only})
    return kept


def _table(services: list[dict]) -> str:
    enterprise = bool(services[0].get("Partition"))
    lines = ["Service\x1fPartition\x1fNamespace\x1fConsumer" if enterprise
             else "Service\x1fConsumer"]
    for service in services:
        name = service["Service"]
        if enterprise:
            name = f"{name}\x1f{service.get('Partition', '')}\x1f{service.get('Namespace', '')}"
        consumers = service.get("Consumers") or {}
        lines += [f"{name}\x1fPeer: {peer}" for peer in consumers.get("Peers") or ()]
        lines += [f"{name}\x1fPartition: {p}" for p in consumers.get("Partitions") or ()]
    return columnize(lines, delim="\x1f")


def exported_services(ctx: Context) -> int:
    if ctx["format"] not in FORMATS:
        ctx.error(f"Invalid format, valid formats are {{{'|'.join(FORMATS)}}}")
        return 1
    try:
        services = ctx.client().query("/v1/exported-services", ctx.query_options())[0] or []
    except ClientError as err:
        ctx.error(f"Error reading exported services: {err}")
        return 1
    services = _only_consumer(services, ctx["consumerPeer"], ctx["consumerPartition"])
    if not services:
        ctx.info("No exported services found")
        return 0
    ctx.info(json.dumps(services, indent=4) if ctx["format"] == "json" else _table(services))
    return 0


def _flags(fs) -> None:
    fs.string("format", "pretty", f"Output format {{{'|'.join(FORMATS)}}} (default: pretty)")
    fs.string("consumerPeer", "", "If provided, output is filtered to only services which "
              "have the consumer peer")
    fs.string("consumerPartition", "", "If provided, output is filtered to only services "
              "which have the consumer partition")


ENTRY_PATH = "/v1/config/exported-services/default"


def export(ctx: Context) -> int:
    name, peers_flag = ctx["name"], ctx["consumer-peers"]
    if not name:
        ctx.error("Missing the required -name flag")
        return 1
    if not peers_flag:
        ctx.error("Missing the required -consumer-peers flag")
        return 1
    peers = peers_flag.split(",")
    if "" in peers:
        ctx.error('Invalid peer ""')
        return 1
    client = ctx.client()
    try:
        entry = client.query(ENTRY_PATH)[0]
    except APIError as err:
        if err.status != 404:
            ctx.error(f"Error reading config entry exported-services/default: {err}")
            return 1
        entry = {"Kind": "exported-services", "Name": "default", "Services": []}
    except ClientError as err:
        ctx.error(f"Error reading config entry exported-services/default: {err}")
        return 1
    _add_consumers(entry, name, peers)
    try:
        written = client.write("PUT", "/v1/config", raw_body=msgspec.json.encode(entry),
                               params=[("cas", str(entry.get("ModifyIndex", 0)))])[0]
    except ClientError as err:
        ctx.error(f"Error writing config entry: {err}")
        return 1
    if written is not True:
        ctx.error("Config entry was changed during update. Please try again")
        return 1
    ctx.info(f"Successfully exported service {json.dumps(name)} to cluster peers "
             f"{json.dumps(peers_flag)}")
    return 0


def _add_consumers(entry: dict, name: str, peers: list[str]) -> None:
    """Export ``name`` to ``peers`` too: each missing peer added to its consumers (the
    service added if the entry does not list it)."""
    services = entry.setdefault("Services", None) or []
    entry["Services"] = services
    for service in services:
        if service.get("Name") == name and not service.get("Namespace"):
            consumers = service.setdefault("Consumers", None) or []
            service["Consumers"] = consumers
            consumers += [{"Peer": p} for p in peers
                          if not any(c.get("Peer") == p for c in consumers)]
            return
    services.append({"Name": name, "Consumers": [{"Peer": p} for p in peers]})


EXPORT = Command("""
Usage: proconsul services export [options] -name <service name> -consumer-peers <other cluster name>

  Export a service to a peered cluster.

      $ proconsul services export -name=web -consumer-peers=other-cluster

  Additional flags and more advanced use cases are detailed below.
""", "Export a service from one peer or admin partition to another", export,
    lambda fs: (fs.string("name", "", "(Required) Specify the name of the service you want to "
                          "export."),
                fs.string("consumer-peers", "", "A list of peers to export the service to, "
                          "formatted as a comma-separated list.")))
EXPORTED_SERVICES = Command("""
Usage: proconsul services exported-services [options]

  Lists all the exported services and their consumers. Wildcards and sameness groups(Enterprise) are expanded.

  Example:

    $ proconsul services exported-services
""", "Lists exported services", exported_services, _flags)
