"""System metadata: small key/value facts the servers keep in raft for themselves
(Consul's SystemMetadataEntry, raft message type 31), e.g. how far replication from
the primary datacenter has got."""

from __future__ import annotations

from proconsul.structs.base import Record, Uint64

SYSTEM_METADATA_UPSERT = "upsert"
SYSTEM_METADATA_DELETE = "delete"
# the key of the servers' internal management secret (Consul's ServerManagementTokenAccessorID):
# a fresh one is written by each new leader; servers use it to call themselves (their
# peering certificate) and resolve it as a management token that no operator holds
SERVER_MANAGEMENT_TOKEN = "server-management-token"


class SystemMetadataEntry(Record):
    """One key and its value."""

    Key: str = ""
    Value: str = ""
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0


class SystemMetadataRequest(Record):
    """A raft command setting (``upsert``) or removing (``delete``) one entry."""

    Op: str = ""
    Datacenter: str = ""
    Entry: SystemMetadataEntry | None = None
    Token: str = ""
