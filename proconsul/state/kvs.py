"""The KV table, its tombstones (the graveyard) and lock delays."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from msgspec.structs import replace

from proconsul.lib.goquote import go_quote
from proconsul.state.base import StoreBase, WriteTxn
from proconsul.state.catalog import StateError
from proconsul.state.watch import KV_PREFIX, WatchSet
from proconsul.structs.base import UNSET
from proconsul.structs.kv import DirEntry


class Tombstone(msgspec.Struct, frozen=True):
    """Marks that ``Key`` was deleted at raft index ``Index``, so prefix indexes move."""

    Key: str
    Index: int


_KVS_INDEX = "kvs"
_KVS_INDEX_TOPIC = ("index", _KVS_INDEX)


class KVMixin(StoreBase):
    """KV writes (set, CAS, lock, delete, trees) and reads (get, list, keys)."""

    on_tombstone: Callable[[int], None] | None = None

    # ---- writes -------------------------------------------------------------

    def kv_set_alone(self, index: int, entry: DirEntry) -> None:
        """A KV set that is the whole write at raft ``index`` (the FSM's KVS set):
        :meth:`kv_set` in ``with write(index)``, with the same rows, index and watches,
        but no transaction or undo log -- the row is made before anything changes, and
        nothing after the first change can fail, so the write is still all-or-nothing."""
        key = entry.Key
        existing = self.kvs.get(key)
        if existing is None:
            row = replace(entry, CreateIndex=index, ModifyIndex=index, LockIndex=0,
                          Session=UNSET)
        else:
            row = replace(entry, CreateIndex=existing.CreateIndex, ModifyIndex=index,
                          LockIndex=existing.LockIndex, Session=existing.Session)
            if _same_entry(existing, row):
                return  # as Consul: an identical write keeps ModifyIndex and wakes no one
        self.kvs.put(row)
        indexes = self.indexes
        if indexes.get(_KVS_INDEX) == index:
            self.watches.fire_kv(key, None)
        else:
            indexes[_KVS_INDEX] = index
            self.watches.fire_kv(key, _KVS_INDEX_TOPIC)

    def kv_set(self, tx: WriteTxn, entry: DirEntry, update_session: bool = False) -> None:
        existing = self.kvs.get(entry.Key)
        if existing is None:
            kept = {"CreateIndex": tx.index}
            if not update_session:
                kept.update(Session=UNSET, LockIndex=0)
        else:
            kept = {"CreateIndex": existing.CreateIndex, "LockIndex": existing.LockIndex}
            if not update_session:
                kept["Session"] = existing.Session
        self._kv_put(tx, replace(entry, ModifyIndex=tx.index, **kept))

    def kv_set_cas(self, tx: WriteTxn, entry: DirEntry) -> bool:
        existing = self.kvs.get(entry.Key)
        if entry.ModifyIndex == 0 and existing is not None:
            return False
        if entry.ModifyIndex != 0 and (existing is None
                                       or existing.ModifyIndex != entry.ModifyIndex):
            return False
        self.kv_set(tx, entry)
        return True

    def kv_lock(self, tx: WriteTxn, entry: DirEntry) -> bool:
        session = entry.Session if entry.Session is not UNSET else ""
        if not session:
            raise StateError("missing session")
        if self.sessions.get(session) is None:
            raise StateError(f"invalid session {go_quote(session)}")
        existing = self.kvs.get(entry.Key)
        if existing is None:
            entry = replace(entry, CreateIndex=tx.index, LockIndex=1)
        elif existing.Session == session:
            entry = replace(entry, CreateIndex=existing.CreateIndex, LockIndex=existing.LockIndex)
        elif existing.Session is not UNSET:
            return False
        else:
            entry = replace(entry, CreateIndex=existing.CreateIndex,
                            LockIndex=existing.LockIndex + 1)
        self._kv_put(tx, replace(entry, ModifyIndex=tx.index))
        return True

    def kv_unlock(self, tx: WriteTxn, entry: DirEntry) -> bool:
        session = entry.Session if entry.Session is not UNSET else ""
        if not session:
            raise StateError("missing session")
        existing = self.kvs.get(entry.Key)
        if existing is None or existing.Session != session:
            return False
        self._kv_put(tx, replace(entry, Session=UNSET, CreateIndex=existing.CreateIndex,
                                 LockIndex=existing.LockIndex, ModifyIndex=tx.index))
        return True

    def kv_delete(self, tx: WriteTxn, key: str) -> None:
        if self.kvs.delete(key, tx.undo) is None:
            return
        self._bury(tx, key)
        tx.bump("kvs")
        tx.kv_keys.append(key)
        tx.touch(("kv_key", key))

    def kv_delete_cas(self, tx: WriteTxn, key: str, cas_index: int) -> bool:
        existing = self.kvs.get(key)
        if existing is None or existing.ModifyIndex != cas_index:
            return existing is None
        self.kv_delete(tx, key)
        return True

    def kv_delete_tree(self, tx: WriteTxn, prefix: str) -> None:
        doomed = [e.Key for e in self.kvs.prefix(prefix)]
        if not doomed:
            return
        for key in doomed:
            self.kvs.delete(key, tx.undo)
            tx.touch(("kv_key", key))
        self._bury(tx, prefix)
        tx.bump("kvs")
        tx.kv_trees.append(prefix)

    def reap_tombstones(self, tx: WriteTxn, reap_index: int) -> None:
        doomed = [t.Key for t in self.tombstones.rows() if t.Index <= reap_index]
        for key in doomed:
            self.tombstones.delete(key, tx.undo)
        if doomed:
            tx.bump("tombstones")

    def _kv_put(self, tx: WriteTxn, entry: DirEntry) -> None:
        existing = self.kvs.get(entry.Key)
        if existing is not None and _same_entry(existing, entry):
            return  # as Consul: an identical write keeps ModifyIndex and wakes no one
        self.kvs.put(entry, tx.undo)
        tx.bump("kvs")
        tx.kv_keys.append(entry.Key)
        tx.touch(("kv_key", entry.Key))

    def _bury(self, tx: WriteTxn, key: str) -> None:
        self.tombstones.put(Tombstone(key, tx.index), tx.undo)
        tx.bump("tombstones")
        if self.on_tombstone is not None:
            self.on_tombstone(tx.index)

    def set_lock_delay(self, key: str, delay_seconds: float) -> None:
        """Forbid re-acquiring ``key`` for a while after its lock was invalidated."""
        self.lock_delays[key] = self.clock() + delay_seconds

    def lock_delay_remaining(self, key: str) -> float:
        expires = self.lock_delays.get(key)
        if expires is None:
            return 0.0
        remaining = expires - self.clock()
        if remaining <= 0:
            del self.lock_delays[key]
            return 0.0
        return remaining

    # ---- reads --------------------------------------------------------------

    def kv_max_index(self) -> int:
        return self.max_index("kvs", "tombstones")

    def kv_get(self, ws: WatchSet | None, key: str) -> tuple[int, DirEntry | None]:
        """The entry and Consul's index for it: its own ModifyIndex, or for a
        missing key the whole KV index (entries and tombstones)."""
        entry = self.kvs.get(key)
        if ws is not None:
            ws.add(("kv_key", key))
        if entry is not None:
            return entry.ModifyIndex, entry
        return self.kv_max_index(), None

    def kv_list(self, ws: WatchSet | None, prefix: str) -> tuple[int, list[DirEntry]]:
        if ws is not None:
            ws.add((KV_PREFIX, prefix))
        entries = list(self.kvs.prefix(prefix))
        return self._prefix_index(prefix, max((e.ModifyIndex for e in entries), default=0)), entries

    def kv_keys(self, ws: WatchSet | None, prefix: str, separator: str = ""
                ) -> tuple[int, list[str]]:
        if ws is not None:
            ws.add((KV_PREFIX, prefix))
        keys: list[str] = []
        highest = 0
        last = None
        cut = len(prefix)
        for entry in self.kvs.prefix(prefix):
            highest = max(highest, entry.ModifyIndex)
            if not separator:
                keys.append(entry.Key)
                continue
            at = entry.Key.find(separator, cut)
            if at < 0:
                keys.append(entry.Key)
                continue
            rolled = entry.Key[:at + len(separator)]
            if rolled != last:
                keys.append(rolled)
                last = rolled
        return self._prefix_index(prefix, highest), keys

    def _prefix_index(self, prefix: str, highest: int) -> int:
        if not prefix:
            return self.kv_max_index()
        graves = max((t.Index for t in self.tombstones.prefix(prefix)), default=0)
        return max(highest, graves) or self.kv_max_index()


def _same_entry(a: DirEntry, b: DirEntry) -> bool:
    """What Consul compares to skip a KV write that changes nothing."""
    return ((a.Value or b"") == (b.Value or b"") and a.Flags == b.Flags and a.Session == b.Session
            and a.LockIndex == b.LockIndex)
