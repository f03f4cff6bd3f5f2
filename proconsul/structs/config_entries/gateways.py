"""Gateway entries: ingress-gateway, terminating-gateway, api-gateway and its routes,
inline-certificate."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from proconsul.structs.base import UNSET, Int, Record, Uint64, UnsetType
from proconsul.structs.config_entries.base import (
    WILDCARD,
    ConfigEntryError,
    Entry,
    collect,
    validate_meta,
)
from proconsul.structs.config_entries.chain import HTTP_METHODS

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
    MaxConnections: Int | UnsetType = UNSET
    MaxPendingRequests: Int | UnsetType = UNSET
    MaxConcurrentRequests: Int | UnsetType = UNSET
    PassiveHealthCheck: dict[str, Any] | None | UnsetType = UNSET
    Meta: dict[str, str] | UnsetType = UNSET


class IngressListener(Record):
    Port: Int = 0
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
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def normalize(self) -> None:
        super().normalize()
        for listener in self.Listeners or ():
            listener.Protocol = (listener.Protocol or "tcp").lower()

    def validate(self) -> None:
        super().validate()
        for listener in self.Listeners or ():
            _validate_tls_versions(listener.TLS or None)
        _validate_tls_versions(self.TLS)
        ports: set[int] = set()
        for listener in self.Listeners or ():
            port = listener.Port
            if port in ports:
                raise ConfigEntryError(f"port {port} declared on two listeners")
            ports.add(port)
            if listener.Protocol not in INGRESS_PROTOCOLS:
                raise ConfigEntryError(
                    "protocol must be 'tcp', 'http', 'http2', or 'grpc'. "
                    f"'{listener.Protocol}' is an unsupported protocol")
            services = listener.Services or []
            if not services:
                raise ConfigEntryError(f"No service declared for listener with port {port}")
            if len(services) > 1 and listener.Protocol not in HTTP_LIKE:
                raise ConfigEntryError(
                    "Multiple services per listener are only supported for L7 protocols, "
                    f"'http', 'grpc' and 'http2' (listener on port {port})")
            hosts: set[str] = set()
            names: set[str] = set()
            for svc in services:
                if listener.Protocol == "tcp":
                    if svc.Name == WILDCARD:
                        raise ConfigEntryError("Wildcard service name is only valid for protocol "
                                               f"= 'http' (listener on port {port})")
                    if svc.Hosts:
                        raise ConfigEntryError(
                            "Associating hosts to a service is not supported for the "
                            f"{listener.Protocol} protocol (listener on port {port})")
                if not svc.Name:
                    raise ConfigEntryError(f"Service name cannot be blank (listener on port {port})")
                if svc.Name == WILDCARD and svc.Hosts:
                    raise ConfigEntryError("Associating hosts to a wildcard service is not "
                                           f"supported (listener on port {port})")
                if svc.Name in names:
                    raise ConfigEntryError(f"Service {svc.Name} cannot be added multiple times "
                                           f"(listener on port {port})")
                names.add(svc.Name)
                for host in svc.Hosts or ():
                    if host in hosts:
                        raise ConfigEntryError("Hosts must be unique within a specific listener "
                                               f"(listener on port {port})")
                    hosts.add(host)
                    _validate_host(self.TLS.Enabled, host)


def _validate_host(tls_enabled: bool, host: str) -> None:
    if host == "*":
        if tls_enabled:
            raise ConfigEntryError("Host '*' is not allowed when TLS is enabled, all hosts must "
                                   "be valid DNS records to add as a DNSSAN")
        return
    if not _is_domain_name(host):
        raise ConfigEntryError(f'Host "{host}" must be a valid DNS hostname')
    if "*" in host.removeprefix("*."):
        raise ConfigEntryError(f'Host "{host}" is not valid, a wildcard specifier is only '
                               "allowed as the leftmost label")


def _is_domain_name(name: str) -> bool:
    # miekg/dns IsDomainName: labels of 1..63 octets, 255 in all; almost any byte allowed.
    labels = name.rstrip(".").split(".") if name not in ("", ".") else []
    return bool(labels) and len(name) <= 255 and all(0 < len(x) <= 63 for x in labels)


TLS_VERSIONS = ("", "TLS_AUTO", "TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3")


def _validate_tls_versions(tls: Any) -> None:
    if not tls:
        return
    if isinstance(tls, dict):
        low, high = tls.get("TLSMinVersion", ""), tls.get("TLSMaxVersion", "")
    else:
        low, high = tls.TLSMinVersion or "", tls.TLSMaxVersion or ""
    for version in (low, high):
        if version not in TLS_VERSIONS:
            raise ConfigEntryError(f"{version} is not a valid TLS version")


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
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def validate(self) -> None:
        super().validate()
        seen: set[str] = set()
        for svc in self.Services or ():
            if not svc.Name:
                raise ConfigEntryError("Service name cannot be blank.")
            if svc.Name in seen:
                raise ConfigEntryError(
                    f'Service "{svc.Name}" was specified more than once within a namespace')
            seen.add(svc.Name)
            if (svc.CertFile or svc.KeyFile) and not (svc.CAFile and svc.CertFile and svc.KeyFile):
                raise ConfigEntryError(f'Service "{svc.Name}" must have a CertFile, CAFile, and '
                                       "KeyFile specified for TLS origination")

    def warnings(self) -> list[str]:
        """Consul's write warnings: TLS configured without SNI."""
        return [f'TLS is configured but SNI is not set for service "{svc.Name}". Enabling SNI '
                "is strongly recommended when using TLS."
                for svc in self.Services or ()
                if (svc.CAFile or svc.CertFile or svc.KeyFile) and not svc.SNI]


class ResourceReference(Record):
    """A reference to another config entry (a gateway, listener section or certificate)."""

    Kind: str = ""
    Name: str = ""
    SectionName: str = ""


class APIGatewayTLSConfiguration(Record):
    Certificates: list[ResourceReference] | None = None
    MaxVersion: str | UnsetType = UNSET
    MinVersion: str | UnsetType = UNSET
    CipherSuites: list[str] | UnsetType = UNSET


class APIGatewayListener(Record):
    Name: str = ""
    Hostname: str = ""
    Port: Int = 0
    Protocol: str = ""
    TLS: APIGatewayTLSConfiguration = msgspec.field(default_factory=APIGatewayTLSConfiguration)
    Override: dict[str, Any] | None | UnsetType = UNSET
    Default: dict[str, Any] | None | UnsetType = UNSET


class Status(Record):
    """The conditions a controller reports on a gateway or route."""

    Conditions: list[dict[str, Any]] | None = None


_LISTENER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class APIGatewayConfigEntry(Entry, kw_only=True):
    """``api-gateway``: an Envoy gateway with named listeners that routes bind to."""

    KIND = "api-gateway"

    Name: str = ""
    Listeners: list[APIGatewayListener] | None = None
    Status: Status = msgspec.field(default_factory=Status)
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def normalize(self) -> None:
        super().normalize()
        for listener in self.Listeners or ():
            listener.Protocol = listener.Protocol.lower()
            for cert in listener.TLS.Certificates or ():
                cert.Kind = cert.Kind or "inline-certificate"

    def validate(self) -> None:
        super().validate()
        listeners = self.Listeners or []
        if not listeners:
            raise ConfigEntryError("api gateway must have at least one listener")
        names: set[str] = set()
        for listener in listeners:
            if not _LISTENER_NAME.match(listener.Name):
                raise ConfigEntryError(
                    f'listener name "{listener.Name}" is invalid, must be at least 1 character '
                    "and contain only letters, numbers, or dashes")
            if listener.Name in names:
                raise ConfigEntryError(f'found multiple listeners with the name "{listener.Name}"')
            names.add(listener.Name)
        by_port: dict[int, APIGatewayListener] = {}
        for listener in listeners:
            merged = by_port.get(listener.Port)
            if merged and (merged.Hostname, merged.Protocol) != (listener.Hostname,
                                                                 listener.Protocol):
                raise ConfigEntryError(
                    f'listeners "{merged.Name}" and "{listener.Name}" cannot be merged')
            by_port[listener.Port] = listener
        for listener in listeners:
            if listener.Protocol not in ("http", "tcp"):
                raise ConfigEntryError(f'unsupported listener protocol "{listener.Protocol}", '
                                       "must be one of 'tcp', or 'http'")
            if listener.Protocol == "tcp" and listener.Hostname:
                raise ConfigEntryError("hostname specification is not supported when using TCP")
            if listener.Port <= 0 or listener.Port > 65535:
                raise ConfigEntryError(f"listener port {listener.Port} not in the range 1-65535")
            if "*" in listener.Hostname.removeprefix("*."):
                raise ConfigEntryError(f'host "{listener.Hostname}" is not valid, a wildcard '
                                       "specifier is only allowed as the left-most label")
            for cert in listener.TLS.Certificates or ():
                if cert.Kind not in ("file-system-certificate", "inline-certificate"):
                    raise ConfigEntryError(
                        f'unsupported certificate kind: "{cert.Kind}", must be '
                        "'file-system-certificate' or 'inline-certificate'")
                if not cert.Name:
                    raise ConfigEntryError("certificate reference must have a name")


class HTTPHeaderFilter(Record):
    Add: dict[str, str] | None = None
    Remove: list[str] | None = None
    Set: dict[str, str] | None = None


class HTTPFilters(Record):
    """Request changes an http-route applies before routing."""

    Headers: list[HTTPHeaderFilter] | None = None
    URLRewrite: dict[str, Any] | None = None
    RetryFilter: dict[str, Any] | None = None
    TimeoutFilter: dict[str, Any] | None = None
    JWT: dict[str, Any] | None = None


class HTTPResponseFilters(Record):
    Headers: list[HTTPHeaderFilter] | None = None


class HTTPPathMatch(Record):
    Match: str = ""
    Value: str = ""


class HTTPHeaderMatch(Record):
    Match: str = ""
    Name: str = ""
    Value: str = ""


class HTTPQueryMatch(Record):
    Match: str = ""
    Name: str = ""
    Value: str = ""


class HTTPMatch(Record):
    """What a request must look like for an http-route rule to apply."""

    Headers: list[HTTPHeaderMatch] | None = None
    Method: str = ""
    Path: HTTPPathMatch = msgspec.field(default_factory=HTTPPathMatch)
    Query: list[HTTPQueryMatch] | None = None


class HTTPService(Record):
    Name: str = ""
    Weight: Int = 0
    Filters: HTTPFilters = msgspec.field(default_factory=HTTPFilters)
    ResponseFilters: HTTPResponseFilters = msgspec.field(default_factory=HTTPResponseFilters)


class HTTPRouteRule(Record):
    Filters: HTTPFilters = msgspec.field(default_factory=HTTPFilters)
    ResponseFilters: HTTPResponseFilters = msgspec.field(default_factory=HTTPResponseFilters)
    Matches: list[HTTPMatch] | None = None
    Services: list[HTTPService] | None = None


class HTTPRouteConfigEntry(Entry, kw_only=True):
    """``http-route``: HTTP routing rules bound to api-gateway listeners."""

    KIND = "http-route"

    Name: str = ""
    Parents: list[ResourceReference] | None = None
    Rules: list[HTTPRouteRule] | None = None
    Hostnames: list[str] | None = None
    Meta: dict[str, str] | UnsetType = UNSET
    Status: Status = msgspec.field(default_factory=Status)
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def normalize(self) -> None:
        super().normalize()
        for parent in self.Parents or ():
            parent.Kind = parent.Kind or APIGatewayConfigEntry.KIND
        for rule in self.Rules or ():
            for match in rule.Matches or ():
                match.Method = match.Method.upper()
                if not match.Path.Match:
                    match.Path = HTTPPathMatch(Match="prefix", Value="/")
            for svc in rule.Services or ():
                if svc.Weight <= 0:
                    svc.Weight = 1

    def validate(self) -> None:
        super().validate()
        for host in self.Hostnames or ():
            if not _is_domain_name(host):
                raise ConfigEntryError(f'host "{host}" must be a valid DNS hostname')
            if "*" in host:
                raise ConfigEntryError(f'host "{host}" must not be a wildcard')
        _validate_parents(self.Parents)
        for i, rule in enumerate(self.Rules or ()):
            for j, match in enumerate(rule.Matches or ()):
                problem = _match_problem(match)
                if problem:
                    raise ConfigEntryError(f"Rule[{i}], Match[{j}], {problem}")


def _match_problem(match: HTTPMatch) -> str | None:
    if match.Method and match.Method not in HTTP_METHODS:
        return f'Method contains an invalid method "{match.Method}"'
    for k, query in enumerate(match.Query or ()):
        if not query.Name:
            return f"Query[{k}], missing required Name field"
        if query.Match not in ("exact", "present", "regex"):
            return f"Query[{k}], match type should be one of present, exact, or regex"
    for k, header in enumerate(match.Headers or ()):
        if not header.Name:
            return f"Headers[{k}], missing required Name field"
        if header.Match not in ("exact", "prefix", "regex", "suffix", "present"):
            return (f"Headers[{k}], match type should be one of present, exact, prefix, suffix, "
                    "or regex")
    path = match.Path
    if path.Match in ("exact", "prefix"):
        if not path.Value.startswith("/"):
            return f"Path, {path.Match} type match doesn't start with '/': \"{path.Value}\""
    elif path.Match != "regex":
        return "Path, match type should be one of exact, prefix, or regex"
    return None


class TCPService(Record):
    Name: str = ""


class TCPRouteConfigEntry(Entry, kw_only=True):
    """``tcp-route``: one TCP service bound to api-gateway listeners."""

    KIND = "tcp-route"

    Name: str = ""
    Parents: list[ResourceReference] | None = None
    Services: list[TCPService] | None = None
    Meta: dict[str, str] | UnsetType = UNSET
    Status: Status = msgspec.field(default_factory=Status)
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def normalize(self) -> None:
        super().normalize()
        for parent in self.Parents or ():
            parent.Kind = parent.Kind or APIGatewayConfigEntry.KIND

    def validate(self) -> None:
        super().validate()
        if len(self.Services or ()) > 1:
            raise ConfigEntryError("tcp-route currently only supports one service")
        _validate_parents(self.Parents)


def _validate_parents(parents: list[ResourceReference] | None) -> None:
    seen: set[tuple[str, str, str]] = set()
    for parent in parents or ():
        if parent.Kind != APIGatewayConfigEntry.KIND:
            raise ConfigEntryError(
                f'unsupported parent kind: "{parent.Kind}", must be \'api-gateway\'')
        key = (parent.Kind, parent.Name, parent.SectionName)
        if key in seen:
            raise ConfigEntryError("route parents must be unique")
        seen.add(key)


class InlineCertificateConfigEntry(Entry, kw_only=True):
    """``inline-certificate``: a PEM certificate and key for api-gateway listeners."""

    KIND = "inline-certificate"

    Name: str = ""
    Certificate: str = ""
    PrivateKey: str = ""
    Meta: dict[str, str] | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def validate(self) -> None:
        """Consul's checks: PEM key (RSA ≥ 2048 bits), PEM x509 cert, the pair matches,
        and the cert's CN and SANs are DNS names."""
        collect(validate_meta(self.Meta or None))
        if "-----BEGIN" not in self.PrivateKey:
            raise ConfigEntryError("failed to parse private key PEM")
        try:
            key = serialization.load_pem_private_key(self.PrivateKey.encode(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ConfigEntryError(f"tls: failed to parse private key: {exc}") from None
        if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048:
            raise ConfigEntryError("key length must be at least 2048 bits")
        if "-----BEGIN" not in self.Certificate:
            raise ConfigEntryError("failed to parse certificate PEM")
        try:
            cert = x509.load_pem_x509_certificate(self.Certificate.encode())
        except ValueError as exc:
            raise ConfigEntryError(f"failed to parse certificate: {exc}") from None
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        if cert.public_key().public_bytes(der, public) != key.public_key().public_bytes(der, public):
            raise ConfigEntryError("tls: private key does not match public key")
        for host in _certificate_hosts(cert):
            if not _is_domain_name(host):
                raise ConfigEntryError(f'host "{host}" must be a valid DNS hostname')


def _certificate_hosts(cert: x509.Certificate) -> list[str]:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    hosts = [str(names[0].value)] if names and names[0].value else []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return hosts
    hosts += san.get_values_for_type(x509.DNSName)
    hosts += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return hosts
