"""Config entries (intentions included) as a replicated type (Consul's config_replication.go).

Upserts go in dependency order (defaults before the resolvers, splitters and
routers that need them) and deletes in the reverse, so that every step passes
the discovery-chain checks the primary's did.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from proconsul.server.replication.diff import Remote
from proconsul.structs.config_entries import KINDS
from proconsul.structs.config_entry_rpc import (
    OP_DELETE,
    OP_UPSERT,
    ConfigEntryListAllRequest,
    ConfigEntryRequest,
    entry_payload,
)
from proconsul.structs.messages import MessageType

if TYPE_CHECKING:
    from proconsul.server.server import Server

FIRST_KINDS = ("proxy-defaults", "service-defaults", "service-resolver", "service-splitter",
               "service-router")
INDEX_FIELDS = ("CreateIndex", "ModifyIndex", "Hash")


def _rank(key: Hashable) -> tuple[int, Hashable]:
    kind = key[0]  # type: ignore[index]
    return (FIRST_KINDS.index(kind) if kind in FIRST_KINDS else len(FIRST_KINDS), key)


def _content(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in INDEX_FIELDS}


class ConfigEntries:
    """Every config entry kind, keyed by ``(Kind, Name)``."""

    name = "config-entries"

    def __init__(self, server: Server) -> None:
        self._server = server
        self._fetched: dict[Hashable, dict[str, Any]] = {}

    async def fetch(self, primary: str, index: int) -> tuple[int, dict[Hashable, Remote]]:
        reply = await self._server.rpc("ConfigEntry.ListAll", ConfigEntryListAllRequest(
            Datacenter=primary, Kinds=list(KINDS), MinQueryIndex=index, AllowStale=True,
            Token=self._server.config.acl_replication_token))
        self._fetched = {(e["Kind"], e["Name"]): e for e in reply.Entries}
        return reply.Index, {key: Remote(int(e.get("ModifyIndex") or 0), _content(e))
                             for key, e in self._fetched.items()}

    def local(self) -> dict[Hashable, Any]:
        _, entries = self._server.store.config_entries_list(None)
        return {(e.Kind, e.Name): _content(entry_payload(e)) for e in entries}

    async def upsert(self, keys: list[Hashable]) -> None:
        for key in sorted(keys, key=_rank):
            await self._server.raft_apply(MessageType.CONFIG_ENTRY, ConfigEntryRequest(
                Op=OP_UPSERT, Entry=_content(self._fetched[key])))

    async def delete(self, keys: list[Hashable]) -> None:
        for kind, name in sorted(keys, key=_rank, reverse=True):  # type: ignore[misc]
            await self._server.raft_apply(MessageType.CONFIG_ENTRY, ConfigEntryRequest(
                Op=OP_DELETE, Entry={"Kind": kind, "Name": name}))
