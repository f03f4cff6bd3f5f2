"""``proconsul agent``: load the configuration, run an agent until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from typing import Any, NoReturn

from proconsul.agent import telemetry
from proconsul.agent.agent import LOG_LEVELS, Agent
from proconsul.agent.config import AgentConfig
from proconsul.agent.config.builder import load_config
from proconsul.agent.config.validate import ConfigError
from proconsul.agent.log_setup import setup_logging
from proconsul.agent.startup_summary import summary_lines
from proconsul.cli.flags import FlagError, FlagSet, HelpRequested
from proconsul.lib.metrics import registry as metrics
from proconsul.structs.errors import ConsulError

# Command-line flag -> dotted config key, as Consul's agent flags map onto its config.
FLAG_KEYS = {
    "node": "node_name", "node-id": "node_id", "datacenter": "datacenter",
    "client": "client_addr", "bind": "bind_addr", "advertise": "advertise_addr",
    "http-port": "ports.http", "https-port": "ports.https", "server-port": "ports.server",
    "serf-lan-port": "ports.serf_lan", "serf-wan-port": "ports.serf_wan",
    "data-dir": "data_dir", "log-level": "log_level", "server": "server",
    "bootstrap": "bootstrap", "bootstrap-expect": "bootstrap_expect", "encrypt": "encrypt",
    "join": "start_join", "join-wan": "start_join_wan", "retry-join": "retry_join",
    "retry-join-wan": "retry_join_wan", "retry-interval": "retry_interval",
    "retry-max": "retry_max", "enable-script-checks": "enable_script_checks",
    "enable-local-script-checks": "enable_local_script_checks", "node-meta": "node_meta",
    "dns-port": "ports.dns", "domain": "domain", "alt-domain": "alt_domain",
    "recursor": "recursors", "raft-multiplier": "performance.raft_multiplier",
    "raft-snapshot-threshold": "raft_snapshot_threshold",
    "raft-trailing-logs": "raft_trailing_logs",
    "pid-file": "pid_file", "rejoin": "rejoin_after_leave", "serf-lan-bind": "serf_lan",
    "serf-wan-bind": "serf_wan", "default-query-time": "default_query_time",
    "max-query-time": "max_query_time", "disable-host-node-id": "disable_host_node_id",
    "protocol": "protocol", "auto-reload-config": "auto_reload_config",
    "log-file": "log_file", "log-json": "log_json", "log-rotate-bytes": "log_rotate_bytes",
    "log-rotate-duration": "log_rotate_duration", "log-rotate-max-files": "log_rotate_max_files",
    "syslog": "enable_syslog",
    "ui": "ui_config.enabled", "ui-dir": "ui_config.dir", "ui-content-path": "ui_config.content_path",
    "grpc-port": "ports.grpc", "grpc-tls-port": "ports.grpc_tls",
}


def _flags() -> FlagSet:
    flags = FlagSet("agent")
    flags.boolean("dev", False, "Start the agent in development mode (in-memory server).")
    flags.strings("config-file", "A config file to load (repeatable).")
    flags.strings("config-dir", "A directory of .json/.hcl config files (repeatable).")
    flags.string("config-format", "", "Format of config files without an extension.")
    flags.strings("hcl", "An HCL config fragment (repeatable).")
    flags.boolean("server", False, "Run the agent in server mode.")
    flags.boolean("bootstrap", False, "Bootstrap the cluster with this server alone.")
    flags.integer("bootstrap-expect", 0, "Servers to wait for before bootstrapping.")
    flags.string("node", "", "Name of this node. Must be unique in the cluster.")
    flags.string("node-id", "", "A unique ID for this node across space and time.")
    flags.strings("node-meta", "key:value metadata for this node (repeatable).")
    flags.string("datacenter", "dc1", "Datacenter of the agent.")
    flags.string("client", "127.0.0.1", "Address to bind client interfaces (HTTP) to.")
    flags.string("bind", "0.0.0.0", "Address to bind cluster communication to.")
    flags.string("advertise", "", "Address to advertise to other nodes.")
    flags.integer("http-port", 8500, "HTTP API port to listen on.")
    flags.integer("https-port", -1, "HTTPS API port to listen on (-1 disables; needs a "
                  "certificate in tls.https or tls.defaults).")
    flags.integer("server-port", 8300, "Server RPC port.")
    flags.integer("serf-lan-port", 8301, "Serf LAN gossip port.")
    flags.integer("serf-wan-port", 8302, "Serf WAN gossip port (-1 disables).")
    flags.integer("grpc-port", -1, "gRPC (xDS) port to listen on (-1 disables; -dev 8502).")
    flags.integer("grpc-tls-port", -1, "gRPC (xDS) TLS port to listen on (-1 disables; needs "
                  "a certificate in tls.grpc or tls.defaults).")
    flags.integer("dns-port", 8600, "DNS port to use (-1 disables the DNS server).")
    flags.string("domain", "consul.", "Domain to use for DNS interface.")
    flags.string("alt-domain", "", "Alternate domain to use for DNS interface.")
    flags.strings("recursor", "Address of an upstream DNS server (repeatable).")
    flags.string("data-dir", "", "Path to a data directory to store agent state.")
    flags.integer("raft-multiplier", 0,
                  "performance.raft_multiplier: scales Raft timing (default 5, -dev 1).")
    flags.integer("raft-snapshot-threshold", 16384,
                  "raft_snapshot_threshold: log entries between snapshots.")
    flags.integer("raft-trailing-logs", 10240,
                  "raft_trailing_logs: log entries kept after a snapshot.")
    flags.string("log-level", "info", "Log level of the agent (trace, debug, info, warn, err).")
    flags.string("log-file", "", "Path to a file to write agent logs to (a directory, or a "
                 "path ending in /, means consul.log in it).")
    flags.boolean("log-json", False, "Output logs in JSON format.")
    flags.integer("log-rotate-bytes", 0, "Maximum number of bytes written to a log file "
                  "before it is rotated (0: no size limit).")
    flags.string("log-rotate-duration", "24h", "Time after which the log file is rotated.")
    flags.integer("log-rotate-max-files", 0, "Maximum number of rotated log files to keep "
                  "(0: all, -1: none).")
    flags.boolean("syslog", False, "Also log to syslog (syslog_facility sets the facility).")
    flags.string("encrypt", "", "Base64 gossip encryption key.")
    flags.strings("join", "Address of an agent to join at start time (repeatable).")
    flags.strings("join-wan", "Address of a server to join over the WAN (repeatable).")
    flags.strings("retry-join", "Address to join, retried until it succeeds (repeatable).")
    flags.strings("retry-join-wan", "WAN address to join, retried (repeatable).")
    flags.string("retry-interval", "30s", "Time to wait between join attempts.")
    flags.integer("retry-max", 0, "Maximum join attempts (0 = no limit).")
    flags.boolean("enable-script-checks", False, "Enable script health checks.")
    flags.boolean("enable-local-script-checks", False,
                  "Enable script checks defined in local config files only.")
    flags.string("pid-file", "", "Path to a file to store the agent's PID in.")
    flags.boolean("rejoin", False, "Rejoin the cluster with the last known nodes even after "
                  "leaving it.")
    flags.string("serf-lan-bind", "", "Address to bind Serf LAN gossip to (default: -bind).")
    flags.string("serf-wan-bind", "", "Address to bind Serf WAN gossip to (default: -bind).")
    flags.string("default-query-time", "300s",
                 "How long a blocking query waits when it gives no wait.")
    flags.string("max-query-time", "600s", "The longest a blocking query may wait.")
    flags.boolean("disable-host-node-id", True,
                  "Do not derive the node ID from the host's ID (false: derive it).")
    flags.integer("protocol", 2, "The protocol version to speak (2 or 3).")
    flags.boolean("auto-reload-config", False,
                  "Reload the configuration when a config file changes.")
    flags.boolean("ui", False, "Enable the built-in web UI server (on with -dev).")
    flags.string("ui-dir", "", "Path to a directory of web UI assets to serve instead of "
                 "the built-in ones.")
    flags.string("ui-content-path", "/ui/", "Path the web UI is served under.")
    return flags


def flag_tree(values: dict[str, Any], given: set[str]) -> dict[str, Any]:
    """The config tree made of the flags that were given on the command line."""
    tree: dict[str, Any] = {}
    for flag, key in FLAG_KEYS.items():
        if flag not in given:
            continue
        value = values[flag]
        if flag == "node-meta":
            value = dict(item.partition(":")[::2] for item in value)
        *parents, leaf = key.split(".")
        node = tree
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return tree


def config_from_args(args: list[str]) -> AgentConfig:
    """The agent's settings for a command line: -dev defaults, files, -hcl, then flags.

    Raises :class:`FlagError` for a bad command line, :class:`ConfigError` for bad config.
    """
    flags = _flags()
    values, rest = flags.parse(args)
    if rest:
        raise FlagError(f"Unexpected argument: {rest[0]}")
    return load_config(values["config-file"] + values["config-dir"], values["hcl"],
                       flag_tree(values, flags.given), dev=values["dev"],
                       fmt=values["config-format"])


def run(args: list[str]) -> int:
    try:
        config = config_from_args(args)
    except HelpRequested:
        print(f"Usage: proconsul agent [options]\n\n{_flags().usage()}")
        return 0
    except FlagError as err:
        print(f"{err}\n\nUsage: proconsul agent [options]\n\n{_flags().usage()}",
              file=sys.stderr)
        return 1
    except ConfigError as err:
        print("==> " + "\n==> ".join(err.problems), file=sys.stderr)
        return 1
    level = config.log_level.lower()
    if level not in LOG_LEVELS:
        print(f"==> Invalid log level: {config.log_level}", file=sys.stderr)
        return 1
    try:
        setup_logging(config.tree, LOG_LEVELS[level])
        telemetry.configure(metrics, config.tree)
    except ConsulError as err:
        print(f"==> {err}", file=sys.stderr)
        return 1
    try:
        import uvloop
        return uvloop.run(_serve(config))
    except ConsulError as err:
        print(f"==> {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


async def _reload(agent: Agent) -> None:
    """SIGHUP: reload like ``PUT /v1/agent/reload``; a bad config is logged, not fatal."""
    with contextlib.suppress(ConfigError, ConsulError):
        await agent.reload()


def _tune_gc() -> None:
    """Collect less often than CPython's default, and never re-scan what start-up made.

    A busy server allocates many short-lived objects per request, so the default
    700-allocation trigger runs young collections constantly, and each full
    collection walks the whole state store: tens of milliseconds of pause at the
    99th percentile under load. Frozen start-up objects are never scanned again.
    """
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)


def _announce(text: str, as_json: bool) -> None:
    """An ``==>`` line; with JSON logs (where Consul hides its human-only output) a log
    record instead, so stdout stays one JSON object per line."""
    if as_json:
        logging.getLogger("agent").info(text)
    else:
        print(f"==> {text}", flush=True)


def _exit_at_once(err: ConsulError) -> NoReturn:
    """A start that failed half-way: say why and exit 1 now. Parts already running (the
    server's leader routines, gossip, listeners) are not unwound one by one; waiting for
    them at loop or interpreter shutdown could hang, and nothing they hold needs more
    than a kill -9 leaves behind (every acknowledged write is already on disk)."""
    print(f"==> {err}", file=sys.stderr, flush=True)
    logging.shutdown()
    sys.stdout.flush()
    os._exit(1)


async def _serve(config) -> int:
    agent = Agent(config)
    as_json = bool(config.tree.get("log_json"))
    if not as_json:
        print("\n".join(summary_lines(agent.config)), flush=True)
    try:
        await agent.start()
    except ConsulError as err:
        _exit_at_once(err)
    _tune_gc()
    loop = asyncio.get_running_loop()
    leave_on: set[signal.Signals] = set()
    if config.leave_on_terminate:
        leave_on.add(signal.SIGTERM)
    if not config.skip_leave_on_interrupt:
        leave_on.add(signal.SIGINT)
    received: list[signal.Signals] = []

    def on_stop_signal(sig: signal.Signals) -> None:
        received.append(sig)
        agent.shutdown_requested.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_stop_signal, sig)
    reloads: set[asyncio.Task] = set()  # keep running reloads referenced until done

    def on_sighup() -> None:
        task = loop.create_task(_reload(agent))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    logging.getLogger("agent").info("Consul agent running!")  # the line Consul's tools await
    _announce("Proconsul agent running!", as_json)
    await agent.shutdown_requested.wait()
    if received and received[0] in leave_on:
        _announce("Gracefully leaving...", as_json)
        await agent.leave()
    _announce("Shutting down...", as_json)
    await agent.stop()
    return 0
