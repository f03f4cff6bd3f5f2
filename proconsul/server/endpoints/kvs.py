"""KVS.*: apply one KV operation; get, list and list keys."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from proconsul.lib.metrics import timed
from proconsul.server import acl_filter
from proconsul.structs.errors import BadRequest
from proconsul.structs.kv import KVOp, KVSRequest
from proconsul.structs.messages import MessageType
from proconsul.structs.requests import (
    IndexedDirEntries,
    IndexedKeyList,
    KeyListRequest,
    KeyRequest,
)

if TYPE_CHECKING:
    from proconsul.server.server import Server

log = logging.getLogger(__name__)

WRITE_OPS = {KVOp.SET, KVOp.CAS, KVOp.LOCK, KVOp.UNLOCK, KVOp.DELETE, KVOp.DELETE_CAS,
             KVOp.DELETE_TREE}


class KVS:
    """The KVS RPC service."""

    NAME = "KVS"
    METHODS = ("Apply", "Get", "List", "ListKeys")

    def __init__(self, server: Server) -> None:
        self.server = server

    @timed("consul.kvs.apply")
    async def Apply(self, req: KVSRequest) -> bool:
        if req.Op not in WRITE_OPS:
            raise BadRequest(f"Invalid KVS operation '{req.Op}'")
        ident = self.server.authz.resolve(req.Token)
        if req.Op == KVOp.DELETE_TREE:
            ident.require("key_write_prefix", req.DirEnt.Key)
        else:
            ident.require("key_write", req.DirEnt.Key)
        if req.Op == KVOp.LOCK:
            delay = self.server.store.lock_delay_remaining(req.DirEnt.Key)
            if delay > 0:
                log.warning("rejecting lock of %s due to lock-delay (%.1fs left)",
                            req.DirEnt.Key, delay)
                return False
        return bool(await self.server.raft_apply(MessageType.KVS, req))

    async def Get(self, req: KeyRequest) -> IndexedDirEntries:
        self.server.authz.resolve(req.Token).require("key_read", req.Key)
        return await self.server.read_into(
            req, IndexedDirEntries(), "Entries",
            lambda ws: self.server.store.kv_get(ws, req.Key),
            lambda entry: [entry] if entry is not None else [])

    async def List(self, req: KeyRequest) -> IndexedDirEntries:
        ident = self._lister(req.Token, req.Key)
        return await self.server.read_into(
            req, IndexedDirEntries(), "Entries",
            lambda ws: self.server.store.kv_list(ws, req.Key),
            acl=lambda entries, reply: acl_filter.dir_entries(ident, entries, reply))

    async def ListKeys(self, req: KeyListRequest) -> IndexedKeyList:
        ident = self._lister(req.Token, req.Prefix)
        return await self.server.read_into(
            req, IndexedKeyList(), "Keys",
            lambda ws: self.server.store.kv_keys(ws, req.Prefix, req.Seperator),
            acl=lambda keys, reply: acl_filter.keys(ident, keys, reply))

    def _lister(self, token: str, prefix: str):
        """The token's identity; with ``acl.enable_key_list_policy`` it needs ``key:list``
        on the prefix, as Consul asks."""
        ident = self.server.authz.resolve(token)
        if self.server.config.acl_enable_key_list_policy:
            ident.require("key_list", prefix)
        return ident
