"""``proconsul validate``: check config files and directories as the agent would load them."""

from __future__ import annotations

import sys

from proconsul.agent.config.builder import load_config
from proconsul.agent.config.validate import ConfigError
from proconsul.cli.flags import FlagError, FlagSet, HelpRequested

USAGE = "Usage: proconsul validate [options] FILE_OR_DIRECTORY..."


def run(args: list[str]) -> int:
    flags = FlagSet("validate")
    flags.string("config-format", "", "Config file format for files without an extension "
                                      "(json or hcl).")
    flags.boolean("quiet", False, "Print nothing when the configuration is valid.")
    try:
        values, paths = flags.parse(args)
    except HelpRequested:
        print(f"{USAGE}\n\n{flags.usage()}")
        return 0
    except FlagError as err:
        print(f"{err}\n\n{USAGE}\n\n{flags.usage()}", file=sys.stderr)
        return 1
    if not paths:
        print(f"Must specify at least one config file or directory\n\n{USAGE}",
              file=sys.stderr)
        return 1
    if values["config-format"] not in ("", "json", "hcl"):
        print(f"Invalid config format: {values['config-format']}", file=sys.stderr)
        return 1
    try:
        load_config(paths, [], {}, dev=False, fmt=values["config-format"])
    except ConfigError as err:
        print("Config validation failed: " + "\n".join(err.problems), file=sys.stderr)
        return 1
    if not values["quiet"]:
        print("Configuration is valid!")
    return 0
