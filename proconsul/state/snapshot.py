"""Streaming the whole state out and back in, one framed record at a time.

Format: a header record, then records ``[kind u8][length u32 BE][msgpack]``
and an end record. A snapshot holds shallow copies of the tables (rows are
immutable), so writes may continue while it streams and memory stays bounded
by one record.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Any, BinaryIO

import msgspec

from proconsul.state.catalog import StoredService
from proconsul.state.kvs import Tombstone
from proconsul.structs.acl import ACLAuthMethod, ACLBindingRule, ACLPolicy, ACLRole, ACLToken
from proconsul.structs.catalog import HealthCheck, Node
from proconsul.structs.connect import CAConfiguration, CAConsulProviderState, CARoot
from proconsul.structs.coordinate import CoordinateEntry
from proconsul.structs.federation_state import FederationState
from proconsul.structs.kv import DirEntry
from proconsul.structs.operator import AutopilotConfig
from proconsul.structs.peering import Peering, PeeringSecrets, PeeringTrustBundle
from proconsul.structs.prepared_query import PreparedQuery
from proconsul.structs.session import Session
from proconsul.structs.system_metadata import SystemMetadataEntry
from proconsul.structs.virtual_ip import FreeVirtualIP, ServiceVirtualIP

MAGIC = b"PCSNAP1\n"
_FRAME = struct.Struct(">BI")
FRAME_SIZE = _FRAME.size


class RecordKind(IntEnum):
    """What one snapshot record holds."""

    END = 0
    INDEXES = 1
    NODE = 2
    SERVICE = 3
    CHECK = 4
    KV = 5
    TOMBSTONE = 6
    SESSION = 7
    COORDINATE = 8
    AUTOPILOT = 9
    CA_ROOT = 20
    CA_CONFIG = 21
    CA_PROVIDER_STATE = 22
    CONFIG_ENTRY = 23
    PREPARED_QUERY = 40
    ACL_TOKEN = 30
    ACL_POLICY = 31
    ACL_ROLE = 32
    ACL_AUTH_METHOD = 33
    ACL_BINDING_RULE = 34
    SYSTEM_METADATA = 50
    FEDERATION_STATE = 51
    SERVICE_VIRTUAL_IP = 52
    FREE_VIRTUAL_IP = 53
    PEERING = 54
    PEERING_TRUST_BUNDLE = 55
    PEERING_SECRETS = 56
    PEER_INDEXES = 57


RECORD_TYPES: dict[RecordKind, type] = {
    RecordKind.INDEXES: dict[str, int],
    RecordKind.NODE: Node,
    RecordKind.SERVICE: StoredService,
    RecordKind.CHECK: HealthCheck,
    RecordKind.KV: DirEntry,
    RecordKind.TOMBSTONE: Tombstone,
    RecordKind.SESSION: Session,
    RecordKind.COORDINATE: CoordinateEntry,
    RecordKind.AUTOPILOT: AutopilotConfig,
    RecordKind.CONFIG_ENTRY: dict[str, Any],
    RecordKind.CA_ROOT: CARoot,
    RecordKind.CA_CONFIG: CAConfiguration,
    RecordKind.CA_PROVIDER_STATE: CAConsulProviderState,
    RecordKind.PREPARED_QUERY: PreparedQuery,
    RecordKind.ACL_TOKEN: ACLToken,
    RecordKind.ACL_POLICY: ACLPolicy,
    RecordKind.ACL_ROLE: ACLRole,
    RecordKind.ACL_AUTH_METHOD: ACLAuthMethod,
    RecordKind.ACL_BINDING_RULE: ACLBindingRule,
    RecordKind.SYSTEM_METADATA: SystemMetadataEntry,
    RecordKind.FEDERATION_STATE: FederationState,
    RecordKind.SERVICE_VIRTUAL_IP: ServiceVirtualIP,
    RecordKind.FREE_VIRTUAL_IP: FreeVirtualIP,
    RecordKind.PEERING: Peering,
    RecordKind.PEERING_TRUST_BUNDLE: PeeringTrustBundle,
    RecordKind.PEERING_SECRETS: PeeringSecrets,
    RecordKind.PEER_INDEXES: dict[str, dict[str, int]],
}
CA_RECORD_KINDS = frozenset({RecordKind.CA_ROOT, RecordKind.CA_CONFIG,
                             RecordKind.CA_PROVIDER_STATE})
ACL_RECORD_KINDS = frozenset({RecordKind.ACL_TOKEN, RecordKind.ACL_POLICY, RecordKind.ACL_ROLE,
                              RecordKind.ACL_AUTH_METHOD, RecordKind.ACL_BINDING_RULE})
_DECODERS = {kind: msgspec.msgpack.Decoder(t) for kind, t in RECORD_TYPES.items()}
_KIND_OF_BYTE = {int(kind): kind for kind in RecordKind}


class SnapshotError(ValueError):
    """A snapshot stream is corrupt or truncated."""


class StateSnapshot:
    """A point-in-time copy of the store's rows, ready to stream."""

    def __init__(self, store) -> None:
        self.indexes = dict(store.indexes)
        self.tables = [
            (RecordKind.NODE, list(store.nodes.rows())),
            (RecordKind.SERVICE, list(store.services.rows())),
            (RecordKind.CHECK, list(store.checks.rows())),
            (RecordKind.KV, list(store.kvs.rows())),
            (RecordKind.TOMBSTONE, list(store.tombstones.rows())),
            (RecordKind.SESSION, list(store.sessions.rows())),
            (RecordKind.COORDINATE, list(store.coordinates.rows())),
            (RecordKind.AUTOPILOT, [store.autopilot_config] if store.autopilot_config else []),
            (RecordKind.CONFIG_ENTRY, list(store.config_entries.rows())),
            *store.ca_snapshot_tables(),
            (RecordKind.PREPARED_QUERY, list(store.prepared_queries.rows())),
            *store.acl_snapshot_tables(),
            *store.system_metadata_snapshot_tables(),
            *store.federation_state_snapshot_tables(),
            *store.virtual_ip_snapshot_tables(),
            *store.peering_snapshot_tables(),
            *store.imported_snapshot_tables(),
        ]

    def write(self, sink: BinaryIO) -> None:
        for chunk in self.chunks():
            sink.write(chunk)

    def chunks(self):
        """The stream as a sequence of byte strings (the same bytes every time: the rows
        are immutable), so it can be measured in one pass and written in another."""
        encoder = msgspec.msgpack.Encoder()
        yield MAGIC
        yield _record(RecordKind.INDEXES, encoder.encode(self.indexes))
        for kind, rows in self.tables:
            for row in rows:
                yield _record(kind, encoder.encode(row))
        yield _record(RecordKind.END, b"")

    def release(self) -> None:
        self.tables = []


def _record(kind: RecordKind, payload: bytes) -> bytes:
    return _FRAME.pack(kind, len(payload)) + payload


def _read_exact(source: BinaryIO, size: int) -> bytes:
    data = source.read(size)
    if len(data) != size:
        raise SnapshotError("snapshot is truncated")
    return data


def read_frames(source: BinaryIO):
    """Yield ``(kind, payload)`` for each record of a snapshot stream, undecoded
    (``snapshot inspect`` sizes them), validating the framing."""
    if _read_exact(source, len(MAGIC)) != MAGIC:
        raise SnapshotError("not a Proconsul state snapshot")
    # Restore runs this loop once per row of the whole state: kept to plain calls.
    read, unpack, frame_size, kinds = source.read, _FRAME.unpack, _FRAME.size, _KIND_OF_BYTE
    while True:
        header = read(frame_size)
        if len(header) != frame_size:
            raise SnapshotError("snapshot is truncated")
        kind_byte, length = unpack(header)
        kind = kinds.get(kind_byte)
        if kind is None:
            raise SnapshotError(f"unknown snapshot record kind {kind_byte}")
        payload = read(length)
        if len(payload) != length:
            raise SnapshotError("snapshot is truncated")
        if kind is RecordKind.END:
            return
        yield kind, payload


def decode_record(kind: RecordKind, payload: bytes):
    try:
        return _DECODERS[kind].decode(payload)
    except msgspec.DecodeError as err:
        raise SnapshotError(f"corrupt {kind.name.lower()} record: {err}") from None


def read_records(source: BinaryIO):
    """Yield ``(kind, row)`` pairs from a snapshot stream, validating framing."""
    decoders = _DECODERS
    for kind, payload in read_frames(source):
        try:
            row = decoders[kind].decode(payload)
        except msgspec.DecodeError as err:
            raise SnapshotError(f"corrupt {kind.name.lower()} record: {err}") from None
        yield kind, row
