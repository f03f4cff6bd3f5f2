"""An exported service's instances in Consul's pbservice protobuf: the field numbers are
Consul's (node.proto, service.proto, healthcheck.proto), the bytes are what those numbers
give, and our rows survive the round trip through the stream's payload."""

from __future__ import annotations

from proconsul.server.peering.stream import resources, service_pb
from proconsul.structs import pbpeerstream as pb
from proconsul.structs.catalog import (
    CheckServiceNode,
    ConnectProxyConfig,
    HealthCheck,
    Locality,
    Node,
    NodeService,
    ServiceAddress,
    ServiceConnect,
    ServicePort,
    Weights,
)

CONSUL_NUMBERS = {
    "IndexedCheckServiceNodes": {"Index": 1, "Nodes": 2},
    "CheckServiceNode": {"Node": 1, "Service": 2, "Checks": 3},
    "Node": {"ID": 1, "Node": 2, "Address": 3, "Datacenter": 4, "TaggedAddresses": 5,
             "Meta": 6, "Partition": 8, "PeerName": 9, "Locality": 10},
    "NodeService": {"Kind": 1, "ID": 2, "Service": 3, "Tags": 4, "Address": 5, "Meta": 6,
                    "Port": 7, "Weights": 8, "EnableTagOverride": 9, "Proxy": 11,
                    "Connect": 12, "TaggedAddresses": 15, "SocketPath": 17, "PeerName": 18,
                    "Locality": 19, "Ports": 20},
    "ConnectProxyConfig": {"DestinationServiceName": 1, "DestinationServiceID": 2,
                           "LocalServiceAddress": 3, "LocalServicePort": 4, "Mode": 9,
                           "LocalServiceSocketPath": 11},
    "ServiceConnect": {"Native": 1, "PeerMeta": 4},
    "PeeringServiceMeta": {"SNI": 1, "SpiffeID": 2, "Protocol": 3},
    "ServicePort": {"Port": 1, "Name": 2, "Default": 3},
    "ServiceAddress": {"Address": 1, "Port": 2},
    "Weights": {"Passing": 1, "Warning": 2},
    "HealthCheck": {"Node": 1, "CheckID": 2, "Name": 3, "Status": 4, "Notes": 5, "Output": 6,
                    "ServiceID": 7, "ServiceName": 8, "ServiceTags": 9, "Type": 12,
                    "ExposedPort": 14, "Interval": 15, "Timeout": 16, "PeerName": 17},
}


def test_field_numbers_are_consuls():
    pool = pb.IndexedCheckServiceNodes.DESCRIPTOR.file.pool
    for message, numbers in CONSUL_NUMBERS.items():
        descriptor = pool.FindMessageTypeByName(f"hashicorp.consul.internal.service.{message}")
        assert {f.name: f.number for f in descriptor.fields} == numbers, message
    assert pb.TYPE_URL_INDEXED_CHECK_SERVICE_NODES == (
        "type.googleapis.com/hashicorp.consul.internal.service.IndexedCheckServiceNodes")


def test_the_bytes_follow_the_field_numbers():
    row = CheckServiceNode(Node=Node(Node="n"), Checks=[],
                           Service=NodeService(ID="s", Port=80, PeerName="p"))
    wire = service_pb.to_pb([row]).SerializeToString(deterministic=True)
    service = b"\x12\x01s" + b"\x38\x50" + b"\x5a\x00" + b"\x62\x00" + b"\x92\x01\x01p"
    node = b"\x12\x01n"
    csn = b"\x0a" + bytes([len(node)]) + node + b"\x12" + bytes([len(service)]) + service
    assert wire == b"\x12" + bytes([len(csn)]) + csn


def full_row() -> CheckServiceNode:
    return CheckServiceNode(
        Node=Node(ID="2b5e4c9a-0000-4000-8000-000000000001", Node="n1", Address="10.0.0.1",
                  Datacenter="dc1", TaggedAddresses={"lan": "10.0.0.1", "wan": "192.0.2.1"},
                  Meta={"rack": "r1"}, Partition="default", PeerName="dc1",
                  Locality={"Region": "eu", "Zone": "eu-1a"}),
        Service=NodeService(
            Kind="connect-proxy", ID="web-proxy", Service="web-sidecar-proxy",
            Tags=["a", "b"], Address="10.0.0.2", Meta={"v": "1"}, Port=21000,
            Weights=Weights(Passing=3, Warning=1), EnableTagOverride=True,
            Proxy=ConnectProxyConfig(DestinationServiceName="web", DestinationServiceID="web-1",
                                     LocalServiceAddress="127.0.0.1", LocalServicePort=8080,
                                     Mode="transparent"),
            Connect=ServiceConnect(Native=True),
            TaggedAddresses={"lan_ipv4": ServiceAddress(Address="10.0.0.2", Port=21000)},
            SocketPath="/run/web.sock", Locality=Locality(Region="eu", Zone="eu-1a"),
            Ports=[ServicePort(Name="http", Port=21000, Default=True)], PeerName="dc1"),
        Checks=[HealthCheck(Node="n1", CheckID="web-proxy:overall-check", Name="overall-check",
                            Status="warning", Notes="n", Output="o", ServiceID="web-proxy",
                            ServiceName="web-sidecar-proxy", ServiceTags=["a"], Type="ttl",
                            Interval="10s", Timeout="1s", ExposedPort=9, PeerName="dc1")])


def test_rows_survive_the_round_trip():
    bare = CheckServiceNode(Node=Node(Node="n"), Service=NodeService(ID="s", Service="s"),
                            Checks=[HealthCheck(Node="n", CheckID="c")])
    synthetic = resources.synthetic_proxies(
        "web", resources.MeshSite("dc2", "dc1", "abc.consul", "http"),
        [CheckServiceNode(Node=Node(Node="gw", Address="10.0.0.9"), Checks=[],
                          Service=NodeService(ID="gw", Service="gw", Port=8443,
                                              Kind="mesh-gateway"))])
    rows = [full_row(), bare, resources.exported_instance(full_row()), *synthetic]
    payload = resources.encode_service(rows)
    assert payload.type_url == pb.TYPE_URL_INDEXED_CHECK_SERVICE_NODES
    assert resources.decode_service(payload) == rows
    assert resources.encode_service(rows) == payload  # deterministic: unchanged, not resent
