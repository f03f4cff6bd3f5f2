"""Catalog tables: nodes, services and checks; writes and the reads endpoints need."""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter

import msgspec
from msgspec.structs import replace

from proconsul.state.base import StoreBase, WriteTxn, connect_target, lower
from proconsul.state.watch import WatchSet
from proconsul.structs.catalog import (
    HEALTH_CRITICAL,
    CheckServiceNode,
    HealthCheck,
    Node,
    NodeService,
    NodeServiceList,
    NodeServices,
    RegisterRequest,
    ServiceNode,
    Weights,
)

ERR_MISSING_NODE = "Missing node registration"
ERR_MISSING_SERVICE = "Missing service registration"
LAST_EXTINCTION = "service_last_extinction"
NODE_EXTINCTION = "node_last_extinction"


class StateError(Exception):
    """A write the state store refuses; the message is shown to the client."""


class StoredService(msgspec.Struct, frozen=True):
    """A row of the services table: the service and the node it lives on."""

    Node: str
    Service: NodeService


def service_index_name(name: str) -> str:
    return "service." + lower(name)


def node_index_name(name: str) -> str:
    return "node." + lower(name)


def _same(a: msgspec.Struct, b: msgspec.Struct) -> bool:
    """Equal apart from raft indexes."""
    return replace(a, CreateIndex=0, ModifyIndex=0) == replace(b, CreateIndex=0, ModifyIndex=0)


def meta_matches(meta: dict[str, str] | None, wanted: dict[str, str]) -> bool:
    """Node-meta filters: every wanted key:value is present."""
    meta = meta or {}
    return all(meta.get(k) == v for k, v in wanted.items())


def tags_match(tags: list[str] | None, wanted: Iterable[str]) -> bool:
    """Tag filters: every wanted tag is present, compared case-insensitively."""
    have = {t.lower() for t in tags or ()}
    return all(t.lower() in have for t in wanted)


class CatalogMixin(StoreBase):
    """Registration, deregistration and catalog/health reads.

    Indexes follow Consul's state store: table indexes (``nodes``, ``services``,
    ``checks``), one per service (``service.<name>``, moved by its instances,
    their checks and their nodes) and one per node (``node.<name>``, moved by
    the node and its services). Watch topics name the rows a read looked at, so
    a write wakes only readers whose rows changed, as memdb's watches do:
    ``("rows", table)``, ``("node_row", node)``, ``("node_services", node)``,
    ``("node_checks", node)``, ``("service_rows", name)``,
    ``("service_checks", name)`` and ``("check_status", status)``.
    """

    # ---- writes -------------------------------------------------------------

    def ensure_registration(self, tx: WriteTxn, req: RegisterRequest) -> None:
        existing = self.nodes.get(lower(req.Node))
        if not req.SkipNodeUpdate or existing is None:
            self.ensure_node(tx, Node(
                ID=req.ID, Node=req.Node, Address=req.Address, Datacenter=req.Datacenter,
                TaggedAddresses=req.TaggedAddresses, Meta=req.NodeMeta,
            ))
        if req.Service is not None:
            self.ensure_service(tx, req.Node, req.Service)
        for check in ([req.Check] if req.Check is not None else []) + list(req.Checks or ()):
            self.ensure_check(tx, check)

    def ensure_node(self, tx: WriteTxn, node: Node) -> None:
        key = lower(node.Node)
        existing = self.nodes.get(key)
        if node.ID:
            for other in self.nodes.by("id", node.ID.lower()):
                if lower(other.Node) != key:
                    raise StateError(f'node ID "{node.ID}" for node "{node.Node}" aliases '
                                     f'existing node "{other.Node}"')
        elif existing is not None:
            node = replace(node, ID=existing.ID)
        if existing is not None and _same(existing, node):
            return
        create = existing.CreateIndex if existing is not None else tx.index
        self.nodes.put(replace(node, CreateIndex=create, ModifyIndex=tx.index), tx.undo)
        tx.bump("nodes", node_index_name(key))
        tx.touch(("rows", "nodes"), ("node_row", key))
        self._bump_services_of_node(tx, key)

    def ensure_service(self, tx: WriteTxn, node_name: str, service: NodeService) -> None:
        node_key = lower(node_name)
        node = self.nodes.get(node_key)
        if node is None:
            raise StateError(ERR_MISSING_NODE)
        existing = self.services.get((node_key, service.ID))
        if service.Weights is None:
            service = replace(service, Weights=Weights())
        if service.Kind or service.Connect.Native is True:  # a typical service has no VIP
            service = self.with_virtual_ips(tx, service)  # VirtualIPMixin
        if existing is not None and _same(existing.Service, service):
            return
        create = existing.Service.CreateIndex if existing is not None else tx.index
        row = StoredService(node.Node, replace(service, CreateIndex=create, ModifyIndex=tx.index))
        self.services.put(row, tx.undo)
        # Consul moves the nodes indexes too: node reads include their services.
        tx.bump("services", service_index_name(service.Service), "nodes", node_index_name(node_key))
        self._touch_service_rows(tx, node_key, service.Service)
        self._touch_connect_rows(tx, service, existing.Service if existing is not None else None)
        if self.gateways_in_use():  # MeshCatalogMixin
            self.sync_gateway_services(
                tx, affected_names(service, existing.Service if existing is not None else None))
        if existing is not None and lower(existing.Service.Service) != lower(service.Service):
            tx.touch(("service_rows", lower(existing.Service.Service)))
            self._service_instance_gone(tx, existing.Service.Service)

    def ensure_check(self, tx: WriteTxn, check: HealthCheck) -> None:
        node_key = lower(check.Node)
        if self.nodes.get(node_key) is None:
            raise StateError(ERR_MISSING_NODE)
        service_name = ""
        service_tags: list[str] = []
        if check.ServiceID:
            stored = self.services.get((node_key, check.ServiceID))
            if stored is None:
                raise StateError(ERR_MISSING_SERVICE)
            service_name = stored.Service.Service
            service_tags = list(stored.Service.Tags or ())
        check = replace(check, ServiceName=service_name, ServiceTags=service_tags,
                        Status=check.Status or HEALTH_CRITICAL)
        existing = self.checks.get((node_key, check.CheckID))
        if existing is not None and _same(existing, check):
            return
        create = existing.CreateIndex if existing is not None else tx.index
        self.checks.put(replace(check, CreateIndex=create, ModifyIndex=tx.index), tx.undo)
        tx.bump("checks")
        self._touch_check_rows(tx, node_key, check)
        if existing is not None:
            self._touch_check_rows(tx, node_key, existing)
        if service_name:
            tx.bump(service_index_name(service_name))
        else:
            self._bump_services_of_node(tx, node_key)
        if existing is not None and existing.ServiceName and existing.ServiceName != service_name:
            tx.bump(service_index_name(existing.ServiceName))
        if check.Status == HEALTH_CRITICAL:
            self._invalidate_check_sessions(tx, node_key, check.CheckID)

    def delete_node(self, tx: WriteTxn, node_name: str) -> None:
        key = lower(node_name)
        if self.nodes.get(key) is None:
            return
        for check in self.checks.by("node", key):
            self.delete_check(tx, check.Node, check.CheckID)
        for stored in self.services.by("node", key):
            self.delete_service(tx, stored.Node, stored.Service.ID)
        for session in self.sessions.by("node", key):
            self.delete_session(tx, session.ID)  # SessionMixin
        self.delete_node_coordinates(tx, node_name)  # CoordinateMixin
        self.nodes.delete(key, tx.undo)
        tx.bump("nodes", NODE_EXTINCTION)
        tx.forget(node_index_name(key))
        tx.touch(("rows", "nodes"), ("node_row", key))

    def delete_service(self, tx: WriteTxn, node_name: str, service_id: str) -> None:
        key = (lower(node_name), service_id)
        stored = self.services.get(key)
        if stored is None:
            return
        for check in self.checks.by("service", key):
            self.delete_check(tx, check.Node, check.CheckID)
        self.services.delete(key, tx.undo)
        # Consul moves the checks and nodes indexes on every service delete.
        tx.bump("services", "checks", "nodes", node_index_name(key[0]))
        self._touch_service_rows(tx, key[0], stored.Service.Service)
        self._touch_connect_rows(tx, stored.Service)
        self._service_instance_gone(tx, stored.Service.Service)
        self.free_virtual_ip(tx, stored.Service.Service)  # VirtualIPMixin
        if self.gateways_in_use():  # MeshCatalogMixin
            self.sync_gateway_services(tx, affected_names(stored.Service))

    def delete_check(self, tx: WriteTxn, node_name: str, check_id: str) -> None:
        node_key = lower(node_name)
        check = self.checks.delete((node_key, check_id), tx.undo)
        if check is None:
            return
        tx.bump("checks")
        self._touch_check_rows(tx, node_key, check)
        if check.ServiceName:
            tx.bump(service_index_name(check.ServiceName))
        else:
            # Consul moves the services table index for a node check's delete.
            tx.bump("services")
            self._bump_services_of_node(tx, node_key)
        self._invalidate_check_sessions(tx, node_key, check_id)

    def _service_instance_gone(self, tx: WriteTxn, name: str) -> None:
        tx.bump(service_index_name(name))
        if not self.services.has("name", lower(name)):
            tx.bump(LAST_EXTINCTION)

    @staticmethod
    def _touch_service_rows(tx: WriteTxn, node_key: str, name: str) -> None:
        tx.touch(("rows", "services"), ("node_services", node_key), ("service_rows", lower(name)))

    @staticmethod
    def _touch_connect_rows(tx: WriteTxn, *services: NodeService | None) -> None:
        """Wake readers of the connect index for the services these instances serve."""
        for service in services:
            target = connect_target(service) if service is not None else None
            if target is not None:
                tx.touch(("connect_rows", target))

    @staticmethod
    def _touch_check_rows(tx: WriteTxn, node_key: str, check: HealthCheck) -> None:
        tx.touch(("rows", "checks"), ("node_checks", node_key), ("check_status", check.Status))
        if check.ServiceName:
            tx.touch(("service_checks", lower(check.ServiceName)))

    def _bump_services_of_node(self, tx: WriteTxn, node_key: str) -> None:
        names = {service_index_name(s.Service.Service) for s in self.services.by("node", node_key)}
        tx.bump(*names)

    def _invalidate_check_sessions(self, tx: WriteTxn, node_key: str, check_id: str) -> None:
        for link in self.session_checks.by("check", (node_key, check_id)):
            self.delete_session(tx, link[2])  # SessionMixin

    # ---- reads --------------------------------------------------------------

    def node(self, ws: WatchSet | None, name: str) -> tuple[int, Node | None]:
        if ws is not None:
            ws.add(("node_row", lower(name)))
        return self.max_index("nodes"), self.nodes.get(lower(name))

    def list_nodes(self, ws: WatchSet | None, node_meta: dict[str, str] | None = None
                   ) -> tuple[int, list[Node]]:
        if ws is not None:
            ws.add(("rows", "nodes"))
        nodes = [n for _, n in sorted(self.nodes.items(), key=itemgetter(0))
                 if not node_meta or meta_matches(n.Meta, node_meta)]  # by name, as Consul's
        return self.max_index("nodes"), nodes

    def list_services(self, ws: WatchSet | None, node_meta: dict[str, str] | None = None
                      ) -> tuple[int, list[ServiceNode]]:
        """Every service instance as a ServiceNode (the caller aggregates by name)."""
        if ws is not None:
            ws.add(("rows", "services"))
            if node_meta:
                ws.add(("rows", "nodes"))
        rows = []
        for stored in self.services.rows():
            node = self.nodes.get(lower(stored.Node))
            if node is None or (node_meta and not meta_matches(node.Meta, node_meta)):
                continue
            rows.append(to_service_node(node, stored.Service))
        rows.sort(key=lambda r: (lower(r.ServiceName), lower(r.Node), r.ServiceID))
        index = self.max_index("services", "nodes") if node_meta else self.max_index("services")
        return index, rows

    def shared_nodes(self, ws: WatchSet | None) -> tuple[int, list[Node]]:
        """:meth:`list_nodes` without filters, the list kept until a node changes
        (shared: callers must not change it)."""
        rows = self.read_cache.get(("nodes",), ws, lambda inner: self.list_nodes(inner)[1])
        return self.max_index("nodes"), rows

    def service_tags(self, ws: WatchSet | None) -> tuple[int, dict[str, list[str]]]:
        """Service name -> its instances' tags (each once, in instance order), for
        every service: the view ``catalog/services`` answers without node-meta filters.

        Kept until a service changes, rebuilt from per-name entries of which only
        the changed names are recomputed (shared: callers must not change it)."""

        def view(inner: WatchSet) -> dict[str, list[str]]:
            inner.add(("rows", "services"))
            tags: dict[str, list[str]] = {}
            for name in sorted(self.services.values_of("name")):
                tags.update(self.read_cache.get(("service_tags", name), None,
                                                lambda inner, name=name: self._tags_of(inner, name)))
            return tags

        return self.max_index("services"), self.read_cache.get(("service_tags",), ws, view)

    def _tags_of(self, ws: WatchSet, name: str) -> dict[str, list[str]]:
        """Tags by exact service name of the instances whose lower-cased name is ``name``."""
        ws.add(("service_rows", name))
        by_name: dict[str, list[str]] = {}
        for stored in self.services.by("name", name):
            tags = by_name.setdefault(stored.Service.Service, [])
            for tag in stored.Service.Tags or ():
                if tag not in tags:
                    tags.append(tag)
        return by_name

    def shared_check_service_nodes(self, ws: WatchSet | None, name: str
                                   ) -> tuple[int, list[CheckServiceNode]]:
        """:meth:`check_service_nodes` without filters, the rows kept until the
        service's instances, checks or nodes change (shared: callers must not change it)."""
        rows = self.read_cache.get(("check_service_nodes", lower(name)), ws,
                                   lambda inner: self.check_service_nodes(inner, name)[1])
        return self.service_index(name, checks=True), rows

    def service_index(self, name: str, checks: bool = False, exists: bool | None = None) -> int:
        """Consul's per-service index: unrelated services never move it.

        A service with no instances (or, with ``exists`` given, a read that found
        none) answers the last extinction (the last time any service lost its
        last instance); failing both, the catalog's table indexes (with
        ``checks`` for health reads).
        """
        if exists is None:
            exists = self.services.has("name", lower(name))
        if not exists and LAST_EXTINCTION in self.indexes:
            return self.indexes[LAST_EXTINCTION]
        own = self.indexes.get(service_index_name(name))
        if own is not None:
            return own
        return self.max_index("nodes", "services", "checks") if checks \
            else self.max_index("nodes", "services")

    def node_index(self, name: str) -> int:
        """Consul's per-node index (the node and its services); for a missing
        node, the last time any node was deleted."""
        if self.nodes.get(lower(name)) is None:
            return self.indexes.get(NODE_EXTINCTION, 0)
        own = self.indexes.get(node_index_name(name))
        return own if own is not None else self.max_index("nodes", "services")

    def service_nodes(self, ws: WatchSet | None, name: str, tags: list[str] | None = None,
                      node_meta: dict[str, str] | None = None, kind: str | None = None
                      ) -> tuple[int, list[ServiceNode]]:
        if ws is not None:
            ws.add(("service_rows", lower(name)))
        rows = []
        for stored in self.services.by("name", lower(name)):
            if ws is not None:
                ws.add(("node_row", lower(stored.Node)))
            if kind is not None and (stored.Service.Kind or "") != kind:
                continue
            if tags and not tags_match(stored.Service.Tags, tags):
                continue
            node = self.nodes.get(lower(stored.Node))
            if node is None or (node_meta and not meta_matches(node.Meta, node_meta)):
                continue
            rows.append(to_service_node(node, stored.Service))
        return self.service_index(name), rows

    def service_address_nodes(self, ws: WatchSet | None, address: str
                              ) -> tuple[int, list[ServiceNode]]:
        """Every service instance registered with service address ``address``."""
        if ws is not None:
            ws.add(("rows", "services"))
        rows = []
        for key, stored in sorted(self.services.items()):
            if stored.Service.Address == address:
                node = self.nodes.get(key[0])
                if node is not None:
                    rows.append(to_service_node(node, stored.Service))
        return self.max_index("services"), rows

    def node_services(self, ws: WatchSet | None, name: str) -> tuple[int, NodeServices | None]:
        key = lower(name)
        if ws is not None:
            ws.add(("node_row", key))
            ws.add(("node_services", key))
        index = self.node_index(key)
        node = self.nodes.get(key)
        if node is None:
            return index, None
        services = {s.Service.ID: s.Service for s in self.services.by("node", key)}
        return index, NodeServices(Node=node, Services=services)

    def node_service_list(self, ws: WatchSet | None, name: str
                          ) -> tuple[int, NodeServiceList | None]:
        index, found = self.node_services(ws, name)
        if found is None:
            return index, None
        return index, NodeServiceList(Node=found.Node, Services=list(found.Services.values()))

    def node_checks(self, ws: WatchSet | None, name: str) -> tuple[int, list[HealthCheck]]:
        if ws is not None:
            ws.add(("node_checks", lower(name)))
        return self.max_index("checks"), self.checks.by("node", lower(name))

    def service_checks(self, ws: WatchSet | None, name: str,
                       node_meta: dict[str, str] | None = None) -> tuple[int, list[HealthCheck]]:
        if ws is not None:
            ws.add(("service_checks", lower(name)))
        checks = self.checks.by("service_name", lower(name))
        if not node_meta:
            return self.max_index("checks"), checks
        # As Consul: filtering by node meta answers the service's own index.
        return self.service_index(name, checks=True), self._meta_filter(ws, checks, node_meta)

    def checks_in_state(self, ws: WatchSet | None, state: str,
                        node_meta: dict[str, str] | None = None) -> tuple[int, list[HealthCheck]]:
        if ws is not None:
            ws.add(("rows", "checks") if state == "any" else ("check_status", state))
        checks = list(self.checks.rows()) if state == "any" else self.checks.by("status", state)
        if node_meta:
            checks = self._meta_filter(ws, checks, node_meta)
        return self.max_index("checks"), checks

    def _meta_filter(self, ws: WatchSet | None, checks: list[HealthCheck],
                     node_meta: dict[str, str]) -> list[HealthCheck]:
        """Checks whose node matches ``node_meta``; watches every node looked at."""
        kept = []
        for check in checks:
            node_key = lower(check.Node)
            if ws is not None:
                ws.add(("node_row", node_key))
            if meta_matches(getattr(self.nodes.get(node_key), "Meta", None), node_meta):
                kept.append(check)
        return kept

    def check_service_nodes(self, ws: WatchSet | None, name: str, tags: list[str] | None = None,
                            node_meta: dict[str, str] | None = None, kind: str | None = None
                            ) -> tuple[int, list[CheckServiceNode]]:
        if ws is not None:
            ws.add(("index", service_index_name(name)))
            ws.add(("service_rows", lower(name)))
        results = []
        for stored in self.services.by("name", lower(name)):
            service = stored.Service
            if kind is not None and (service.Kind or "") != kind:
                continue
            if tags and not tags_match(service.Tags, tags):
                continue
            node_key = lower(stored.Node)
            node = self.nodes.get(node_key)
            if node is None or (node_meta and not meta_matches(node.Meta, node_meta)):
                continue
            checks = [c for c in self.checks.by("node", node_key)
                      if not c.ServiceID or c.ServiceID == service.ID]
            results.append(CheckServiceNode(Node=node, Service=service, Checks=checks))
        return self.service_index(name, checks=True), results


def affected_names(*services: NodeService | None) -> set[str]:
    """The service names whose gateway-services rows a write of these instances can change."""
    names = set()
    for service in services:
        if service is not None:
            names.add(service.Service)
            target = connect_target(service)
            if target:
                names.add(target)
    return names


def to_service_node(node: Node, service: NodeService) -> ServiceNode:
    """Join a node and one of its services into a catalog ServiceNode row."""
    return ServiceNode(
        ID=node.ID, Node=node.Node, Address=node.Address, Datacenter=node.Datacenter,
        TaggedAddresses=node.TaggedAddresses, NodeMeta=node.Meta,
        ServiceKind=service.Kind or "", ServiceID=service.ID, ServiceName=service.Service,
        ServiceTags=service.Tags, ServiceAddress=service.Address,
        ServiceWeights=service.Weights or Weights(), ServiceMeta=service.Meta,
        ServicePort=service.Port, ServiceEnableTagOverride=service.EnableTagOverride,
        ServiceProxy=service.Proxy, ServiceConnect=service.Connect,
        ServiceTaggedAddresses=service.TaggedAddresses, ServiceSocketPath=service.SocketPath,
        ServiceLocality=service.Locality, ServicePorts=service.Ports, PeerName=service.PeerName,
        CreateIndex=service.CreateIndex, ModifyIndex=service.ModifyIndex,
    )
