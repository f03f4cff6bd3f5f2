"""``proconsul info|reload|maint|monitor``: the local agent's state and controls."""

from __future__ import annotations

from proconsul.api import ClientError
from proconsul.cli.command import Command, Context, stop_on_interrupt

NODE_MAINT_CHECK = "_node_maintenance"
SERVICE_MAINT_PREFIX = "_service_maintenance:"


def _no_args(ctx: Context) -> bool:
    if ctx.args:
        ctx.error(f"Too many arguments (expected 0, got {len(ctx.args)})")
        return False
    return True


def info(ctx: Context) -> int:
    if not _no_args(ctx):
        return 1
    try:
        stats = ctx.client().agent().self()["Stats"]
    except ClientError as err:
        ctx.error(f"Error querying agent: {err}")
        return 1
    for section in sorted(stats):
        ctx.info(f"{section}:")
        for key in sorted(stats[section]):
            ctx.info(f"\t{key} = {stats[section][key]}")
    return 0


def reload(ctx: Context) -> int:
    if not _no_args(ctx):
        return 1
    try:
        ctx.client().agent().reload()
    except ClientError as err:
        ctx.error(f"Error reloading: {err}")
        return 1
    ctx.info("Configuration reload triggered")
    return 0


def maint(ctx: Context) -> int:
    enable, disable, reason, service = ctx["enable"], ctx["disable"], ctx["reason"], \
        ctx["service"]
    if enable and disable:
        ctx.error("Only one of -enable or -disable may be provided")
        return 1
    if not enable and reason:
        ctx.error("Reason may only be provided with -enable")
        return 1
    if not enable and not disable and service:
        ctx.error("Service requires either -enable or -disable")
        return 1
    agent = ctx.client().agent()
    try:
        agent.node_name()
    except ClientError as err:
        ctx.error(f"Error querying Consul agent: {err}")
        return 1
    if not enable and not disable:
        return _list_maintenance(ctx, agent)
    try:
        if service:
            if enable:
                agent.enable_service_maintenance(service, reason)
                ctx.info(f"Service maintenance is now enabled for \"{service}\"")
            else:
                agent.disable_service_maintenance(service)
                ctx.info(f"Service maintenance is now disabled for \"{service}\"")
        elif enable:
            agent.enable_node_maintenance(reason)
            ctx.info("Node maintenance is now enabled")
        else:
            agent.disable_node_maintenance()
            ctx.info("Node maintenance is now disabled")
    except ClientError as err:
        ctx.error(f"Error {'enabling' if enable else 'disabling'} "
                  f"{'service' if service else 'node'} maintenance: {err}")
        return 1
    return 0


def _list_maintenance(ctx: Context, agent) -> int:
    try:
        checks = agent.checks()
    except ClientError as err:
        ctx.error(f"Error getting checks: {err}")
        return 1
    for check in checks.values():
        if check["CheckID"] == NODE_MAINT_CHECK:
            ctx.info("Node:")
            ctx.info(f"  Name:   {check['Node']}")
            ctx.info(f"  Reason: {check['Notes']}")
            ctx.info("")
        elif check["CheckID"].startswith(SERVICE_MAINT_PREFIX):
            ctx.info("Service:")
            ctx.info(f"  ID:     {check['ServiceID']}")
            ctx.info(f"  Reason: {check['Notes']}")
            ctx.info("")
    return 0


def _maint_flags(fs) -> None:
    fs.boolean("enable", False, "Enable maintenance mode.")
    fs.boolean("disable", False, "Disable maintenance mode.")
    fs.string("reason", "", "Text describing the maintenance reason.")
    fs.string("service", "", "Control maintenance mode for a specific service ID.")


def monitor(ctx: Context) -> int:
    stop_on_interrupt()
    try:
        for line in ctx.client().agent().monitor(ctx["log-level"], ctx["log-json"]):
            ctx.out.write(line)
            ctx.out.flush()
    except ClientError as err:
        ctx.error(f"Error starting monitor: {err}")
        return 1
    except KeyboardInterrupt:
        return 0
    ctx.error("Remote side ended the monitor! This usually means that the\n"
              "remote side has exited or crashed.")
    return 1


def _monitor_flags(fs) -> None:
    fs.string("log-level", "", "Log level of the agent.")
    fs.boolean("log-json", False, "Output logs in JSON format.")


INFO = Command("""
Usage: proconsul info [options]

  Provides debugging information for operators
""", "Provides debugging information for operators.", info)
RELOAD = Command("""
Usage: proconsul reload [options]

  Causes the agent to reload configurations. This can be used instead
  of sending the SIGHUP signal to the agent.
""", "Triggers the agent to reload configuration files", reload)
MAINT = Command("""
Usage: proconsul maint [options]

  Places a node or service into maintenance mode. During maintenance mode,
  the node or service will be excluded from all queries through the DNS
  or API interfaces, effectively taking it out of the pool of available
  nodes. This is done by registering an additional critical health check.

  When enabling maintenance mode for a node or service, you may optionally
  specify a reason string. This string will appear in the "Notes" field
  of the critical health check which is registered against the node or
  service. If no reason is provided, a default value will be used.

  Maintenance mode is persistent, and will be restored in the event of an
  agent restart. It is therefore required to disable maintenance mode on
  a given node or service before it will be placed back into the pool.

  By default, we operate on the node as a whole. By specifying the
  "-service" argument, this behavior can be changed to enable or disable
  only a specific service.

  If no arguments are given, the agent's maintenance status will be shown.
  This will return blank if nothing is currently under maintenance.
""", "Controls node or service maintenance mode", maint, _maint_flags)
MONITOR = Command("""
Usage: proconsul monitor [options]

  Shows recent log messages of a Consul agent, and attaches to the agent,
  outputting log messages as they occur in real time. The monitor lets you
  listen for log levels that may be filtered out of the Consul agent. For
  example your agent may only be logging at INFO level, but with the monitor
  you can see the DEBUG level logs.
""", "Stream logs from a Consul agent", monitor, _monitor_flags)
