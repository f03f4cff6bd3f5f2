"""The peering tables: peerings (by ID and by name), their trust bundles (by peer
name) and secrets (by peering ID), with Consul's write rules."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET
from msgspec.structs import replace

from proconsul.state.base import StoreBase, WriteTxn
from proconsul.state.catalog import StateError
from proconsul.state.snapshot import RecordKind
from proconsul.state.table import Table
from proconsul.state.watch import WatchSet
from proconsul.structs.peering import (
    SECRETS_ESTABLISH,
    SECRETS_EXCHANGE_SECRET,
    SECRETS_GENERATE_TOKEN,
    SECRETS_PROMOTE_PENDING,
    STATE_DELETING,
    STATE_PENDING,
    STATE_TERMINATED,
    STATE_UNDEFINED,
    Peering,
    PeeringSecrets,
    PeeringStreamStatus,
    PeeringTrustBundle,
    SecretsWriteRequest,
)

PEERING_TABLE = "peering"
TRUST_BUNDLE_TABLE = "peering-trust-bundles"
SECRETS_TABLE = "peering-secrets"


def name_key(partition: str, name: str) -> tuple[str, str]:
    """A peering's (or trust bundle's) unique key: partition and name, case-insensitive."""
    return (partition or "").lower(), name.lower()


def _partition(peering: Peering) -> str:
    return peering.Partition if isinstance(peering.Partition, str) else ""


class PeeringMixin(StoreBase):
    """Peerings, trust bundles and secrets. Reads watch the table's index; a
    peering's secrets are only ever read by the servers themselves."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.peerings = Table(PEERING_TABLE, lambda p: p.ID,
                              {"name": lambda p: name_key(_partition(p), p.Name)})
        self.peering_trust_bundles = Table(
            TRUST_BUNDLE_TABLE, lambda b: name_key(b.Partition, b.PeerName))
        self.peering_secrets = Table(SECRETS_TABLE, lambda s: s.PeerID)
        self._tables += [self.peerings, self.peering_trust_bundles, self.peering_secrets]

    # -- reads ---------------------------------------------------------------------

    def peering_read(self, ws: WatchSet | None, name: str, partition: str = ""
                     ) -> tuple[int, Peering | None]:
        if ws is not None:
            ws.add(("index", PEERING_TABLE))
        found = self.peerings.by("name", name_key(partition, name))
        if found:
            return found[0].ModifyIndex, found[0]
        return self.max_index(PEERING_TABLE), None

    def peering_read_by_id(self, ws: WatchSet | None, peering_id: str
                           ) -> tuple[int, Peering | None]:
        if ws is not None:
            ws.add(("index", PEERING_TABLE))
        found = self.peerings.get(peering_id)
        if found is not None:
            return found.ModifyIndex, found
        return self.max_index(PEERING_TABLE), None

    def peering_list(self, ws: WatchSet | None, partition: str | None = None
                     ) -> tuple[int, list[Peering]]:
        """Peerings ordered by name; of one partition, or all when ``partition`` is None."""
        if ws is not None:
            ws.add(("index", PEERING_TABLE))
        rows = [p for p in self.peerings.rows()
                if partition is None or _partition(p).lower() == partition.lower()]
        rows.sort(key=lambda p: name_key(_partition(p), p.Name))
        return self.max_index(PEERING_TABLE), rows

    def peering_list_deleted(self, ws: WatchSet | None) -> tuple[int, list[Peering]]:
        """Peerings marked for deletion (what the leader's deletion routine removes)."""
        index, rows = self.peering_list(ws)
        return index, [p for p in rows if p.DeletedAt is not UNSET]

    def peering_trust_bundle_read(self, ws: WatchSet | None, name: str, partition: str = ""
                                  ) -> tuple[int, PeeringTrustBundle | None]:
        if ws is not None:
            ws.add(("index", TRUST_BUNDLE_TABLE))
        found = self.peering_trust_bundles.get(name_key(partition, name))
        if found is not None:
            return found.ModifyIndex, found
        return self.max_index(TRUST_BUNDLE_TABLE), None

    def peering_trust_bundle_list(self, ws: WatchSet | None
                                  ) -> tuple[int, list[PeeringTrustBundle]]:
        if ws is not None:
            ws.add(("index", TRUST_BUNDLE_TABLE))
        rows = sorted(self.peering_trust_bundles.rows(),
                      key=lambda b: name_key(b.Partition, b.PeerName))
        return self.max_index(TRUST_BUNDLE_TABLE), rows

    def peering_secrets_read(self, peer_id: str) -> PeeringSecrets | None:
        return self.peering_secrets.get(peer_id)

    # -- writes --------------------------------------------------------------------

    def peering_write(self, tx: WriteTxn, peering: Peering,
                      secrets: SecretsWriteRequest | None = None) -> None:
        """Create or update a peering (and its secrets), as Consul's PeeringWrite:
        names are unique, a peering never switches between dialing and accepting, a
        peering marked for deletion takes no more writes, a new one starts PENDING
        unless its state is given; marking one deleted or terminated drops its secrets."""
        if not peering.ID:
            raise StateError("Missing Peering ID")
        if not peering.Name:
            raise StateError("Missing Peering Name")
        if peering.State == STATE_DELETING and peering.DeletedAt is UNSET:
            raise StateError("Missing deletion time for peering in deleting state")
        if peering.DeletedAt is not UNSET and peering.State != STATE_DELETING:
            raise StateError(
                f"Unexpected state for peering with deletion time: {peering.State}")
        found = self.peerings.by("name", name_key(_partition(peering), peering.Name))
        existing = found[0] if found else None
        if existing is not None:
            if peering.should_dial() != existing.should_dial():
                raise StateError(
                    f"Cannot switch peering dialing mode from {_go_bool(existing.should_dial())}"
                    f" to {_go_bool(peering.should_dial())}")
            if peering.ID != existing.ID:
                raise StateError(f'A peering already exists with the name "{peering.Name}" '
                                 f'and a different ID "{existing.ID}"')
            if existing.State in (STATE_DELETING, STATE_TERMINATED) and \
                    peering.State in (existing.State, STATE_TERMINATED):
                return  # a no-op deletion or termination
            if existing.State == STATE_DELETING:
                raise StateError("cannot write to peering that is marked for deletion")
            if peering.State == STATE_UNDEFINED:
                peering = replace(peering, State=existing.State)
            if not peering.Remote.Partition and not peering.Remote.Datacenter:
                peering = replace(peering, Remote=existing.Remote)
            peering = replace(peering, StreamStatus=PeeringStreamStatus(),
                              CreateIndex=existing.CreateIndex, ModifyIndex=tx.index)
        else:
            if self.peerings.get(peering.ID) is not None:
                raise StateError(f'A peering already exists with the ID "{peering.ID}" '
                                 f'and a different name "{peering.Name}"')
            if not peering.is_active():
                raise StateError("cannot create a new peering marked for deletion")
            if peering.State == STATE_UNDEFINED:
                peering = replace(peering, State=STATE_PENDING)
            peering = replace(peering, StreamStatus=PeeringStreamStatus(),
                              CreateIndex=tx.index, ModifyIndex=tx.index)
        if not peering.is_active():
            self.peering_secrets.delete(peering.ID, tx.undo)
            tx.bump(SECRETS_TABLE)
        self.peerings.put(peering, tx.undo)
        tx.bump(PEERING_TABLE)
        if secrets is not None:
            self.peering_secrets_write(tx, secrets)

    def peering_delete(self, tx: WriteTxn, name: str, partition: str = "") -> None:
        """Remove a peering that was marked for deletion (its secrets too)."""
        found = self.peerings.by("name", name_key(partition, name))
        if not found:
            return
        if found[0].is_active():
            raise StateError("cannot delete a peering without first marking for deletion")
        self.peerings.delete(found[0].ID, tx.undo)
        if self.peering_secrets.delete(found[0].ID, tx.undo) is not None:
            tx.bump(SECRETS_TABLE)
        tx.bump(PEERING_TABLE)

    def peering_terminate_by_id(self, tx: WriteTxn, peering_id: str) -> None:
        existing = self.peerings.get(peering_id)
        if existing is None:
            return
        self.peerings.put(replace(existing, State=STATE_TERMINATED, ModifyIndex=tx.index),
                          tx.undo)
        tx.bump(PEERING_TABLE)

    def peering_trust_bundle_write(self, tx: WriteTxn, bundle: PeeringTrustBundle) -> None:
        if not bundle.PeerName:
            raise StateError("missing peer name")
        found = self.peerings.by("name", name_key(bundle.Partition, bundle.PeerName))
        if not found:
            raise StateError(f'cannot write peering trust bundle for unknown peering '
                             f'"{bundle.PeerName}"')
        old = self.peering_trust_bundles.get(name_key(bundle.Partition, bundle.PeerName))
        create = old.CreateIndex if old is not None else tx.index
        self.peering_trust_bundles.put(replace(bundle, CreateIndex=create,
                                               ModifyIndex=tx.index), tx.undo)
        tx.bump(TRUST_BUNDLE_TABLE)

    def peering_trust_bundle_delete(self, tx: WriteTxn, name: str, partition: str = "") -> None:
        if self.peering_trust_bundles.delete(name_key(partition, name), tx.undo) is not None:
            tx.bump(TRUST_BUNDLE_TABLE)

    def peering_secrets_write(self, tx: WriteTxn, req: SecretsWriteRequest) -> None:
        """Apply one secrets change with Consul's rules: a dialer only stores the active
        stream secret Establish got; an acceptor's new token replaces the unused
        establishment secret, ExchangeSecret consumes it for a pending stream secret,
        and the stream promotes the pending secret to active."""
        peering = self.peerings.get(req.PeerID)
        if peering is None:
            raise StateError(f'unknown peering "{req.PeerID}" for secret')
        existing = self.peering_secrets.get(req.PeerID) or PeeringSecrets(PeerID=req.PeerID)
        if peering.should_dial():
            if req.Op != SECRETS_ESTABLISH:
                raise StateError(f"invalid request type {req.Op} when persisting stream "
                                 "secret for dialing peer")
            new = PeeringSecrets(PeerID=req.PeerID, ActiveStreamSecretID=req.StreamSecret)
        elif req.Op == SECRETS_GENERATE_TOKEN:
            new = replace(existing, EstablishmentSecretID=req.EstablishmentSecret)
        elif req.Op == SECRETS_EXCHANGE_SECRET:
            if self.peering_secrets.get(req.PeerID) is None:
                raise StateError("cannot exchange peering secret: no known secrets for peering")
            if not existing.EstablishmentSecretID:
                raise StateError("invalid establishment secret: peering was already "
                                 "established")
            if existing.EstablishmentSecretID != req.EstablishmentSecret:
                raise StateError("invalid establishment secret")
            new = replace(existing, EstablishmentSecretID="",
                          PendingStreamSecretID=req.StreamSecret)
        elif req.Op == SECRETS_PROMOTE_PENDING:
            if existing.PendingStreamSecretID != req.StreamSecret or not req.StreamSecret:
                raise StateError("invalid pending stream secret")
            new = replace(existing, PendingStreamSecretID="",
                          ActiveStreamSecretID=req.StreamSecret)
        elif req.Op == SECRETS_ESTABLISH:
            raise StateError("an accepting peer should not have called Establish RPC")
        else:
            raise StateError(f"got unexpected request type: {req.Op}")
        self.peering_secrets.put(new, tx.undo)
        tx.bump(SECRETS_TABLE)

    def peering_snapshot_tables(self) -> list[tuple[RecordKind, list[Any]]]:
        return [(RecordKind.PEERING, list(self.peerings.rows())),
                (RecordKind.PEERING_TRUST_BUNDLE, list(self.peering_trust_bundles.rows())),
                (RecordKind.PEERING_SECRETS, list(self.peering_secrets.rows()))]


def _go_bool(value: bool) -> str:
    return "true" if value else "false"
