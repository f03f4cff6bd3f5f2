"""Transactions: many KV, node, service and check operations applied atomically."""

from __future__ import annotations

from msgspec.structs import replace

from proconsul.lib.goquote import go_quote
from proconsul.state.base import StoreBase, WriteTxn, lower
from proconsul.state.catalog import StateError
from proconsul.state.peered_catalog import peer_topic
from proconsul.structs.base import UNSET
from proconsul.structs.kv import KVOp
from proconsul.structs.txn import (
    TxnCheckOp,
    TxnError,
    TxnKVOp,
    TxnNodeOp,
    TxnOp,
    TxnResponse,
    TxnResult,
    TxnServiceOp,
)

READ_KV_VERBS = {KVOp.GET, KVOp.GET_OR_EMPTY, KVOp.GET_TREE, KVOp.CHECK_SESSION,
                 KVOp.CHECK_INDEX, KVOp.CHECK_NOT_EXISTS}


def is_read_only(ops: list[TxnOp]) -> bool:
    """True when every operation only reads (the txn is then served like a read)."""
    for op in ops:
        if op.KV is not UNSET:
            if op.KV.Verb not in READ_KV_VERBS:
                return False
            continue
        inner = next((x for x in (op.Node, op.Service, op.Check) if x is not UNSET), None)
        if inner is None or inner.Verb != "get":
            return False
    return True


class PeerWrites:
    """Where a transaction's catalog operations go: a PeerName names that peer's
    imported rows (as Consul's state store applies them), which are written in a
    write of the peer's catalog at the transaction's index, undone with it on a
    rollback and woken with it on commit."""

    __slots__ = ("store", "tx", "open")

    def __init__(self, store, tx: WriteTxn | None) -> None:
        self.store = store
        self.tx = tx
        self.open: dict[str, tuple] = {}

    def target(self, peer: str) -> tuple:
        """(catalog, its write or None for a read) of ``peer``."""
        if self.tx is None:
            return self.store.peer_catalog(peer), None
        opened = self.open.get(peer)
        if opened is None:
            new = peer not in self.store.peer_catalogs
            catalog = self.store.imported(peer)
            opened = self.open[peer] = (catalog, catalog.write(self.tx.index))
            self.tx.undo.record(lambda: self._rollback(peer, new))
        return opened

    def _rollback(self, peer: str, new: bool) -> None:
        _, peer_tx = self.open.pop(peer)
        peer_tx.__exit__(StateError)
        if new:
            del self.store.peer_catalogs[peer]

    def commit(self) -> None:
        """Wake the readers of the peers' rows with the transaction's own topics."""
        for peer, (_, peer_tx) in self.open.items():
            self.tx.touch(*(peer_topic(peer, topic) for topic in peer_tx.topics))


class TxnMixin(StoreBase):
    """Runs transaction operations; the first failure rolls the whole write back."""

    def txn_apply(self, tx: WriteTxn | None, ops: list[TxnOp]) -> TxnResponse:
        """Run ``ops``; with errors the caller must roll back (raise inside ``write``)."""
        results: list[TxnResult] = []
        errors: list[TxnError] = []
        peers: PeerWrites | None = None  # made by the first op naming a peer
        for position, op in enumerate(ops):
            try:
                if op.KV is not UNSET:
                    results.extend(self._txn_kv(tx, op.KV))
                    continue
                if op.Node is not UNSET:
                    run, inner, peer = _txn_node, op.Node, op.Node.Node.PeerName
                elif op.Service is not UNSET:
                    run, inner, peer = _txn_service, op.Service, op.Service.Service.PeerName
                elif op.Check is not UNSET:
                    run, inner, peer = _txn_check, op.Check, op.Check.Check.PeerName
                else:
                    raise StateError("no operation specified")
                if peer:
                    peers = peers or PeerWrites(self, tx)
                    results.extend(run(*peers.target(peer), inner))
                else:
                    results.extend(run(self, tx, inner))
            except StateError as err:
                errors.append(TxnError(OpIndex=position, What=str(err)))
        if errors:
            return TxnResponse(Results=None, Errors=errors)
        if peers is not None:
            peers.commit()
        return TxnResponse(Results=results, Errors=None)

    # ---- KV -----------------------------------------------------------------

    def _txn_kv(self, tx: WriteTxn | None, op: TxnKVOp) -> list[TxnResult]:
        verb, entry = op.Verb, op.DirEnt
        key = entry.Key
        if verb in READ_KV_VERBS:
            return self._txn_kv_read(verb, entry)
        if tx is None:
            raise StateError(f"unknown KV verb {go_quote(verb)}")
        if verb == KVOp.SET:
            self.kv_set(tx, entry)
        elif verb == KVOp.CAS:
            if not self.kv_set_cas(tx, entry):
                raise StateError(f"failed to set key {go_quote(key)}, index is stale")
        elif verb == KVOp.LOCK:
            if not self.kv_lock(tx, entry):
                raise StateError(f"failed to lock key {go_quote(key)}, lock is already held")
        elif verb == KVOp.UNLOCK:
            if not self.kv_unlock(tx, entry):
                raise StateError(f"failed to unlock key {go_quote(key)}, lock isn't held, "
                                 "or is held by another session")
        elif verb == KVOp.DELETE:
            self.kv_delete(tx, key)
            return []
        elif verb == KVOp.DELETE_CAS:
            if not self.kv_delete_cas(tx, key, entry.ModifyIndex):
                raise StateError(f"failed to delete key {go_quote(key)}, index is stale")
            return []
        elif verb == KVOp.DELETE_TREE:
            self.kv_delete_tree(tx, key)
            return []
        else:
            raise StateError(f"unknown KV verb {go_quote(verb)}")
        stored = self.kvs.get(key)
        return [TxnResult(KV=replace(stored, Value=None))]

    def _txn_kv_read(self, verb: str, entry) -> list[TxnResult]:
        key = entry.Key
        if verb == KVOp.GET_TREE:
            return [TxnResult(KV=e) for e in self.kvs.prefix(key)]
        existing = self.kvs.get(key)
        if verb == KVOp.GET:
            if existing is None:
                raise StateError(f"key {go_quote(key)} doesn't exist")
            return [TxnResult(KV=existing)]
        if verb == KVOp.GET_OR_EMPTY:
            return [TxnResult(KV=existing or replace(entry, Value=None))]
        if verb == KVOp.CHECK_NOT_EXISTS:
            if existing is not None:
                raise StateError(f"key {go_quote(key)} exists")
            return []
        if verb == KVOp.CHECK_INDEX:
            if existing is None:
                raise StateError(f"failed to check index, key {go_quote(key)} doesn't exist")
            if existing.ModifyIndex != entry.ModifyIndex:
                raise StateError(f"failed index check for key {go_quote(key)}, current modify "
                                 f"index {existing.ModifyIndex} != {entry.ModifyIndex}")
        else:  # check-session
            if existing is None:
                raise StateError(f"failed to check session, key {go_quote(key)} doesn't exist")
            held = existing.Session if existing.Session is not UNSET else ""
            wanted = entry.Session if entry.Session is not UNSET else ""
            if held != wanted:
                raise StateError(f"failed session check for key {go_quote(key)}, current "
                                 f"session {go_quote(held)} != {go_quote(wanted)}")
        return [TxnResult(KV=replace(existing, Value=None))]


def _txn_node(catalog, tx: WriteTxn | None, op: TxnNodeOp) -> list[TxnResult]:
    node = op.Node
    name = node.Node
    existing = catalog.nodes.get(lower(name))
    if op.Verb == "get":
        if existing is None:
            raise StateError(f"node {go_quote(name)} doesn't exist")
        return [TxnResult(Node=existing)]
    _require_write(tx, "Node", op.Verb)
    if op.Verb in ("cas", "delete-cas") and not _cas_ok(existing, node.ModifyIndex, op.Verb):
        action = "set" if op.Verb == "cas" else "delete"
        raise StateError(f"failed to {action} node {go_quote(name)}, index is stale")
    if op.Verb in ("set", "cas"):
        catalog.ensure_node(tx, node)
        return [TxnResult(Node=catalog.nodes.get(lower(name)))]
    if op.Verb in ("delete", "delete-cas"):
        catalog.delete_node(tx, name)
        return []
    raise StateError(f"unknown Node verb {go_quote(op.Verb)}")

def _txn_service(catalog, tx: WriteTxn | None, op: TxnServiceOp) -> list[TxnResult]:
    service = op.Service
    key = (lower(op.Node), service.ID)
    stored = catalog.services.get(key)
    existing = stored.Service if stored is not None else None
    if op.Verb == "get":
        if existing is None:
            raise StateError(f"service {go_quote(service.ID)} on node {go_quote(op.Node)} "
                             "doesn't exist")
        return [TxnResult(Service=existing)]
    _require_write(tx, "Service", op.Verb)
    if op.Verb in ("cas", "delete-cas") and not _cas_ok(existing, service.ModifyIndex,
                                                        op.Verb):
        action = "set" if op.Verb == "cas" else "delete"
        raise StateError(f"failed to {action} service {go_quote(service.ID)} on node "
                         f"{go_quote(op.Node)}, index is stale")
    if op.Verb in ("set", "cas"):
        catalog.ensure_service(tx, op.Node, service)
        return [TxnResult(Service=catalog.services.get(key).Service)]
    if op.Verb in ("delete", "delete-cas"):
        catalog.delete_service(tx, op.Node, service.ID)
        return []
    raise StateError(f"unknown Service verb {go_quote(op.Verb)}")

def _txn_check(catalog, tx: WriteTxn | None, op: TxnCheckOp) -> list[TxnResult]:
    check = op.Check
    key = (lower(check.Node), check.CheckID)
    existing = catalog.checks.get(key)
    if op.Verb == "get":
        if existing is None:
            raise StateError(f"check {go_quote(check.CheckID)} on node {go_quote(check.Node)} "
                             "doesn't exist")
        return [TxnResult(Check=existing)]
    _require_write(tx, "Check", op.Verb)
    if op.Verb in ("cas", "delete-cas") and not _cas_ok(existing, check.ModifyIndex,
                                                        op.Verb):
        action = "set" if op.Verb == "cas" else "delete"
        raise StateError(f"failed to {action} check {go_quote(check.CheckID)} on node "
                         f"{go_quote(check.Node)}, index is stale")
    if op.Verb in ("set", "cas"):
        catalog.ensure_check(tx, check)
        return [TxnResult(Check=catalog.checks.get(key))]
    if op.Verb in ("delete", "delete-cas"):
        catalog.delete_check(tx, check.Node, check.CheckID)
        return []
    raise StateError(f"unknown Check verb {go_quote(op.Verb)}")

def _require_write(tx: WriteTxn | None, kind: str, verb: str) -> None:
    if tx is None:
        raise StateError(f"unknown {kind} verb {go_quote(verb)}")


def _cas_ok(existing, modify_index: int, verb: str) -> bool:
    if verb == "delete-cas":
        return existing is not None and existing.ModifyIndex == modify_index
    if modify_index == 0:
        return existing is None
    return existing is not None and existing.ModifyIndex == modify_index
