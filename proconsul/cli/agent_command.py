"""``proconsul agent``: run an agent until interrupted."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from proconsul.agent.agent import Agent
from proconsul.agent.config import AgentConfig
from proconsul.cli.flags import FlagError, FlagSet
from proconsul.structs.errors import ConsulError

LOG_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO,
              "warn": logging.WARNING, "error": logging.ERROR}


def _flags() -> FlagSet:
    flags = FlagSet("agent")
    flags.boolean("dev", False, "Start the agent in development mode (in-memory server).")
    flags.boolean("server", False, "Run the agent in server mode.")
    flags.boolean("bootstrap", False, "Bootstrap the cluster with this server alone.")
    flags.string("node", "", "Name of this node. Must be unique in the cluster.")
    flags.string("node-id", "", "A unique ID for this node across space and time.")
    flags.string("datacenter", "dc1", "Datacenter of the agent.")
    flags.string("client", "127.0.0.1", "Address to bind client interfaces (HTTP) to.")
    flags.string("bind", "127.0.0.1", "Address to bind cluster communication to.")
    flags.string("advertise", "", "Address to advertise to other nodes.")
    flags.integer("http-port", 8500, "HTTP API port to listen on.")
    flags.integer("server-port", 8300, "Server RPC port.")
    flags.integer("serf-lan-port", 8301, "Serf LAN gossip port.")
    flags.integer("serf-wan-port", 8302, "Serf WAN gossip port (-1 disables).")
    flags.integer("bootstrap-expect", 0, "Servers to wait for before bootstrapping.")
    flags.string("encrypt", "", "Base64 gossip encryption key.")
    flags.strings("join", "Address of an agent to join at start time (repeatable).")
    flags.strings("join-wan", "Address of a server to join over the WAN (repeatable).")
    flags.strings("retry-join", "Address to join, retried until it succeeds (repeatable).")
    flags.strings("retry-join-wan", "WAN address to join, retried (repeatable).")
    flags.duration("retry-interval", 30.0, "Time to wait between join attempts.")
    flags.integer("retry-max", 0, "Maximum join attempts (0 = no limit).")
    flags.string("data-dir", "", "Path to a data directory to store agent state.")
    flags.integer("raft-multiplier", 0,
                  "performance.raft_multiplier: scales Raft timing (default 5, -dev 1).")
    flags.integer("raft-snapshot-threshold", 16384,
                  "raft_snapshot_threshold: log entries between snapshots.")
    flags.integer("raft-trailing-logs", 10240,
                  "raft_trailing_logs: log entries kept after a snapshot.")
    flags.string("log-level", "info", "Log level of the agent (trace, debug, info, warn, err).")
    return flags


def run(args: list[str]) -> int:
    flags = _flags()
    try:
        values, rest = flags.parse(args)
    except FlagError as err:
        print(f"{err}\n\nUsage: proconsul agent [options]\n\n{flags.usage()}", file=sys.stderr)
        return 1
    if rest:
        print(f"Unexpected argument: {rest[0]}", file=sys.stderr)
        return 1
    level = values["log-level"]
    if level.lower() not in LOG_LEVELS and level.lower() != "err":
        print(f"Invalid log level: {level}", file=sys.stderr)
        return 1
    logging.basicConfig(level=LOG_LEVELS.get(level.lower(), logging.ERROR), stream=sys.stderr,
                        format="%(asctime)s [%(levelname)s] %(name)s: %(message)s")
    if not 0 <= values["raft-multiplier"] <= 10:
        print("performance.raft_multiplier cannot be greater than 10", file=sys.stderr)
        return 1
    if not values["dev"] and not values["server"]:
        print("Only -dev (and -server) agents are available so far; client mode arrives "
              "with clustering.", file=sys.stderr)
        return 1
    config = AgentConfig(
        dev=values["dev"], server=values["server"], bootstrap=values["bootstrap"],
        node_name=values["node"], node_id=values["node-id"], datacenter=values["datacenter"],
        client_addr=values["client"], bind_addr=values["bind"],
        advertise_addr=values["advertise"], http_port=values["http-port"],
        server_port=values["server-port"], data_dir=values["data-dir"], log_level=level,
        serf_lan_port=values["serf-lan-port"], serf_wan_port=values["serf-wan-port"],
        bootstrap_expect=values["bootstrap-expect"], encrypt=values["encrypt"],
        start_join=values["join"], start_join_wan=values["join-wan"],
        retry_join=values["retry-join"], retry_join_wan=values["retry-join-wan"],
        retry_interval=values["retry-interval"], retry_max=values["retry-max"],
        raft_multiplier=values["raft-multiplier"],
        raft_snapshot_threshold=values["raft-snapshot-threshold"],
        raft_trailing_logs=values["raft-trailing-logs"])
    try:
        import uvloop
        return uvloop.run(_serve(config))
    except ConsulError as err:
        print(f"==> {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


async def _serve(config: AgentConfig) -> int:
    agent = Agent(config)
    await agent.start()
    print("==> Proconsul agent running!", flush=True)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, agent.shutdown_requested.set)
    await agent.shutdown_requested.wait()
    print("==> Shutting down...", flush=True)
    await agent.stop()
    return 0
