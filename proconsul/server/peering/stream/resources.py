"""The payloads a replication stream carries, packed in ``google.protobuf.Any``.

Four resource types, by ResourceURL: the list of exported service names, one
exported service's instances (ResourceID = the service name), the exporting
cluster's CA roots (trust bundle) and, to a dialer only, the acceptor's server
addresses. An exported instance carries its node, its service and one flattened
check summing up its health (``<service-id>:overall-check``), as Consul sends it.

The list, trust bundle and addresses are Consul's protobuf messages. An exported
service's instances travel as our msgpack ``CheckServiceNode`` list under Consul's
ExportedService URL (Consul uses pbservice messages there): peers are Proconsul.
"""

from __future__ import annotations

import msgspec
from google.protobuf.message import DecodeError
from msgspec.structs import replace

from proconsul.structs import pbpeerstream as pb
from proconsul.structs.catalog import (
    HEALTH_CRITICAL,
    HEALTH_PASSING,
    HEALTH_WARNING,
    CheckServiceNode,
    HealthCheck,
)

__all__ = [
    "KNOWN_URLS",
    "PayloadError",
    "decode_addresses",
    "decode_service",
    "decode_service_list",
    "decode_trust_bundle",
    "encode_addresses",
    "encode_service",
    "encode_service_list",
    "encode_trust_bundle",
    "exported_instance",
    "imported_instance",
]

KNOWN_URLS = frozenset({pb.TYPE_URL_EXPORTED_SERVICE, pb.TYPE_URL_EXPORTED_SERVICE_LIST,
                        pb.TYPE_URL_PEERING_TRUST_BUNDLE, pb.TYPE_URL_PEERING_SERVER_ADDRESSES})
OVERALL_CHECK = "overall-check"
_SEVERITY = {HEALTH_PASSING: 0, HEALTH_WARNING: 1, HEALTH_CRITICAL: 2}
_NODES = msgspec.msgpack.Decoder(list[CheckServiceNode])
_ENCODER = msgspec.msgpack.Encoder()


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
    return pb.Any(type_url=pb.TYPE_URL_EXPORTED_SERVICE, value=_ENCODER.encode(nodes))


def decode_service(payload: pb.Any) -> list[CheckServiceNode]:
    if payload.type_url != pb.TYPE_URL_EXPORTED_SERVICE:
        raise PayloadError(f"unexpected resource type {payload.type_url!r}")
    try:
        return _NODES.decode(payload.value)
    except msgspec.DecodeError as err:
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


def exported_instance(row: CheckServiceNode) -> CheckServiceNode:
    """What a peer is told of one local instance: node and service without our raft
    indexes, its checks flattened into one ``overall-check`` with the worst status."""
    service = row.Service
    service_id = service.ID or service.Service
    status = HEALTH_PASSING
    for check in row.Checks:
        if _SEVERITY.get(check.Status, 2) > _SEVERITY[status]:
            status = check.Status if check.Status in _SEVERITY else HEALTH_CRITICAL
    checks = [HealthCheck(Node=row.Node.Node, CheckID=f"{service_id}:{OVERALL_CHECK}",
                          Name=OVERALL_CHECK, Status=status, ServiceID=service_id,
                          ServiceName=service.Service)] if row.Checks else []
    return CheckServiceNode(Node=replace(row.Node, CreateIndex=0, ModifyIndex=0),
                            Service=replace(service, CreateIndex=0, ModifyIndex=0),
                            Checks=checks)


def imported_instance(row: CheckServiceNode, peer_name: str) -> CheckServiceNode:
    """A peer's exported instance as we store it: every part tagged with the peering's
    local name."""
    return CheckServiceNode(Node=replace(row.Node, PeerName=peer_name),
                            Service=replace(row.Service, PeerName=peer_name),
                            Checks=[replace(c, PeerName=peer_name) for c in row.Checks])
