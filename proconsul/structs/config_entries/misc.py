"""exported-services, sameness-group, jwt-provider and control-plane-request-limit."""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar
from urllib.parse import urlsplit

from proconsul.structs.base import UNSET, Int, Record, Uint64, UnsetType
from proconsul.structs.config_entries.base import (
    ConfigEntryError,
    Duration,
    Entry,
    collect,
    validate_meta,
)

__all__ = [
    "ExportedService",
    "ExportedServicesConfigEntry",
    "JWTProviderConfigEntry",
    "RateLimitIPConfigEntry",
    "SamenessGroupConfigEntry",
    "ServiceConsumer",
]

DEFAULT_CLOCK_SKEW_SECONDS = 30


class ServiceConsumer(Record):
    """Who an exported service is exported to: a partition, a peer or a sameness group."""

    ALIASES: ClassVar[dict[str, str]] = {"peer_name": "Peer"}

    Partition: str | UnsetType = UNSET
    Peer: str | UnsetType = UNSET
    SamenessGroup: str | UnsetType = UNSET


class ExportedService(Record):
    Name: str = ""
    Namespace: str | UnsetType = UNSET
    Consumers: list[ServiceConsumer] | UnsetType = UNSET


class ExportedServicesConfigEntry(Entry, kw_only=True):
    """``exported-services``: services this partition offers to peers (name ``default`` in CE)."""

    KIND = "exported-services"

    Name: str = ""
    Services: list[ExportedService] | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def validate(self) -> None:
        if self.Name != "default":
            raise ConfigEntryError('exported-services Name must be "default"')
        collect(validate_meta(self.Meta or None))
        for i, svc in enumerate(self.Services or ()):
            for j, consumer in enumerate(svc.Consumers or ()):
                if (consumer.Partition or "default") != "default":
                    raise ConfigEntryError(f"Services[{i}].Consumers[{j}]: partitions are an "
                                           "enterprise-only feature")
                if consumer.SamenessGroup:
                    raise ConfigEntryError(f"Services[{i}].Consumers[{j}]: sameness-groups are "
                                           "an enterprise-only feature")
        for i, svc in enumerate(self.Services or ()):
            if not svc.Name:
                raise ConfigEntryError(f"Services[{i}]: service name cannot be empty")
            if svc.Namespace == "*" and svc.Name != "*":
                raise ConfigEntryError(
                    f"Services[{i}]: service name must be wildcard if namespace is wildcard")
            if not svc.Consumers:
                raise ConfigEntryError(f"Services[{i}]: must have at least one consumer")
            for j, consumer in enumerate(svc.Consumers):
                if sum(1 for f in ("Partition", "Peer", "SamenessGroup")
                       if getattr(consumer, f)) > 1:
                    raise ConfigEntryError(
                        f"Services[{i}].Consumers[{j}]: must define at most one of Peer, "
                        "Partition, or SamenessGroup")
                if consumer.Partition == "*":
                    raise ConfigEntryError(f"Services[{i}].Consumers[{j}]: exporting to all "
                                           "partitions (wildcard) is not supported")
                if consumer.Peer == "*":
                    raise ConfigEntryError(f"Services[{i}].Consumers[{j}]: exporting to all "
                                           "peers (wildcard) is not supported")


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
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def validate(self) -> None:
        super().validate()
        raise ConfigEntryError("sameness-groups are an enterprise-only feature")


class LocalJWKS(Record):
    JWKS: str | UnsetType = UNSET
    Filename: str | UnsetType = UNSET


class RemoteJWKS(Record):
    URI: str | UnsetType = UNSET
    RequestTimeoutMs: Int | UnsetType = UNSET
    CacheDuration: Duration | UnsetType = UNSET
    FetchAsynchronously: bool | UnsetType = UNSET
    UseSNI: bool | UnsetType = UNSET
    RetryPolicy: dict[str, Any] | None | UnsetType = UNSET
    JWKSCluster: dict[str, Any] | None | UnsetType = UNSET


class JSONWebKeySet(Record):
    Local: LocalJWKS | None | UnsetType = UNSET
    Remote: RemoteJWKS | None | UnsetType = UNSET


class JWTLocationHeader(Record):
    Name: str | UnsetType = UNSET
    ValuePrefix: str | UnsetType = UNSET
    Forward: bool | UnsetType = UNSET


class JWTLocationName(Record):
    Name: str | UnsetType = UNSET


class JWTLocation(Record):
    Header: JWTLocationHeader | None | UnsetType = UNSET
    QueryParam: JWTLocationName | None | UnsetType = UNSET
    Cookie: JWTLocationName | None | UnsetType = UNSET


class JWTForwardingConfig(Record):
    HeaderName: str | UnsetType = UNSET
    PadForwardPayloadHeader: bool = False


class JWTProviderConfigEntry(Entry, kw_only=True):
    """``jwt-provider``: where JWTs come from and how their keys are found."""

    KIND = "jwt-provider"

    Name: str = ""
    JSONWebKeySet: JSONWebKeySet | None | UnsetType = UNSET
    Issuer: str | UnsetType = UNSET
    Audiences: list[str] | UnsetType = UNSET
    Locations: list[JWTLocation] | UnsetType = UNSET
    Forwarding: JWTForwardingConfig | None | UnsetType = UNSET
    ClockSkewSeconds: Int | UnsetType = UNSET
    CacheConfig: dict[str, Any] | None | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def normalize(self) -> None:
        super().normalize()
        if not self.ClockSkewSeconds:
            self.ClockSkewSeconds = DEFAULT_CLOCK_SKEW_SECONDS

    def validate(self) -> None:
        super().validate()
        jwks = self.JSONWebKeySet or None
        if jwks is None:
            raise ConfigEntryError("JSONWebKeySet is required")
        local, remote = jwks.Local or None, jwks.Remote or None
        if (local is None) == (remote is None):
            raise ConfigEntryError("must specify exactly one of Local or Remote JSON Web key set")
        if remote is not None:
            if not remote.URI:
                raise ConfigEntryError("Remote JWKS URI is required")
            parsed = urlsplit(remote.URI)
            if not (parsed.scheme or remote.URI.startswith("/")):
                raise ConfigEntryError(f'Remote JWKS URI is invalid: parse "{remote.URI}": '
                                       f"invalid URI for request, uri: {remote.URI}")
        else:
            if bool(local.JWKS) == bool(local.Filename):
                raise ConfigEntryError(
                    "must specify exactly one of String or filename for local keyset")
            if local.JWKS:
                try:
                    base64.b64decode(local.JWKS, validate=True)
                except (binascii.Error, ValueError):
                    raise ConfigEntryError("JWKS must be valid base64 encoded string") from None
        problems = []
        for loc in self.Locations or ():
            kinds = [k for k in ("Header", "QueryParam", "Cookie") if getattr(loc, k)]
            if len(kinds) != 1:
                problems.append("must set exactly one of: JWT location header, query param or "
                                "cookie")
            elif not getattr(loc, kinds[0]).Name:
                label = {"Header": "header", "QueryParam": "query param", "Cookie": "cookie"}
                problems.append(f"JWT location {label[kinds[0]]} name must be specified")
        collect(problems)
        forwarding = self.Forwarding or None
        if forwarding is not None and not forwarding.HeaderName:
            raise ConfigEntryError("Header name required for forwarding config")


class ReadWriteRatesConfig(Record):
    ReadRate: float = 0.0
    WriteRate: float = 0.0


class RateLimitIPConfigEntry(Entry, kw_only=True):
    """``control-plane-request-limit``: read and write rate limits on the servers.

    Consul accepts any values here (its Validate checks nothing)."""

    KIND = "control-plane-request-limit"

    Name: str | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET
    Mode: str = ""
    ReadRate: float = 0.0
    WriteRate: float = 0.0
    ACL: ReadWriteRatesConfig | None | UnsetType = UNSET
    Catalog: ReadWriteRatesConfig | None | UnsetType = UNSET
    ConfigEntry: ReadWriteRatesConfig | None | UnsetType = UNSET
    ConnectCA: ReadWriteRatesConfig | None | UnsetType = UNSET
    Coordinate: ReadWriteRatesConfig | None | UnsetType = UNSET
    DiscoveryChain: ReadWriteRatesConfig | None | UnsetType = UNSET
    Health: ReadWriteRatesConfig | None | UnsetType = UNSET
    Intention: ReadWriteRatesConfig | None | UnsetType = UNSET
    KV: ReadWriteRatesConfig | None | UnsetType = UNSET
    Tenancy: ReadWriteRatesConfig | None | UnsetType = UNSET
    PreparedQuery: ReadWriteRatesConfig | None | UnsetType = UNSET
    Session: ReadWriteRatesConfig | None | UnsetType = UNSET
    Txn: ReadWriteRatesConfig | None | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def entry_name(self) -> str:
        return self.Name or ""

    def validate(self) -> None:
        return None
