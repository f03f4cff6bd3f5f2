"""Gateway-service associations: which services an ingress or terminating gateway fronts."""

from __future__ import annotations

from proconsul.structs.base import UNSET, Int, Record, Uint64, UnsetType
from proconsul.structs.query import QueryMeta

WILDCARD = "*"

# Consul's GatewayServiceKind: what a terminating gateway's linked service is.
SERVICE_KIND_SERVICE = "service"
SERVICE_KIND_DESTINATION = "destination"


class ServiceName(Record):
    """A service's name (Consul's ServiceName without Enterprise meta)."""

    Name: str = ""


class GatewayService(Record):
    """One row of ``/v1/catalog/gateway-services/:gateway`` (Consul's omitempty fields UNSET)."""

    Gateway: ServiceName
    Service: ServiceName
    GatewayKind: str = ""
    Port: Int | UnsetType = UNSET
    Protocol: str | UnsetType = UNSET
    Hosts: list[str] | UnsetType = UNSET
    CAFile: str | UnsetType = UNSET
    CertFile: str | UnsetType = UNSET
    KeyFile: str | UnsetType = UNSET
    SNI: str | UnsetType = UNSET
    FromWildcard: bool | UnsetType = UNSET
    ServiceKind: str | UnsetType = UNSET
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def key(self) -> tuple[str, str, int]:
        """Consul's gateway-services ID: gateway, service and port (names case-insensitive)."""
        return self.Gateway.Name.lower(), self.Service.Name.lower(), self.Port or 0


class IndexedGatewayServices(QueryMeta):
    """Reply of Catalog.GatewayServices."""

    Services: list[GatewayService] | None = None
