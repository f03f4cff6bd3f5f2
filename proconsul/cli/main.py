"""The ``proconsul`` command: dispatch to subcommands, as Consul's CLI does."""

from __future__ import annotations

import json
import sys

from proconsul import CONSUL_COMPAT_VERSION, __version__
from proconsul.cli.flags import FlagError, FlagSet

USAGE = """Usage: proconsul [--version] [--help] <command> [<args>]

Available commands are:
    agent      Runs a Proconsul agent
    validate   Validate config files/directories
    version    Prints the Proconsul version
"""


def version(args: list[str]) -> int:
    flags = FlagSet("version")
    flags.string("format", "pretty", "Output format: pretty or json.")
    try:
        values, _ = flags.parse(args)
    except FlagError as err:
        print(err, file=sys.stderr)
        return 1
    info = {"Version": __version__, "Revision": f"proconsul-{__version__}",
            "Prerelease": "", "FullVersion": __version__, "Release": True,
            "ConsulCompatible": CONSUL_COMPAT_VERSION,
            "BuildDate": "2026-11-22T00:00:00Z"}
    if values["format"] == "json":
        print(json.dumps(info, indent=2))
    elif values["format"] == "pretty":
        print(f"Proconsul v{__version__}\nCompatible with Consul API v{CONSUL_COMPAT_VERSION}")
    else:
        print(f'Invalid format: {values["format"]}', file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "-help", "--help"):
        print(USAGE, file=sys.stderr)
        return 1 if not args else 0
    if args[0] in ("-v", "-version", "--version"):
        return version([])
    command, rest = args[0], args[1:]
    if command == "agent":
        from proconsul.cli.agent_command import run
        return run(rest)
    if command == "validate":
        from proconsul.cli.validate_command import run as validate
        return validate(rest)
    if command == "version":
        return version(rest)
    print(f"Unknown command: {command}\n\n{USAGE}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
