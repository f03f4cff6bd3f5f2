"""``proconsul watch``: run a handler (or print JSON once) when a view of Consul changes.

Each watch type is a blocking query; a handler fires when the index moves
and the result differs from the last one, including the first result (a
missing key does not fire until it exists).
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable
from typing import Any

from proconsul.api import Client, ClientError, QueryOptions, next_wait_index
from proconsul.api.event import id_to_index
from proconsul.cli.child_process import spawn
from proconsul.cli.command import Command, Context

RETRY_BASE = 5.0
RETRY_MAX = 20.0

Fetch = Callable[[Client, QueryOptions, int], tuple[Any, int]]


def _key(ctx: Context) -> Fetch:
    def fetch(client: Client, q: QueryOptions, _last: int) -> tuple[Any, int]:
        pair, meta = client.kv().get(ctx["key"], q)
        return (pair.to_json() if pair else None), meta.last_index
    return fetch


def _keyprefix(ctx: Context) -> Fetch:
    def fetch(client: Client, q: QueryOptions, _last: int) -> tuple[Any, int]:
        pairs, meta = client.kv().list(ctx["prefix"], q)
        return [p.to_json() for p in pairs], meta.last_index
    return fetch


def _services(ctx: Context) -> Fetch:
    def fetch(client: Client, q: QueryOptions, _last: int) -> tuple[Any, int]:
        services, meta = client.catalog().services(q)
        return dict(sorted((services or {}).items())), meta.last_index
    return fetch


def _nodes(ctx: Context) -> Fetch:
    def fetch(client: Client, q: QueryOptions, _last: int) -> tuple[Any, int]:
        nodes, meta = client.catalog().nodes(q)
        return nodes or [], meta.last_index
    return fetch


def _service(ctx: Context) -> Fetch:
    tags = [ctx["tag"]] if ctx["tag"] else []

    def fetch(client: Client, q: QueryOptions, _last: int) -> tuple[Any, int]:
        entries, meta = client.health().service(ctx["service"], tags, ctx["passingonly"], q)
        return entries or [], meta.last_index
    return fetch


def _checks(ctx: Context) -> Fetch:
    def fetch(client: Client, q: QueryOptions, _last: int) -> tuple[Any, int]:
        if ctx["service"]:
            checks, meta = client.health().checks(ctx["service"], q)
        else:
            checks, meta = client.health().state(ctx["state"] or "any", q)
        return checks or [], meta.last_index
    return fetch


def _event(ctx: Context) -> Fetch:
    def fetch(client: Client, q: QueryOptions, last: int) -> tuple[Any, int]:
        events, meta = client.event().list(ctx["name"], q)
        for i, event in enumerate(events):
            if id_to_index(event["ID"]) == last:
                events = events[i + 1:]
                break
        return events, meta.last_index
    return fetch


def _validate(ctx: Context) -> str | None:
    kind = ctx["type"]
    if kind == "key" and not ctx["key"]:
        return "Must specify a single key to watch"
    if kind == "keyprefix" and not ctx["prefix"]:
        return "Must specify a single prefix to watch"
    if kind == "service" and not ctx["service"]:
        return "Must specify a single service to watch"
    if kind == "checks" and ctx["service"] and ctx["state"]:
        return "Cannot specify service and state"
    if ctx["state"] and ctx["state"] not in ("any", "passing", "warning", "critical"):
        return f"Invalid state: {ctx['state']}"
    return None


TYPES: dict[str, Callable[[Context], Fetch]] = {
    "key": _key, "keyprefix": _keyprefix, "services": _services, "nodes": _nodes,
    "service": _service, "checks": _checks, "event": _event,
}


class Plan:
    """Blocking queries in a loop, firing ``handler(index, result)`` on each change."""

    def __init__(self, client: Client, fetch: Fetch, q: QueryOptions,
                 handler: Callable[[int, Any], bool], err: Callable[[str], None]) -> None:
        self.client, self.fetch, self.q, self.handler, self.err = client, fetch, q, handler, err
        self.stopped = threading.Event()

    def run(self) -> None:
        index, last_result, failures = 0, None, 0
        while not self.stopped.is_set():
            self.q.wait_index = index
            try:
                result, new_index = self.fetch(self.client, self.q, index)
            except ClientError as err:
                failures += 1
                retry = min(RETRY_BASE * 2 ** (failures - 1), RETRY_MAX)
                self.err(f"Watch errored: {err}, retry in {retry:g}s")
                self.stopped.wait(retry)
                continue
            failures = 0
            previous, index = index, next_wait_index(index, new_index)
            if previous and previous == new_index:
                continue
            if result == last_result:
                continue
            last_result = result
            if not self.handler(index, result):
                self.stopped.set()


def watch(ctx: Context) -> int:
    kind = ctx["type"]
    if not kind:
        ctx.error("Watch type must be specified")
        return 1
    if kind not in TYPES:
        ctx.error(f"Failed to parse watch: Unsupported watch type: {kind}")
        return 1
    problem = _validate(ctx)
    if problem:
        ctx.error(f"Failed to parse watch: {problem}")
        return 1
    client = ctx.client()
    try:
        client.agent().node_name()
    except ClientError as err:
        ctx.error(f"Error querying Consul agent: {err}")
        return 1
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

    q = ctx.query_options()
    plan = Plan(client, TYPES[kind](ctx), q, run_handler if ctx.args else print_once, ctx.error)
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
