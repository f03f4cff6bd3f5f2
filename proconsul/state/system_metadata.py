"""The system metadata table: servers' own key/value facts, replicated and snapshotted."""

from __future__ import annotations

from typing import Any

from msgspec.structs import replace

from proconsul.state.base import StoreBase, WriteTxn
from proconsul.state.snapshot import RecordKind
from proconsul.state.table import Table
from proconsul.structs.system_metadata import SystemMetadataEntry

TABLE = "system-metadata"


class SystemMetadataMixin(StoreBase):
    """Entries by key; a write keeps CreateIndex and stamps ModifyIndex."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.system_metadata = Table(TABLE, lambda e: e.Key)
        self._tables.append(self.system_metadata)

    def system_metadata_get(self, key: str) -> SystemMetadataEntry | None:
        return self.system_metadata.get(key)

    def system_metadata_set(self, tx: WriteTxn, entry: SystemMetadataEntry) -> None:
        old = self.system_metadata.get(entry.Key)
        create = old.CreateIndex if old is not None else tx.index
        self.system_metadata.put(replace(entry, CreateIndex=create, ModifyIndex=tx.index),
                                 tx.undo)
        tx.bump(TABLE)

    def system_metadata_delete(self, tx: WriteTxn, key: str) -> None:
        if self.system_metadata.delete(key, tx.undo) is not None:
            tx.bump(TABLE)

    def system_metadata_snapshot_tables(self) -> list[tuple[RecordKind, list[Any]]]:
        return [(RecordKind.SYSTEM_METADATA, list(self.system_metadata.rows()))]
