"""Intention.Apply: the legacy (by ID) and exact intention writes, as service-intentions edits.

Each write reads the destination's entry, edits it with the pure functions of
:mod:`proconsul.server.connect.intentions`, and commits it with a CAS on the
ModifyIndex it read, retrying when another write got there first.
"""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING

from msgspec import UNSET, structs

from proconsul.server.connect.intentions import (
    delete_by_id,
    delete_exact,
    find_by_id,
    upsert_exact,
)
from proconsul.structs.config_entries import load
from proconsul.structs.config_entries.intentions import (
    DEFAULT_NAMESPACE,
    SOURCE_TYPE_CONSUL,
    ServiceIntentionsConfigEntry,
)
from proconsul.structs.config_entry_rpc import (
    INTENTION_OP_CREATE,
    INTENTION_OP_DELETE,
    INTENTION_OP_UPDATE,
    INTENTION_OP_UPSERT,
    OP_DELETE_CAS,
    OP_UPSERT_CAS,
    ConfigEntryRequest,
    IntentionRequest,
    entry_payload,
    prepare,
)
from proconsul.structs.errors import BadRequest, ConsulError
from proconsul.structs.intention import Intention
from proconsul.structs.messages import MessageType

if TYPE_CHECKING:
    from proconsul.server.server import Server

KIND = ServiceIntentionsConfigEntry.KIND
CAS_ATTEMPTS = 16


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _legacy_allowed(entry: ServiceIntentionsConfigEntry | None) -> None:
    if entry is None or all(src.LegacyID for src in entry.Sources or ()):
        return
    raise BadRequest(f'cannot use legacy intention API to edit intentions with a destination of '
                     f'"{entry.Name}" after editing them via a service-intentions config entry')


def _fill(ixn: Intention) -> Intention:
    ixn.SourceNS = ixn.SourceNS or DEFAULT_NAMESPACE
    ixn.DestinationNS = ixn.DestinationNS or DEFAULT_NAMESPACE
    ixn.SourceType = ixn.SourceType or SOURCE_TYPE_CONSUL
    ixn.update_precedence()
    return ixn


class IntentionEndpoint:
    """The Intention RPC service (writes; reads go through ConfigEntry.List)."""

    NAME = "Intention"
    METHODS = ("Apply",)

    def __init__(self, server: Server) -> None:
        self.server = server

    async def Apply(self, req: IntentionRequest) -> str:
        ixn = req.Intention or Intention()
        if req.Op == INTENTION_OP_CREATE and ixn.ID:
            raise BadRequest("ID must be empty when creating a new intention")
        if req.Op == INTENTION_OP_CREATE:
            now = _now()
            ixn = _fill(structs.replace(ixn, ID=str(uuid.uuid4()), CreatedAt=now, UpdatedAt=now))
            ixn.validate()
        elif req.Op not in (INTENTION_OP_UPDATE, INTENTION_OP_UPSERT, INTENTION_OP_DELETE):
            raise BadRequest(f"Invalid Intention operation: {req.Op}")
        self._require_write(req.Token, req.Op, ixn)
        for _ in range(CAS_ATTEMPTS):
            if await self._attempt(req.Op, ixn, req.Datacenter):
                return ixn.ID or "" if req.Op != INTENTION_OP_UPSERT else ""
        raise ConsulError("intention write kept losing to concurrent writes; try again")

    def _require_write(self, token: str, op: str, ixn: Intention) -> None:
        """``intentions:write`` on the destination (the stored one for a write by ID)."""
        ident = self.server.authz.resolve(token)
        if not ident.enforcing:
            return
        if ixn.ID and op in (INTENTION_OP_UPDATE, INTENTION_OP_DELETE):
            found = find_by_id(self.server.store.config_entries_list(None, KIND)[1], ixn.ID)
            if found is not None:
                ident.require("intention_write", found[0].Name)
        if ixn.DestinationName:
            ident.require("intention_write", ixn.DestinationName)

    async def _attempt(self, op: str, ixn: Intention, dc: str) -> bool:
        """One read-edit-CAS round; False when another write changed the entry meanwhile."""
        store = self.server.store
        legacy = op != INTENTION_OP_UPSERT and not (op == INTENTION_OP_DELETE and not ixn.ID)
        if op in (INTENTION_OP_UPDATE, INTENTION_OP_DELETE) and ixn.ID:
            found = find_by_id(store.config_entries_list(None, KIND)[1], ixn.ID)
            if found is None:
                verb = "modify" if op == INTENTION_OP_UPDATE else "delete"
                raise BadRequest(f"Cannot {verb} non-existent intention: '{ixn.ID}'")
            entry, src = found
            _legacy_allowed(entry)
            if op == INTENTION_OP_DELETE:
                return await self._commit(entry, delete_by_id(entry, ixn.ID), legacy, dc)
            if ixn.DestinationName and ixn.DestinationName != entry.Name:
                raise BadRequest("Cannot modify DestinationNS or DestinationName for an "
                                 "intention once it exists.")
            updated = _fill(structs.replace(ixn, DestinationName=entry.Name,
                                            CreatedAt=src.LegacyCreateTime, UpdatedAt=_now()))
            updated.validate()
            sources = [updated.to_source(legacy=True) if s.LegacyID == ixn.ID else s
                       for s in entry.Sources or ()]
            return await self._commit(entry, structs.replace(entry, Sources=sources), legacy, dc)
        entry = store.config_entry_get(None, KIND, ixn.DestinationName)[1]
        if op == INTENTION_OP_CREATE:
            _legacy_allowed(entry)
            src = ixn.to_source(legacy=True)
            if entry is None:
                return await self._commit(None, ixn.to_config_entry(legacy=True), legacy, dc)
            return await self._commit(
                entry, structs.replace(entry, Sources=[*(entry.Sources or ()), src]), legacy, dc)
        if op == INTENTION_OP_DELETE:
            if entry is None:
                return True
            return await self._commit(entry, delete_exact(entry, ixn.SourceName), legacy, dc)
        ixn = structs.replace(ixn, ID=UNSET, CreatedAt=UNSET, UpdatedAt=UNSET)
        return await self._commit(entry, upsert_exact(entry, _fill(ixn)), legacy, dc)

    async def _commit(self, old: ServiceIntentionsConfigEntry | None,
                      new: ServiceIntentionsConfigEntry | None, legacy: bool, dc: str) -> bool:
        cas = old.ModifyIndex if old is not None else 0
        if new is None:
            if old is None:
                return True
            doomed = structs.replace(old, ModifyIndex=cas)
            command = ConfigEntryRequest(Op=OP_DELETE_CAS, Datacenter=dc,
                                         Entry=entry_payload(doomed))
        else:
            # a deep copy: normalization must never touch the rows the store holds
            entry = prepare(load(entry_payload(new)), legacy=legacy)
            entry.ModifyIndex = cas
            command = ConfigEntryRequest(Op=OP_UPSERT_CAS, Datacenter=dc,
                                         Entry=entry_payload(entry), Legacy=legacy)
        return bool(await self.server.raft_apply(MessageType.CONFIG_ENTRY, command))
