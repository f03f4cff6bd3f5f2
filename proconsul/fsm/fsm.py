"""Applies committed raft commands to the state store."""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

from proconsul.fsm.acl import acl_handlers
from proconsul.fsm.peering import peering_handlers
from proconsul.lib.metrics import registry as metrics
from proconsul.lib.metrics import sample_key
from proconsul.raft.messages import Entry, EntryType
from proconsul.state.catalog import StateError
from proconsul.state.snapshot import SnapshotError, StateSnapshot, read_records
from proconsul.state.store import Store
from proconsul.structs.catalog import DeregisterRequest, RegisterRequest
from proconsul.structs.config_entries import ConfigEntryError, load
from proconsul.structs.config_entry_rpc import (
    OP_DELETE,
    OP_DELETE_CAS,
    OP_UPSERT,
    OP_UPSERT_CAS,
    ConfigEntryRequest,
)
from proconsul.structs.connect import (
    CA_OP_DELETE_PROVIDER_STATE,
    CA_OP_INCREMENT_PROVIDER_SERIAL,
    CA_OP_SET_CONFIG,
    CA_OP_SET_PROVIDER_STATE,
    CA_OP_SET_ROOTS,
    CA_OP_SET_ROOTS_AND_CONFIG,
    CARequest,
)
from proconsul.structs.coordinate import CoordinateBatchRequest
from proconsul.structs.federation_state import (
    FEDERATION_STATE_DELETE,
    FEDERATION_STATE_UPSERT,
    FederationStateRequest,
)
from proconsul.structs.kv import KVOp, KVSRequest, TombstoneRequest
from proconsul.structs.messages import (
    MessageType,
    UnknownMessageType,
    decode_command,
    request_decoder,
)
from proconsul.structs.operator import AutopilotSetConfigRequest
from proconsul.structs.prepared_query import (
    QUERY_OP_CREATE,
    QUERY_OP_DELETE,
    QUERY_OP_UPDATE,
    PreparedQueryRequest,
)
from proconsul.structs.session import SessionRequest
from proconsul.structs.system_metadata import (
    SYSTEM_METADATA_DELETE,
    SYSTEM_METADATA_UPSERT,
    SystemMetadataRequest,
)
from proconsul.structs.txn import TxnRequest, TxnResponse
from proconsul.structs.virtual_ip import AssignServiceManualVIPsResponse, ServiceVirtualIP

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">Q")

# Consul's consul.fsm.<name> timers where the name is not the message type's.
_FSM_METRIC_NAMES = {MessageType.COORDINATE_BATCH_UPDATE: "consul.fsm.coordinate.batch-update",
                     MessageType.CONNECT_CA: "consul.fsm.ca"}


def _metric_name(message_type: MessageType) -> str:
    return _FSM_METRIC_NAMES.get(message_type) or f"consul.fsm.{message_type.name.lower()}"


# looked up once: Python 3.11's EnumType.__getattr__ makes each Enum.MEMBER lookup slow
_KV_SET, _COMMAND = KVOp.SET, EntryType.COMMAND
_RAFT_FSM_APPLY = sample_key("consul.raft.fsm.apply")
# type byte -> (handler, request decoder, the keys one applied command is timed under)
_Steps = dict[int, tuple[Callable[[int, Any], Any], Callable[[memoryview], Any], tuple]]


class CommandError(Exception):
    """A committed command the state store refused; its text goes to the proposer."""


class _Abort(Exception):
    """Undo a CA write whose second check-and-set failed (answered as False)."""


class _Rollback(Exception):
    def __init__(self, response: TxnResponse) -> None:
        self.response = response


class FSMSnapshot:
    """The FSM's snapshot: the last applied index, then the state records."""

    def __init__(self, last_index: int, state: StateSnapshot) -> None:
        self.last_index = last_index
        self._state = state

    def write(self, sink: BinaryIO) -> None:
        for chunk in self.chunks():
            sink.write(chunk)

    def chunks(self):
        """The snapshot as byte strings, the same ones on every call."""
        yield _HEADER.pack(self.last_index)
        yield from self._state.chunks()

    def release(self) -> None:
        self._state.release()


def read_header(source: BinaryIO) -> int:
    """The index an FSM snapshot stream was taken at (its header); the state follows."""
    header = source.read(_HEADER.size)
    if len(header) != _HEADER.size:
        raise SnapshotError("snapshot is truncated before its header")
    return _HEADER.unpack(header)[0]


def check_snapshot(source: BinaryIO) -> None:
    """Read a whole FSM snapshot stream; :class:`SnapshotError` if any of it is damaged."""
    read_header(source)
    for _record in read_records(source):
        pass


class FSM:
    """The state machine Raft drives: decode the message type, apply, answer.

    Unknown message types with the ignore flag (128) are skipped; any other
    unknown type raises :class:`UnknownMessageType`, which stops the server
    rather than silently diverging from its peers.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.last_applied = 0
        self._handlers = {
            MessageType.REGISTER: self._register,
            MessageType.DEREGISTER: self._deregister,
            MessageType.KVS: self._kvs,
            MessageType.SESSION: self._session,
            MessageType.TOMBSTONE: self._tombstone,
            MessageType.TXN: self._txn,
            MessageType.COORDINATE_BATCH_UPDATE: self._coordinates,
            MessageType.AUTOPILOT: self._autopilot,
            MessageType.CONFIG_ENTRY: self._config_entry,
            MessageType.CONNECT_CA: self._connect_ca,
            MessageType.PREPARED_QUERY: self._prepared_query,
            MessageType.SYSTEM_METADATA: self._system_metadata,
            MessageType.FEDERATION_STATE: self._federation_state,
            MessageType.UPDATE_VIRTUAL_IP: self._update_virtual_ip,
            **acl_handlers(store),
            **peering_handlers(store),
        }
        # apply() times a command as consul.fsm.<name>; apply_batch() also as Raft's
        # consul.raft.fsm.apply (one sample each from one clock reading)
        self._alone: _Steps = {}
        self._batched: _Steps = {}
        for message_type, handler in self._handlers.items():
            decode, own = request_decoder(message_type).decode, sample_key(
                _metric_name(message_type))
            self._alone[int(message_type)] = (handler, decode, (own,))
            self._batched[int(message_type)] = (handler, decode, (own, _RAFT_FSM_APPLY))

    def apply(self, index: int, data: bytes) -> Any:
        return self.apply_batch((Entry(index, 0, _COMMAND, data),), self._alone)[0]

    def apply_batch(self, entries: Sequence[Entry], steps: _Steps | None = None
                    ) -> list[Any]:
        """Apply committed log entries in order, one response each (None for the entry
        types that are not commands); each command is also timed as Raft's
        ``consul.raft.fsm.apply`` (unless ``steps`` are :meth:`apply`'s), so the driver
        need not take the clock around it."""
        # Each command is timed from the end of the one before (decoding included):
        # one clock reading per command.
        if steps is None:
            steps = self._batched
        results: list[Any] = []
        timer, add_samples = metrics.timer, metrics.add_samples
        start = timer()
        for entry in entries:
            if entry.type is not _COMMAND:
                results.append(None)
                continue
            index, data = entry.index, entry.data
            step = steps.get(data[0]) if data else None
            if step is None:
                results.append(self._apply_unknown(index, data))
                start = timer()
                continue
            handler, decode, keys = step
            request = decode(memoryview(data)[1:])
            self.last_applied = index
            try:
                result = handler(index, request)
            except StateError as err:
                result = CommandError(str(err))
            end = timer()
            add_samples(keys, (end - start) * 1000.0)
            start = end
            results.append(result)
        return results

    def _apply_unknown(self, index: int, data: bytes) -> None:
        """A command whose type has no handler: skipped if flagged ignorable, else
        :class:`UnknownMessageType` (the server stops rather than diverge)."""
        decoded = decode_command(data)
        if decoded is not None:
            raise UnknownMessageType(f"no handler for raft message type {data[0]}")
        self.last_applied = index
        log.warning("ignoring unknown raft message type %d at index %d", data[0], index)

    def snapshot(self) -> FSMSnapshot:
        return FSMSnapshot(self.last_applied, self.store.snapshot())

    def restore(self, source: BinaryIO) -> None:
        header = source.read(_HEADER.size)
        if len(header) != _HEADER.size:
            raise UnknownMessageType("snapshot is truncated before its header")
        (self.last_applied,) = _HEADER.unpack(header)
        self.store.restore(source)

    def _register(self, index: int, req: RegisterRequest) -> None:
        # PeerName set: a row imported from that peer (the peering stream's writes)
        store = self.store.imported(req.PeerName) if req.PeerName else self.store
        with store.write(index) as tx:
            store.ensure_registration(tx, req)

    def _deregister(self, index: int, req: DeregisterRequest) -> None:
        store = self.store
        if req.PeerName:
            store = store.peer_catalogs.get(req.PeerName)
            if store is None:
                return
        with store.write(index) as tx:
            if req.ServiceID:
                store.delete_service(tx, req.Node, req.ServiceID)
            elif req.CheckID:
                store.delete_check(tx, req.Node, req.CheckID)
            else:
                store.delete_node(tx, req.Node)

    def _kvs(self, index: int, req: KVSRequest) -> Any:
        store, entry = self.store, req.DirEnt
        if req.Op == _KV_SET:  # the common write, without a transaction around it
            store.kv_set_alone(index, entry)
            return True
        with store.write(index) as tx:
            if req.Op == KVOp.CAS:
                return store.kv_set_cas(tx, entry)
            if req.Op == KVOp.LOCK:
                return store.kv_lock(tx, entry)
            if req.Op == KVOp.UNLOCK:
                return store.kv_unlock(tx, entry)
            if req.Op == KVOp.DELETE:
                store.kv_delete(tx, entry.Key)
                return True
            if req.Op == KVOp.DELETE_CAS:
                return store.kv_delete_cas(tx, entry.Key, entry.ModifyIndex)
            if req.Op == KVOp.DELETE_TREE:
                store.kv_delete_tree(tx, entry.Key)
                return True
        raise StateError(f"Invalid KVS operation '{req.Op}'")

    def _session(self, index: int, req: SessionRequest) -> Any:
        with self.store.write(index) as tx:
            if req.Op == "create":
                self.store.session_create(tx, req.Session)
                return req.Session.ID
            if req.Op == "destroy":
                self.store.delete_session(tx, req.Session.ID)
                return True
        raise StateError(f"Invalid Session operation '{req.Op}'")

    def _tombstone(self, index: int, req: TombstoneRequest) -> None:
        with self.store.write(index) as tx:
            self.store.reap_tombstones(tx, req.ReapIndex)

    def _coordinates(self, index: int, req: CoordinateBatchRequest) -> None:
        with self.store.write(index) as tx:
            self.store.coordinate_batch_update(tx, req.Updates)

    def _autopilot(self, index: int, req: AutopilotSetConfigRequest) -> bool:
        with self.store.write(index) as tx:
            return self.store.autopilot_set(tx, req.Config, req.CAS)

    def _config_entry(self, index: int, req: ConfigEntryRequest) -> bool:
        try:
            entry = load(req.Entry)
        except ConfigEntryError as err:
            raise StateError(err.message) from None
        store, kind, name = self.store, entry.Kind, entry.entry_name()
        with store.write(index) as tx:
            if req.Op == OP_UPSERT:
                store.config_entry_set(tx, entry)
                return True
            if req.Op == OP_UPSERT_CAS:
                return store.config_entry_set_cas(tx, entry, entry.ModifyIndex)
            if req.Op == OP_DELETE:
                store.config_entry_delete(tx, kind, name)
                return True
            if req.Op == OP_DELETE_CAS:
                return store.config_entry_delete_cas(tx, kind, name, entry.ModifyIndex)
        raise StateError(f"Invalid config entry operation '{req.Op}'")

    def _connect_ca(self, index: int, req: CARequest) -> Any:
        """CA roots, config and provider state; set-roots* answer whether the CAS held,
        increment-provider-serial the first serial it reserved."""
        try:
            return self._connect_ca_write(index, req)
        except _Abort:
            return False

    def _connect_ca_write(self, index: int, req: CARequest) -> Any:
        store = self.store
        with store.write(index) as tx:
            if req.Op == CA_OP_SET_CONFIG and req.Config is not None:
                store.ca_set_config(tx, req.Config)
                return True
            if req.Op == CA_OP_SET_ROOTS:
                return store.ca_set_roots_cas(tx, req.Index, req.Roots or [])
            if req.Op == CA_OP_SET_ROOTS_AND_CONFIG and req.Config is not None:
                if not store.ca_set_config_cas(tx, req.Config):
                    return False
                if not store.ca_set_roots_cas(tx, req.Index, req.Roots or []):
                    raise _Abort()
                return True
            if req.Op == CA_OP_SET_PROVIDER_STATE and req.ProviderState is not None:
                store.ca_set_provider_state(tx, req.ProviderState)
                return True
            if req.Op == CA_OP_DELETE_PROVIDER_STATE and req.ProviderState is not None:
                store.ca_delete_provider_state(tx, req.ProviderState.ID)
                return True
            if req.Op == CA_OP_INCREMENT_PROVIDER_SERIAL:
                return store.ca_reserve_serials(tx, max(req.SerialCount, 1))
        raise StateError(f"Invalid CA operation '{req.Op}'")

    def _system_metadata(self, index: int, req: SystemMetadataRequest) -> bool:
        if req.Entry is None:
            raise StateError("Missing system metadata entry")
        with self.store.write(index) as tx:
            if req.Op == SYSTEM_METADATA_UPSERT:
                self.store.system_metadata_set(tx, req.Entry)
                return True
            if req.Op == SYSTEM_METADATA_DELETE:
                self.store.system_metadata_delete(tx, req.Entry.Key)
                return True
        raise StateError(f"Invalid system metadata operation '{req.Op}'")

    def _federation_state(self, index: int, req: FederationStateRequest) -> bool:
        if req.State is None or not req.State.Datacenter:
            raise StateError("Missing federation state datacenter")
        if req.Op not in (FEDERATION_STATE_UPSERT, FEDERATION_STATE_DELETE):
            raise StateError(f"Invalid federation state operation: {req.Op}")
        metrics.incr_counter(f"consul.fsm.federation_state.{req.State.Datacenter}",
                             labels={"op": req.Op})
        with self.store.write(index) as tx:
            if req.Op == FEDERATION_STATE_UPSERT:
                self.store.federation_state_set(tx, req.State)
            else:
                self.store.federation_state_delete(tx, req.State.Datacenter)
        return True

    def _update_virtual_ip(self, index: int, req: ServiceVirtualIP
                           ) -> AssignServiceManualVIPsResponse:
        """Set a service's manual VIPs (Consul's UpdateVirtualIP, type 43)."""
        with self.store.write(index) as tx:
            found, moved = self.store.assign_manual_vips(
                tx, req.Service.ServiceName.Name, list(req.ManualIPs or ()))
        return AssignServiceManualVIPsResponse(Found=found, UnassignedFrom=moved)

    def _prepared_query(self, index: int, req: PreparedQueryRequest) -> None:
        if req.Query is None:
            raise StateError("Missing prepared query")
        with self.store.write(index) as tx:
            if req.Op in (QUERY_OP_CREATE, QUERY_OP_UPDATE):
                self.store.prepared_query_set(tx, req.Query)
                return None
            if req.Op == QUERY_OP_DELETE:
                self.store.prepared_query_delete(tx, req.Query.ID)
                return None
        raise StateError(f"Invalid prepared query operation '{req.Op}'")

    def _txn(self, index: int, req: TxnRequest) -> TxnResponse:
        try:
            with self.store.write(index) as tx:
                response = self.store.txn_apply(tx, req.Ops)
                if response.Errors:
                    raise _Rollback(response)
        except _Rollback as rollback:
            return rollback.response
        return response
