"""``python -m tests.support.configured_agent '<dns_config JSON>' <agent flags>``.

Runs ``proconsul agent`` with ``dns_config`` keys that have no command-line
flag, until config files can carry them.
"""

from __future__ import annotations

import json
import sys

import msgspec

from proconsul.agent.config import DNSConfig
from proconsul.cli.agent_command import agent_flags, config_from_flags, serve


def main(argv: list[str]) -> int:
    values, rest = agent_flags().parse(argv[1:])
    if rest:
        raise SystemExit(f"unexpected argument: {rest[0]}")
    config = config_from_flags(values)
    config.dns_config = msgspec.convert(json.loads(argv[0]), DNSConfig)
    return serve(config)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
