"""``proconsul event``: fire a user event."""

from __future__ import annotations

import re

from proconsul.api import ClientError
from proconsul.cli.command import Command, Context


def event(ctx: Context) -> int:
    name, node, service, tag = ctx["name"], ctx["node"], ctx["service"], ctx["tag"]
    if not name:
        ctx.error("Event name must be specified")
        return 1
    for flag, pattern in (("node", node), ("service", service), ("tag", tag)):
        if pattern:
            try:
                re.compile(pattern)
            except re.error as err:
                ctx.error(f"Failed to compile {flag} filter regexp: {err}")
                return 1
    if tag and not service:
        ctx.error("Cannot provide tag filter without service filter.")
        return 1
    if len(ctx.args) > 1:
        ctx.error("Too many command line arguments.")
        return 1
    payload = ctx.args[0].encode() if ctx.args else b""
    client = ctx.client()
    try:
        client.agent().node_name()
    except ClientError as err:
        ctx.error(f"Error querying Consul agent: {err}")
        return 1
    try:
        event_id, _ = client.event().fire(name, payload, node, service, tag)
    except ClientError as err:
        ctx.error(f"Error firing event: {err}")
        return 1
    ctx.info(f"Event ID: {event_id}")
    return 0


def _flags(fs) -> None:
    fs.string("name", "", "Name of the event.")
    fs.string("node", "", "Regular expression to filter on node names.")
    fs.string("service", "", "Regular expression to filter on service instances.")
    fs.string("tag", "", "Regular expression to filter on service tags. Must be used with "
              "-service.")


EVENT = Command("""
Usage: proconsul event [options] [payload]

  Dispatches a custom user event across a datacenter. An event must provide
  a name, but a payload is optional. Events support filtering using
  regular expressions on node name, service, and tag definitions.
""", "Fire a new event", event, _flags)
