"""Service virtual IPs: one address from 240.0.0.0/4 per Connect-enabled service name,
plus manual VIPs, as Consul's state store keeps them (tables service-virtual-ips and
free-virtual-ips).

Offsets are handed out from a counter starting at 1 (240.0.0.1); a freed offset goes
to the free table and the lowest freed one is handed out before the counter moves.
Every change moves the ``service-virtual-ips`` index, which wakes blocked readers.
"""

from __future__ import annotations

from typing import Any

from msgspec.structs import replace

from proconsul.state.base import StoreBase, WriteTxn, lower
from proconsul.state.catalog import StateError
from proconsul.state.snapshot import RecordKind
from proconsul.state.table import Table
from proconsul.state.watch import WatchSet
from proconsul.structs.base import UNSET
from proconsul.structs.catalog import NodeService, ServiceAddress
from proconsul.structs.gateway_services import ServiceName
from proconsul.structs.service_kinds import CONNECT_PROXY, TERMINATING_GATEWAY
from proconsul.structs.virtual_ip import (
    ERR_VIRTUAL_IPS_EXHAUSTED,
    TAGGED_ADDRESS_VIRTUAL_IP,
    VIRTUAL_IP_MAX_OFFSET,
    FreeVirtualIP,
    PeeredServiceName,
    ServiceVirtualIP,
    offset_address,
)

TABLE = "service-virtual-ips"
# Config entries of these kinds named after a service keep its virtual IP (Consul's).
VIP_ENTRY_KINDS = ("service-resolver", "service-router", "service-splitter",
                   "service-defaults", "service-intentions")
# Config entries of these kinds give the service they name a virtual IP when written.
VIP_ASSIGNING_KINDS = ("service-resolver", "service-router", "service-splitter")


def vip_key(name: str, peer: str = "") -> tuple[str, str]:
    return peer, lower(name)


def vip_target(service: NodeService) -> str:
    """The service name a Connect instance's virtual IP belongs to ("" for none): a
    connect-proxy's destination, or a Connect-native service itself."""
    if service.Kind == CONNECT_PROXY:
        return service.Proxy.DestinationServiceName or ""
    if service.Connect.Native is True:
        return service.Service
    return ""


class VirtualIPMixin(StoreBase):
    """Assigning, freeing and reading service virtual IPs."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.service_virtual_ips = Table(
            "service_virtual_ips",
            lambda v: vip_key(v.Service.ServiceName.Name, v.Service.Peer))
        self.free_virtual_ips = Table("free_virtual_ips", lambda f: (f.IsCounter, f.IP))
        self._tables += [self.service_virtual_ips, self.free_virtual_ips]

    # ---- writes -------------------------------------------------------------

    def virtual_ip_upkeep(self, tx: WriteTxn, kind: str, name: str, old, new) -> None:
        """A config entry's write or delete, as Consul's: a resolver, router or splitter
        gives its service a virtual IP (a virtual service needs no instances); deleting
        one of :data:`VIP_ENTRY_KINDS` may free it; a terminating gateway's entry gives
        its linked services VIPs, rewrites its instances' ``consul-virtual:<svc>``
        addresses, and frees the VIPs of the services it no longer links."""
        if kind in VIP_ASSIGNING_KINDS and new is not None:
            self.assign_virtual_ip(tx, name)
        elif kind in VIP_ENTRY_KINDS and new is None:
            self.free_virtual_ip(tx, name)
        elif kind == TERMINATING_GATEWAY:
            kept = {s.Name for s in (new.Services or ()) if s.Name} if new is not None else set()
            self._retag_gateway_instances(tx, name)
            for linked in old.Services or () if old is not None else ():
                if linked.Name not in kept:
                    self.free_virtual_ip(tx, linked.Name, exclude_gateway=name)

    def _retag_gateway_instances(self, tx: WriteTxn, gateway: str) -> None:
        """Rewrite the ``consul-virtual:<svc>`` addresses of the gateway's instances: each
        is registered again without them, and the registration adds the linked ones."""
        prefix = TAGGED_ADDRESS_VIRTUAL_IP + ":"
        for row in self.services.by("name", lower(gateway)):
            service = row.Service
            if service.Kind != TERMINATING_GATEWAY:
                continue
            tagged = {k: v for k, v in (service.TaggedAddresses or {}).items()
                      if not k.startswith(prefix)}
            self.ensure_service(tx, row.Node, replace(service, TaggedAddresses=tagged or UNSET))

    def with_virtual_ips(self, tx: WriteTxn, service: NodeService) -> NodeService:
        """The instance with the ``consul-virtual`` tagged address(es) Consul gives it,
        assigning virtual IPs on the way: its own service's for a Connect instance, and
        ``consul-virtual:<name>`` for each service a terminating gateway links."""
        if service.PeerName not in (UNSET, ""):
            return service
        added: dict[str, ServiceAddress] = {}
        target = vip_target(service)
        if target:
            added[TAGGED_ADDRESS_VIRTUAL_IP] = ServiceAddress(
                Address=self.assign_virtual_ip(tx, target), Port=service.Port)
        if service.Kind == TERMINATING_GATEWAY:
            entry = self.config_entries.get((TERMINATING_GATEWAY, service.Service))
            for linked in (entry.Services or ()) if entry is not None else ():
                if linked.Name and linked.Name != "*":
                    added[f"{TAGGED_ADDRESS_VIRTUAL_IP}:{linked.Name}"] = ServiceAddress(
                        Address=self.assign_virtual_ip(tx, linked.Name))
        if not added:
            return service
        tagged = dict(service.TaggedAddresses) if service.TaggedAddresses else {}
        tagged.update(added)
        return replace(service, TaggedAddresses=tagged)

    def assign_virtual_ip(self, tx: WriteTxn, name: str, peer: str = "") -> str:
        """The service's virtual IP, handing one out if it has none yet."""
        row = self.service_virtual_ips.get(vip_key(name, peer))
        if row is not None:
            return offset_address(row.IP)
        freed = [f for key, f in self.free_virtual_ips.items() if not key[0]]
        if freed:
            offset = min(f.IP for f in freed)
            self.free_virtual_ips.delete((False, offset), tx.undo)
        else:
            counter = next((f for key, f in self.free_virtual_ips.items() if key[0]), None)
            offset = (counter.IP if counter is not None else 0) + 1
            if offset >= VIRTUAL_IP_MAX_OFFSET:
                raise StateError(ERR_VIRTUAL_IPS_EXHAUSTED)
            if counter is not None:
                self.free_virtual_ips.delete((True, counter.IP), tx.undo)
            self.free_virtual_ips.put(FreeVirtualIP(IP=offset, IsCounter=True), tx.undo)
        self.service_virtual_ips.put(ServiceVirtualIP(
            Service=PeeredServiceName(ServiceName=ServiceName(Name=name), Peer=peer),
            IP=offset, CreateIndex=tx.index, ModifyIndex=tx.index), tx.undo)
        tx.bump(TABLE)
        return offset_address(offset)

    def free_virtual_ip(self, tx: WriteTxn, name: str, peer: str = "",
                        exclude_gateway: str = "") -> None:
        """Free the service's virtual IP unless something still holds it: an instance of
        that name, a config entry of :data:`VIP_ENTRY_KINDS` for it, or a terminating
        gateway (other than ``exclude_gateway``) linking it."""
        key = vip_key(name, peer)
        row = self.service_virtual_ips.get(key)
        if row is None or self.services.has("name", key[1]):
            return
        if any(self.config_entries.get((kind, name)) is not None for kind in VIP_ENTRY_KINDS):
            return
        for link in self.gateway_services.by("service", key[1]):
            if link.GatewayKind == TERMINATING_GATEWAY and \
                    lower(link.Gateway.Name) != lower(exclude_gateway):
                return
        self.service_virtual_ips.delete(key, tx.undo)
        self.free_virtual_ips.put(FreeVirtualIP(IP=row.IP), tx.undo)
        tx.bump(TABLE)

    def assign_manual_vips(self, tx: WriteTxn, name: str, ips: list[str]
                           ) -> tuple[bool, list[PeeredServiceName] | None]:
        """Give ``name`` exactly the manual VIPs ``ips``, taking each from any other
        service that had it. As Consul: a service without a virtual IP entry changes
        nothing (``False, None``); else ``True`` and the services that lost IPs."""
        own = vip_key(name)
        row = self.service_virtual_ips.get(own)
        if row is None:
            return False, None
        wanted = set(ips)
        moved: list[PeeredServiceName] = []
        for key, other in list(self.service_virtual_ips.items()):
            if key == own or not wanted.intersection(other.ManualIPs or ()):
                continue
            kept = [ip for ip in other.ManualIPs or () if ip not in wanted]
            self.service_virtual_ips.put(
                replace(other, ManualIPs=kept or None, ModifyIndex=tx.index), tx.undo)
            moved.append(other.Service)
        self.service_virtual_ips.put(replace(row, ManualIPs=list(ips) or None,
                                             ModifyIndex=tx.index), tx.undo)
        tx.bump(TABLE)
        return True, moved

    # ---- reads --------------------------------------------------------------

    def virtual_ip_for_service(self, name: str, peer: str = "") -> str:
        """The service's automatic virtual IP, "" when it has none."""
        row = self.service_virtual_ips.get(vip_key(name, peer))
        return offset_address(row.IP) if row is not None else ""

    def service_virtual_ip_rows(self, ws: WatchSet | None) -> tuple[int, list[ServiceVirtualIP]]:
        """Every service's virtual IP entry, by name, and the table index."""
        if ws is not None:
            ws.add(("index", TABLE))
        rows = [row for _, row in sorted(self.service_virtual_ips.items())]
        return self.max_index(TABLE), rows

    def virtual_ip_snapshot_tables(self) -> list[tuple[RecordKind, list[Any]]]:
        return [(RecordKind.SERVICE_VIRTUAL_IP, list(self.service_virtual_ips.rows())),
                (RecordKind.FREE_VIRTUAL_IP, list(self.free_virtual_ips.rows()))]
