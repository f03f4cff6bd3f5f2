"""Ingress and terminating gateways: what they watch and the snapshot their resources use.

An ingress gateway watches its ``ingress-gateway`` config entry (and, for a
wildcard service, its gateway-services rows), its own leaf, and each service's
discovery chain and connect endpoints, like a sidecar's upstreams. A terminating gateway watches its rows of the gateway-services table
(filled from its ``terminating-gateway`` entry), and per linked service that
service's leaf (it answers as that service), catalog instances (the external
endpoints) and discovery chain (its protocol), plus the intentions that guard them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from proconsul.agent.proxycfg.snapshot import SnapshotIdentity, UpstreamSnapshot
from proconsul.agent.proxycfg.watches import Datum
from proconsul.structs.catalog import NodeService, Upstream
from proconsul.structs.gateway_services import WILDCARD
from proconsul.structs.service_kinds import INGRESS_GATEWAY, TERMINATING_GATEWAY

KINDS = (INGRESS_GATEWAY, TERMINATING_GATEWAY)


@dataclass
class IngressListener:
    """One listener of the ingress-gateway entry and its services' upstream snapshots."""

    port: int
    protocol: str
    services: list[tuple[dict[str, Any], UpstreamSnapshot]]
    tls: dict[str, Any] | None  # the TLS settings in force (listener over entry) when enabled


@dataclass
class LinkedService:
    """A terminating gateway's linked service: its gateway-services row, leaf and instances."""

    name: str
    row: Any  # GatewayService
    leaf: Any = None
    instances: Datum | None = None  # catalog health of the external service
    chain: Any = None  # its compiled discovery chain: the protocol

    @property
    def protocol(self) -> str:
        return str(getattr(self.chain, "Protocol", "") or "tcp")


@dataclass
class GatewaySnapshot(SnapshotIdentity):
    """What a gateway's xDS resources are made of."""

    kind: str
    proxy_id: str
    service: NodeService
    datacenter: str
    default_allow: bool
    roots: Any = None
    leaf: Any = None  # the ingress gateway's own leaf
    intentions: Datum | None = None
    mesh: dict[str, Any] = field(default_factory=dict)
    entry_known: bool = False
    defaults: dict[str, Any] = field(default_factory=dict)  # the ingress entry's Defaults
    listeners: list[IngressListener] = field(default_factory=list)
    linked: list[LinkedService] = field(default_factory=list)

    def ready(self) -> bool:
        if self.roots is None or not self.entry_known:
            return False
        if self.kind == INGRESS_GATEWAY:
            return self.leaf is not None and all(
                up.chain is not None for lst in self.listeners for _, up in lst.services)
        return self.intentions is not None and all(
            s.leaf is not None and s.instances is not None and s.chain is not None
            for s in self.linked)


def _has_wildcard(entry: dict | None) -> bool:
    return any(svc.get("Name") == WILDCARD for listener in (entry or {}).get("Listeners") or ()
               for svc in listener.get("Services") or ())


def _ingress_services(entry: dict | None, rows: list | None
                      ) -> list[tuple[int, str, dict, dict | None]]:
    """(port, protocol, service, TLS settings or None) for each service of the entry's listeners, the
    wildcard ``*`` expanded from the gateway-services rows it made (mesh services)."""
    out = []
    entry_tls = (entry or {}).get("TLS") or {}
    for listener in (entry or {}).get("Listeners") or ():
        port = int(listener.get("Port") or 0)
        tls = {**entry_tls, **{k: v for k, v in (listener.get("TLS") or {}).items()
                               if v is not None}}
        on = (port, listener.get("Protocol") or "tcp", tls if tls.get("Enabled") else None)
        for svc in listener.get("Services") or ():
            if svc.get("Name") == WILDCARD:
                out += [(on[0], on[1], {"Name": row.Service.Name}, on[2]) for row in rows or ()
                        if row.FromWildcard is True and (row.Port or 0) == port]
            elif svc.get("Name"):
                out.append((on[0], on[1], svc, on[2]))
    return out


def wanted_keys(service: NodeService, token: str, dc: str,
                datum: Callable[[Hashable], Datum | None]) -> set[Hashable]:
    name = service.Service
    keys: set[Hashable] = {("roots", token), ("mesh", token)}
    if service.Kind == INGRESS_GATEWAY:
        entry_key = ("ingress-entry", name, token)
        keys |= {entry_key, ("leaf", name, token)}
        entry = datum(entry_key)
        rows = None
        if entry is not None and _has_wildcard(entry.value):
            keys.add(("gateway-services", name, token))
            rows_datum = datum(("gateway-services", name, token))
            rows = rows_datum.value if rows_datum else None
        for _, _, svc, _ in _ingress_services(entry.value if entry else None, rows):
            chain_key = ("chain", svc["Name"], dc, token)
            keys.add(chain_key)
            chain = datum(chain_key)
            for target in (chain.value.Targets or {}).values() if chain and chain.value else ():
                keys.add(("health", target.Service, target.Datacenter, token))
        return keys
    rows_key = ("gateway-services", name, token)
    keys |= {rows_key, ("intentions", token)}
    rows = datum(rows_key)
    for row in (rows.value or ()) if rows else ():
        keys.add(("leaf", row.Service.Name, token))
        keys.add(("service-health", row.Service.Name, dc, token))
        keys.add(("chain", row.Service.Name, dc, token))
    return keys


def assemble(proxy_id: str, service: NodeService, token: str, dc: str, default_allow: bool,
             datum: Callable[[Hashable], Datum | None]) -> GatewaySnapshot:
    def value(key):
        d = datum(key)
        return None if d is None else d.value

    name = service.Service
    snap = GatewaySnapshot(kind=service.Kind, proxy_id=proxy_id, service=service,
                           datacenter=dc, default_allow=default_allow,
                           roots=value(("roots", token)), mesh=value(("mesh", token)) or {})
    if service.Kind == INGRESS_GATEWAY:
        entry_datum = datum(("ingress-entry", name, token))
        entry = entry_datum.value if entry_datum else None
        snap.defaults = (entry or {}).get("Defaults") or {}
        rows_datum = datum(("gateway-services", name, token)) if _has_wildcard(entry) else None
        snap.entry_known = entry_datum is not None and (
            rows_datum is not None or not _has_wildcard(entry))
        snap.leaf = value(("leaf", name, token))
        by_port: dict[int, IngressListener] = {}
        for port, protocol, svc, tls in _ingress_services(
                entry, rows_datum.value if rows_datum else None):
            chain = value(("chain", svc["Name"], dc, token))
            up = UpstreamSnapshot(svc["Name"], Upstream(DestinationName=svc["Name"]), chain)
            for tid, target in (chain.Targets or {}).items() if chain else ():
                health = datum(("health", target.Service, target.Datacenter, token))
                if health is not None:
                    up.endpoints[tid] = health
            listener = by_port.setdefault(port, IngressListener(port, protocol, [], tls))
            listener.services.append((svc, up))
        snap.listeners = list(by_port.values())
        return snap
    rows = datum(("gateway-services", name, token))
    snap.entry_known = rows is not None
    snap.intentions = datum(("intentions", token))
    for row in (rows.value or ()) if rows else ():
        svc = row.Service.Name
        snap.linked.append(LinkedService(svc, row, value(("leaf", svc, token)),
                                         datum(("service-health", svc, dc, token)),
                                         value(("chain", svc, dc, token))))
    return snap
