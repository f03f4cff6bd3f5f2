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


def agent_flags() -> FlagSet:
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
    flags.integer("dns-port", 8600, "DNS port to use (-1 disables the DNS server).")
    flags.string("domain", "consul.", "Domain to use for DNS interface.")
    flags.string("alt-domain", "", "Alternate domain to use for DNS interface.")
    flags.strings("recursor", "Address of an upstream DNS server. Can be specified multiple "
                  "times.")
    flags.string("data-dir", "", "Path to a data directory to store agent state.")
    flags.string("log-level", "info", "Log level of the agent (trace, debug, info, warn, err).")
    return flags


def run(args: list[str]) -> int:
    flags = agent_flags()
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
    if not values["dev"] and not values["server"]:
        print("Only -dev (and -server) agents are available so far; client mode arrives "
              "with clustering.", file=sys.stderr)
        return 1
    return serve(config_from_flags(values))


def config_from_flags(values: dict) -> AgentConfig:
    """The agent configuration the parsed ``proconsul agent`` flags describe."""
    return AgentConfig(
        dev=values["dev"], server=values["server"], bootstrap=values["bootstrap"],
        node_name=values["node"], node_id=values["node-id"], datacenter=values["datacenter"],
        client_addr=values["client"], bind_addr=values["bind"],
        advertise_addr=values["advertise"], http_port=values["http-port"],
        server_port=values["server-port"], dns_port=values["dns-port"],
        domain=values["domain"], alt_domain=values["alt-domain"], recursors=values["recursor"],
        data_dir=values["data-dir"], log_level=values["log-level"])


def serve(config: AgentConfig) -> int:
    """Run an agent with ``config`` until SIGINT/SIGTERM; the process exit status."""
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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("==> Caught signal, shutting down...", flush=True)
    await agent.stop()
    return 0
