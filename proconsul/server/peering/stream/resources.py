"""The payloads a replication stream carries, packed in ``google.protobuf.Any``.

Four resource types, by ResourceURL: the list of exported service names, one
exported service's instances (ResourceID = the service name), the exporting
cluster's CA roots (trust bundle) and, to a dialer only, the acceptor's server
addresses. An exported instance carries its node, its service and one flattened
check summing up its health (``<service-id>:overall-check``), as Consul sends it; an
exported mesh service's synthetic proxies travel as the service ``<name>-sidecar-proxy``.

Every payload is Consul's protobuf message (an exported service's instances are
``pbservice.IndexedCheckServiceNodes``), so the stream is Consul's on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError
from msgspec.structs import replace

from proconsul.server.peering.stream import service_pb
from proconsul.structs import pbpeerstream as pb
from proconsul.structs.catalog import (
    HEALTH_CRITICAL,
    HEALTH_PASSING,
    HEALTH_WARNING,
    CheckServiceNode,
    ConnectProxyConfig,
    HealthCheck,
    NodeService,
    PeeringServiceMeta,
    ServiceConnect,
)
from proconsul.structs.connect_ids import SpiffeIDMeshGateway, SpiffeIDService
from proconsul.structs.service_kinds import CONNECT_PROXY
from proconsul.structs.virtual_ip import TAGGED_ADDRESS_VIRTUAL_IP

__all__ = [
    "KNOWN_URLS",
    "PROXY_SUFFIX",
    "MeshSite",
    "PayloadError",
    "decode_addresses",
    "decode_service",
    "decode_service_list",
    "decode_trust_bundle",
    "encode_addresses",
    "encode_service",
    "encode_service_list",
    "encode_trust_bundle",
    "exportable",
    "exported_instance",
    "imported_instance",
    "synthetic_proxies",
    "with_proxies",
]

KNOWN_URLS = frozenset({pb.TYPE_URL_EXPORTED_SERVICE, pb.TYPE_URL_EXPORTED_SERVICE_LIST,
                        pb.TYPE_URL_PEERING_TRUST_BUNDLE, pb.TYPE_URL_PEERING_SERVER_ADDRESSES})
OVERALL_CHECK = "overall-check"
PROXY_SUFFIX = "-sidecar-proxy"  # of an exported mesh service's synthetic proxies
DEFAULT = "default"  # namespace and partition
_SEVERITY = {HEALTH_PASSING: 0, HEALTH_WARNING: 1, HEALTH_CRITICAL: 2}


class PayloadError(ValueError):
    """A Response whose resource is not what its ResourceURL says."""


def _pack(message) -> pb.Any:
    payload = pb.Any()
    payload.Pack(message)
    return payload


def _unpack(payload: pb.Any, cls: type):
    message = cls()
    if not payload.Unpack(message):
        raise PayloadError(f"unexpected resource type {payload.type_url!r}")
    return message


def encode_service(nodes: list[CheckServiceNode]) -> pb.Any:
    """Instances as Consul's IndexedCheckServiceNodes (deterministic bytes: an unchanged
    payload compares equal and is not sent again)."""
    return pb.Any(type_url=pb.TYPE_URL_INDEXED_CHECK_SERVICE_NODES,
                  value=service_pb.to_pb(nodes).SerializeToString(deterministic=True))


def decode_service(payload: pb.Any) -> list[CheckServiceNode]:
    try:
        return service_pb.from_pb(_unpack(payload, pb.IndexedCheckServiceNodes))
    except DecodeError as err:
        raise PayloadError(f"invalid exported service: {err}") from None


def encode_service_list(names: list[str]) -> pb.Any:
    return _pack(pb.ExportedServiceList(Services=sorted(names)))


def decode_service_list(payload: pb.Any) -> list[str]:
    try:
        return list(_unpack(payload, pb.ExportedServiceList).Services)
    except DecodeError as err:
        raise PayloadError(f"invalid exported service list: {err}") from None


def encode_trust_bundle(trust_domain: str, root_pems: list[str]) -> pb.Any:
    return _pack(pb.PeeringTrustBundle(TrustDomain=trust_domain, RootPEMs=root_pems))


def decode_trust_bundle(payload: pb.Any) -> tuple[str, list[str]]:
    try:
        bundle = _unpack(payload, pb.PeeringTrustBundle)
    except DecodeError as err:
        raise PayloadError(f"invalid trust bundle: {err}") from None
    return bundle.TrustDomain, list(bundle.RootPEMs)


def encode_addresses(addresses: list[str]) -> pb.Any:
    return _pack(pb.PeeringServerAddresses(Addresses=addresses))


def decode_addresses(payload: pb.Any) -> list[str]:
    try:
        return list(_unpack(payload, pb.PeeringServerAddresses).Addresses)
    except DecodeError as err:
        raise PayloadError(f"invalid server addresses: {err}") from None


def with_proxies(names: frozenset[str] | set[str]) -> set[str]:
    """The exported service names and their synthetic proxies' names: what an exported
    service list keeps."""
    return set(names) | {name + PROXY_SUFFIX for name in names}


def exportable(row: CheckServiceNode) -> bool:
    """Whether a local instance of an exported service is sent as itself: typical
    services only, and none named like the synthetic proxies."""
    return not row.Service.Kind and not row.Service.Service.endswith(PROXY_SUFFIX)


def exported_instance(row: CheckServiceNode) -> CheckServiceNode:
    """What a peer is told of one local instance: node and service without our raft
    indexes, Connect settings or virtual IP (meaningless over there), its checks
    flattened into one ``overall-check`` with the worst status."""
    service = row.Service
    tagged = service.TaggedAddresses
    if tagged and TAGGED_ADDRESS_VIRTUAL_IP in tagged:
        tagged = {k: v for k, v in tagged.items() if k != TAGGED_ADDRESS_VIRTUAL_IP}
    return CheckServiceNode(
        Node=replace(row.Node, CreateIndex=0, ModifyIndex=0),
        Service=replace(service, CreateIndex=0, ModifyIndex=0, Connect=ServiceConnect(),
                        Proxy=ConnectProxyConfig(), TaggedAddresses=tagged),
        Checks=_overall(row.Node.Node, service.ID or service.Service, service.Service,
                        row.Checks))


@dataclass(frozen=True, slots=True)
class MeshSite:
    """Where an exported mesh service lives, as its synthetic proxies describe it: the
    peer it is exported to (our name for it), our datacenter and trust domain, and the
    service's protocol."""

    peer_name: str
    datacenter: str
    trust_domain: str
    protocol: str


def synthetic_proxies(name: str, site: MeshSite,
                      gateways: list[CheckServiceNode]) -> list[CheckServiceNode]:
    """Consul's synthetic ``<name>-sidecar-proxy`` instances: one per local mesh gateway
    instance, at its addresses, with its health, and the SNI and SPIFFE IDs of ``name``
    behind it in ``Connect.PeerMeta``."""
    td, dc = site.trust_domain, site.datacenter
    meta = PeeringServiceMeta(
        SNI=[f"{name}.{DEFAULT}.{DEFAULT}.{site.peer_name}.external.{td}"],
        SpiffeID=[SpiffeIDService(td, dc, name).uri(), SpiffeIDMeshGateway(td, dc).uri()],
        Protocol=site.protocol)
    proxy_name = name + PROXY_SUFFIX
    out = []
    for i, gateway in enumerate(gateways):
        gw = gateway.Service
        proxy_id, target_id = (f"{proxy_name}-instance-{i}", f"{name}-instance-{i}") \
            if gw.ID else (proxy_name, name)
        out.append(CheckServiceNode(
            Node=replace(gateway.Node, CreateIndex=0, ModifyIndex=0),
            Service=NodeService(
                Kind=CONNECT_PROXY, ID=proxy_id, Service=proxy_name,
                Proxy=ConnectProxyConfig(DestinationServiceName=name,
                                         DestinationServiceID=target_id),
                Address=gw.Address, TaggedAddresses=gw.TaggedAddresses, Port=gw.Port,
                SocketPath=gw.SocketPath, Weights=gw.Weights,
                Connect=ServiceConnect(PeerMeta=meta)),
            Checks=_overall(gateway.Node.Node, proxy_id, proxy_name, gateway.Checks)))
    return out


def _overall(node: str, service_id: str, service_name: str,
             checks: list[HealthCheck]) -> list[HealthCheck]:
    """``checks`` as one ``<service-id>:overall-check`` with the worst status (none
    without checks)."""
    if not checks:
        return []
    status = HEALTH_PASSING
    for check in checks:
        if _SEVERITY.get(check.Status, 2) > _SEVERITY[status]:
            status = check.Status if check.Status in _SEVERITY else HEALTH_CRITICAL
    return [HealthCheck(Node=node, CheckID=f"{service_id}:{OVERALL_CHECK}",
                        Name=OVERALL_CHECK, Status=status, ServiceID=service_id,
                        ServiceName=service_name)]


def imported_instance(row: CheckServiceNode, peer_name: str) -> CheckServiceNode:
    """A peer's exported instance as we store it: every part tagged with the peering's
    local name."""
    return CheckServiceNode(Node=replace(row.Node, PeerName=peer_name),
                            Service=replace(row.Service, PeerName=peer_name),
                            Checks=[replace(c, PeerName=peer_name) for c in row.Checks])
