"""``make_runner``: build the runner for a check definition (Consul's ``Agent.addCheck``)."""

from __future__ import annotations

import logging
import random
from typing import Any

from proconsul.agent.checks.alias import AliasRunner, AliasSource
from proconsul.agent.checks.base import CheckRunner, Sleep, StatusUpdate
from proconsul.agent.checks.definition import (
    DEFAULT_BUF_SIZE,
    DEFAULT_NETWORK_TIMEOUT_NS,
    DEFAULT_SCRIPT_TIMEOUT_NS,
    MIN_INTERVAL_NS,
    CheckDefinition,
    InvalidCheck,
)
from proconsul.agent.checks.script import (
    SCRIPTS_DISABLED,
    SCRIPTS_DISABLED_REMOTE,
    ScriptChecksDisabled,
    ScriptRunner,
)
from proconsul.agent.checks.tlsconf import client_context
from proconsul.agent.checks.ttl import TTLRunner
from proconsul.lib.duration import SECOND
from proconsul.structs.catalog import HEALTH_CRITICAL

log = logging.getLogger(__name__)


class UnsupportedRunner(CheckRunner):
    """Docker and OS-service checks: reported critical once, at start."""

    def __init__(self, check_id: str, update: StatusUpdate, *, kind: str, message: str,
                 **kwargs: Any) -> None:
        super().__init__(check_id, update, **kwargs)
        self.kind = kind
        self.message = message

    async def start(self) -> None:
        self._notify(HEALTH_CRITICAL, self.message)

    async def _run(self) -> None:  # pragma: no cover - never scheduled
        return None


def make_runner(definition: CheckDefinition, update: StatusUpdate, *,
                enable_script_checks: bool, remote: bool = False,
                alias_source: AliasSource | None = None, ca_file: str | None = None,
                agent_output_max_size: int = DEFAULT_BUF_SIZE,
                min_interval: float = MIN_INTERVAL_NS / SECOND, udp_payload: bytes = b"",
                sleep: Sleep | None = None, rng: random.Random | None = None) -> CheckRunner:
    """The runner for ``definition``; call ``await runner.start()`` to begin.

    Raises :class:`InvalidCheck` (Consul's validation message) or
    :class:`ScriptChecksDisabled` (script/docker check while scripts are off;
    ``remote`` selects the message for checks registered over the HTTP API).
    ``ca_file`` is trusted by TLS checks in addition to the system roots
    (Consul's ``enable_agent_tls_for_checks``). Intervals below ``min_interval``
    (Consul: 1s) are raised to it with a warning. ``sleep``/``rng`` replace
    ``asyncio.sleep`` and the stagger's random source (for tests).
    """
    definition.validate()
    kind = definition.check_type()
    check_id = definition.CheckID or definition.Name
    if not check_id:
        raise InvalidCheck("CheckID missing")

    if kind in ("script", "docker") and not enable_script_checks:
        raise ScriptChecksDisabled(SCRIPTS_DISABLED_REMOTE if remote else SCRIPTS_DISABLED)

    output_max_size = agent_output_max_size or DEFAULT_BUF_SIZE
    if 0 < definition.OutputMaxSize < output_max_size:
        output_max_size = definition.OutputMaxSize

    common: dict[str, Any] = {"initial_status": definition.initial_status()}

    if kind == "ttl":
        return TTLRunner(check_id, update, ttl=definition.ttl_ns() / SECOND,
                         output_max_size=output_max_size, sleep=sleep, **common)
    if kind == "alias":
        if alias_source is None:
            raise InvalidCheck("alias checks need an alias source")
        return AliasRunner(check_id, update, source=alias_source, node=definition.AliasNode,
                           service_id=definition.AliasService, sleep=sleep, **common)
    if kind == "docker":
        return UnsupportedRunner(check_id, update, kind=kind,
                                 message="Docker checks are not supported on this agent",
                                 **common)
    if kind == "os_service":
        return UnsupportedRunner(check_id, update, kind=kind,
                                 message="OS service checks are not supported on this agent",
                                 **common)

    interval = definition.interval_ns() / SECOND
    if interval < min_interval:
        log.warning("check %r has interval below minimum of %ss", check_id, min_interval)
        interval = min_interval
    timeout_ns = definition.timeout_ns()
    if timeout_ns <= 0:
        timeout_ns = DEFAULT_SCRIPT_TIMEOUT_NS if kind == "script" else DEFAULT_NETWORK_TIMEOUT_NS
    # FailuresBeforeWarning defaults to FailuresBeforeCritical (Consul's addCheck).
    handler_args = {
        "success_before_passing": definition.SuccessBeforePassing,
        "failures_before_critical": definition.FailuresBeforeCritical,
        "failures_before_warning": (definition.FailuresBeforeWarning
                                    or definition.FailuresBeforeCritical),
    }
    common.update(interval=interval, timeout=timeout_ns / SECOND, handler_args=handler_args,
                  sleep=sleep, rng=rng)

    def tls(alpn: list[str] | None = None):
        return client_context(skip_verify=definition.TLSSkipVerify, ca_file=ca_file, alpn=alpn)

    if kind == "script":
        return ScriptRunner(check_id, update, args=list(definition.ScriptArgs or []),
                            shell=definition.Shell, output_max_size=output_max_size, **common)
    if kind == "http":
        from proconsul.agent.checks.httpcheck import HTTPRunner

        return HTTPRunner(check_id, update, url=definition.HTTP, method=definition.Method,
                          header=definition.Header, body=definition.Body,
                          disable_redirects=definition.DisableRedirects,
                          ssl_context=tls(),
                          server_name=definition.TLSServerName,
                          output_max_size=output_max_size, **common)
    if kind == "tcp":
        from proconsul.agent.checks.net import TCPRunner

        return TCPRunner(check_id, update, address=definition.TCP,
                         ssl_context=tls() if definition.TCPUseTLS else None,
                         server_name=definition.TLSServerName, **common)
    if kind == "udp":
        from proconsul.agent.checks.net import UDPRunner

        return UDPRunner(check_id, update, address=definition.UDP, payload=udp_payload,
                         **common)
    if kind == "grpc":
        from proconsul.agent.checks.grpccheck import GRPCRunner

        return GRPCRunner(check_id, update, target=definition.GRPC,
                          use_tls=definition.GRPCUseTLS, skip_verify=definition.TLSSkipVerify,
                          server_name=definition.TLSServerName, ca_file=ca_file, **common)
    if kind == "h2ping":
        from proconsul.agent.checks.h2ping import H2PingRunner

        return H2PingRunner(check_id, update, address=definition.H2PING,
                            ssl_context=tls(["h2"]) if definition.H2PingUseTLS else None,
                            server_name=definition.TLSServerName, **common)
    raise InvalidCheck("Check type is not valid")
