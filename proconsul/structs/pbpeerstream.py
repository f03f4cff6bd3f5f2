"""Consul's peering gRPC messages, built at import time from descriptors (no protoc, no
generated files) with the field numbers of Consul's proto files:
``hashicorp.consul.internal.peerstream`` (ReplicationMessage, ExchangeSecret*), the
``hashicorp.consul.internal.peering`` messages the stream carries, and the
``status``/``common`` messages they use (google.protobuf.Any for payloads)."""

from __future__ import annotations

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
STRING, INT32, UINT64, MESSAGE, ENUM = (_F.TYPE_STRING, _F.TYPE_INT32, _F.TYPE_UINT64,
                                        _F.TYPE_MESSAGE, _F.TYPE_ENUM)
OPTIONAL, REPEATED = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED

SERVICE = "hashicorp.consul.internal.peerstream.PeerStreamService"
STREAM_RESOURCES = f"/{SERVICE}/StreamResources"
EXCHANGE_SECRET = f"/{SERVICE}/ExchangeSecret"

# ResourceURLs the stream replicates (Consul's pbpeerstream constants)
TYPE_URL_EXPORTED_SERVICE = "type.googleapis.com/hashicorp.consul.internal.peerstream.ExportedService"
TYPE_URL_EXPORTED_SERVICE_LIST = (
    "type.googleapis.com/hashicorp.consul.internal.peerstream.ExportedServiceList")
TYPE_URL_PEERING_TRUST_BUNDLE = (
    "type.googleapis.com/hashicorp.consul.internal.peering.PeeringTrustBundle")
TYPE_URL_PEERING_SERVER_ADDRESSES = (
    "type.googleapis.com/hashicorp.consul.internal.peering.PeeringServerAddresses")

_POOL = descriptor_pool.Default()


def _field(name: str, number: int, kind: int, type_name: str = "", label: int = OPTIONAL,
           oneof: int | None = None) -> _F:
    field = _F(name=name, number=number, type=kind, label=label, json_name=name)
    if type_name:
        field.type_name = type_name
    if oneof is not None:
        field.oneof_index = oneof
    return field


def _message(name: str, *fields: _F, nested: tuple = (), oneofs: tuple[str, ...] = ()
             ) -> descriptor_pb2.DescriptorProto:
    message = descriptor_pb2.DescriptorProto(name=name, field=list(fields),
                                             nested_type=list(nested))
    for oneof in oneofs:
        message.oneof_decl.add(name=oneof)
    return message


def _file(name: str, package: str, messages: list, deps: tuple[str, ...] = (),
          enums: tuple = ()) -> None:
    proto = descriptor_pb2.FileDescriptorProto(name=name, package=package, syntax="proto3",
                                               dependency=list(deps), message_type=messages,
                                               enum_type=list(enums))
    _POOL.Add(proto)


_STATUS = "hashicorp.consul.internal.status"
_COMMON = "hashicorp.consul.internal.common"
_PEERING = "hashicorp.consul.internal.peering"
_STREAM = "hashicorp.consul.internal.peerstream"

_file("private/pbstatus/status.proto", _STATUS, [
    _message("Status", _field("code", 1, INT32), _field("message", 2, STRING),
             _field("details", 3, MESSAGE, ".google.protobuf.Any", REPEATED)),
], deps=("google/protobuf/any.proto",))

_file("private/pbcommon/locality.proto", _COMMON, [
    _message("Locality", _field("Region", 1, STRING), _field("Zone", 2, STRING)),
])

_file("private/pbpeering/peering_stream_types.proto", _PEERING, [
    _message("RemoteInfo", _field("Partition", 1, STRING), _field("Datacenter", 2, STRING),
             _field("Locality", 3, MESSAGE, f".{_COMMON}.Locality")),
    _message("PeeringTrustBundle",
             _field("TrustDomain", 1, STRING), _field("PeerName", 2, STRING),
             _field("Partition", 3, STRING), _field("RootPEMs", 4, STRING, label=REPEATED),
             _field("ExportedPartition", 5, STRING), _field("CreateIndex", 6, UINT64),
             _field("ModifyIndex", 7, UINT64)),
    _message("PeeringServerAddresses", _field("Addresses", 1, STRING, label=REPEATED)),
], deps=("private/pbcommon/locality.proto",))

_R = f".{_STREAM}.ReplicationMessage"
_file("private/pbpeerstream/peerstream.proto", _STREAM, [
    _message(
        "ReplicationMessage",
        _field("open", 1, MESSAGE, f"{_R}.Open", oneof=0),
        _field("request", 2, MESSAGE, f"{_R}.Request", oneof=0),
        _field("response", 3, MESSAGE, f"{_R}.Response", oneof=0),
        _field("terminated", 4, MESSAGE, f"{_R}.Terminated", oneof=0),
        _field("heartbeat", 5, MESSAGE, f"{_R}.Heartbeat", oneof=0),
        nested=(
            _message("Open", _field("PeerID", 1, STRING), _field("StreamSecretID", 2, STRING),
                     _field("Remote", 3, MESSAGE, f".{_PEERING}.RemoteInfo")),
            _message("Request", _field("PeerID", 1, STRING),
                     _field("ResponseNonce", 2, STRING), _field("ResourceURL", 3, STRING),
                     _field("Error", 5, MESSAGE, f".{_STATUS}.Status")),
            _message("Response", _field("Nonce", 1, STRING), _field("ResourceURL", 2, STRING),
                     _field("ResourceID", 3, STRING),
                     _field("Resource", 4, MESSAGE, ".google.protobuf.Any"),
                     _field("operation", 5, ENUM, f".{_STREAM}.Operation")),
            _message("Terminated"),
            _message("Heartbeat"),
        ),
        oneofs=("Payload",)),
    _message("LeaderAddress", _field("address", 1, STRING)),
    _message("ExportedServiceList", _field("Services", 1, STRING, label=REPEATED)),
    _message("ExchangeSecretRequest", _field("PeerID", 1, STRING),
             _field("EstablishmentSecret", 2, STRING)),
    _message("ExchangeSecretResponse", _field("StreamSecret", 1, STRING)),
], deps=("google/protobuf/any.proto", "private/pbstatus/status.proto",
         "private/pbpeering/peering_stream_types.proto"),
    enums=(descriptor_pb2.EnumDescriptorProto(name="Operation", value=[
        descriptor_pb2.EnumValueDescriptorProto(name="OPERATION_UNSPECIFIED", number=0),
        descriptor_pb2.EnumValueDescriptorProto(name="OPERATION_UPSERT", number=1)]),))


def _class(full_name: str) -> type:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(full_name))


Any = any_pb2.Any
Status = _class(f"{_STATUS}.Status")
Locality = _class(f"{_COMMON}.Locality")
RemoteInfo = _class(f"{_PEERING}.RemoteInfo")
PeeringTrustBundle = _class(f"{_PEERING}.PeeringTrustBundle")
PeeringServerAddresses = _class(f"{_PEERING}.PeeringServerAddresses")
ReplicationMessage = _class(f"{_STREAM}.ReplicationMessage")
LeaderAddress = _class(f"{_STREAM}.LeaderAddress")
ExportedServiceList = _class(f"{_STREAM}.ExportedServiceList")
ExchangeSecretRequest = _class(f"{_STREAM}.ExchangeSecretRequest")
ExchangeSecretResponse = _class(f"{_STREAM}.ExchangeSecretResponse")
OPERATION_UNSPECIFIED = 0
OPERATION_UPSERT = 1
