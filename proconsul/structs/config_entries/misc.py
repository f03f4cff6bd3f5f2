"""exported-services, sameness-group, jwt-provider and control-plane-request-limit."""

from __future__ import annotations

from typing import Any

from proconsul.structs.base import UNSET, Record, UnsetType
from proconsul.structs.config_entries.base import ConfigEntryError, Entry

__all__ = [
    "ExportedService",
    "ExportedServicesConfigEntry",
    "JWTProviderConfigEntry",
    "RateLimitIPConfigEntry",
    "SamenessGroupConfigEntry",
    "ServiceConsumer",
]

RATE_LIMIT_MODES = ("permissive", "enforcing", "disabled")


class ServiceConsumer(Record):
    """Who an exported service is exported to: a partition, a peer or a sameness group."""

    Partition: str | UnsetType = UNSET
    Peer: str | UnsetType = UNSET
    SamenessGroup: str | UnsetType = UNSET


class ExportedService(Record):
    Name: str = ""
    Namespace: str | UnsetType = UNSET
    Consumers: list[ServiceConsumer] | None = None


class ExportedServicesConfigEntry(Entry, kw_only=True):
    """``exported-services``: services this partition offers to peers."""

    KIND = "exported-services"

    Name: str = ""
    Services: list[ExportedService] | None = None
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: int = 0
    ModifyIndex: int = 0

    def validate(self) -> None:
        if self.Name not in ("", "default"):
            raise ConfigEntryError(
                f'exported-services Name must be "default" in Consul CE, got "{self.Name}"')
        if not self.Name:
            raise ConfigEntryError("Name is required")
        super().validate()
        for i, svc in enumerate(self.Services or ()):
            if not svc.Name:
                raise ConfigEntryError(f"Services[{i}]: service name cannot be empty")
            if (svc.Namespace or "default") not in ("default", "*"):
                raise ConfigEntryError(
                    f'Services[{i}]: namespaces are an enterprise feature')
            if not svc.Consumers:
                raise ConfigEntryError(f"Services[{i}]: must have at least one consumer")
            for j, consumer in enumerate(svc.Consumers):
                set_count = sum(1 for f in ("Partition", "Peer", "SamenessGroup")
                                if getattr(consumer, f))
                if set_count > 1:
                    raise ConfigEntryError(
                        f"Services[{i}].Consumers[{j}]: must define at most one of Peer, "
                        "Partition, or SamenessGroup")
                if set_count == 0:
                    raise ConfigEntryError(
                        f"Services[{i}].Consumers[{j}]: must define one of Peer, Partition, "
                        "or SamenessGroup")
                if consumer.Peer == "*":
                    raise ConfigEntryError(f"Services[{i}].Consumers[{j}].Peer: "
                                           "exporting to all peers (wildcard) is not supported")


class SamenessGroupMember(Record):
    Partition: str | UnsetType = UNSET
    Peer: str | UnsetType = UNSET


class SamenessGroupConfigEntry(Entry, kw_only=True):
    """``sameness-group``: partitions and peers whose same-named services are one."""

    KIND = "sameness-group"

    Name: str = ""
    DefaultForFailover: bool | UnsetType = UNSET
    IncludeLocal: bool | UnsetType = UNSET
    Members: list[SamenessGroupMember] | None = None
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: int = 0
    ModifyIndex: int = 0

    def validate(self) -> None:
        super().validate()
        raise ConfigEntryError("sameness-groups are an enterprise-only feature")


class JWTProviderConfigEntry(Entry, kw_only=True):
    """``jwt-provider``: where JWTs come from and how their keys are found."""

    KIND = "jwt-provider"

    Name: str = ""
    JSONWebKeySet: dict[str, Any] | None | UnsetType = UNSET
    Issuer: str | UnsetType = UNSET
    Audiences: list[str] | UnsetType = UNSET
    Locations: list[dict[str, Any]] | UnsetType = UNSET
    Forwarding: dict[str, Any] | None | UnsetType = UNSET
    ClockSkewSeconds: int | UnsetType = UNSET
    CacheConfig: dict[str, Any] | None | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: int = 0
    ModifyIndex: int = 0

    def normalize(self) -> None:
        super().normalize()
        if self.ClockSkewSeconds is UNSET or self.ClockSkewSeconds == 0:
            self.ClockSkewSeconds = 30

    def validate(self) -> None:
        super().validate()
        jwks = self.JSONWebKeySet or None
        if not jwks:
            raise ConfigEntryError("JSONWebKeySet is required")
        local, remote = jwks.get("Local"), jwks.get("Remote")
        if bool(local) == bool(remote):
            raise ConfigEntryError("Must set exactly one of: JSONWebKeySet Local or "
                                   "JSONWebKeySet Remote")
        for loc in self.Locations or ():
            if sum(1 for k in ("Header", "QueryParam", "Cookie") if loc.get(k)) != 1:
                raise ConfigEntryError("Must set exactly one of: JWT location header, query "
                                       "param or cookie")


class RateLimitIPConfigEntry(Entry, kw_only=True):
    """``control-plane-request-limit``: read and write rate limits on the servers."""

    KIND = "control-plane-request-limit"

    Name: str = ""
    Mode: str = ""
    ReadRate: float = 0.0
    WriteRate: float = 0.0
    ACL: dict[str, Any] | None | UnsetType = UNSET
    Catalog: dict[str, Any] | None | UnsetType = UNSET
    ConfigEntry: dict[str, Any] | None | UnsetType = UNSET
    ConnectCA: dict[str, Any] | None | UnsetType = UNSET
    Coordinate: dict[str, Any] | None | UnsetType = UNSET
    DiscoveryChain: dict[str, Any] | None | UnsetType = UNSET
    Health: dict[str, Any] | None | UnsetType = UNSET
    Intention: dict[str, Any] | None | UnsetType = UNSET
    KV: dict[str, Any] | None | UnsetType = UNSET
    Tenancy: dict[str, Any] | None | UnsetType = UNSET
    PreparedQuery: dict[str, Any] | None | UnsetType = UNSET
    Session: dict[str, Any] | None | UnsetType = UNSET
    Txn: dict[str, Any] | None | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: int = 0
    ModifyIndex: int = 0

    def validate(self) -> None:
        if self.Name != "global":
            raise ConfigEntryError('control-plane-request-limit Name must be "global"')
        super().validate()
        if self.Mode not in RATE_LIMIT_MODES:
            raise ConfigEntryError(f"mode must be one of {list(RATE_LIMIT_MODES)}, "
                                   f'got "{self.Mode}"')
        if self.ReadRate < 0 or self.WriteRate < 0:
            raise ConfigEntryError("ReadRate and WriteRate must be >= 0")
