"""Mesh gateways: what they watch and the snapshot their resources are built from.

A ``mesh-gateway`` watches the CA roots, every datacenter's mesh gateways (the
federation states' ``ListMeshGateways``, one shared watch, also what sidecars in
``local``/``remote`` mode use), the local catalog's service names and, per
service, its connect endpoints (shared with sidecars), plus the service-resolver
entries whose subsets make clusters of their own. A gateway registered with meta
``consul-wan-federation = "1"`` also watches the local ``consul`` service: its
servers, which it exposes to the other datacenters by SNI.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from proconsul.agent.proxycfg.snapshot import SnapshotIdentity
from proconsul.agent.proxycfg.watches import Datum
from proconsul.structs.catalog import HEALTH_CRITICAL, CheckServiceNode, NodeService
from proconsul.structs.service_kinds import MESH_GATEWAY, WAN_FEDERATION_META

CONSUL_SERVICE = "consul"


def wan_federation(service: NodeService) -> bool:
    """Whether the gateway also carries WAN federation (its ``-expose-servers`` meta)."""
    return (service.Meta or {}).get(WAN_FEDERATION_META) == "1"


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def healthy(node: CheckServiceNode) -> bool:
    return all(check.Status != HEALTH_CRITICAL for check in node.Checks)


@dataclass
class LocalService:
    """A local service the gateway routes to: its connect endpoints and resolver subsets."""

    name: str
    endpoints: Datum
    subsets: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class MeshGatewaySnapshot(SnapshotIdentity):
    """What a mesh gateway's xDS resources are made of."""

    proxy_id: str
    service: NodeService
    datacenter: str
    domain: str
    roots: Any = None
    gateways: Datum | None = None  # {dc: [CheckServiceNode]} of every datacenter
    services_known: bool = False
    services: list[LocalService] = field(default_factory=list)
    servers: Datum | None = None  # the local ``consul`` service (WAN federation only)

    kind = MESH_GATEWAY

    @property
    def wan_federation(self) -> bool:
        return wan_federation(self.service)

    def remote_gateways(self) -> dict[str, list[CheckServiceNode]]:
        """The mesh gateways of every other datacenter that has some, by datacenter."""
        known = (self.gateways.value if self.gateways is not None else None) or {}
        return {dc: nodes for dc, nodes in sorted(known.items())
                if dc != self.datacenter and nodes}

    def local_servers(self) -> list[CheckServiceNode]:
        """This datacenter's servers (their ``consul`` service) whose checks are not
        critical: a failed server drops out, and its cluster with it."""
        nodes = (self.servers.value if self.servers is not None else None) or []
        return sorted((n for n in nodes if n.Service.Service == CONSUL_SERVICE and healthy(n)),
                      key=lambda n: n.Node.Node)

    def server_sni(self, dc: str, node: str = "") -> str:
        """Consul's server name: ``[<node>.]server.<dc>.<domain>``."""
        return f"{node + '.' if node else ''}server.{dc}.{self.domain}"

    def ready(self) -> bool:
        """Roots, local services and (with WAN federation) servers known. Other
        datacenters' gateways are not waited for: the federation states may not answer
        before the WAN federation is up, and the gateway carries local traffic meanwhile."""
        return (self.roots is not None and self.services_known
                and (self.servers is not None or not self.wan_federation))


def _resolver_subsets(entries: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {entry.get("Name", ""): dict(entry.get("Subsets") or {})
            for entry in entries or () if entry.get("Subsets")}


def wanted_keys(service: NodeService, token: str, dc: str,
                datum: Callable[[Hashable], Datum | None]) -> set[Hashable]:
    keys: set[Hashable] = {("roots", token), ("mesh-gateways", token), ("services", token),
                           ("resolvers", token)}
    if wan_federation(service):
        keys.add(("service-health", CONSUL_SERVICE, dc, token))
    names = datum(("services", token))
    for name in (names.value or {}) if names is not None else ():
        if name != CONSUL_SERVICE:
            keys.add(("health", name, dc, token))
    return keys


def assemble(proxy_id: str, service: NodeService, token: str, dc: str, domain: str,
             datum: Callable[[Hashable], Datum | None]) -> MeshGatewaySnapshot:
    roots = datum(("roots", token))
    names = datum(("services", token))
    resolvers = datum(("resolvers", token))
    snap = MeshGatewaySnapshot(
        proxy_id=proxy_id, service=service, datacenter=dc, domain=domain.strip("."),
        roots=roots.value if roots is not None else None,
        gateways=datum(("mesh-gateways", token)),
        services_known=names is not None and resolvers is not None,
        servers=datum(("service-health", CONSUL_SERVICE, dc, token))
        if wan_federation(service) else None)
    subsets = _resolver_subsets(resolvers.value if resolvers is not None else None)
    for name in sorted((names.value or {}) if names is not None else ()):
        endpoints = datum(("health", name, dc, token))
        if name != CONSUL_SERVICE and endpoints is not None:
            snap.services.append(LocalService(name, endpoints, subsets.get(name, {})))
    return snap
