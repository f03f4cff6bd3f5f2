"""``proconsul services exported-services``: what this cluster exports, to which peers."""

from __future__ import annotations

import json

from proconsul.api import ClientError
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


EXPORTED_SERVICES = Command("""
Usage: proconsul services exported-services [options]

  Lists all the exported services and their consumers. Wildcards and sameness groups(Enterprise) are expanded.

  Example:

    $ proconsul services exported-services
""", "Lists exported services", exported_services, _flags)
