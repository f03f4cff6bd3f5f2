"""Resolved exports: what ``GET /v1/exported-services`` lists, and what one peer gets."""

from __future__ import annotations

import msgspec

from proconsul.structs.query import QueryMeta


class ResolvedConsumers(msgspec.Struct, omit_defaults=True):
    """Who consumes an exported service (CE: peers only)."""

    Peers: list[str] = []
    Partitions: list[str] = []


class ResolvedExportedService(msgspec.Struct, omit_defaults=True):
    """One row of ``GET /v1/exported-services``."""

    Service: str
    Consumers: ResolvedConsumers
    Partition: str = ""
    Namespace: str = ""


class ExportedServiceList(msgspec.Struct, frozen=True):
    """What one peer gets: the exported service names (sorted) and, among them or from
    discovery chains a wildcard exports, those exported for the mesh."""

    Services: list[str]
    ConnectServices: list[str]


class IndexedResolvedExportedServices(QueryMeta):
    """Reply of ConfigEntry.GetResolvedExportedServices."""

    Services: list[ResolvedExportedService] = []


class IndexedServiceNames(QueryMeta):
    """Reply of Internal.ExportedServicesForPeer: service names."""

    Services: list[str] = []
