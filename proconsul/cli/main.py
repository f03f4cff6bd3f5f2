"""The ``proconsul`` command: dispatch to subcommands, as Consul's CLI does."""

from __future__ import annotations

import importlib
import json
import os
import sys

from proconsul import CONSUL_COMPAT_VERSION, __version__
from proconsul.cli.flags import FlagError, FlagSet, HelpRequested

# command path -> (module, attribute, synopsis); attributes are Commands or run(args) functions.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "agent": ("agent_command", "run", "Runs a Proconsul agent"),
    "catalog datacenters": ("catalog_commands", "DATACENTERS",
                            "Lists all known datacenters"),
    "catalog nodes": ("catalog_commands", "NODES", "Lists all nodes in the given datacenter"),
    "catalog services": ("catalog_commands", "SERVICES",
                         "Lists all registered services in a datacenter"),
    "config delete": ("config_commands", "DELETE", "Delete a centralized config entry"),
    "config list": ("config_commands", "LIST", "List centralized config entries of a given kind"),
    "config read": ("config_commands", "READ", "Read a centralized config entry"),
    "config write": ("config_commands", "WRITE", "Create or update a centralized config entry"),
    "connect ca get-config": ("connect_commands", "CA_GET_CONFIG",
                              "Display the current Connect Certificate Authority (CA) "
                              "configuration"),
    "connect ca set-config": ("connect_commands", "CA_SET_CONFIG",
                              "Modify the current Connect CA configuration"),
    "connect ca health": ("connect_commands", "CA_HEALTH",
                          "Show CA and leaf certificate expiry, warning before anything "
                          "expires"),
    "connect proxy": ("connect_proxy_command", "PROXY", "Runs a Consul Connect proxy"),
    "connect envoy": ("connect_envoy", "ENVOY", "Runs or configures Envoy as a Connect proxy"),
    "connect expose": ("connect_expose", "EXPOSE",
                       "Expose a Connect-enabled service through an Ingress gateway"),
    "connect envoy pipe-bootstrap": ("envoy_pipe_bootstrap", "run",
                                     "Internal shim for delivering Envoy bootstrap without "
                                     "writing to file system"),
    "connect redirect-traffic": ("redirect_traffic", "REDIRECT_TRAFFIC",
                                 "Applies iptables rules for traffic redirection"),
    "debug": ("debug_command", "DEBUG", "Records a debugging archive for operators"),
    "event": ("event_command", "EVENT", "Fire a new event"),
    "exec": ("exec_command", "EXEC", "Executes a command on Consul nodes"),
    "force-leave": ("membership_commands", "FORCE_LEAVE",
                    "Forces a member of the cluster to enter the \"left\" state"),
    "info": ("agent_commands", "INFO", "Provides debugging information for operators."),
    "intention check": ("intention_commands", "CHECK",
                        "Check whether a connection between two services is allowed."),
    "intention create": ("intention_commands", "CREATE",
                         "Create intentions for service connections."),
    "intention delete": ("intention_commands", "DELETE", "Delete an intention."),
    "intention get": ("intention_commands", "GET", "Show information about an intention."),
    "intention list": ("intention_commands", "LIST", "List intentions."),
    "intention match": ("intention_commands", "MATCH",
                        "Show intentions that match a source or destination."),
    "join": ("membership_commands", "JOIN", "Tell Consul agent to join cluster"),
    "keygen": ("keyring_commands", "KEYGEN", "Generates a new encryption key"),
    "keyring": ("keyring_commands", "KEYRING", "Manages gossip layer encryption keys"),
    "kv delete": ("kv_commands", "DELETE", "Removes data from the KV store"),
    "kv export": ("kv_commands", "EXPORT", "Exports a tree from the KV store as JSON"),
    "kv get": ("kv_commands", "GET", "Retrieves or lists data from the KV store"),
    "kv import": ("kv_commands", "IMPORT", "Imports a tree stored as JSON to the KV store"),
    "kv put": ("kv_commands", "PUT", "Sets or updates data in the KV store"),
    "leave": ("membership_commands", "LEAVE", "Gracefully leaves the Consul cluster and shuts down"),
    "lock": ("lock_command", "LOCK", "Execute a command holding a lock"),
    "maint": ("agent_commands", "MAINT", "Controls node or service maintenance mode"),
    "members": ("membership_commands", "MEMBERS", "Lists the members of a Consul cluster"),
    "monitor": ("agent_commands", "MONITOR", "Stream logs from a Consul agent"),
    "operator autopilot get-config": ("operator_commands", "AUTOPILOT_GET",
                                      "Display the current Autopilot configuration"),
    "operator autopilot set-config": ("operator_commands", "AUTOPILOT_SET",
                                      "Modify the current Autopilot configuration"),
    "operator autopilot state": ("operator_commands", "AUTOPILOT_STATE",
                                 "Display the current Autopilot state"),
    "operator raft list-peers": ("operator_commands", "RAFT_LIST_PEERS",
                                 "Display the current Raft peer configuration"),
    "operator raft remove-peer": ("operator_commands", "RAFT_REMOVE_PEER",
                                  "Remove a Consul server from the Raft configuration"),
    "operator raft transfer-leader": ("operator_commands", "RAFT_TRANSFER_LEADER",
                                      "Transfer raft leadership to another server"),
    "operator federation status": ("federation_command", "FEDERATION_STATUS",
                                   "Show the datacenters of the federation and their health"),
    "operator usage instances": ("usage_commands", "INSTANCES",
                                 "Display service instance usage information"),
    "peering delete": ("peering_commands", "DELETE", "Delete a peering connection"),
    "peering establish": ("peering_commands", "ESTABLISH", "Establish a peering connection"),
    "peering exported-services": ("peering_commands", "EXPORTED_SERVICES",
                                  "Lists exported services to a peer"),
    "peering generate-token": ("peering_commands", "GENERATE_TOKEN", "Generate a peering token"),
    "peering list": ("peering_commands", "LIST", "List peering connections"),
    "peering read": ("peering_commands", "READ", "Read a peering connection"),
    "reload": ("agent_commands", "RELOAD", "Triggers the agent to reload configuration files"),
    "rtt": ("rtt_command", "RTT", "Estimates network round trip time between nodes"),
    "services deregister": ("services_commands", "DEREGISTER", "Deregister services"),
    "services export": ("exported_services_commands", "EXPORT",
                        "Export a service from one peer or admin partition to another"),
    "services exported-services": ("exported_services_commands", "EXPORTED_SERVICES",
                                   "Lists exported services"),
    "services register": ("services_commands", "REGISTER", "Register services"),
    "tls ca create": ("tls_commands", "CA_CREATE", "Create a new agent CA"),
    "tls cert create": ("tls_commands", "CERT_CREATE", "Create a new certificate"),
    "validate": ("validate_command", "run", "Validate config files/directories"),
    "version": ("main", "version", "Prints the Consul version"),
    "watch": ("watch_command", "WATCH", "Watch for changes in Consul"),
    "snapshot inspect": ("snapshot_commands", "INSPECT",
                         "Displays information about a Consul snapshot file"),
    "snapshot restore": ("snapshot_commands", "RESTORE",
                         "Restores snapshot of Consul server state"),
    "snapshot save": ("snapshot_commands", "SAVE", "Saves snapshot of Consul server state"),
    "snapshot decode": ("snapshot_decode", "DECODE", "Decodes the binary"),
    "acl auth-method create": ("acl.auth_commands", "AUTH_METHOD_CREATE",
                               "Create an ACL auth method"),
    "acl auth-method delete": ("acl.auth_commands", "AUTH_METHOD_DELETE",
                               "Delete an ACL auth method"),
    "acl auth-method list": ("acl.auth_commands", "AUTH_METHOD_LIST", "Lists ACL auth methods"),
    "acl auth-method read": ("acl.auth_commands", "AUTH_METHOD_READ", "Read an ACL auth method"),
    "acl auth-method update": ("acl.auth_commands", "AUTH_METHOD_UPDATE",
                               "Update an ACL auth method"),
    "acl binding-rule create": ("acl.auth_commands", "BINDING_RULE_CREATE",
                                "Create an ACL binding rule"),
    "acl binding-rule delete": ("acl.auth_commands", "BINDING_RULE_DELETE",
                                "Delete an ACL binding rule"),
    "acl binding-rule list": ("acl.auth_commands", "BINDING_RULE_LIST", "Lists ACL binding rules"),
    "acl binding-rule read": ("acl.auth_commands", "BINDING_RULE_READ", "Read an ACL binding rule"),
    "acl binding-rule update": ("acl.auth_commands", "BINDING_RULE_UPDATE",
                                "Update an ACL binding rule"),
    "acl bootstrap": ("acl.token_commands", "BOOTSTRAP", "Bootstrap Consul's ACL system"),
    "acl policy create": ("acl.policy_role_commands", "POLICY_CREATE", "Create an ACL policy"),
    "acl policy delete": ("acl.policy_role_commands", "POLICY_DELETE", "Delete an ACL policy"),
    "acl policy list": ("acl.policy_role_commands", "POLICY_LIST", "Lists ACL policies"),
    "acl policy read": ("acl.policy_role_commands", "POLICY_READ", "Read an ACL policy"),
    "acl policy update": ("acl.policy_role_commands", "POLICY_UPDATE", "Update an ACL policy"),
    "acl role create": ("acl.policy_role_commands", "ROLE_CREATE", "Create an ACL role"),
    "acl role delete": ("acl.policy_role_commands", "ROLE_DELETE", "Delete an ACL role"),
    "acl role list": ("acl.policy_role_commands", "ROLE_LIST", "Lists ACL roles"),
    "acl role read": ("acl.policy_role_commands", "ROLE_READ", "Read an ACL role"),
    "acl role update": ("acl.policy_role_commands", "ROLE_UPDATE", "Update an ACL role"),
    "acl set-agent-token": ("acl.token_commands", "SET_AGENT_TOKEN",
                            "Assign tokens for the Consul Agent's usage"),
    "acl templated-policy list": ("acl.auth_commands", "TEMPLATED_POLICY_LIST",
                                  "Lists ACL templated policies"),
    "acl templated-policy preview": ("acl.auth_commands", "TEMPLATED_POLICY_PREVIEW",
                                     "Preview the policy rendered by the ACL templated policy"),
    "acl templated-policy read": ("acl.auth_commands", "TEMPLATED_POLICY_READ",
                                  "Read an ACL templated policy"),
    "acl token clone": ("acl.token_commands", "CLONE", "Clone an ACL token"),
    "acl token create": ("acl.token_commands", "CREATE", "Create an ACL token"),
    "acl token delete": ("acl.token_commands", "DELETE", "Delete an ACL token"),
    "acl token list": ("acl.token_commands", "LIST", "List ACL tokens"),
    "acl token read": ("acl.token_commands", "READ", "Read an ACL token"),
    "acl token update": ("acl.token_commands", "UPDATE", "Update an ACL token"),
    "login": ("acl.auth_commands", "LOGIN", "Login to Consul using an auth method"),
    "logout": ("acl.auth_commands", "LOGOUT", "Destroy a Consul token created with login"),
    "troubleshoot proxy": ("troubleshoot_commands", "PROXY",
                           "Troubleshoots service mesh issues from the current Envoy instance"),
    "troubleshoot upstreams": ("troubleshoot_commands", "UPSTREAMS",
                               "Gets upstream Envoy identifiers and IPs configured for the "
                               "proxy"),
    "troubleshoot upstream": ("troubleshoot_commands", "UPSTREAM",
                              "Explains from the control plane why a service cannot reach "
                              "another"),
    "troubleshoot ports": ("troubleshoot_ports", "PORTS",
                           "Prints open and closed ports on the Consul server"),
}
GROUPS = {
    "catalog": "Interact with the catalog",
    "config": "Interact with Consul's Centralized Configurations",
    "intention": "Interact with Connect service intentions",
    "connect": "Interact with Consul Connect",
    "connect ca": "Interact with the Consul Connect Certificate Authority (CA)",
    "kv": "Interact with the key-value store",
    "operator": "Provides cluster-level tools for Consul operators",
    "operator autopilot": "Provides tools for modifying Autopilot configuration",
    "operator raft": "Provides cluster-level tools for Consul operators",
    "operator federation": "Shows the federation of datacenters (not in Consul)",
    "operator usage": "Provides cluster-level usage information",
    "peering": "Create and manage peering connections between Consul clusters",
    "services": "Interact with services",
    "tls": "Builtin helpers for creating CAs and certificates",
    "tls ca": "Helpers for CAs",
    "tls cert": "Helpers for certificates",
    "snapshot": "Saves, restores and inspects snapshots of Consul server state",
    "acl": "Interact with Consul's ACLs",
    "acl auth-method": "Manage Consul's ACL auth methods",
    "acl binding-rule": "Manage Consul's ACL binding rules",
    "acl policy": "Manage Consul's ACL policies",
    "acl role": "Manage Consul's ACL roles",
    "acl templated-policy": "Manage Consul's ACL templated policies",
    "acl token": "Manage Consul's ACL tokens",
    "troubleshoot": "CLI tools for troubleshooting Consul service mesh",
}


def _listing(prefix: str) -> str:
    depth = len(prefix.split()) if prefix else 0
    names = sorted({" ".join(path.split()[:depth + 1]) for path in [*COMMANDS, *GROUPS]
                    if path.startswith(prefix) and len(path.split()) > depth})
    width = max(len(n.split()[-1]) for n in names)
    return "\n".join(f"    {n.split()[-1].ljust(width)}    "
                     f"{COMMANDS[n][2] if n in COMMANDS else GROUPS[n]}" for n in names)


USAGE = f"""Usage: proconsul [--version] [--help] <command> [<args>]

Available commands are:
{_listing("")}
"""


def group_help(group: str) -> str:
    if group == "kv":
        from proconsul.cli.kv_commands import KV_HELP
        head = KV_HELP
    else:
        head = f"Usage: proconsul {group} <subcommand> [options] [args]\n\n  {GROUPS[group]}."
    return f"{head}\n\nSubcommands:\n{_listing(group + ' ')}"


def version(args: list[str]) -> int:
    """Answer as the Consul release Proconsul is compatible with (tools parse this), then
    Proconsul's own version on a later line (a separate field in JSON)."""
    from proconsul.agent.http.agent_endpoint import BUILD_DATE, REVISION
    flags = FlagSet("version")
    flags.string("format", "pretty", "Output format {pretty|json}")
    try:
        values, _ = flags.parse(args)
    except HelpRequested:
        print(f"Usage: proconsul version [options]\n\n{flags.usage()}")
        return 0
    except FlagError as err:
        print(err, file=sys.stderr)
        return 1
    rpc = {"Default": 2, "Min": 2, "Max": 3}
    if values["format"] == "json":
        print(json.dumps({"Version": CONSUL_COMPAT_VERSION, "Revision": REVISION,
                          "Prerelease": "", "BuildDate": BUILD_DATE, "RPC": rpc,
                          "ProconsulVersion": __version__}, indent=3))
    elif values["format"] == "pretty":
        print(f"Consul v{CONSUL_COMPAT_VERSION}\nRevision {REVISION}\nBuild Date {BUILD_DATE}\n"
              f"Protocol {rpc['Default']} spoken by default, understands {rpc['Min']} to "
              f"{rpc['Max']} (agent will automatically use protocol >{rpc['Default']} when "
              f"speaking to compatible agents)\nProconsul v{__version__}")
    else:
        print(f'Unknown format: {values["format"]}', file=sys.stderr)
        return 1
    return 0


def dispatch(args: list[str]) -> int:
    """Run the longest command path that ``args`` start with."""
    words = []
    for arg in args:
        if arg.startswith("-"):
            break
        words.append(arg)
    for n in range(len(words), 0, -1):
        path = " ".join(words[:n])
        if path in COMMANDS:
            module, attr, _ = COMMANDS[path]
            target = getattr(importlib.import_module(f"proconsul.cli.{module}"), attr)
            return target(args[n:])
        if path in GROUPS:
            help_asked = any(a in ("-h", "-help", "--help") for a in args[n:])
            print(group_help(path), file=sys.stdout if help_asked else sys.stderr)
            return 0 if help_asked else 1
    print(f"Unknown command: {args[0]}\n\n{USAGE}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "-help", "--help"):
        print(USAGE, file=sys.stderr)
        return 1 if not args else 0
    if args[0] in ("-v", "-version", "--version"):
        return version([])
    try:
        return dispatch(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly, as Go does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
