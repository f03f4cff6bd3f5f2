"""The state store: every table Consul's servers replicate, in memory."""

from __future__ import annotations

from typing import BinaryIO

from proconsul.state.acl import ACLMixin
from proconsul.state.catalog import CatalogMixin
from proconsul.state.config_entries import ConfigEntryMixin
from proconsul.state.connect_ca import ConnectCAMixin
from proconsul.state.coordinates import CoordinateMixin
from proconsul.state.exported_services import ExportedServicesMixin
from proconsul.state.federation_states import FederationStateMixin
from proconsul.state.kvs import KVMixin
from proconsul.state.mesh_catalog import MeshCatalogMixin
from proconsul.state.peered_catalog import PeeredCatalogMixin
from proconsul.state.peering import PeeringMixin
from proconsul.state.sessions import SessionMixin
from proconsul.state.snapshot import (
    ACL_RECORD_KINDS,
    CA_RECORD_KINDS,
    RecordKind,
    StateSnapshot,
    read_records,
)
from proconsul.state.system_metadata import SystemMetadataMixin
from proconsul.state.txn import TxnMixin
from proconsul.state.virtual_ips import VirtualIPMixin
from proconsul.structs.config_entries import load


class Store(ConfigEntryMixin, TxnMixin, SessionMixin, KVMixin, CoordinateMixin, CatalogMixin,
            ConnectCAMixin, MeshCatalogMixin, ACLMixin, SystemMetadataMixin,
            FederationStateMixin, VirtualIPMixin, PeeringMixin, PeeredCatalogMixin,
            ExportedServicesMixin):
    """Catalog, KV, sessions and transactions over indexed in-memory tables.

    Writes happen inside ``with store.write(index) as tx`` and are atomic;
    reads take an optional :class:`~proconsul.state.watch.WatchSet` that
    records what a blocking query must wait on.
    """

    def snapshot(self) -> StateSnapshot:
        return StateSnapshot(self)

    def restore(self, source: BinaryIO) -> None:
        """Replace all state with a snapshot stream; blocked readers wake."""
        staged = Store(self.clock)
        tables = {
            RecordKind.NODE: staged.nodes,
            RecordKind.SERVICE: staged.services,
            RecordKind.CHECK: staged.checks,
            RecordKind.KV: staged.kvs,
            RecordKind.TOMBSTONE: staged.tombstones,
            RecordKind.SESSION: staged.sessions,
            RecordKind.COORDINATE: staged.coordinates,
            RecordKind.PREPARED_QUERY: staged.prepared_queries,
            RecordKind.SYSTEM_METADATA: staged.system_metadata,
            RecordKind.FEDERATION_STATE: staged.federation_states,
            RecordKind.SERVICE_VIRTUAL_IP: staged.service_virtual_ips,
            RecordKind.FREE_VIRTUAL_IP: staged.free_virtual_ips,
            RecordKind.PEERING: staged.peerings,
            RecordKind.PEERING_TRUST_BUNDLE: staged.peering_trust_bundles,
            RecordKind.PEERING_SECRETS: staged.peering_secrets,
        }
        rows: dict[RecordKind, list] = {kind: [] for kind in tables}  # loaded at the end
        peer_indexes: dict[str, dict[str, int]] = {}
        for kind, row in read_records(source):
            if kind is RecordKind.INDEXES:
                staged.indexes.update(row)
                continue
            if kind is RecordKind.PEER_INDEXES:
                peer_indexes.update(row)
                continue
            if kind is RecordKind.AUTOPILOT:
                staged.autopilot_config = row
                continue
            if kind is RecordKind.CONFIG_ENTRY:
                staged.config_entries.put(load(row))
                continue
            if kind in CA_RECORD_KINDS:
                staged.ca_restore_record(kind, row)
                continue
            if kind in ACL_RECORD_KINDS:
                staged.acl_restore_record(kind, row)
                continue
            rows[kind].append(row)
            if kind is RecordKind.SESSION:
                for _kind, check_id in row.check_ids():
                    staged.session_checks.put((row.Node.lower(), check_id, row.ID))
        imported = [_split_imported(rows, kind) for kind in IMPORTED_KINDS]
        if peer_indexes or any(imported):
            staged.restore_imported(peer_indexes, *imported)
        for kind, table in tables.items():
            table.load(rows.pop(kind))
        staged.rebuild_gateway_services()
        self.reset()
        for ours, theirs in zip(self._tables, staged._tables, strict=True):
            ours.__dict__.update(theirs.__dict__)
        self.indexes.update(staged.indexes)
        self.autopilot_config = staged.autopilot_config
        self.ca_restore_from(staged)
        self.adopt_peer_catalogs(staged)


IMPORTED_KINDS = (RecordKind.NODE, RecordKind.SERVICE, RecordKind.CHECK)


def _split_imported(rows: dict[RecordKind, list], kind: RecordKind) -> list:
    """Take the imported rows (a PeerName set) out of ``rows[kind]``; return them."""
    peer_of = (lambda s: s.Service.PeerName) if kind is RecordKind.SERVICE \
        else (lambda r: r.PeerName)
    local, imported = [], []
    for row in rows[kind]:
        (imported if peer_of(row) else local).append(row)
    rows[kind] = local
    return imported
