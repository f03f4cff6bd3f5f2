"""Transaction types (``/v1/txn`` and Txn.Apply)."""

from __future__ import annotations

from proconsul.structs.base import UNSET, Int, Record, UnsetType
from proconsul.structs.catalog import HealthCheck, Node, NodeService
from proconsul.structs.kv import DirEntry

MAX_TXN_OPS = 64


class TxnKVOp(Record):
    """A KV operation inside a transaction."""

    Verb: str
    DirEnt: DirEntry


class TxnNodeOp(Record):
    """A node operation inside a transaction."""

    Verb: str
    Node: Node


class TxnServiceOp(Record):
    """A service operation inside a transaction."""

    Verb: str
    Node: str
    Service: NodeService


class TxnCheckOp(Record):
    """A check operation inside a transaction."""

    Verb: str
    Check: HealthCheck


class TxnOp(Record):
    """Exactly one of KV, Node, Service or Check is set."""

    KV: TxnKVOp | UnsetType = UNSET
    Node: TxnNodeOp | UnsetType = UNSET
    Service: TxnServiceOp | UnsetType = UNSET
    Check: TxnCheckOp | UnsetType = UNSET


class TxnResult(Record):
    """One result of a transaction; exactly one field is set."""

    KV: DirEntry | UnsetType = UNSET
    Node: Node | UnsetType = UNSET
    Service: NodeService | UnsetType = UNSET
    Check: HealthCheck | UnsetType = UNSET


class TxnError(Record):
    """Why the operation at OpIndex made the transaction roll back."""

    OpIndex: Int
    What: str


class TxnRequest(Record):
    """Txn.Apply request."""

    Ops: list[TxnOp]
    Datacenter: str = ""
    Token: str = ""


class TxnResponse(Record):
    """Txn.Apply response: results on success, errors on rollback."""

    Results: list[TxnResult] | None = None
    Errors: list[TxnError] | None = None
