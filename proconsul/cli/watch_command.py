"""``proconsul watch``: run a handler (or print JSON once) when a view of Consul changes.

The plan (blocking queries, when a change fires) is :mod:`proconsul.lib.watch`,
shared with the agent's ``watches``; this command adds the flags and the handler.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from proconsul.api import Client, ClientError
from proconsul.cli.child_process import spawn
from proconsul.cli.command import Command, Context, stop_on_interrupt
from proconsul.lib.watch import TYPE_PARAMS, Fetch, FetchError, Plan, WatchError, parse

# Flags named as the watch parameters they set (each type takes some of them).
_PARAMS = ("key", "prefix", "service", "tag", "passingonly", "state", "name")


def client_fetch(client: Client) -> Fetch:
    """A plan's blocking GET through the API client (its address, token and datacenter)."""
    def fetch(path: str, query: list[tuple[str, str]]) -> tuple[int, bytes, int]:
        try:
            reply, meta = client.query_raw(path, None, query, ok=(200, 404))
        except ClientError as err:
            raise FetchError(str(err)) from None
        return reply.status, reply.body, meta.last_index
    return fetch


def watch(ctx: Context) -> int:
    kind = ctx["type"]
    if not kind:
        ctx.error("Watch type must be specified")
        return 1
    params = {"type": kind, "stale": bool(ctx["stale"])}
    params.update({name: ctx[name] for name in _PARAMS if name in TYPE_PARAMS.get(kind, ())})
    try:
        spec = parse(params)
    except WatchError as err:
        ctx.error(f"Failed to parse watch: {err}")
        return 1
    client = ctx.client()
    try:
        client.agent().node_name()
    except ClientError as err:
        ctx.error(f"Error querying Consul agent: {err}")
        return 1
    stop_on_interrupt()
    exit_code = [0]

    def print_once(_index: int, result: Any) -> bool:
        ctx.info(json.dumps(result, indent=4, ensure_ascii=False))
        return False

    def run_handler(index: int, result: Any) -> bool:
        try:
            child = spawn(ctx.args, ctx["shell"], {"CONSUL_INDEX": str(index)},
                          stdin=subprocess.PIPE)
        except OSError as err:
            ctx.error(f"Error executing handler: {err}")
            exit_code[0] = 1
            return False
        child.communicate((json.dumps(result, ensure_ascii=False) + "\n").encode())
        if child.returncode != 0:
            ctx.error(f"Error executing handler: exit status {child.returncode}")
            exit_code[0] = 1
            return False
        return True

    plan = Plan(spec, client_fetch(client), run_handler if ctx.args else print_once,
                ctx.error)
    try:
        plan.run()
    except KeyboardInterrupt:
        return 0
    return exit_code[0]


def _flags(fs) -> None:
    fs.string("type", "", "Specifies the watch type. One of key, keyprefix, services, nodes, "
              "service, checks, or event.")
    fs.string("key", "", "Specifies the key to watch. Only for 'key' type.")
    fs.string("prefix", "", "Specifies the key prefix to watch. Only for 'keyprefix' type.")
    fs.string("service", "", "Specifies the service to watch. Required for 'service' type, "
              "optional for 'checks' type.")
    fs.string("tag", "", "Specifies the service tag to filter on. Optional for 'service' type.")
    fs.boolean("passingonly", False, "Specifies if only hosts passing all checks are "
               "displayed. Optional for 'service' type, defaults false.")
    fs.string("state", "", "Specifies the states to watch. Optional for 'checks' type.")
    fs.string("name", "", "Specifies an event name to watch. Only for 'event' type.")
    fs.boolean("shell", True, "Use a shell to run the command (can set a custom shell via the "
               "SHELL environment variable).")


WATCH = Command("""
Usage: proconsul watch [options] [child...]

  Watches for changes in a given data view from Consul. If a child process
  is specified, it will be invoked with the latest results on changes. Otherwise,
  the latest values are dumped to stdout and the watch terminates.

  Providing the watch type is required, and other parameters may be required
  or supported depending on the watch type.
""", "Watch for changes in Consul", watch, _flags)
