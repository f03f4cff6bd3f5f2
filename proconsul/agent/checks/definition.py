"""Check definitions as the agent accepts them (Consul's ``structs.CheckDefinition``/``CheckType``).

A :class:`CheckDefinition` is the JSON shape of ``PUT /v1/agent/check/register``
and of the ``Check``/``Checks`` of a service registration or a config file.
Durations stay Go strings (``"10s"``); :meth:`CheckDefinition.validate` gives
Consul's error messages and :meth:`CheckDefinition.check_type` names the runner.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import field

from proconsul.lib.duration import (
    SECOND,
    DurationError,
    format_duration,
    parse_duration,
)
from proconsul.structs.catalog import (
    HEALTH_CRITICAL,
    HEALTH_STATES,
    HealthCheck,
    HealthCheckDefinition,
)

# Consul's agent/checks constants.
MIN_INTERVAL_NS = SECOND  # checks.MinInterval: shorter intervals are clamped (with a warning)
DEFAULT_BUF_SIZE = 4 * 1024  # checks.DefaultBufSize: captured output cap
DEFAULT_SCRIPT_TIMEOUT_NS = 30 * SECOND
DEFAULT_NETWORK_TIMEOUT_NS = 10 * SECOND

CHECK_TYPES = ("script", "http", "tcp", "udp", "grpc", "h2ping", "ttl", "alias", "docker",
               "os_service")


class InvalidCheck(ValueError):
    """A check definition Consul would refuse; ``str(err)`` is Consul's message."""


class CheckDefinition(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The check fields Consul accepts in check/service definitions.

    Attribute names are Consul's JSON names; ``ScriptArgs`` travels as ``Args``
    on the wire as in Consul's api package. Use :func:`decode_check_definition`
    for Consul's lenient decoding (case-insensitive keys, snake_case aliases,
    ``ID``/``CheckID``, numeric nanosecond durations).
    """

    CheckID: str = ""
    Name: str = ""
    Notes: str = ""
    ServiceID: str = ""
    Status: str = ""
    ScriptArgs: list[str] | None = field(default=None, name="Args")
    Shell: str = ""
    DockerContainerID: str = ""
    Interval: str = ""
    Timeout: str = ""
    TTL: str = ""
    HTTP: str = ""
    Header: dict[str, list[str]] | None = None
    Method: str = ""
    Body: str = ""
    DisableRedirects: bool = False
    TLSServerName: str = ""
    TLSSkipVerify: bool = False
    TCP: str = ""
    TCPUseTLS: bool = False
    UDP: str = ""
    GRPC: str = ""
    GRPCUseTLS: bool = False
    H2PING: str = ""
    H2PingUseTLS: bool = True  # Consul defaults h2ping_use_tls to true
    AliasNode: str = ""
    AliasService: str = ""
    OSService: str = ""
    SuccessBeforePassing: int = 0
    FailuresBeforeWarning: int = 0
    FailuresBeforeCritical: int = 0
    DeregisterCriticalServiceAfter: str = ""
    OutputMaxSize: int = 0

    # -- durations -------------------------------------------------------
    def interval_ns(self) -> int:
        return _duration(self.Interval, "Interval")

    def timeout_ns(self) -> int:
        return _duration(self.Timeout, "Timeout")

    def ttl_ns(self) -> int:
        return _duration(self.TTL, "TTL")

    def deregister_after_ns(self) -> int:
        return _duration(self.DeregisterCriticalServiceAfter, "DeregisterCriticalServiceAfter")

    # -- classification (Consul's CheckType.Is*) -------------------------
    def is_script(self) -> bool:
        return bool(self.ScriptArgs)

    def is_alias(self) -> bool:
        return bool(self.AliasNode or self.AliasService)

    def check_type(self) -> str:
        """The runner kind, in Consul's ``CheckType.Type()`` precedence; "" if none."""
        if self.GRPC:
            return "grpc"
        if self.HTTP:
            return "http"
        if self.TTL and _duration_or_zero(self.TTL) > 0:
            return "ttl"
        if self.TCP:
            return "tcp"
        if self.UDP:
            return "udp"
        if self.is_alias():
            return "alias"
        if self.is_script() and self.DockerContainerID:
            return "docker"
        if self.is_script():
            return "script"
        if self.H2PING:
            return "h2ping"
        if self.OSService:
            return "os_service"
        return ""

    def validate(self) -> None:
        """Raise :class:`InvalidCheck` with Consul's message if the combination is invalid.

        Intervals below 1s are *not* an error: Consul clamps them to 1s with a
        warning when the runner is created (see :func:`make_runner`).
        """
        interval = self.interval_ns()
        ttl = self.ttl_ns()
        self.timeout_ns()
        self.deregister_after_ns()
        interval_check = bool(self.is_script() or self.HTTP or self.TCP or self.UDP
                              or self.GRPC or self.H2PING or self.OSService)
        if interval > 0 and ttl > 0:
            raise InvalidCheck("Interval and TTL cannot both be specified")
        if interval_check and interval <= 0:
            raise InvalidCheck(
                "Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks")
        if interval_check and self.is_alias():
            raise InvalidCheck("Interval cannot be set for Alias checks")
        if self.is_alias() and ttl > 0:
            raise InvalidCheck("TTL must be not be set for Alias checks")
        if not interval_check and not self.is_alias() and ttl <= 0:
            raise InvalidCheck("TTL must be > 0 for TTL checks")
        if self.OutputMaxSize < 0:
            raise InvalidCheck("MaxOutputMaxSize must be positive")
        if self.FailuresBeforeWarning > self.FailuresBeforeCritical:
            raise InvalidCheck("FailuresBeforeWarning can't be higher than FailuresBeforeCritical")
        if self.Status and self.Status not in HEALTH_STATES:
            raise InvalidCheck("Bad check status")

    # -- the catalog view ----------------------------------------------------
    def initial_status(self) -> str:
        """``Status`` if given, else critical (Consul's ``CheckDefinition.HealthCheck``)."""
        return self.Status or HEALTH_CRITICAL

    def health_check(self, node: str, *, service_name: str = "",
                     service_tags: list[str] | None = None) -> HealthCheck:
        """The HealthCheck this definition registers (initial status, Type, Definition)."""
        interval = self.interval_ns() if self.Interval else 0
        timeout = self.timeout_ns() if self.Timeout else 0
        dereg = self.deregister_after_ns() if self.DeregisterCriticalServiceAfter else 0
        unset = msgspec.UNSET
        definition = HealthCheckDefinition(
            HTTP=self.HTTP or unset,
            TLSServerName=self.TLSServerName or unset,
            TLSSkipVerify=self.TLSSkipVerify or unset,
            Header=self.Header or unset,
            Method=self.Method or unset,
            Body=self.Body or unset,
            DisableRedirects=self.DisableRedirects or unset,
            TCP=self.TCP or unset,
            TCPUseTLS=self.TCPUseTLS or unset,
            UDP=self.UDP or unset,
            H2PING=self.H2PING or unset,
            H2PingUseTLS=(self.H2PingUseTLS if self.H2PING else unset),
            GRPC=self.GRPC or unset,
            GRPCUseTLS=self.GRPCUseTLS or unset,
            OSService=self.OSService or unset,
            Interval=format_duration(interval) if interval else unset,
            Timeout=format_duration(timeout) if timeout else unset,
            DeregisterCriticalServiceAfter=format_duration(dereg) if dereg else unset,
            ScriptArgs=list(self.ScriptArgs) if self.ScriptArgs else unset,
            DockerContainerID=self.DockerContainerID or unset,
            Shell=self.Shell or unset,
        )
        return HealthCheck(
            Node=node,
            CheckID=self.CheckID or self.Name,
            Name=self.Name,
            Status=self.initial_status(),
            Notes=self.Notes,
            ServiceID=self.ServiceID,
            ServiceName=service_name if self.ServiceID else "",
            ServiceTags=list(service_tags or []) if self.ServiceID else [],
            Type=self.check_type(),
            Interval=format_duration(interval) if interval else "",
            Timeout=format_duration(timeout) if timeout else "",
            Definition=definition,
        )


def _duration(text: str, name: str) -> int:
    if not text:
        return 0
    try:
        return parse_duration(text)
    except DurationError as err:
        raise InvalidCheck(str(err)) from None


def _duration_or_zero(text: str) -> int:
    try:
        return parse_duration(text)
    except DurationError:
        return 0


# Lower-cased JSON/config key -> attribute. Go's decoder matches field names
# case-insensitively; Consul also accepts these snake_case spellings.
_ALIASES = {
    "id": "CheckID",
    "check_id": "CheckID",
    "args": "ScriptArgs",
    "scriptargs": "ScriptArgs",
    "script_args": "ScriptArgs",
    "service_id": "ServiceID",
    "docker_container_id": "DockerContainerID",
    "tls_server_name": "TLSServerName",
    "tls_skip_verify": "TLSSkipVerify",
    "tcp_use_tls": "TCPUseTLS",
    "grpc_use_tls": "GRPCUseTLS",
    "h2ping_use_tls": "H2PingUseTLS",
    "alias_node": "AliasNode",
    "alias_service": "AliasService",
    "os_service": "OSService",
    "disable_redirects": "DisableRedirects",
    "success_before_passing": "SuccessBeforePassing",
    "failures_before_warning": "FailuresBeforeWarning",
    "failures_before_critical": "FailuresBeforeCritical",
    "deregister_critical_service_after": "DeregisterCriticalServiceAfter",
    "output_max_size": "OutputMaxSize",
}
_FIELDS = {name.lower(): name for name in CheckDefinition.__struct_fields__}
_DURATIONS = {"Interval", "Timeout", "TTL", "DeregisterCriticalServiceAfter"}


def decode_check_definition(data: dict[str, Any]) -> CheckDefinition:
    """Build a CheckDefinition from a decoded JSON object the way Consul does.

    Keys match case-insensitively, snake_case aliases are accepted, durations
    may be strings or integer nanoseconds, unknown keys are rejected
    (``InvalidCheck('unknown field "X"')``).
    """
    values: dict[str, Any] = {}
    for key, value in data.items():
        lowered = key.lower()
        name = _ALIASES.get(lowered) or _FIELDS.get(lowered)
        if name is None:
            raise InvalidCheck(f'json: unknown field "{key}"')
        if name in _DURATIONS and isinstance(value, int | float) and not isinstance(value, bool):
            value = format_duration(int(value))
        if value is None:
            continue
        values[name] = value
    if "ScriptArgs" in values:
        values["Args"] = values.pop("ScriptArgs")
    try:
        return msgspec.convert(values, CheckDefinition, str_keys=True)
    except msgspec.ValidationError as err:
        raise InvalidCheck(f"Request decode failed: {err}") from None
