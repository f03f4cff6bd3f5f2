"""Consul's peering gRPC messages, built at import time from descriptors (no protoc, no
generated files) with the field numbers of Consul's proto files:
``hashicorp.consul.internal.peerstream`` (ReplicationMessage, ExchangeSecret*), the
``hashicorp.consul.internal.peering`` messages the stream carries, the
``hashicorp.consul.internal.service`` messages of an exported service's instances
(IndexedCheckServiceNodes, with the fields a peer is sent), and the ``status``/``common``
messages they use (google.protobuf.Any for payloads)."""

from __future__ import annotations

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
STRING, INT32, UINT64, MESSAGE, ENUM, BOOL = (_F.TYPE_STRING, _F.TYPE_INT32, _F.TYPE_UINT64,
                                              _F.TYPE_MESSAGE, _F.TYPE_ENUM, _F.TYPE_BOOL)
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


def _map(name: str, number: int, owner: str, value: int = STRING, value_type: str = ""
         ) -> tuple[_F, descriptor_pb2.DescriptorProto]:
    """A ``map<string, value>`` field of message ``owner`` (full name) and its entry type."""
    entry = f"{name}Entry"
    message = _message(entry, _field("key", 1, STRING), _field("value", 2, value, value_type))
    message.options.map_entry = True
    return _field(name, number, MESSAGE, f"{owner}.{entry}", REPEATED), message


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

_SVC = "hashicorp.consul.internal.service"
_NODE_TAGGED, _NODE_TAGGED_ENTRY = _map("TaggedAddresses", 5, f".{_SVC}.Node")
_NODE_META, _NODE_META_ENTRY = _map("Meta", 6, f".{_SVC}.Node")
_SVC_TAGGED, _SVC_TAGGED_ENTRY = _map("TaggedAddresses", 15, f".{_SVC}.NodeService", MESSAGE,
                                      f".{_SVC}.ServiceAddress")
_SVC_META, _SVC_META_ENTRY = _map("Meta", 6, f".{_SVC}.NodeService")
# the fields a peer is sent (Consul's node.proto, service.proto, healthcheck.proto numbers);
# others a Consul peer sends are kept as unknown fields and ignored
_file("private/pbservice/node.proto", _SVC, [
    _message("IndexedCheckServiceNodes", _field("Index", 1, UINT64),
             _field("Nodes", 2, MESSAGE, f".{_SVC}.CheckServiceNode", REPEATED)),
    _message("CheckServiceNode", _field("Node", 1, MESSAGE, f".{_SVC}.Node"),
             _field("Service", 2, MESSAGE, f".{_SVC}.NodeService"),
             _field("Checks", 3, MESSAGE, f".{_SVC}.HealthCheck", REPEATED)),
    _message("Node", _field("ID", 1, STRING), _field("Node", 2, STRING),
             _field("Address", 3, STRING), _field("Datacenter", 4, STRING), _NODE_TAGGED,
             _NODE_META, _field("Partition", 8, STRING), _field("PeerName", 9, STRING),
             _field("Locality", 10, MESSAGE, f".{_COMMON}.Locality"),
             nested=(_NODE_TAGGED_ENTRY, _NODE_META_ENTRY)),
    _message("NodeService", _field("Kind", 1, STRING), _field("ID", 2, STRING),
             _field("Service", 3, STRING), _field("Tags", 4, STRING, label=REPEATED),
             _field("Address", 5, STRING), _SVC_META, _field("Port", 7, INT32),
             _field("Weights", 8, MESSAGE, f".{_SVC}.Weights"),
             _field("EnableTagOverride", 9, BOOL),
             _field("Proxy", 11, MESSAGE, f".{_SVC}.ConnectProxyConfig"),
             _field("Connect", 12, MESSAGE, f".{_SVC}.ServiceConnect"), _SVC_TAGGED,
             _field("SocketPath", 17, STRING), _field("PeerName", 18, STRING),
             _field("Locality", 19, MESSAGE, f".{_COMMON}.Locality"),
             _field("Ports", 20, MESSAGE, f".{_SVC}.ServicePort", REPEATED),
             nested=(_SVC_TAGGED_ENTRY, _SVC_META_ENTRY)),
    _message("ConnectProxyConfig", _field("DestinationServiceName", 1, STRING),
             _field("DestinationServiceID", 2, STRING),
             _field("LocalServiceAddress", 3, STRING), _field("LocalServicePort", 4, INT32),
             _field("Mode", 9, STRING), _field("LocalServiceSocketPath", 11, STRING)),
    _message("ServiceConnect", _field("Native", 1, BOOL),
             _field("PeerMeta", 4, MESSAGE, f".{_SVC}.PeeringServiceMeta")),
    _message("PeeringServiceMeta", _field("SNI", 1, STRING, label=REPEATED),
             _field("SpiffeID", 2, STRING, label=REPEATED), _field("Protocol", 3, STRING)),
    _message("ServicePort", _field("Port", 1, INT32), _field("Name", 2, STRING),
             _field("Default", 3, BOOL)),
    _message("ServiceAddress", _field("Address", 1, STRING), _field("Port", 2, INT32)),
    _message("Weights", _field("Passing", 1, INT32), _field("Warning", 2, INT32)),
    _message("HealthCheck", _field("Node", 1, STRING), _field("CheckID", 2, STRING),
             _field("Name", 3, STRING), _field("Status", 4, STRING),
             _field("Notes", 5, STRING), _field("Output", 6, STRING),
             _field("ServiceID", 7, STRING), _field("ServiceName", 8, STRING),
             _field("ServiceTags", 9, STRING, label=REPEATED), _field("Type", 12, STRING),
             _field("ExposedPort", 14, INT32), _field("Interval", 15, STRING),
             _field("Timeout", 16, STRING), _field("PeerName", 17, STRING)),
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
IndexedCheckServiceNodes = _class(f"{_SVC}.IndexedCheckServiceNodes")
TYPE_URL_INDEXED_CHECK_SERVICE_NODES = (
    f"type.googleapis.com/{_SVC}.IndexedCheckServiceNodes")  # an ExportedService's payload
LeaderAddress = _class(f"{_STREAM}.LeaderAddress")
ExportedServiceList = _class(f"{_STREAM}.ExportedServiceList")
ExchangeSecretRequest = _class(f"{_STREAM}.ExchangeSecretRequest")
ExchangeSecretResponse = _class(f"{_STREAM}.ExchangeSecretResponse")
OPERATION_UNSPECIFIED = 0
OPERATION_UPSERT = 1
