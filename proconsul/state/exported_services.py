"""What this cluster exports to its peers: the ``exported-services`` entry, resolved.

Consul's semantics (CE, one partition, namespace ``default``): an entry's service is
exported to every peer among its consumers; the name ``*`` stands for every typical
(non-proxy, non-gateway) service in the catalog; the ``consul`` service is never
exported. A service is exported *for the mesh* (its sidecar proxies go along) when it
is Connect-capable here: a discovery chain entry names it (service-resolver, -router
or -splitter), a connect-proxy or a Connect-native instance serves it, or a
terminating gateway fronts it.

Reads watch the entry, and for wildcards or mesh facts the catalog rows they looked
at, so the peering stream can block on them like any other read.
"""

from __future__ import annotations

from proconsul.state.base import StoreBase, lower
from proconsul.state.config_entries import TABLE as CONFIG_ENTRIES
from proconsul.state.watch import WatchSet
from proconsul.structs.config_entries import ExportedServicesConfigEntry
from proconsul.structs.exported_services import (
    ExportedServiceList,
    ResolvedConsumers,
    ResolvedExportedService,
)
from proconsul.structs.service_kinds import TERMINATING_GATEWAY

CONSUL_SERVICE = "consul"
WILDCARD = "*"
EXPORTED_SERVICES = "exported-services"
EXPORTED_KEY = (EXPORTED_SERVICES, "default")
DISCOVERY_CHAIN_KINDS = ("service-resolver", "service-router", "service-splitter")


class ExportedServicesMixin(StoreBase):
    """Resolution of the ``exported-services`` entry (see the module docstring)."""

    def _exported_entry(self, ws: WatchSet | None) -> ExportedServicesConfigEntry | None:
        if ws is not None:
            ws.add(("config_entry", EXPORTED_KEY))
        return self.config_entries.get(EXPORTED_KEY)

    def _typical_service_names(self, ws: WatchSet | None) -> list[str]:
        """Every typical service's name in the local catalog, but ``consul``."""
        if ws is not None:
            ws.add(("rows", "services"))
        return sorted({s.Service.Service for s in self.services.rows()
                       if not s.Service.Kind and s.Service.Service != CONSUL_SERVICE})

    def _exports(self, ws: WatchSet | None) -> dict[str, set[str]]:
        """Exported service name -> the peers consuming it, wildcards expanded."""
        entry = self._exported_entry(ws)
        exports: dict[str, set[str]] = {}
        for service in (entry.Services or ()) if entry is not None else ():
            if service.Name == CONSUL_SERVICE:
                continue
            peers = {c.Peer for c in service.Consumers or () if c.Peer}
            names = self._typical_service_names(ws) if service.Name == WILDCARD \
                else [service.Name]
            for name in names:
                exports.setdefault(name, set()).update(peers)
        return exports

    def _exports_index(self, entry_only: bool) -> int:
        if entry_only:
            return self.max_index(CONFIG_ENTRIES)
        return self.max_index(CONFIG_ENTRIES, "services")

    def resolved_exported_services(self, ws: WatchSet | None
                                   ) -> tuple[int, list[ResolvedExportedService]]:
        """``GET /v1/exported-services``: every exported service (by name) and the
        peers consuming it (sorted); services exported to no peer are left out."""
        exports = self._exports(ws)
        rows = [ResolvedExportedService(Service=name,
                                        Consumers=ResolvedConsumers(Peers=sorted(peers)))
                for name, peers in sorted(exports.items()) if peers]
        return self._exports_index(not self._has_wildcard()), rows

    def exported_services_for_peer(self, ws: WatchSet | None, peer: str
                                   ) -> tuple[int, ExportedServiceList]:
        """Consul's ``exportedServicesForPeerTxn``: what ``peer`` (a peering's local
        name) gets from this cluster."""
        entry = self._exported_entry(ws)
        names: set[str] = set()
        connect: set[str] = set()
        for service in (entry.Services or ()) if entry is not None else ():
            if service.Name == CONSUL_SERVICE or \
                    not any(c.Peer == peer for c in service.Consumers or ()):
                continue
            if service.Name != WILDCARD:
                names.add(service.Name)
                continue
            names.update(self._typical_service_names(ws))
            connect.update(self._discovery_chain_names(ws))
        connect.update(n for n in names if self._connect_capable(ws, n))
        connect.discard(CONSUL_SERVICE)
        return self._exports_index(False), ExportedServiceList(
            Services=sorted(names), ConnectServices=sorted(connect))

    def peers_for_service(self, ws: WatchSet | None, service: str) -> tuple[int, list[str]]:
        """Consul's ``peersForServiceTxn``: the peers ``service`` is exported to,
        explicitly or through the wildcard (sorted)."""
        entry = self._exported_entry(ws)
        peers: set[str] = set()
        if service != CONSUL_SERVICE and entry is not None:
            for exported in entry.Services or ():
                if exported.Name in (service, WILDCARD):
                    peers.update(c.Peer for c in exported.Consumers or () if c.Peer)
        return self.max_index(CONFIG_ENTRIES), sorted(peers)

    def _has_wildcard(self) -> bool:
        entry = self.config_entries.get(EXPORTED_KEY)
        return entry is not None and any(s.Name == WILDCARD for s in entry.Services or ())

    def _discovery_chain_names(self, ws: WatchSet | None) -> list[str]:
        if ws is not None:
            ws.add(("index", CONFIG_ENTRIES))
        return [e.Name for kind in DISCOVERY_CHAIN_KINDS
                for e in self.config_entries.by("kind", kind)]

    def _connect_capable(self, ws: WatchSet | None, name: str) -> bool:
        if ws is not None:
            ws.add(("connect_rows", lower(name)))
            ws.add(("index", CONFIG_ENTRIES))
            ws.add(("gateways_for", lower(name)))
        if self.services.has("connect", lower(name)):
            return True
        if any(self.config_entries.get((kind, name)) is not None
               for kind in DISCOVERY_CHAIN_KINDS):
            return True
        return any(g.GatewayKind == TERMINATING_GATEWAY
                   for g in self.gateway_services.by("service", lower(name)))
