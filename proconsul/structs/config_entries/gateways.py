"""Gateway entries: ingress-gateway, terminating-gateway, api-gateway and its routes,
inline-certificate."""

from __future__ import annotations

from typing import Any

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from proconsul.structs.base import UNSET, Record, UnsetType
from proconsul.structs.config_entries.base import WILDCARD, ConfigEntryError, Entry

__all__ = [
    "APIGatewayConfigEntry",
    "HTTPRouteConfigEntry",
    "IngressGatewayConfigEntry",
    "IngressListener",
    "IngressService",
    "InlineCertificateConfigEntry",
    "LinkedService",
    "TCPRouteConfigEntry",
    "TerminatingGatewayConfigEntry",
]

INGRESS_PROTOCOLS = ("tcp", "http", "http2", "grpc")
HTTP_LIKE = ("http", "http2", "grpc")


class GatewayTLSConfig(Record):
    Enabled: bool = False
    SDS: dict[str, Any] | None | UnsetType = UNSET
    TLSMinVersion: str | UnsetType = UNSET
    TLSMaxVersion: str | UnsetType = UNSET
    CipherSuites: list[str] | UnsetType = UNSET


class IngressService(Record):
    """A service an ingress listener exposes (``*`` for all, on HTTP listeners)."""

    Name: str = ""
    Hosts: list[str] | None = None
    TLS: dict[str, Any] | None | UnsetType = UNSET
    RequestHeaders: dict[str, Any] | None | UnsetType = UNSET
    ResponseHeaders: dict[str, Any] | None | UnsetType = UNSET
    MaxConnections: int | UnsetType = UNSET
    MaxPendingRequests: int | UnsetType = UNSET
    MaxConcurrentRequests: int | UnsetType = UNSET
    PassiveHealthCheck: dict[str, Any] | None | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET


class IngressListener(Record):
    Port: int = 0
    Protocol: str = ""
    TLS: dict[str, Any] | None | UnsetType = UNSET
    Services: list[IngressService] | None = None


class IngressGatewayConfigEntry(Entry, kw_only=True):
    """``ingress-gateway``: listeners and the services each exposes."""

    KIND = "ingress-gateway"

    Name: str = ""
    TLS: GatewayTLSConfig = msgspec.field(default_factory=GatewayTLSConfig)
    Listeners: list[IngressListener] | None = None
    Defaults: dict[str, Any] | None | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: int = 0
    ModifyIndex: int = 0

    def normalize(self) -> None:
        super().normalize()
        for listener in self.Listeners or ():
            listener.Protocol = (listener.Protocol or "tcp").lower()

    def validate(self) -> None:
        super().validate()
        ports: set[int] = set()
        for listener in self.Listeners or ():
            if listener.Port in ports:
                raise ConfigEntryError(f"port {listener.Port} declared on two listeners")
            ports.add(listener.Port)
            if listener.Protocol not in INGRESS_PROTOCOLS:
                raise ConfigEntryError(
                    "protocol must be 'tcp', 'http', 'http2', or 'grpc'. "
                    f"'{listener.Protocol}' is an unsupported protocol")
            services = listener.Services or []
            if len(services) == 0:
                raise ConfigEntryError(
                    f"No service declared for listener with port {listener.Port}")
            if len(services) > 1 and listener.Protocol not in HTTP_LIKE:
                raise ConfigEntryError("Multiple services per listener are only supported for "
                                       "L7 protocols, 'http', 'grpc' and 'http2'")
            names: set[str] = set()
            for svc in services:
                if not svc.Name:
                    raise ConfigEntryError(
                        f"Service name cannot be blank (listener on port {listener.Port})")
                if svc.Name == WILDCARD and listener.Protocol not in HTTP_LIKE:
                    raise ConfigEntryError("Wildcard service name is only valid for protocol = "
                                           f"'http' (listener on port {listener.Port})")
                if svc.Hosts and listener.Protocol not in HTTP_LIKE:
                    raise ConfigEntryError(
                        "Associating hosts to a service is not supported for the "
                        f"{listener.Protocol} protocol")
                if svc.Hosts and svc.Name == WILDCARD:
                    raise ConfigEntryError("Associating hosts to a wildcard service is not "
                                           "supported")
                if svc.Name in names:
                    raise ConfigEntryError(f'Service {svc.Name} declared more than once on '
                                           f'listener on port {listener.Port}')
                names.add(svc.Name)


class LinkedService(Record):
    """A service a terminating gateway reaches, with the TLS it uses to get there."""

    Name: str = ""
    CAFile: str | UnsetType = UNSET
    CertFile: str | UnsetType = UNSET
    KeyFile: str | UnsetType = UNSET
    SNI: str | UnsetType = UNSET
    DisableAutoHostRewrite: bool | UnsetType = UNSET



class TerminatingGatewayConfigEntry(Entry, kw_only=True):
    """``terminating-gateway``: services outside the mesh reached through the gateway."""

    KIND = "terminating-gateway"

    Name: str = ""
    Services: list[LinkedService] | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: int = 0
    ModifyIndex: int = 0

    def validate(self) -> None:
        super().validate()
        seen: set[str] = set()
        for svc in self.Services or ():
            if not svc.Name:
                raise ConfigEntryError("Service name cannot be blank.")
            if svc.Name in seen:
                raise ConfigEntryError(f'Service "{svc.Name}" was specified more than once')
            seen.add(svc.Name)
            if (svc.CertFile and not svc.KeyFile) or (svc.KeyFile and not svc.CertFile):
                raise ConfigEntryError(
                    f'Service "{svc.Name}" must have a CertFile and a KeyFile, or neither')
            if svc.Name == WILDCARD and svc.SNI:
                raise ConfigEntryError(
                    f'Service "{svc.Name}" is a wildcard target, which cannot have a SNI specified')


class APIGatewayListener(Record):
    Name: str = ""
    Hostname: str | UnsetType = UNSET
    Port: int = 0
    Protocol: str = ""
    TLS: dict[str, Any] | None | UnsetType = UNSET
    Override: dict[str, Any] | None | UnsetType = UNSET
    Default: dict[str, Any] | None | UnsetType = UNSET


class APIGatewayConfigEntry(Entry, kw_only=True):
    """``api-gateway``: an Envoy gateway with named listeners that routes bind to."""

    KIND = "api-gateway"

    Name: str = ""
    Listeners: list[APIGatewayListener] | None = None
    Status: dict[str, Any] | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: int = 0
    ModifyIndex: int = 0

    def validate(self) -> None:
        super().validate()
        names: set[str] = set()
        for listener in self.Listeners or ():
            if listener.Protocol not in ("http", "tcp"):
                raise ConfigEntryError(f'unsupported listener protocol "{listener.Protocol}"')
            if listener.Port <= 0 or listener.Port > 65535:
                raise ConfigEntryError(
                    f"listener port {listener.Port} not in the range 1-65535")
            if listener.Name in names:
                raise ConfigEntryError("multiple listeners with the same name "
                                       f'"{listener.Name}" are not allowed')
            names.add(listener.Name)


class ResourceReference(Record):
    Kind: str = ""
    Name: str = ""
    SectionName: str | UnsetType = UNSET


class RouteService(Record):
    Name: str = ""
    Weight: int | UnsetType = UNSET
    Filters: dict[str, Any] | UnsetType = UNSET
    ResponseFilters: dict[str, Any] | UnsetType = UNSET


class HTTPRouteRule(Record):
    Filters: dict[str, Any] | UnsetType = UNSET
    ResponseFilters: dict[str, Any] | UnsetType = UNSET
    Matches: list[dict[str, Any]] | UnsetType = UNSET
    Services: list[RouteService] | UnsetType = UNSET


class HTTPRouteConfigEntry(Entry, kw_only=True):
    """``http-route``: HTTP routing rules bound to api-gateway listeners."""

    KIND = "http-route"

    Name: str = ""
    Parents: list[ResourceReference] | None = None
    Rules: list[HTTPRouteRule] | None = None
    Hostnames: list[str] | None = None
    Status: dict[str, Any] | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: int = 0
    ModifyIndex: int = 0

    def validate(self) -> None:
        super().validate()
        _validate_parents(self.Parents)
        for host in self.Hostnames or ():
            if host.count("*") and not (host.startswith("*.") and host.count("*") == 1):
                raise ConfigEntryError(
                    f'host "{host}" must not contain a wildcard other than a leading "*."')


class TCPRouteConfigEntry(Entry, kw_only=True):
    """``tcp-route``: one TCP service bound to api-gateway listeners."""

    KIND = "tcp-route"

    Name: str = ""
    Parents: list[ResourceReference] | None = None
    Services: list[RouteService] | None = None
    Status: dict[str, Any] | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: int = 0
    ModifyIndex: int = 0

    def validate(self) -> None:
        super().validate()
        _validate_parents(self.Parents)
        if len(self.Services or ()) > 1:
            raise ConfigEntryError(
                "tcp-route currently only supports one service, you have "
                f"{len(self.Services or ())}")


def _validate_parents(parents: list[ResourceReference] | None) -> None:
    for parent in parents or ():
        if parent.Kind not in ("", "api-gateway"):
            raise ConfigEntryError(f'unsupported parent kind: "{parent.Kind}", '
                                   'must be "api-gateway"')


class InlineCertificateConfigEntry(Entry, kw_only=True):
    """``inline-certificate``: a PEM certificate and key for api-gateway listeners."""

    KIND = "inline-certificate"

    Name: str = ""
    Certificate: str = ""
    PrivateKey: str = ""
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: int = 0
    ModifyIndex: int = 0

    def validate(self) -> None:
        super().validate()
        try:
            serialization.load_pem_private_key(self.PrivateKey.encode(), password=None)
        except (ValueError, TypeError):
            raise ConfigEntryError("Failed to parse private key") from None
        try:
            x509.load_pem_x509_certificate(self.Certificate.encode())
        except ValueError:
            raise ConfigEntryError("Failed to parse certificate") from None
