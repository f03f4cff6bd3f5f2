"""Connect CA state: the trusted roots, the CA configuration, the providers' private
state and the built-in provider's serial-number counter.

The roots list is replaced whole, with check-and-set on its index (Consul's
CARootSetCAS); exactly one root must be active. The provider state holds the
CA's private key: servers keep it, no endpoint serves it. The serial counter
lives in the index table (as Consul keeps it), so it is in every snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from msgspec.structs import replace

from proconsul.state.base import StoreBase, WriteTxn
from proconsul.state.catalog import StateError
from proconsul.state.snapshot import RecordKind
from proconsul.state.watch import WatchSet
from proconsul.structs.connect import CAConfiguration, CAConsulProviderState, CARoot

ROOTS_INDEX = "connect-ca-roots"
CONFIG_INDEX = "connect-ca-config"
PROVIDER_INDEX = "connect-ca-builtin"
SERIAL_INDEX = "connect-ca-builtin-serial"

ERR_ONE_ACTIVE_ROOT = "there must be exactly one active CA"


class ConnectCAMixin(StoreBase):
    """CA roots, configuration and provider state, all replicated."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self.ca_roots: list[CARoot] = []
        self.ca_config: CAConfiguration | None = None
        self.ca_provider_states: dict[str, CAConsulProviderState] = {}

    def reset(self) -> None:
        super().reset()
        self.ca_roots = []
        self.ca_config = None
        self.ca_provider_states = {}

    # ---- reads ------------------------------------------------------------------

    def ca_roots_read(self, ws: WatchSet | None) -> tuple[int, list[CARoot]]:
        """(roots index, roots) in the order they were stored."""
        if ws is not None:
            ws.add(("index", ROOTS_INDEX))
        return self.max_index(ROOTS_INDEX), list(self.ca_roots)

    def ca_active_root(self) -> CARoot | None:
        return next((root for root in self.ca_roots if root.Active), None)

    def ca_config_read(self, ws: WatchSet | None) -> tuple[int, CAConfiguration | None]:
        if ws is not None:
            ws.add(("index", CONFIG_INDEX))
        return self.max_index(CONFIG_INDEX), self.ca_config

    def ca_provider_state(self, state_id: str) -> CAConsulProviderState | None:
        return self.ca_provider_states.get(state_id)

    def ca_serial(self) -> int:
        """The last serial number handed out by the built-in provider."""
        return self.indexes.get(SERIAL_INDEX, 0)

    # ---- writes -----------------------------------------------------------------

    def ca_set_config(self, tx: WriteTxn, config: CAConfiguration) -> None:
        old = self.ca_config
        create = old.CreateIndex if old is not None else tx.index
        self._ca_assign("ca_config", replace(config, CreateIndex=create, ModifyIndex=tx.index),
                        tx)
        tx.bump(CONFIG_INDEX)

    def ca_set_config_cas(self, tx: WriteTxn, config: CAConfiguration) -> bool:
        """Set the config only if its ModifyIndex is still the stored one's."""
        current = self.ca_config.ModifyIndex if self.ca_config is not None else 0
        if config.ModifyIndex != current:
            return False
        self.ca_set_config(tx, config)
        return True

    def ca_set_roots_cas(self, tx: WriteTxn, index: int, roots: list[CARoot]) -> bool:
        """Replace the roots if ``index`` is still the roots' index (0: none stored yet)."""
        if sum(1 for root in roots if root.Active) != 1:
            raise StateError(ERR_ONE_ACTIVE_ROOT)
        if index != self.max_index(ROOTS_INDEX):
            return False
        existing = {root.ID: root for root in self.ca_roots}
        stored = []
        for root in roots:
            old = existing.get(root.ID)
            stored.append(replace(root, CreateIndex=old.CreateIndex if old else tx.index,
                                  ModifyIndex=tx.index))
        self._ca_assign("ca_roots", stored, tx)
        tx.bump(ROOTS_INDEX)
        return True

    def ca_set_provider_state(self, tx: WriteTxn, state: CAConsulProviderState) -> None:
        old = self.ca_provider_states.get(state.ID)
        states = dict(self.ca_provider_states)
        states[state.ID] = replace(state, CreateIndex=old.CreateIndex if old else tx.index,
                                   ModifyIndex=tx.index)
        self._ca_assign("ca_provider_states", states, tx)
        tx.bump(PROVIDER_INDEX)

    def ca_delete_provider_state(self, tx: WriteTxn, state_id: str) -> None:
        if state_id not in self.ca_provider_states:
            return
        states = {k: v for k, v in self.ca_provider_states.items() if k != state_id}
        self._ca_assign("ca_provider_states", states, tx)
        tx.bump(PROVIDER_INDEX)

    def ca_reserve_serials(self, tx: WriteTxn, count: int) -> int:
        """Advance the serial counter by ``count``; the first of the reserved serials."""
        first = self.ca_serial() + 1
        old = self.indexes.get(SERIAL_INDEX)
        self.indexes[SERIAL_INDEX] = first + count - 1

        def restore() -> None:
            if old is None:
                self.indexes.pop(SERIAL_INDEX, None)
            else:
                self.indexes[SERIAL_INDEX] = old
        tx.undo.record(restore)
        return first

    # ---- snapshot ---------------------------------------------------------------

    def ca_snapshot_tables(self) -> list[tuple[RecordKind, list[Any]]]:
        """The CA's records for a snapshot (provider state included: servers only)."""
        return [(RecordKind.CA_ROOT, list(self.ca_roots)),
                (RecordKind.CA_CONFIG, [self.ca_config] if self.ca_config else []),
                (RecordKind.CA_PROVIDER_STATE, list(self.ca_provider_states.values()))]

    def ca_restore_record(self, kind: RecordKind, row: Any) -> None:
        """Load one CA record of a snapshot into this (fresh) store."""
        if kind is RecordKind.CA_ROOT:
            self.ca_roots.append(row)
        elif kind is RecordKind.CA_CONFIG:
            self.ca_config = row
        else:
            self.ca_provider_states[row.ID] = row

    def ca_restore_from(self, staged: ConnectCAMixin) -> None:
        """Take the CA state of a store loaded from a snapshot."""
        self.ca_roots = staged.ca_roots
        self.ca_config = staged.ca_config
        self.ca_provider_states = staged.ca_provider_states

    def _ca_assign(self, name: str, value: Any, tx: WriteTxn) -> None:
        old = getattr(self, name)
        setattr(self, name, value)
        tx.undo.record(lambda: setattr(self, name, old))
