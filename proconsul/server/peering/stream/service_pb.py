"""An exported service's instances as Consul sends them on the stream: our
``CheckServiceNode`` rows to and from ``pbservice.IndexedCheckServiceNodes`` (the fields
a peer is sent; empty protobuf values come back as our structs' unset defaults)."""

from __future__ import annotations

from proconsul.structs import pbpeerstream as pb
from proconsul.structs.base import UNSET
from proconsul.structs.catalog import (
    CheckServiceNode,
    ConnectProxyConfig,
    HealthCheck,
    Locality,
    Node,
    NodeService,
    PeeringServiceMeta,
    ServiceAddress,
    ServiceConnect,
    ServicePort,
    Weights,
)

__all__ = ["from_pb", "to_pb"]

_PROXY_FIELDS = ("DestinationServiceName", "DestinationServiceID", "LocalServiceAddress",
                 "LocalServicePort", "LocalServiceSocketPath")
_CHECK_FIELDS = ("Node", "CheckID", "Name", "Status", "Notes", "Output", "ServiceID",
                 "ServiceName", "Type", "Interval", "Timeout", "ExposedPort")


def to_pb(rows: list[CheckServiceNode]):
    """``rows`` as an IndexedCheckServiceNodes message."""
    message = pb.IndexedCheckServiceNodes()
    for row in rows:
        out = message.Nodes.add()
        _node_to(row.Node, out.Node)
        _service_to(row.Service, out.Service)
        for check in row.Checks:
            _check_to(check, out.Checks.add())
    return message


def from_pb(message) -> list[CheckServiceNode]:
    """An IndexedCheckServiceNodes message's rows."""
    return [CheckServiceNode(Node=_node_from(n.Node), Service=_service_from(n.Service),
                             Checks=[_check_from(c) for c in n.Checks])
            for n in message.Nodes]


def _opt(value):
    """Our unset default for an empty protobuf value."""
    return value if value else UNSET


def _node_to(node: Node, out) -> None:
    out.ID, out.Node, out.Address, out.Datacenter = (node.ID, node.Node, node.Address,
                                                     node.Datacenter)
    out.TaggedAddresses.update(node.TaggedAddresses or {})
    out.Meta.update(node.Meta or {})
    out.Partition = node.Partition or ""
    out.PeerName = node.PeerName or ""
    if node.Locality:
        out.Locality.Region = node.Locality.get("Region", "")
        out.Locality.Zone = node.Locality.get("Zone", "")


def _node_from(msg) -> Node:
    locality = UNSET
    if msg.HasField("Locality"):
        locality = {k: v for k, v in (("Region", msg.Locality.Region),
                                      ("Zone", msg.Locality.Zone)) if v}
    return Node(ID=msg.ID, Node=msg.Node, Address=msg.Address, Datacenter=msg.Datacenter,
                TaggedAddresses=dict(msg.TaggedAddresses) or None, Meta=dict(msg.Meta) or None,
                Partition=_opt(msg.Partition), PeerName=_opt(msg.PeerName), Locality=locality)


def _service_to(service: NodeService, out) -> None:
    out.Kind, out.ID, out.Service = service.Kind or "", service.ID, service.Service
    out.Tags.extend(service.Tags or ())
    out.Address, out.Port = service.Address, service.Port
    for name, address in (service.TaggedAddresses or {}).items():
        out.TaggedAddresses[name].Address = address.Address
        out.TaggedAddresses[name].Port = address.Port
    out.Meta.update(service.Meta or {})
    out.SocketPath = service.SocketPath or ""
    if service.Weights is not None:
        out.Weights.Passing, out.Weights.Warning = (service.Weights.Passing,
                                                    service.Weights.Warning)
    out.EnableTagOverride = service.EnableTagOverride
    for name in _PROXY_FIELDS:
        value = getattr(service.Proxy, name)
        if value:
            setattr(out.Proxy, name, value)
    out.Proxy.Mode = service.Proxy.Mode
    out.Proxy.SetInParent()  # always sent, as Consul's (not pointers there)
    out.Connect.SetInParent()
    if service.Connect.Native:
        out.Connect.Native = True
    if service.Connect.PeerMeta:
        meta = service.Connect.PeerMeta
        out.Connect.PeerMeta.SNI.extend(meta.SNI or ())
        out.Connect.PeerMeta.SpiffeID.extend(meta.SpiffeID or ())
        out.Connect.PeerMeta.Protocol = meta.Protocol
    out.PeerName = service.PeerName or ""
    if service.Locality:
        out.Locality.Region = service.Locality.Region or ""
        out.Locality.Zone = service.Locality.Zone or ""
    for port in service.Ports or ():
        out.Ports.add(Port=port.Port, Name=port.Name, Default=port.Default)


def _service_from(msg) -> NodeService:
    proxy = msg.Proxy
    connect = ServiceConnect(Native=True if msg.Connect.Native else UNSET)
    if msg.Connect.HasField("PeerMeta"):
        meta = msg.Connect.PeerMeta
        connect = ServiceConnect(Native=connect.Native, PeerMeta=PeeringServiceMeta(
            SNI=list(meta.SNI) or None, SpiffeID=list(meta.SpiffeID) or None,
            Protocol=meta.Protocol))
    return NodeService(
        Kind=_opt(msg.Kind), ID=msg.ID, Service=msg.Service, Tags=list(msg.Tags) or None,
        Address=msg.Address, Meta=dict(msg.Meta) or None, Port=msg.Port,
        Weights=Weights(Passing=msg.Weights.Passing, Warning=msg.Weights.Warning)
        if msg.HasField("Weights") else None,
        EnableTagOverride=msg.EnableTagOverride,
        Proxy=ConnectProxyConfig(Mode=proxy.Mode, **{
            name: _opt(getattr(proxy, name)) for name in _PROXY_FIELDS}),
        Connect=connect,
        TaggedAddresses={k: ServiceAddress(Address=v.Address, Port=v.Port)
                         for k, v in msg.TaggedAddresses.items()} or UNSET,
        SocketPath=_opt(msg.SocketPath),
        Locality=Locality(Region=_opt(msg.Locality.Region), Zone=_opt(msg.Locality.Zone))
        if msg.HasField("Locality") else UNSET,
        Ports=[ServicePort(Name=p.Name, Port=p.Port, Default=p.Default)
               for p in msg.Ports] or UNSET,
        PeerName=_opt(msg.PeerName))


def _check_to(check: HealthCheck, out) -> None:
    for name in _CHECK_FIELDS:
        setattr(out, name, getattr(check, name))
    out.ServiceTags.extend(check.ServiceTags or ())
    out.PeerName = check.PeerName or ""


def _check_from(msg) -> HealthCheck:
    return HealthCheck(ServiceTags=list(msg.ServiceTags), PeerName=_opt(msg.PeerName),
                       **{name: getattr(msg, name) for name in _CHECK_FIELDS})
