"""The agent's health check runners (Consul's ``agent/checks``).

Local state creates one runner per check with :func:`make_runner` and hears
about every result through the ``update(status, output)`` callback::

    runner = make_runner(definition, update, enable_script_checks=False)
    await runner.start()
    ...
    await runner.stop()

TTL runners additionally take ``update``/``pass_``/``warn``/``fail`` calls;
alias runners read their target through an :class:`AliasSource`.
"""

from proconsul.agent.checks.alias import AliasRunner, AliasSnapshot, AliasSource, evaluate_alias
from proconsul.agent.checks.base import (
    CheckRunner,
    IntervalRunner,
    StatusHandler,
    StatusUpdate,
    TailBuffer,
)
from proconsul.agent.checks.definition import (
    CHECK_TYPES,
    DEFAULT_BUF_SIZE,
    MIN_INTERVAL_NS,
    CheckDefinition,
    InvalidCheck,
    decode_check_definition,
)
from proconsul.agent.checks.factory import UnsupportedRunner, make_runner
from proconsul.agent.checks.script import ScriptChecksDisabled, ScriptRunner
from proconsul.agent.checks.ttl import TTL_EXPIRED, TTLRunner

__all__ = [
    "CHECK_TYPES",
    "DEFAULT_BUF_SIZE",
    "MIN_INTERVAL_NS",
    "TTL_EXPIRED",
    "AliasRunner",
    "AliasSnapshot",
    "AliasSource",
    "CheckDefinition",
    "CheckRunner",
    "IntervalRunner",
    "InvalidCheck",
    "ScriptChecksDisabled",
    "ScriptRunner",
    "StatusHandler",
    "StatusUpdate",
    "TTLRunner",
    "TailBuffer",
    "UnsupportedRunner",
    "decode_check_definition",
    "evaluate_alias",
    "make_runner",
]
