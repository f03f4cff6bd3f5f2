"""``proconsul connect ca get-config`` and ``proconsul connect ca set-config``."""

from __future__ import annotations

import json

from proconsul.api import ClientError
from proconsul.cli.command import Command, Context


def _no_args(ctx: Context) -> bool:
    if ctx.args:
        ctx.error(f"Too many arguments (expected 0, got {len(ctx.args)})")
        return False
    return True


def get_config(ctx: Context) -> int:
    if not _no_args(ctx):
        return 1
    try:
        conf = ctx.client().connect().ca_get_config(ctx.query_options())
    except ClientError as err:
        ctx.error(f"Error request CA configuration: {err}")
        return 1
    ctx.info(json.dumps(conf, indent="\t"))
    return 0


def set_config(ctx: Context) -> int:
    if not _no_args(ctx):
        return 1
    path = ctx["config-file"]
    if not path:
        ctx.error("The -config-file flag is required")
        return 1
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as err:
        ctx.error(f"Error reading config file: {err}")
        return 1
    try:
        conf = json.loads(text)
    except ValueError as err:
        ctx.error(f"Error parsing config file: {err}")
        return 1
    if not isinstance(conf, dict):
        ctx.error("Error parsing config file: expected a JSON object")
        return 1
    try:
        ctx.client().connect().ca_set_config(conf)
    except ClientError as err:
        ctx.error(f"Error setting CA configuration: {err}")
        return 1
    ctx.info("Configuration updated!")
    return 0


CA_GET_CONFIG = Command("""
Usage: proconsul connect ca get-config [options]

  Displays the current Connect Certificate Authority (CA) configuration.
""", "Display the current Connect Certificate Authority (CA) configuration", get_config)
CA_SET_CONFIG = Command("""
Usage: proconsul connect ca set-config [options]

  Modifies the current Connect Certificate Authority (CA) configuration.
""", "Modify the current Connect CA configuration", set_config,
    lambda fs: fs.string("config-file", "", "The path to the config file to use."))
