"""Raft log commands: ``[MessageType byte][msgpack request]`` as Consul writes them."""

from __future__ import annotations

from enum import IntEnum

import msgspec

from proconsul.structs.acl_rpc import (
    ACLAuthMethodBatchDeleteRequest,
    ACLAuthMethodBatchSetRequest,
    ACLBindingRuleBatchDeleteRequest,
    ACLBindingRuleBatchSetRequest,
    ACLPolicyBatchDeleteRequest,
    ACLPolicyBatchSetRequest,
    ACLRoleBatchDeleteRequest,
    ACLRoleBatchSetRequest,
    ACLTokenBatchDeleteRequest,
    ACLTokenBatchSetRequest,
    ACLTokenBootstrapRequest,
)
from proconsul.structs.catalog import DeregisterRequest, RegisterRequest
from proconsul.structs.config_entry_rpc import ConfigEntryRequest
from proconsul.structs.connect import CARequest
from proconsul.structs.coordinate import CoordinateBatchRequest
from proconsul.structs.federation_state import FederationStateRequest
from proconsul.structs.kv import KVSRequest, TombstoneRequest
from proconsul.structs.operator import AutopilotSetConfigRequest
from proconsul.structs.peering import (
    PeeringDeleteRequest,
    PeeringSecretsWriteRequest,
    PeeringTerminateByIDRequest,
    PeeringTrustBundleDeleteRequest,
    PeeringTrustBundleWriteRequest,
    PeeringWriteRequest,
)
from proconsul.structs.prepared_query import PreparedQueryRequest
from proconsul.structs.session import SessionRequest
from proconsul.structs.system_metadata import SystemMetadataRequest
from proconsul.structs.txn import TxnRequest
from proconsul.structs.virtual_ip import ServiceVirtualIP

IGNORE_UNKNOWN_TYPE_FLAG = 128


class MessageType(IntEnum):
    """Consul's FSM message type numbers (only the ones this build applies are listed)."""

    REGISTER = 0
    DEREGISTER = 1
    KVS = 2
    SESSION = 3
    TOMBSTONE = 5
    COORDINATE_BATCH_UPDATE = 6
    PREPARED_QUERY = 7
    TXN = 8
    AUTOPILOT = 9
    CONNECT_CA = 13
    CONFIG_ENTRY = 22
    ACL_BOOTSTRAP = 11
    ACL_TOKEN_SET = 17
    ACL_TOKEN_DELETE = 18
    ACL_POLICY_SET = 19
    ACL_POLICY_DELETE = 20
    ACL_ROLE_SET = 23
    ACL_ROLE_DELETE = 24
    ACL_BINDING_RULE_SET = 25
    ACL_BINDING_RULE_DELETE = 26
    ACL_AUTH_METHOD_SET = 27
    ACL_AUTH_METHOD_DELETE = 28
    SYSTEM_METADATA = 31
    FEDERATION_STATE = 30
    PEERING_WRITE = 35
    PEERING_DELETE = 36
    PEERING_TERMINATE_BY_ID = 37
    PEERING_TRUST_BUNDLE_WRITE = 38
    PEERING_TRUST_BUNDLE_DELETE = 39
    PEERING_SECRETS_WRITE = 40
    UPDATE_VIRTUAL_IP = 43


REQUEST_TYPES: dict[MessageType, type] = {
    MessageType.REGISTER: RegisterRequest,
    MessageType.DEREGISTER: DeregisterRequest,
    MessageType.KVS: KVSRequest,
    MessageType.SESSION: SessionRequest,
    MessageType.TOMBSTONE: TombstoneRequest,
    MessageType.COORDINATE_BATCH_UPDATE: CoordinateBatchRequest,
    MessageType.AUTOPILOT: AutopilotSetConfigRequest,
    MessageType.TXN: TxnRequest,
    MessageType.CONFIG_ENTRY: ConfigEntryRequest,
    MessageType.CONNECT_CA: CARequest,
    MessageType.PREPARED_QUERY: PreparedQueryRequest,
    MessageType.ACL_BOOTSTRAP: ACLTokenBootstrapRequest,
    MessageType.ACL_TOKEN_SET: ACLTokenBatchSetRequest,
    MessageType.ACL_TOKEN_DELETE: ACLTokenBatchDeleteRequest,
    MessageType.ACL_POLICY_SET: ACLPolicyBatchSetRequest,
    MessageType.ACL_POLICY_DELETE: ACLPolicyBatchDeleteRequest,
    MessageType.ACL_ROLE_SET: ACLRoleBatchSetRequest,
    MessageType.ACL_ROLE_DELETE: ACLRoleBatchDeleteRequest,
    MessageType.ACL_BINDING_RULE_SET: ACLBindingRuleBatchSetRequest,
    MessageType.ACL_BINDING_RULE_DELETE: ACLBindingRuleBatchDeleteRequest,
    MessageType.ACL_AUTH_METHOD_SET: ACLAuthMethodBatchSetRequest,
    MessageType.ACL_AUTH_METHOD_DELETE: ACLAuthMethodBatchDeleteRequest,
    MessageType.SYSTEM_METADATA: SystemMetadataRequest,
    MessageType.FEDERATION_STATE: FederationStateRequest,
    MessageType.UPDATE_VIRTUAL_IP: ServiceVirtualIP,
    MessageType.PEERING_WRITE: PeeringWriteRequest,
    MessageType.PEERING_DELETE: PeeringDeleteRequest,
    MessageType.PEERING_TERMINATE_BY_ID: PeeringTerminateByIDRequest,
    MessageType.PEERING_TRUST_BUNDLE_WRITE: PeeringTrustBundleWriteRequest,
    MessageType.PEERING_TRUST_BUNDLE_DELETE: PeeringTrustBundleDeleteRequest,
    MessageType.PEERING_SECRETS_WRITE: PeeringSecretsWriteRequest,
}

_encoder = msgspec.msgpack.Encoder()
_type_bytes = {t: bytes([t]) for t in MessageType}
# By type byte: the message type and its request decoder.
_decoders = {int(t): (t, msgspec.msgpack.Decoder(cls)) for t, cls in REQUEST_TYPES.items()}


class UnknownMessageType(ValueError):
    """A command's type byte is neither known nor flagged ignorable."""


def encode_command(message_type: MessageType, request: msgspec.Struct) -> bytes:
    """Encode a request as a raft log command."""
    return _type_bytes[message_type] + _encoder.encode(request)


def request_decoder(message_type: MessageType) -> msgspec.msgpack.Decoder:
    """The decoder of ``message_type``'s request (a command's bytes after its type byte)."""
    return _decoders[message_type][1]


def decode_command(data: bytes) -> tuple[MessageType, msgspec.Struct] | None:
    """Decode a raft log command; None for an unknown type carrying the ignore flag."""
    if not data:
        raise UnknownMessageType("empty raft command")
    type_byte = data[0]
    known = _decoders.get(type_byte)
    if known is None:
        if type_byte & IGNORE_UNKNOWN_TYPE_FLAG:
            return None
        raise UnknownMessageType(f"unknown raft message type {type_byte}")
    message_type, decoder = known
    return message_type, decoder.decode(memoryview(data)[1:])
