"""``proconsul keygen`` and ``proconsul keyring``: gossip encryption keys."""

from __future__ import annotations

import base64
import os

from proconsul.api import ClientError
from proconsul.api.options import QueryOptions, WriteOptions
from proconsul.cli.command import Command, Context

KEY_BYTES = 32


def keygen(ctx: Context) -> int:
    ctx.info(base64.b64encode(os.urandom(KEY_BYTES)).decode())
    return 0


def _pool(response: dict) -> str:
    if response.get("WAN"):
        return "WAN"
    pool = f"{response['Datacenter']} (LAN)"
    if response.get("Segment"):
        pool += f" [{response['Segment']}]"
    return pool


def keyring(ctx: Context) -> int:
    actions = [name for name in ("list", "list-primary") if ctx[name]] + \
        [name for name in ("install", "use", "remove") if ctx[name]]
    if len(actions) != 1:
        ctx.error("Only a single action is allowed" if actions else
                  "At least one action is required")
        return 1
    if ctx["relay-factor"] > 5:
        ctx.error("Relay factor must be in range: [0, 5]")
        return 1
    operator = ctx.client().operator()
    action = actions[0]
    if action in ("list", "list-primary"):
        primary = action == "list-primary"
        ctx.info("==> Gathering installed encryption keys...")
        try:
            responses = operator.keyring_list(QueryOptions(
                relay_factor=ctx["relay-factor"], local_only=ctx["local-only"]))
        except ClientError as err:
            ctx.error(f"error: {err}")
            return 1
        for response in responses:
            ctx.info("")
            ctx.info(_pool(response) + ":")
            keys = response.get("PrimaryKeys" if primary else "Keys") or {}
            for key, count in keys.items():
                ctx.info(f"  {key} [{count}/{response['NumNodes']}]")
        return 0
    message, call = {
        "install": ("Installing new gossip encryption key...", operator.keyring_install),
        "use": ("Changing primary gossip encryption key...", operator.keyring_use),
        "remove": ("Removing gossip encryption key...", operator.keyring_remove),
    }[action]
    ctx.info(f"==> {message}")
    try:
        call(ctx[action], WriteOptions(relay_factor=ctx["relay-factor"]))
    except ClientError as err:
        ctx.error(f"error: {err}")
        return 1
    return 0


def _keyring_flags(fs) -> None:
    fs.string("install", "", "Install a new encryption key. This will broadcast the new key "
              "to all members in the cluster.")
    fs.string("use", "", "Change the primary encryption key, which is used to encrypt "
              "messages. The key must already be installed before this operation can succeed.")
    fs.string("remove", "", "Remove the given key from the cluster. This operation may only "
              "be performed on keys which are not currently the primary key.")
    fs.boolean("list", False, "List all keys currently in use within the cluster.")
    fs.boolean("list-primary", False, "List all primary keys currently in use within the "
               "cluster.")
    fs.integer("relay-factor", 0, "Setting this to a non-zero value will cause nodes to relay "
               "their response to the operation through this many randomly-chosen other nodes "
               "in the cluster. The maximum allowed value is 5.")
    fs.boolean("local-only", False, "Setting this to true will force the keyring query to "
               "only hit local servers (no WAN traffic). This flag can only be set for list "
               "queries.")


KEYGEN = Command("""
Usage: proconsul keygen

  Generates a new encryption key that can be used to configure the
  agent to encrypt traffic. The output of this command is already
  in the proper format that the agent expects.
""", "Generates a new encryption key", keygen, http=False)
KEYRING = Command("""
Usage: proconsul keyring [options]

  Manages encryption keys used for gossip messages. Gossip encryption is
  optional. When enabled, this command may be used to examine active encryption
  keys in the cluster, add new keys, and remove old ones. When combined, this
  functionality provides the ability to perform key rotation cluster-wide,
  without disrupting the cluster.

  All operations performed by this command can only be run against server nodes,
  and affect both the LAN and WAN keyrings in lock-step.

  All variations of the keyring command return 0 if all nodes reply and there
  are no errors. If any node fails to reply or reports failure, the exit code
  will be 1.
""", "Manages gossip layer encryption keys", keyring, _keyring_flags)
