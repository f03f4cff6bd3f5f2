"""The federation states table: each datacenter's mesh gateways, keyed by datacenter."""

from __future__ import annotations

from typing import Any

from msgspec.structs import replace

from proconsul.state.base import StoreBase, WriteTxn
from proconsul.state.snapshot import RecordKind
from proconsul.state.table import Table
from proconsul.state.watch import WatchSet
from proconsul.structs.federation_state import FederationState

TABLE = "federation-states"


class FederationStateMixin(StoreBase):
    """States by datacenter; a write keeps CreateIndex, stamps ModifyIndex and, when the
    writer gave none, PrimaryModifyIndex (a replicated copy carries the primary's)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.federation_states = Table(TABLE, lambda s: s.Datacenter)
        self._tables.append(self.federation_states)

    def federation_state_get(self, ws: WatchSet | None, datacenter: str
                             ) -> tuple[int, FederationState | None]:
        if ws is not None:
            ws.add(("index", TABLE))
        return self.max_index(TABLE), self.federation_states.get(datacenter)

    def federation_state_list(self, ws: WatchSet | None) -> tuple[int, list[FederationState]]:
        """Every state, ordered by datacenter."""
        if ws is not None:
            ws.add(("index", TABLE))
        rows = sorted(self.federation_states.rows(), key=lambda s: s.Datacenter)
        return self.max_index(TABLE), rows

    def federation_state_set(self, tx: WriteTxn, state: FederationState) -> None:
        old = self.federation_states.get(state.Datacenter)
        create = old.CreateIndex if old is not None else tx.index
        self.federation_states.put(replace(
            state, CreateIndex=create, ModifyIndex=tx.index,
            PrimaryModifyIndex=state.PrimaryModifyIndex or tx.index), tx.undo)
        tx.bump(TABLE)

    def federation_state_delete(self, tx: WriteTxn, datacenter: str) -> None:
        if self.federation_states.delete(datacenter, tx.undo) is not None:
            tx.bump(TABLE)

    def federation_state_snapshot_tables(self) -> list[tuple[RecordKind, list[Any]]]:
        return [(RecordKind.FEDERATION_STATE, list(self.federation_states.rows()))]
