"""The config entries table: one row per (Kind, Name), Consul's CAS and blocking reads.

Rows are typed entries (:mod:`proconsul.structs.config_entries`) carrying
their CreateIndex/ModifyIndex. As in Consul every read answers with the
table's index; a read of one entry waits on that entry only, a list on the
whole table (Consul's ``maxIndexWatchTxn``).

Writes that could break a discovery chain are checked by ``chain_validator``
(set by the server, which owns the compiler) inside the write, so every
server refuses or accepts the same command.
"""

from __future__ import annotations

from collections.abc import Callable

from msgspec.structs import replace

from proconsul.state.base import StoreBase, WriteTxn
from proconsul.state.catalog import StateError
from proconsul.state.watch import WatchSet
from proconsul.structs.config_entries import ConfigEntryError, Entry
from proconsul.structs.service_kinds import INGRESS_GATEWAY, TERMINATING_GATEWAY

TABLE = "config-entries"
GATEWAY_KINDS = (INGRESS_GATEWAY, TERMINATING_GATEWAY)

# (stored entries, kind, name, proposed entry or None for a delete) -> raises ConfigEntryError
ChainValidator = Callable[[list[Entry], str, str, Entry | None], None]


def entry_key(entry: Entry) -> tuple[str, str]:
    return entry.Kind, entry.entry_name()


class ConfigEntryMixin(StoreBase):
    """Upsert, CAS upsert, delete and CAS delete of config entries; get and list."""

    chain_validator: ChainValidator | None = None

    # ---- writes -------------------------------------------------------------

    def config_entry_set(self, tx: WriteTxn, entry: Entry) -> None:
        key = entry_key(entry)
        existing = self.config_entries.get(key)
        create = existing.CreateIndex if existing is not None else tx.index
        self._validate_chain(key, entry)
        self._config_put(tx, replace(entry, CreateIndex=create, ModifyIndex=tx.index))

    def config_entry_set_cas(self, tx: WriteTxn, entry: Entry, cas_index: int) -> bool:
        """Upsert only if the stored ModifyIndex is ``cas_index`` (0: only if absent)."""
        existing = self.config_entries.get(entry_key(entry))
        if cas_index == 0 and existing is not None:
            return False
        if cas_index != 0 and (existing is None or existing.ModifyIndex != cas_index):
            return False
        self.config_entry_set(tx, entry)
        return True

    def config_entry_delete(self, tx: WriteTxn, kind: str, name: str) -> None:
        key = (kind, name)
        if self.config_entries.get(key) is None:
            return  # as Consul: deleting nothing moves no index
        self._validate_chain(key, None)
        old = self.config_entries.delete(key, tx.undo)
        tx.bump(TABLE)
        tx.touch(("config_entry", key))
        self._gateway_upkeep(tx, kind, name, old, None)
        self.virtual_ip_upkeep(tx, kind, name, old, None)  # VirtualIPMixin

    def config_entry_delete_cas(self, tx: WriteTxn, kind: str, name: str,
                                cas_index: int) -> bool:
        existing = self.config_entries.get((kind, name))
        if existing is None or existing.ModifyIndex != cas_index:
            return False
        self.config_entry_delete(tx, kind, name)
        return True

    def _config_put(self, tx: WriteTxn, entry: Entry) -> None:
        old = self.config_entries.get(entry_key(entry))
        self.config_entries.put(entry, tx.undo)
        tx.bump(TABLE)
        tx.touch(("config_entry", entry_key(entry)))
        self._gateway_upkeep(tx, entry.Kind, entry.entry_name(), old, entry)
        self.virtual_ip_upkeep(tx, entry.Kind, entry.entry_name(), old, entry)  # VirtualIPMixin

    def _gateway_upkeep(self, tx: WriteTxn, kind: str, name: str, old: Entry | None,
                        new: Entry | None) -> None:
        """Gateway entries (and destinations) decide the gateway-services rows."""
        if kind in GATEWAY_KINDS:
            linked = "Listeners" if kind == INGRESS_GATEWAY else "Services"
            if new is not None and old is not None and \
                    getattr(old, linked) == getattr(new, linked):
                return  # as Consul: the same services leave the rows alone
            self.sync_gateway_services(tx, None, rewrite=name if new is not None else "")
        elif kind == "service-defaults":
            self.sync_gateway_services(tx, [name])  # MeshCatalogMixin

    def _validate_chain(self, key: tuple[str, str], proposed: Entry | None) -> None:
        if self.chain_validator is None:
            return
        try:
            self.chain_validator(list(self.config_entries.rows()), key[0], key[1], proposed)
        except ConfigEntryError as err:
            raise StateError(err.message) from None

    # ---- reads --------------------------------------------------------------

    def config_entry_get(self, ws: WatchSet | None, kind: str, name: str
                         ) -> tuple[int, Entry | None]:
        if ws is not None:
            ws.add(("config_entry", (kind, name)))
        return self.max_index(TABLE), self.config_entries.get((kind, name))

    def config_entries_list(self, ws: WatchSet | None, kind: str = ""
                            ) -> tuple[int, list[Entry]]:
        """Entries of ``kind`` (every kind when empty), ordered by kind then name."""
        if ws is not None:
            ws.add(("index", TABLE))
        if kind:
            return self.max_index(TABLE), self.config_entries.by("kind", kind)
        return self.max_index(TABLE), sorted(self.config_entries.rows(), key=entry_key)
