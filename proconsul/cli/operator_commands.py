"""``proconsul operator raft ...`` and ``proconsul operator autopilot ...``."""

from __future__ import annotations

import json

from proconsul.api import ClientError
from proconsul.cli.command import Command, Context
from proconsul.cli.flags import parse_bool
from proconsul.cli.tabular import columnize


def _no_args(ctx: Context) -> bool:
    if ctx.args:
        ctx.error(f"Too many arguments (expected 0, got {len(ctx.args)})")
        return False
    return True


def peer_rows(servers: list[dict], health: list[dict]) -> list[str]:
    """The list-peers table; commit indexes come from autopilot's health, as in Consul."""
    last_index = {s["ID"]: s.get("LastIndex", 0) for s in health}
    leader_index = next((last_index.get(s["ID"], 0) for s in servers if s.get("Leader")), 0)
    rows = ["Node\x1fID\x1fAddress\x1fState\x1fVoter\x1fRaftProtocol\x1fCommit Index"
            "\x1fTrails Leader By"]
    for s in servers:
        cells = [s["Node"], s["ID"], s["Address"], "leader" if s.get("Leader") else "follower",
                 str(bool(s.get("Voter"))).lower(), s.get("ProtocolVersion") or "<=1"]
        if s["ID"] not in last_index:
            rows.append("\x1f".join([*cells, "_"]))
            continue
        behind = leader_index - last_index[s["ID"]]
        trails = "_" if s.get("Leader") else f"{behind} Commit{'' if behind <= 1 else 's'}"
        rows.append("\x1f".join([*cells, str(last_index[s["ID"]]), trails]))
    return rows


def list_peers(ctx: Context) -> int:
    if not _no_args(ctx):
        return 1
    operator = ctx.client().operator()
    try:
        reply = operator.raft_get_configuration(ctx.query_options())
    except ClientError as err:
        ctx.error(f"Error getting peers: Failed to retrieve raft configuration: {err}")
        return 1
    try:
        health = operator.autopilot_server_health(ctx.query_options())
    except ClientError as err:
        ctx.error(f"Error getting peers: Failed to retrieve autopilot health: {err}")
        return 1
    ctx.info(columnize(peer_rows(reply.get("Servers") or [], health.get("Servers") or [])))
    return 0


def remove_peer(ctx: Context) -> int:
    if not _no_args(ctx):
        return 1
    address, peer_id = ctx["address"], ctx["id"]
    if address and peer_id:
        ctx.error("Error removing peer: Only one of -address or -id may be specified")
        return 1
    if not address and not peer_id:
        ctx.error("Error removing peer: Missing peer address/id")
        return 1
    operator = ctx.client().operator()
    try:
        if peer_id:
            operator.raft_remove_peer_by_id(peer_id)
        else:
            operator.raft_remove_peer_by_address(address)
    except ClientError as err:
        ctx.error(f"Error removing peer: {err}")
        return 1
    ctx.info(f'Removed peer with id "{peer_id}"' if peer_id
             else f'Removed peer with address "{address}"')
    return 0


def _remove_peer_flags(fs) -> None:
    fs.string("address", "", "The address to remove from the Raft configuration.")
    fs.string("id", "", "The ID to remove from the Raft configuration.")


def transfer_leader(ctx: Context) -> int:
    if not _no_args(ctx):
        return 1
    try:
        reply = ctx.client().operator().raft_leader_transfer(ctx["id"])
    except ClientError as err:
        ctx.error(f"Error transferring leadership: {err}")
        return 1
    if not (reply or {}).get("Success"):
        ctx.error("Error transferring leadership: Failed to transfer leadership")
        return 1
    ctx.info("Success")
    return 0


AUTOPILOT_FIELDS = ("CleanupDeadServers", "LastContactThreshold", "MaxTrailingLogs",
                    "MinQuorum", "ServerStabilizationTime", "RedundancyZoneTag",
                    "DisableUpgradeMigration", "UpgradeVersionTag")


def _show(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value if value and value[0].isdigit() else json.dumps(value)
    return str(value)


def get_config(ctx: Context) -> int:
    if not _no_args(ctx):
        return 1
    try:
        conf = ctx.client().operator().autopilot_get_configuration(ctx.query_options())
    except ClientError as err:
        ctx.error(f"Error querying Autopilot configuration: {err}")
        return 1
    for field in AUTOPILOT_FIELDS:
        ctx.info(f"{field} = {_show(conf.get(field))}")
    return 0


# flag -> (config field, parse)
SET_FLAGS = {
    "cleanup-dead-servers": ("CleanupDeadServers", parse_bool),
    "max-trailing-logs": ("MaxTrailingLogs", int),
    "min-quorum": ("MinQuorum", int),
    "last-contact-threshold": ("LastContactThreshold", str),
    "server-stabilization-time": ("ServerStabilizationTime", str),
    "redundancy-zone-tag": ("RedundancyZoneTag", str),
    "disable-upgrade-migration": ("DisableUpgradeMigration", parse_bool),
    "upgrade-version-tag": ("UpgradeVersionTag", str),
}


def set_config(ctx: Context) -> int:
    if not _no_args(ctx):
        return 1
    operator = ctx.client().operator()
    try:
        conf = operator.autopilot_get_configuration()
    except ClientError as err:
        ctx.error(f"Error querying Autopilot configuration: {err}")
        return 1
    for flag, (field, parse) in SET_FLAGS.items():
        if flag not in ctx.given:
            continue
        try:
            conf[field] = parse(ctx[flag])
        except ValueError:
            ctx.error(f"Error parsing -{flag}: invalid value {ctx[flag]!r}")
            return 1
    try:
        updated = operator.autopilot_cas_configuration(conf)
    except ClientError as err:
        ctx.error(f"Error setting Autopilot configuration: {err}")
        return 1
    if not updated:
        ctx.info("Configuration could not be atomically updated, please try again")
        return 1
    ctx.info("Configuration updated!")
    return 0


def _set_flags(fs) -> None:
    fs.string("cleanup-dead-servers", "", "Controls whether Consul will automatically remove "
              "dead servers when new ones are successfully added. Must be one of "
              "`true|false`.")
    fs.string("max-trailing-logs", "", "Controls the maximum number of log entries that a "
              "server can trail the leader by before being considered unhealthy.")
    fs.string("min-quorum", "", "Controls the minimum number of servers required in a cluster "
              "before autopilot can prune dead servers.")
    fs.string("last-contact-threshold", "", "Controls the threshold for how long it has been "
              "since a server last contacted the leader before it is considered unhealthy.")
    fs.string("server-stabilization-time", "", "Controls the minimum amount of time a server "
              "must be stable in the 'healthy' state before being added to the cluster.")
    fs.string("redundancy-zone-tag", "", "(Enterprise-only) Controls the node_meta tag name "
              "used for separating servers into different redundancy zones.")
    fs.string("disable-upgrade-migration", "", "(Enterprise-only) Controls whether Consul "
              "will avoid promoting new servers until it can perform a migration. Must be one "
              "of `true|false`.")
    fs.string("upgrade-version-tag", "", "(Enterprise-only) The node_meta tag to use for "
              "version info when performing upgrade migrations.")


def _pretty_state(state: dict) -> list[str]:
    lines = [f"Healthy:                      {_show(state.get('Healthy'))}",
             f"Failure Tolerance:            {state.get('FailureTolerance', 0)}",
             f"Optimistic Failure Tolerance: {state.get('OptimisticFailureTolerance', 0)}",
             f"Leader:                       {state.get('Leader', '')}",
             "Voters:"]
    lines += [f"   {voter}" for voter in state.get("Voters") or []]
    lines.append("")
    lines.append("Servers:")
    for server_id, server in sorted((state.get("Servers") or {}).items()):
        lines.append(f"   {server_id}")
        for label, key in (("Name", "Name"), ("Address", "Address"), ("Version", "Version"),
                           ("Status", "Status"), ("Node Type", "NodeType"),
                           ("Healthy", "Healthy"), ("Last Contact", "LastContact"),
                           ("Last Term", "LastTerm"), ("Last Index", "LastIndex")):
            value = server.get(key, "")
            shown = value if isinstance(value, str) else _show(value)
            lines.append(f"      {(label + ':').ljust(16)}{shown}")
        lines.append("")
    return lines


def state(ctx: Context) -> int:
    if not _no_args(ctx):
        return 1
    if ctx["format"] not in ("pretty", "json"):
        ctx.error(f"Error: invalid format '{ctx['format']}'")
        return 1
    try:
        current = ctx.client().operator().autopilot_state(ctx.query_options())
    except ClientError as err:
        ctx.error(f"Error querying Autopilot state: {err}")
        return 1
    if ctx["format"] == "json":
        ctx.info(json.dumps(current, indent=3))
    else:
        ctx.info("\n".join(_pretty_state(current)).rstrip("\n"))
    return 0


RAFT_LIST_PEERS = Command("""
Usage: proconsul operator raft list-peers [options]

  Displays the current Raft peer configuration.
""", "Display the current Raft peer configuration", list_peers)
RAFT_REMOVE_PEER = Command("""
Usage: proconsul operator raft remove-peer [options]

  Remove the Consul server with given -address from the Raft configuration.

  There are rare cases where a peer may be left behind in the Raft quorum even
  though the server is no longer present and known to the cluster. This command
  can be used to remove the failed server so that it is no longer affects the Raft
  quorum. If the server still shows in the output of the "consul members" command,
  it is preferable to clean up by simply running "consul force-leave" instead of
  this command.
""", "Remove a Consul server from the Raft configuration", remove_peer, _remove_peer_flags)
RAFT_TRANSFER_LEADER = Command("""
Usage: proconsul operator raft transfer-leader [options]

  Transfer raft leadership to another server. If -id is given, leadership is
  transferred to that server; otherwise raft picks a follower.
""", "Transfer raft leadership to another server", transfer_leader,
    lambda fs: fs.string("id", "", "The ID to transfer leadership to (optional)."))
AUTOPILOT_GET = Command("""
Usage: proconsul operator autopilot get-config [options]

  Displays the current Autopilot configuration.
""", "Display the current Autopilot configuration", get_config)
AUTOPILOT_SET = Command("""
Usage: proconsul operator autopilot set-config [options]

  Modifies the current Autopilot configuration.
""", "Modify the current Autopilot configuration", set_config, _set_flags)
AUTOPILOT_STATE = Command("""
Usage: proconsul operator autopilot state [options]

  Displays the current Autopilot state.
""", "Display the current Autopilot state", state,
    lambda fs: fs.string("format", "pretty", "Output format of the state (pretty or json)."))
