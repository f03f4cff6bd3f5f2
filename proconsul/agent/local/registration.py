"""Agent service registrations: the body Consul accepts, check IDs, and sidecar services."""

from __future__ import annotations

from typing import Any

from msgspec import field
from msgspec.structs import replace

from proconsul.structs.base import UNSET, Int, Record
from proconsul.structs.catalog import (
    ConnectProxyConfig,
    Locality,
    NodeService,
    ServiceAddress,
    ServiceConnect,
    ServicePort,
    Weights,
)
from proconsul.structs.errors import BadRequest
from proconsul.structs.service_kinds import (
    CONNECT_PROXY,
    SERVICE_KINDS,
    multi_error,
    validate_for_agent,
    validate_service,
)

SIDECAR_SUFFIX = "-sidecar-proxy"


class ConnectRegistration(Record):
    """``Connect`` of a registration: native, or a sidecar to register alongside."""

    Native: bool = False
    SidecarService: ServiceRegistration | None = None


class ServiceRegistration(Record):
    """The body of ``PUT /v1/agent/service/register`` (and a config-file service)."""

    Kind: str = ""
    ID: str = ""
    Name: str = ""
    Tags: list[str] | None = None
    Port: Int = 0
    Address: str = ""
    SocketPath: str = ""
    TaggedAddresses: dict[str, ServiceAddress] | None = None
    EnableTagOverride: bool = False
    Meta: dict[str, str] | None = None
    Weights: Weights | None = None
    Check: dict[str, Any] | None = None
    Checks: list[dict[str, Any]] | None = None
    Proxy: ConnectProxyConfig | None = None
    Connect: ConnectRegistration | None = None
    Locality: Locality | None = None
    Ports: list[ServicePort] | None = None
    Token: str = ""
    Namespace: str = ""
    Partition: str = ""


class Registration(Record):
    """A validated registration: the service, its check bodies, and an optional sidecar."""

    service: NodeService
    checks: list[dict[str, Any]] = field(default_factory=list)
    sidecar: Registration | None = None


def check_ids(service_id: str, count: int) -> list[str]:
    """Consul's IDs for a service's checks: ``service:<id>`` or ``service:<id>:<n>``."""
    if count == 1:
        return [f"service:{service_id}"]
    return [f"service:{service_id}:{n}" for n in range(1, count + 1)]


def to_registration(body: ServiceRegistration, used_ports: dict[str, int],
                    sidecar_ports: tuple[int, int]) -> Registration:
    """Validate a registration and expand its sidecar, the way Consul's agent does."""
    if not body.Name:
        raise BadRequest("Missing service name")
    if body.Kind not in SERVICE_KINDS:
        raise BadRequest(f'Invalid service kind: "{body.Kind}"')
    if body.Address in ("0.0.0.0", "::", "[::]"):
        raise BadRequest("Invalid service address")
    service_id = body.ID or body.Name
    service = NodeService(
        ID=service_id, Service=body.Name, Tags=body.Tags, Address=body.Address,
        Meta=body.Meta, Port=body.Port, Weights=body.Weights or Weights(),
        EnableTagOverride=body.EnableTagOverride,
        Proxy=body.Proxy or ConnectProxyConfig(),
        Connect=ServiceConnect(Native=True) if body.Connect and body.Connect.Native
        else ServiceConnect(),
        Kind=body.Kind or UNSET, TaggedAddresses=body.TaggedAddresses or UNSET,
        SocketPath=body.SocketPath or UNSET, Locality=body.Locality or UNSET,
        Ports=_checked_ports(body.Ports) or UNSET)
    checks = ([body.Check] if body.Check else []) + list(body.Checks or ())
    sidecar_body = body.Connect.SidecarService if body.Connect is not None else None
    problems = validate_service(service, _sidecar_shape(sidecar_body))
    if problems:
        raise BadRequest("Validation failed: " + multi_error(problems))
    sidecar = None
    if sidecar_body is not None:
        if body.Kind:
            raise BadRequest("sidecar_service can only be specified on a typical service")
        sidecar = _sidecar(service, sidecar_body, used_ports, sidecar_ports)
        problems = validate_for_agent(sidecar.service)
        if problems:
            raise BadRequest("Failed Validation: " + multi_error(problems))
    return Registration(service=service, checks=checks, sidecar=sidecar)


def _sidecar_shape(body: ServiceRegistration | None) -> dict[str, Any] | None:
    """What kind validation looks at in a sidecar_service: its ID and any nested sidecar."""
    if body is None:
        return None
    nested = body.Connect is not None and body.Connect.SidecarService is not None
    return {"ID": body.ID, "Connect": {"SidecarService": {}} if nested else None}


def _checked_ports(ports: list[ServicePort] | None) -> list[ServicePort]:
    """The named ports of a multi-port service: unique names, valid ports, one default."""
    names = set()
    for port in ports or ():
        if not port.Name:
            raise BadRequest("Invalid service Ports: every port needs a Name")
        if port.Name in names:
            raise BadRequest(f'Invalid service Ports: duplicate port name "{port.Name}"')
        if not 0 < port.Port <= 65535:
            raise BadRequest(f'Invalid service Ports: port "{port.Name}" must be 1-65535')
        names.add(port.Name)
    if sum(port.Default for port in ports or ()) > 1:
        raise BadRequest("Invalid service Ports: only one port may be the default")
    return list(ports or ())


def _sidecar(parent: NodeService, body: ServiceRegistration, used_ports: dict[str, int],
             port_range: tuple[int, int]) -> Registration:
    sidecar_id = parent.ID + SIDECAR_SUFFIX
    proxy = body.Proxy or ConnectProxyConfig()
    proxy = replace(proxy, DestinationServiceName=parent.Service,
                    DestinationServiceID=parent.ID)
    if proxy.LocalServicePort is UNSET and proxy.LocalServiceSocketPath is UNSET:
        if parent.SocketPath is not UNSET:
            proxy = replace(proxy, LocalServiceSocketPath=parent.SocketPath)
        else:
            proxy = replace(proxy, LocalServicePort=parent.Port)
    port = body.Port or _free_port(sidecar_id, used_ports, port_range)
    inherited = body.Tags if body.Tags else (list(parent.Tags) if parent.Tags else None)
    meta = body.Meta if body.Meta else (dict(parent.Meta) if parent.Meta else None)
    service = NodeService(
        ID=sidecar_id, Service=body.Name or parent.Service + SIDECAR_SUFFIX, Tags=inherited,
        Address=body.Address, Meta=meta, Port=port, Weights=body.Weights or Weights(),
        EnableTagOverride=body.EnableTagOverride, Proxy=proxy, Kind=CONNECT_PROXY,
        TaggedAddresses=body.TaggedAddresses or UNSET, Locality=parent.Locality)
    checks = ([body.Check] if body.Check else []) + list(body.Checks or ())
    if not checks:
        address = body.Address or "127.0.0.1"
        checks = [
            {"Name": "Connect Sidecar Listening", "TCP": f"{address}:{port}",
             "Interval": "10s"},
            {"Name": f"Connect Sidecar Aliasing {parent.ID}", "AliasService": parent.ID},
        ]
    return Registration(service=service, checks=checks)


def _free_port(sidecar_id: str, used_ports: dict[str, int], port_range: tuple[int, int]) -> int:
    low, high = port_range
    if low < 1 or high < 1:
        raise BadRequest("no port provided for sidecar_service and auto-assignment "
                         "disabled in config")
    if low <= used_ports.get(sidecar_id, 0) <= high:
        return used_ports[sidecar_id]  # keep the port an earlier registration got
    taken = {p for sid, p in used_ports.items() if sid != sidecar_id}
    for port in range(low, high + 1):
        if port not in taken:
            return port
    raise BadRequest(f"no port provided for sidecar_service and none left in the configured "
                     f"range [{low}, {high}]")



