"""Peering wire shapes: the token's base64 JSON, the Peering JSON field names of Consul's
api package, and the peerstream protobuf messages with Consul's field numbers."""

from __future__ import annotations

import base64
import json

import msgspec
import pytest

from proconsul.structs import pbpeerstream as pb
from proconsul.structs.peering import (
    Peering,
    PeeringRemoteInfo,
    PeeringToken,
    TokenDecodeError,
    decode_token,
    encode_token,
)


def test_a_token_is_base64_json_with_consuls_names_and_round_trips():
    token = PeeringToken(CA=["pem"], ServerAddresses=["127.0.0.2:8503"],
                         ServerName="server.dc1.peering.t.consul", PeerID="id",
                         EstablishmentSecret="secret",
                         Remote=PeeringRemoteInfo(Partition="", Datacenter="dc1"))
    text = encode_token(token)
    raw = json.loads(base64.b64decode(text))
    assert set(raw) == {"CA", "ManualServerAddresses", "ServerAddresses", "ServerName",
                        "PeerID", "EstablishmentSecret", "Remote"}
    assert raw["Remote"] == {"Partition": "", "Datacenter": "dc1"}
    assert decode_token(text) == token


@pytest.mark.parametrize("text, message", [
    ("not base64!", "failed to decode peering token: illegal base64 data"),
    (base64.b64encode(b"[1]").decode(), "failed to decode peering token: Expected `object`"),
])
def test_a_bad_token_is_refused(text, message):
    with pytest.raises(TokenDecodeError, match=message.replace("`", ".")):
        decode_token(text)


def test_peering_json_uses_the_api_names_and_omits_empty_optionals():
    shown = msgspec.to_builtins(Peering(ID="i", Name="n", State="PENDING"))
    assert shown == {
        "ID": "i", "Name": "n", "State": "PENDING",
        "StreamStatus": {"ImportedServices": None, "ExportedServices": None,
                         "LastHeartbeat": None, "LastReceive": None, "LastSend": None},
        "CreateIndex": 0, "ModifyIndex": 0, "Remote": {"Partition": "", "Datacenter": ""}}


def _numbers(message) -> dict[str, int]:
    return {f.name: f.number for f in message.DESCRIPTOR.fields}


def test_peerstream_messages_have_consuls_field_numbers():
    assert pb.ReplicationMessage.DESCRIPTOR.full_name == (
        "hashicorp.consul.internal.peerstream.ReplicationMessage")
    assert _numbers(pb.ReplicationMessage) == {
        "open": 1, "request": 2, "response": 3, "terminated": 4, "heartbeat": 5}
    assert [f.name for f in pb.ReplicationMessage.DESCRIPTOR.oneofs_by_name["Payload"].fields
            ] == ["open", "request", "response", "terminated", "heartbeat"]
    assert _numbers(pb.ReplicationMessage.Open) == {
        "PeerID": 1, "StreamSecretID": 2, "Remote": 3}
    assert _numbers(pb.ReplicationMessage.Request) == {
        "PeerID": 1, "ResponseNonce": 2, "ResourceURL": 3, "Error": 5}
    assert _numbers(pb.ReplicationMessage.Response) == {
        "Nonce": 1, "ResourceURL": 2, "ResourceID": 3, "Resource": 4, "operation": 5}
    assert _numbers(pb.ExchangeSecretRequest) == {"PeerID": 1, "EstablishmentSecret": 2}
    assert _numbers(pb.ExchangeSecretResponse) == {"StreamSecret": 1}
    assert _numbers(pb.RemoteInfo) == {"Partition": 1, "Datacenter": 2, "Locality": 3}
    assert _numbers(pb.PeeringTrustBundle) == {
        "TrustDomain": 1, "PeerName": 2, "Partition": 3, "RootPEMs": 4,
        "ExportedPartition": 5, "CreateIndex": 6, "ModifyIndex": 7}
    assert _numbers(pb.PeeringServerAddresses) == {"Addresses": 1}
    assert _numbers(pb.Status) == {"code": 1, "message": 2, "details": 3}
    assert pb.EXCHANGE_SECRET == (
        "/hashicorp.consul.internal.peerstream.PeerStreamService/ExchangeSecret")


def test_replication_messages_round_trip_with_any_payloads():
    bundle = pb.PeeringTrustBundle(TrustDomain="t.consul", PeerName="dc1", RootPEMs=["a"])
    resource = pb.Any()
    resource.Pack(bundle)
    assert resource.type_url == pb.TYPE_URL_PEERING_TRUST_BUNDLE
    message = pb.ReplicationMessage(response=pb.ReplicationMessage.Response(
        Nonce="1", ResourceURL=pb.TYPE_URL_PEERING_TRUST_BUNDLE, Resource=resource,
        operation=pb.OPERATION_UPSERT))
    back = pb.ReplicationMessage.FromString(message.SerializeToString())
    assert back.WhichOneof("Payload") == "response"
    unpacked = pb.PeeringTrustBundle()
    assert back.response.Resource.Unpack(unpacked) and unpacked == bundle
    # bytes as Go's protobuf would write them: field 1 (open), PeerID field 1
    opened = pb.ReplicationMessage(open=pb.ReplicationMessage.Open(PeerID="x"))
    assert opened.SerializeToString() == b"\x0a\x03\x0a\x01x"
    assert pb.ReplicationMessage(heartbeat=pb.ReplicationMessage.Heartbeat()
                                 ).SerializeToString() == b"\x2a\x00"
