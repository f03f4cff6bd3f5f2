"""Catalog reads for the mesh: Connect-capable instances, gateway-service associations,
and the gateways in front of a service.

The gateway-services table is Consul's: rows derived from ``ingress-gateway`` and
``terminating-gateway`` config entries (``*`` expands to the services that qualify:
for ingress, those with a Connect instance; for terminating, those with a
non-native instance; plus services defined as destinations), kept in step by
every write that can change them, each row with its own Create/ModifyIndex and
the table index ``gateway-services``. Reads answer the indexes Consul's do.
"""

from __future__ import annotations

from collections.abc import Iterable

from msgspec.structs import replace

from proconsul.state.base import StoreBase, WriteTxn, lower
from proconsul.state.catalog import meta_matches, to_service_node
from proconsul.state.watch import WatchSet
from proconsul.structs.base import UNSET
from proconsul.structs.catalog import CheckServiceNode, NodeService, ServiceNode
from proconsul.structs.gateway_services import (
    SERVICE_KIND_DESTINATION,
    SERVICE_KIND_SERVICE,
    WILDCARD,
    GatewayService,
    ServiceName,
)
from proconsul.structs.service_kinds import INGRESS_GATEWAY, TERMINATING_GATEWAY

TABLE = "gateway-services"
CONFIG_TABLE = "config-entries"
GATEWAY_KINDS = (INGRESS_GATEWAY, TERMINATING_GATEWAY)
Key = tuple[str, str, int]


def _same(a: GatewayService, b: GatewayService) -> bool:
    return replace(a, CreateIndex=0, ModifyIndex=0) == replace(b, CreateIndex=0, ModifyIndex=0)


class MeshCatalogMixin(StoreBase):
    """Connect and gateway reads, and upkeep of the gateway-services table."""

    # ---- upkeep -------------------------------------------------------------

    def sync_gateway_services(self, tx: WriteTxn, names: Iterable[str] | None = None,
                              rewrite: str = "") -> None:
        """Bring the rows for ``names`` (every service when None) in line with the
        entries and the catalog. ``rewrite`` names a gateway whose entry changed its
        services: as Consul, its rows are written afresh and the table index moves."""
        if names is not None and not self.gateways_in_use():
            return
        wanted_names = None if names is None else {lower(n) for n in names if n}
        desired = self._desired_gateway_rows(wanted_names)
        current = {key: row for key, row in self.gateway_services.items()
                   if wanted_names is None or key[1] in wanted_names or key[1] == WILDCARD}
        changed = bool(rewrite)
        for key, row in current.items():
            if key not in desired:
                self.gateway_services.delete(key, tx.undo)
                self._touch_gateway_row(tx, row)
                changed = True
        for key, row in desired.items():
            old = current.get(key)
            fresh = bool(rewrite) and key[0] == lower(rewrite)
            if old is not None and _same(old, row) and not fresh:
                continue
            create = old.CreateIndex if old is not None and not fresh else tx.index
            self.gateway_services.put(replace(row, CreateIndex=create, ModifyIndex=tx.index),
                                      tx.undo)
            self._touch_gateway_row(tx, row)
            changed = True
        if changed:
            tx.bump(TABLE)

    def gateways_in_use(self) -> bool:
        """Whether there are gateway-services rows or gateway config entries; without
        either, a catalog write has no rows to sync (the check costs less than the sync's)."""
        entries = self.config_entries
        return (bool(len(self.gateway_services)) or entries.has("kind", INGRESS_GATEWAY)
                or entries.has("kind", TERMINATING_GATEWAY))

    def rebuild_gateway_services(self) -> None:
        """Derive the table afresh (after a restore) at the restored table index."""
        index = self.indexes.get(TABLE, 0)
        self.gateway_services.clear()
        for row in self._desired_gateway_rows(None).values():
            self.gateway_services.put(replace(row, CreateIndex=index, ModifyIndex=index))

    @staticmethod
    def _touch_gateway_row(tx: WriteTxn, row: GatewayService) -> None:
        tx.touch(("gateway_services_of", row.Gateway.Name.lower()),
                 ("gateways_for", row.Service.Name.lower()))

    def _gateway_entries(self) -> list:
        return [e for kind in GATEWAY_KINDS for e in self.config_entries.by("kind", kind)]

    def _desired_gateway_rows(self, names: set[str] | None) -> dict[Key, GatewayService]:
        explicit: dict[Key, GatewayService] = {}
        wildcards: list[GatewayService] = []
        for entry in self._gateway_entries():
            for row in self._entry_rows(entry):
                if row.Service.Name == WILDCARD:
                    wildcards.append(row)
                elif names is None or row.Service.Name.lower() in names:
                    explicit[row.key()] = row
        desired = dict(explicit)
        for wildcard in wildcards:
            desired[wildcard.key()] = wildcard
            for name, kind in self._wildcard_matches(wildcard.GatewayKind, names):
                row = replace(wildcard, Service=ServiceName(Name=name), FromWildcard=True)
                if kind == SERVICE_KIND_DESTINATION:
                    row = replace(row, ServiceKind=kind)
                desired.setdefault(row.key(), row)
        return desired

    def _entry_rows(self, entry) -> list[GatewayService]:
        gateway = ServiceName(Name=entry.Name)
        if entry.Kind == INGRESS_GATEWAY:
            return [GatewayService(Gateway=gateway, Service=ServiceName(Name=svc.Name),
                                   GatewayKind=INGRESS_GATEWAY, Port=listener.Port or UNSET,
                                   Protocol=listener.Protocol or UNSET,
                                   Hosts=list(svc.Hosts) if svc.Hosts else UNSET)
                    for listener in entry.Listeners or () for svc in listener.Services or ()]
        return [GatewayService(Gateway=gateway, Service=ServiceName(Name=svc.Name),
                               GatewayKind=TERMINATING_GATEWAY, CAFile=svc.CAFile,
                               CertFile=svc.CertFile, KeyFile=svc.KeyFile, SNI=svc.SNI,
                               ServiceKind=self._linked_kind(svc.Name) or UNSET)
                for svc in entry.Services or ()]

    def _linked_kind(self, name: str) -> str:
        """Consul's GatewayServiceKind of a name: a service, a destination, or unknown."""
        if name == WILDCARD:
            return ""
        if self.services.has("name", lower(name)):
            return SERVICE_KIND_SERVICE
        defaults = self.config_entries.get(("service-defaults", name))
        if defaults is not None and defaults.Destination:
            return SERVICE_KIND_DESTINATION
        return ""

    def _wildcard_matches(self, gateway_kind: str, names: set[str] | None
                          ) -> list[tuple[str, str]]:
        """(name, kind) of every service a wildcard of this gateway kind covers."""
        found: dict[str, tuple[str, str]] = {}
        candidates = names if names is not None else {
            lower(s.Service.Service) for s in self.services.rows() if not s.Service.Kind}
        for key in sorted(candidates):
            instances = [s.Service for s in self.services.by("name", key)]
            if key == "consul" or not any(not s.Kind for s in instances):
                continue
            if gateway_kind == INGRESS_GATEWAY:
                qualifies = self.services.has("connect", key)
            else:
                qualifies = any(s.Connect.Native is not True for s in instances)
            if qualifies:
                typical = next(s for s in instances if not s.Kind)
                found[key] = (typical.Service, SERVICE_KIND_SERVICE)
        for entry in self.config_entries.by("kind", "service-defaults"):
            key = lower(entry.Name)
            if entry.Destination and (names is None or key in names):
                found.setdefault(key, (entry.Name, SERVICE_KIND_DESTINATION))
        return list(found.values())

    # ---- reads --------------------------------------------------------------

    def gateway_services_of(self, ws: WatchSet | None, gateway: str
                            ) -> tuple[int, list[GatewayService]]:
        """The services a gateway fronts (Catalog.GatewayServices)."""
        key = lower(gateway)
        if ws is not None:
            ws.add(("gateway_services_of", key))
        rows = sorted((r for r in self.gateway_services.by("gateway", key)
                       if r.Service.Name != WILDCARD), key=lambda r: (r.key()[1], r.key()[2]))
        index = max([self.max_index(TABLE)] + [r.ModifyIndex for r in rows])
        kept = []
        for row in rows:
            if row.GatewayKind == INGRESS_GATEWAY and row.FromWildcard is True:
                index = max(index, self.max_index(CONFIG_TABLE))
                if ws is not None:
                    ws.add(("index", CONFIG_TABLE))
                if row.Protocol != self.service_protocol(row.Service.Name):
                    continue
            kept.append(row)
        return index, kept

    def service_protocol(self, service: str, ws: WatchSet | None = None) -> str:
        """The service's protocol: service-defaults, else proxy-defaults, else tcp."""
        if ws is not None:
            ws.add(("config_entry", ("service-defaults", service)))
            ws.add(("config_entry", ("proxy-defaults", "global")))
        defaults = self.config_entries.get(("service-defaults", service))
        if defaults is not None and defaults.Protocol:
            return defaults.Protocol
        proxy = self.config_entries.get(("proxy-defaults", "global"))
        protocol = (proxy.Config or {}).get("protocol") if proxy is not None else None
        return str(protocol).lower() if protocol else "tcp"

    def service_gateway_nodes(self, ws: WatchSet | None, service: str, kind: str
                              ) -> tuple[int, list[tuple[str, NodeService]]]:
        """Instances of the gateways of ``kind`` fronting ``service``, and their index."""
        if ws is not None:
            ws.add(("gateways_for", lower(service)))
        index = 0
        found = []
        for row in self.gateway_services.by("service", lower(service)):
            if row.GatewayKind != kind:
                continue
            index = max(index, row.ModifyIndex)
            instances = self.services.by("name", lower(row.Gateway.Name))
            found.extend((s.Node, s.Service) for s in instances)
            index = max(index, self.service_index(row.Gateway.Name, exists=bool(instances)))
            if ws is not None:
                ws.add(("service_rows", lower(row.Gateway.Name)))
                ws.add(("index", "service." + lower(row.Gateway.Name)))
        return index, found

    def connect_service_nodes(self, ws: WatchSet | None, name: str,
                              node_meta: dict[str, str] | None = None
                              ) -> tuple[int, list[ServiceNode]]:
        """Connect-capable instances of ``name`` (Catalog.ServiceNodes with Connect)."""
        if ws is not None:
            ws.add(("connect_rows", lower(name)))
        found = [(s.Node, s.Service) for s in self.services.by("connect", lower(name))]
        gw_index, gateways = self.service_gateway_nodes(ws, name, TERMINATING_GATEWAY)
        found += gateways
        rows = []
        for node_name, service in found:
            node = self.nodes.get(lower(node_name))
            if ws is not None:
                ws.add(("node_row", lower(node_name)))
            if node is None or (node_meta and not meta_matches(node.Meta, node_meta)):
                continue
            rows.append(to_service_node(node, service))
        # As Consul: the target service's own index, whatever the proxies are named.
        return max(gw_index, self.service_index(name, exists=bool(found))), rows

    def check_connect_service_nodes(self, ws: WatchSet | None, name: str,
                                    node_meta: dict[str, str] | None = None
                                    ) -> tuple[int, list[CheckServiceNode]]:
        """Connect-capable instances of ``name`` with their checks (Health.ServiceNodes
        with Connect); the index is the highest of the names the instances carry."""
        if ws is not None:
            ws.add(("connect_rows", lower(name)))
        found = [(s.Node, s.Service) for s in self.services.by("connect", lower(name))]
        index, gateways = self.service_gateway_nodes(ws, name, TERMINATING_GATEWAY)
        found += gateways
        return self._with_checks(ws, found, [name], index, node_meta)

    def check_ingress_service_nodes(self, ws: WatchSet | None, name: str,
                                    node_meta: dict[str, str] | None = None
                                    ) -> tuple[int, list[CheckServiceNode]]:
        """The ingress gateways exposing ``name``, with their checks (Health.ServiceNodes
        with Ingress)."""
        index, found = self.service_gateway_nodes(ws, name, INGRESS_GATEWAY)
        if not found:
            return index, []
        return self._with_checks(ws, found, [], index, node_meta)

    def _with_checks(self, ws: WatchSet | None, found: list[tuple[str, NodeService]],
                     fallback: list[str], index: int, node_meta: dict[str, str] | None
                     ) -> tuple[int, list[CheckServiceNode]]:
        names = {lower(service.Service) for _node, service in found}
        for service_name in names:
            index = max(index, self.service_index(service_name, checks=True, exists=True))
            if ws is not None:
                ws.add(("index", "service." + service_name))
        for service_name in fallback if not names else ():
            index = max(index, self.service_index(service_name, checks=True, exists=False))
        results = []
        for node_name, service in found:
            node_key = lower(node_name)
            node = self.nodes.get(node_key)
            if node is None or (node_meta and not meta_matches(node.Meta, node_meta)):
                continue
            checks = [c for c in self.checks.by("node", node_key)
                      if not c.ServiceID or c.ServiceID == service.ID]
            results.append(CheckServiceNode(Node=node, Service=service, Checks=checks))
        return index, results

