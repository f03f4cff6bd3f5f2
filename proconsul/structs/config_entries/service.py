"""service-defaults, proxy-defaults and mesh, with the proxy settings they share."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

import msgspec

from proconsul.structs.base import UNSET, Int, Record, Uint64, UnsetType
from proconsul.structs.config_entries.base import (
    WILDCARD,
    ConfigEntryError,
    Duration,
    Entry,
    collect,
    duration_ns,
    validate_meta,
)

__all__ = [
    "AccessLogsConfig",
    "DestinationConfig",
    "ExposeConfig",
    "ExposePath",
    "MeshConfigEntry",
    "MeshGatewayConfig",
    "PassiveHealthCheck",
    "ProxyConfigEntry",
    "ServiceConfigEntry",
    "TransparentProxyConfig",
    "UpstreamConfig",
    "UpstreamConfiguration",
    "UpstreamLimits",
]

PROXY_CONFIG_GLOBAL = "global"
MESH_CONFIG_MESH = "mesh"
SERVICE_PROTOCOLS = ("", "http", "http2", "grpc", "tcp")
MUTUAL_TLS_MODES = ("", "strict", "permissive")
BALANCE_MODES = ("", "exact_balance")
_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


class MeshGatewayConfig(Record):
    """How an upstream's traffic uses mesh gateways: "", none, local or remote."""

    Mode: str | UnsetType = UNSET


class TransparentProxyConfig(Record):
    """Transparent proxy settings of a service or proxy-defaults."""

    OutboundListenerPort: Int | UnsetType = UNSET
    DialedDirectly: bool | UnsetType = UNSET


class ExposePath(Record):
    """An HTTP path the proxy exposes without mTLS (health checks, metrics)."""

    ListenerPort: Int | UnsetType = UNSET
    Path: str | UnsetType = UNSET
    LocalPathPort: Int | UnsetType = UNSET
    Protocol: str | UnsetType = UNSET
    ParsedFromCheck: bool | UnsetType = UNSET


class ExposeConfig(Record):
    """Paths exposed by the proxy; ``Checks`` exposes every HTTP/gRPC check."""

    Checks: bool | UnsetType = UNSET
    Paths: list[ExposePath] | UnsetType = UNSET


class AccessLogsConfig(Record):
    """Envoy access logging for every proxy (proxy-defaults)."""

    Enabled: bool | UnsetType = UNSET
    DisableListenerLogs: bool | UnsetType = UNSET
    Type: str | UnsetType = UNSET
    Path: str | UnsetType = UNSET
    JSONFormat: str | UnsetType = UNSET
    TextFormat: str | UnsetType = UNSET

    def errors(self) -> list[str]:
        """Consul's AccessLogsConfig.Validate (first problem only, as Consul)."""
        kind = self.Type or ""
        if kind == "file" and not self.Path:
            return ["path must be specified when using file type access logs"]
        if kind not in ("", "file", "stdout", "stderr"):
            return [f"invalid access log type: {kind}"]
        if self.JSONFormat and self.TextFormat:
            return ["cannot specify both access log JSONFormat and TextFormat"]
        if kind != "file" and self.Path:
            return ["path is only valid for file type access logs"]
        if self.JSONFormat:
            try:
                json.loads(self.JSONFormat)
            except ValueError as exc:
                return [f"invalid access log json for JSON format: {exc}"]
        return []


class UpstreamLimits(Record):
    """Circuit-breaker limits toward one upstream."""

    MaxConnections: Int | None | UnsetType = UNSET
    MaxPendingRequests: Int | None | UnsetType = UNSET
    MaxConcurrentRequests: Int | None | UnsetType = UNSET


class PassiveHealthCheck(Record):
    """Outlier detection toward one upstream."""

    Interval: Duration | UnsetType = UNSET
    MaxFailures: Int | UnsetType = UNSET
    EnforcingConsecutive5xx: Int | None | UnsetType = UNSET
    MaxEjectionPercent: Int | None | UnsetType = UNSET
    BaseEjectionTime: Duration | None | UnsetType = UNSET


class UpstreamConfig(Record):
    """Per-upstream settings: an override (with Name) or the defaults (without)."""

    Name: str | UnsetType = UNSET
    Peer: str = ""
    EnvoyListenerJSON: str | UnsetType = UNSET
    EnvoyClusterJSON: str | UnsetType = UNSET
    Protocol: str | UnsetType = UNSET
    ConnectTimeoutMs: Int | UnsetType = UNSET
    Limits: UpstreamLimits | None | UnsetType = UNSET
    PassiveHealthCheck: PassiveHealthCheck | None | UnsetType = UNSET
    MeshGateway: MeshGatewayConfig = msgspec.field(default_factory=MeshGatewayConfig)
    BalanceOutboundConnections: str | UnsetType = UNSET

    def errors(self, with_name: bool) -> list[str]:
        """Consul's UpstreamConfig validate: naming first, then every other problem."""
        if with_name and not self.Name:
            return ["Name is required"]
        if with_name and self.Name == WILDCARD:
            return ["Wildcard name is not supported"]
        if not with_name and self.Name:
            return ["Name must be empty"]
        errors = []
        check = self.PassiveHealthCheck or None
        if check is not None:
            if duration_ns(check.Interval or "") < 0:
                errors.append("passive health check interval cannot be negative")
            elif (check.EnforcingConsecutive5xx or 0) > 100:
                errors.append("passive health check enforcing_consecutive_5xx must be a "
                              "percentage between 0 and 100")
            elif (check.MaxEjectionPercent or 0) > 100:
                errors.append("passive health check max_ejection_percent must be a percentage "
                              "between 0 and 100")
            elif duration_ns(check.BaseEjectionTime or "") < 0:
                errors.append("passive health check base_ejection_time cannot be negative")
        limits = self.Limits or None
        if limits is not None:
            for field, label in (("MaxConnections", "max connections"),
                                 ("MaxPendingRequests", "max pending requests"),
                                 ("MaxConcurrentRequests", "max concurrent requests")):
                value = getattr(limits, field)
                if isinstance(value, int) and value < 0:
                    errors.append(f"{label} cannot be negative")
                    break
        if (self.BalanceOutboundConnections or "") not in BALANCE_MODES:
            errors.append("invalid value for balance_outbound_connections: "
                          f"{self.BalanceOutboundConnections}")
        return errors

    def normalize(self) -> None:
        if self.Protocol:
            self.Protocol = self.Protocol.lower()
        if isinstance(self.ConnectTimeoutMs, int) and self.ConnectTimeoutMs < 0:
            self.ConnectTimeoutMs = 0

    def display_name(self) -> str:
        return f"peer:{self.Peer}/{self.Name}" if self.Peer else str(self.Name or "")


class UpstreamConfiguration(Record):
    """service-defaults' UpstreamConfig: named Overrides and the Defaults for the rest."""

    Overrides: list[UpstreamConfig] | UnsetType = UNSET
    Defaults: UpstreamConfig | None | UnsetType = UNSET


class DestinationConfig(Record):
    """A terminating-gateway destination outside the mesh (transparent proxy)."""

    Addresses: list[str] | UnsetType = UNSET
    Port: Int | UnsetType = UNSET


class ServiceConfigEntry(Entry, kw_only=True):
    """``service-defaults``: the protocol and proxy settings of one service."""

    KIND = "service-defaults"

    Name: str = ""
    Protocol: str = ""
    Mode: str | UnsetType = UNSET
    TransparentProxy: TransparentProxyConfig = msgspec.field(default_factory=TransparentProxyConfig)
    MutualTLSMode: str | UnsetType = UNSET
    MeshGateway: MeshGatewayConfig = msgspec.field(default_factory=MeshGatewayConfig)
    Expose: ExposeConfig = msgspec.field(default_factory=ExposeConfig)
    ExternalSNI: str | UnsetType = UNSET
    UpstreamConfig: UpstreamConfiguration | None | UnsetType = UNSET
    Destination: DestinationConfig | None | UnsetType = UNSET
    MaxInboundConnections: Int | UnsetType = UNSET
    LocalConnectTimeoutMs: Int | UnsetType = UNSET
    LocalRequestTimeoutMs: Int | UnsetType = UNSET
    BalanceInboundConnections: str | UnsetType = UNSET
    RateLimits: dict[str, Any] | None | UnsetType = UNSET
    EnvoyExtensions: list[dict[str, Any]] | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def normalize(self) -> None:
        super().normalize()
        self.Protocol = self.Protocol.lower()
        upstreams = self.UpstreamConfig or None
        if upstreams:
            for override in upstreams.Overrides or ():
                override.normalize()
            defaults = upstreams.Defaults or None
            if defaults:
                defaults.normalize()

    def validate(self) -> None:
        if not self.Name:
            raise ConfigEntryError("Name is required")
        if self.Name == WILDCARD:
            raise ConfigEntryError(
                "service-defaults name must be the name of a service, and not a wildcard")
        errors = validate_meta(self.Meta or None)
        if (self.BalanceInboundConnections or "") not in BALANCE_MODES:
            errors.append("invalid value for balance_inbound_connections: "
                          f"{self.BalanceInboundConnections}")
        if self.Protocol not in SERVICE_PROTOCOLS:
            errors.append(f"invalid value for protocol: {self.Protocol}")
        upstreams = self.UpstreamConfig or None
        destination = self.Destination or None
        if upstreams and destination:
            errors.append("UpstreamConfig and Destination are mutually exclusive for service defaults")
            collect(errors)
        if upstreams:
            for override in upstreams.Overrides or ():
                errors += [f"error in upstream override for {override.display_name()}: {e}"
                           for e in override.errors(with_name=True)]
            defaults = upstreams.Defaults or None
            if defaults:
                errors += [f"error in upstream defaults: {e}" for e in defaults.errors(with_name=False)]
        if destination:
            errors += _destination_errors(destination)
        collect(errors)
        _check_mutual_tls(self.MutualTLSMode)


class ProxyConfigEntry(Entry, kw_only=True):
    """``proxy-defaults``: settings for every proxy; its only name is ``global``."""

    KIND = "proxy-defaults"

    Name: str = ""
    Config: dict[str, Any] | None = None
    Mode: str | UnsetType = UNSET
    TransparentProxy: TransparentProxyConfig = msgspec.field(default_factory=TransparentProxyConfig)
    MutualTLSMode: str | UnsetType = UNSET
    MeshGateway: MeshGatewayConfig = msgspec.field(default_factory=MeshGatewayConfig)
    Expose: ExposeConfig = msgspec.field(default_factory=ExposeConfig)
    AccessLogs: AccessLogsConfig = msgspec.field(default_factory=AccessLogsConfig)
    EnvoyExtensions: list[dict[str, Any]] | UnsetType = UNSET
    FailoverPolicy: dict[str, Any] | None | UnsetType = UNSET
    PrioritizeByLocality: dict[str, Any] | None | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def normalize(self) -> None:
        super().normalize()
        if self.Name not in ("", PROXY_CONFIG_GLOBAL):
            raise ConfigEntryError(
                f'invalid name ("{self.Name}"), only "{PROXY_CONFIG_GLOBAL}" is supported')
        self.Name = PROXY_CONFIG_GLOBAL

    def validate(self) -> None:
        if self.Name != PROXY_CONFIG_GLOBAL:
            raise ConfigEntryError(
                f'invalid name ("{self.Name}"), only "{PROXY_CONFIG_GLOBAL}" is supported')
        collect(self.AccessLogs.errors())
        collect(validate_meta(self.Meta or None))
        socket_dir = (self.Config or {}).get("envoy_hcp_metrics_bind_socket_dir")
        if isinstance(socket_dir, str) and len(socket_dir) > 70:
            raise ConfigEntryError(f"Config: envoy_hcp_metrics_bind_socket_dir length "
                                   f"{len(socket_dir)} exceeds max 70")
        policy = self.FailoverPolicy or None
        if policy and policy.get("Mode", "") not in ("", "sequential", "order-by-locality"):
            raise ConfigEntryError("Failover-policy mode must be one of '', 'sequential', or "
                                   "'order-by-locality'")
        _check_mutual_tls(self.MutualTLSMode)

    def protocol(self) -> str:
        """``Config["protocol"]`` as Consul computes it for the discovery chain."""
        value = (self.Config or {}).get("protocol", "")
        if isinstance(value, bool):
            return "1" if value else "0"
        return str(value) if value is not None else ""


class MeshTLSDirection(Record):
    """TLS versions and ciphers for the mesh's incoming or outgoing side."""

    TLSMinVersion: str | UnsetType = UNSET
    TLSMaxVersion: str | UnsetType = UNSET
    CipherSuites: list[str] | UnsetType = UNSET


class MeshTLSConfig(Record):
    Incoming: MeshTLSDirection | None | UnsetType = UNSET
    Outgoing: MeshTLSDirection | None | UnsetType = UNSET


class MeshHTTPConfig(Record):
    SanitizeXForwardedClientCert: bool = False
    Incoming: dict[str, Any] | None | UnsetType = UNSET


class MeshTransparentProxyConfig(Record):
    MeshDestinationsOnly: bool = False


class PeeringMeshConfig(Record):
    PeerThroughMeshGateways: bool = False


_TLS_VERSIONS = ("", "TLS_AUTO", "TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3")


class MeshConfigEntry(Entry, kw_only=True):
    """``mesh``: mesh-wide settings; there is one, named ``mesh``."""

    KIND = "mesh"

    TransparentProxy: MeshTransparentProxyConfig = msgspec.field(default_factory=MeshTransparentProxyConfig)
    AllowEnablingPermissiveMutualTLS: bool | UnsetType = UNSET
    ValidateClusters: bool | UnsetType = UNSET
    TLS: MeshTLSConfig | None | UnsetType = UNSET
    HTTP: MeshHTTPConfig | None | UnsetType = UNSET
    Peering: PeeringMeshConfig | None | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def entry_name(self) -> str:
        return MESH_CONFIG_MESH

    def validate(self) -> None:
        collect(validate_meta(self.Meta or None))
        tls = self.TLS or None
        for side in ("Incoming", "Outgoing"):
            direction = getattr(tls, side, None) if tls else None
            if not direction:
                continue
            for bound in ("TLSMinVersion", "TLSMaxVersion"):
                version = getattr(direction, bound) or ""
                if version not in _TLS_VERSIONS:
                    raise ConfigEntryError(f"error in {side.lower()} TLS configuration: "
                                           f"{version} is not a valid TLS version")


def _check_mutual_tls(mode: str | UnsetType) -> None:
    if (mode or "") not in MUTUAL_TLS_MODES:
        raise ConfigEntryError(
            f'Invalid MutualTLSMode "{mode}". Must be one of "", "strict", or "permissive".')


def _destination_errors(destination: DestinationConfig) -> list[str]:
    errors = []
    if not destination.Addresses:
        errors.append("Destination must contain at least one valid address")
    seen: set[str] = set()
    for address in destination.Addresses or ():
        if address in seen:
            errors.append(f"Duplicate address '{address}' is not allowed")
            continue
        seen.add(address)
        if not _is_ip_or_hostname(address):
            errors.append(f"Destination address '{address}' is invalid Could not validate "
                          f"address {address} as an IP or Hostname")
    port = destination.Port or 0
    if port < 1 or port > 65535:
        errors.append(f"Invalid Port number {port}")
    return errors


def _is_ip_or_hostname(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
        return True
    except ValueError:
        pass
    if "*" in address or not address or len(address) > 255:
        return False
    labels = address.rstrip(".").split(".")
    return all(_DNS_LABEL.match(label) for label in labels)
