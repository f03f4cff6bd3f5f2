"""KV store types."""

from __future__ import annotations

from enum import StrEnum

from proconsul.structs.base import UNSET, Record, Uint64, UnsetType


class DirEntry(Record):
    """A KV pair (``KVPair`` in the HTTP API); Value is raw bytes (base64 in JSON)."""

    Key: str = ""
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0
    LockIndex: Uint64 = 0
    Flags: Uint64 = 0
    Value: bytes | None = None
    Session: str | UnsetType = UNSET


class KVOp(StrEnum):
    """Operations of KVS.Apply (and the KV verbs of transactions)."""

    SET = "set"
    DELETE = "delete"
    DELETE_CAS = "delete-cas"
    DELETE_TREE = "delete-tree"
    CAS = "cas"
    LOCK = "lock"
    UNLOCK = "unlock"
    GET = "get"
    GET_OR_EMPTY = "get-or-empty"
    GET_TREE = "get-tree"
    CHECK_SESSION = "check-session"
    CHECK_INDEX = "check-index"
    CHECK_NOT_EXISTS = "check-not-exists"


class KVSRequest(Record):
    """KVS.Apply request: one operation on one entry."""

    Op: str
    DirEnt: DirEntry
    Datacenter: str = ""
    Token: str = ""


class TombstoneRequest(Record):
    """Reap KV tombstones up to ReapIndex (issued by the leader)."""

    Op: str = "reap"
    ReapIndex: Uint64 = 0
    Datacenter: str = ""
