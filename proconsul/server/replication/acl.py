"""ACL policies, roles and global tokens as replicated types (Consul's acl_replication*.go).

Each lists the primary's objects with a blocking query, reads them in full with the
batch read, and writes them here with the batch raft commands (links to objects not
replicated yet are allowed, as Consul's replication does).  Calls carry the
``acl.tokens.replication`` token.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import msgspec

from proconsul.server.replication.diff import Remote
from proconsul.structs.acl_rpc import (
    ACLPolicyBatchDeleteRequest,
    ACLPolicyBatchGetRequest,
    ACLPolicyBatchSetRequest,
    ACLPolicyListRequest,
    ACLRoleBatchDeleteRequest,
    ACLRoleBatchSetRequest,
    ACLRoleListRequest,
    ACLTokenBatchDeleteRequest,
    ACLTokenBatchGetRequest,
    ACLTokenBatchSetRequest,
    ACLTokenListRequest,
)
from proconsul.structs.errors import ConsulError
from proconsul.structs.messages import MessageType

if TYPE_CHECKING:
    from proconsul.server.server import Server

INDEX_FIELDS = ("CreateIndex", "ModifyIndex")


def _content(obj: msgspec.Struct) -> dict[str, Any]:
    return {k: v for k, v in msgspec.to_builtins(obj).items() if k not in INDEX_FIELDS}


class _ACLObjects:
    """What policies, roles and tokens share: objects by ID, kept from the last fetch."""

    name = ""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._fetched: dict[Hashable, Any] = {}

    @property
    def _token(self) -> str:
        return self._server.config.acl_replication_token

    def _remember(self, index: int, objects: list[Any], key: str
                  ) -> tuple[int, dict[Hashable, Remote]]:
        self._fetched = {getattr(o, key): o for o in objects}
        return index, {k: Remote(o.ModifyIndex, _content(o)) for k, o in self._fetched.items()}


class ACLPolicies(_ACLObjects):
    name = "policies"

    async def fetch(self, primary: str, index: int) -> tuple[int, dict[Hashable, Remote]]:
        listed = await self._server.rpc("ACL.PolicyList", ACLPolicyListRequest(
            Datacenter=primary, MinQueryIndex=index, AllowStale=True, Token=self._token))
        full = await self._server.rpc("ACL.PolicyBatchRead", ACLPolicyBatchGetRequest(
            Datacenter=primary, PolicyIDs=[p.ID for p in listed.Policies], AllowStale=True,
            Token=self._token))
        return self._remember(listed.Index, full.Policies, "ID")

    def local(self) -> dict[Hashable, Any]:
        return {p.ID: _content(p) for p in self._server.store.acl_policy_list(None)[1]}

    async def upsert(self, keys: list[Hashable]) -> None:
        await self._server.raft_apply(MessageType.ACL_POLICY_SET, ACLPolicyBatchSetRequest(
            Policies=[self._fetched[k] for k in keys]))

    async def delete(self, keys: list[Hashable]) -> None:
        await self._server.raft_apply(MessageType.ACL_POLICY_DELETE,
                                      ACLPolicyBatchDeleteRequest(PolicyIDs=list(keys)))


class ACLRoles(_ACLObjects):
    name = "roles"

    async def fetch(self, primary: str, index: int) -> tuple[int, dict[Hashable, Remote]]:
        listed = await self._server.rpc("ACL.RoleList", ACLRoleListRequest(
            Datacenter=primary, MinQueryIndex=index, AllowStale=True, Token=self._token))
        return self._remember(listed.Index, listed.Roles, "ID")

    def local(self) -> dict[Hashable, Any]:
        return {r.ID: _content(r) for r in self._server.store.acl_role_list(None)[1]}

    async def upsert(self, keys: list[Hashable]) -> None:
        await self._server.raft_apply(MessageType.ACL_ROLE_SET, ACLRoleBatchSetRequest(
            Roles=[self._fetched[k] for k in keys], AllowMissingLinks=True))

    async def delete(self, keys: list[Hashable]) -> None:
        await self._server.raft_apply(MessageType.ACL_ROLE_DELETE,
                                      ACLRoleBatchDeleteRequest(RoleIDs=list(keys)))


class ACLTokens(_ACLObjects):
    """Global tokens only: local ones belong to the datacenter that made them."""

    name = "tokens"

    async def fetch(self, primary: str, index: int) -> tuple[int, dict[Hashable, Remote]]:
        listed = await self._server.rpc("ACL.TokenList", ACLTokenListRequest(
            Datacenter=primary, IncludeLocal=False, MinQueryIndex=index, AllowStale=True,
            Token=self._token))
        full = await self._server.rpc("ACL.TokenBatchRead", ACLTokenBatchGetRequest(
            Datacenter=primary, AccessorIDs=[t.AccessorID for t in listed.Tokens],
            AllowStale=True, Token=self._token))
        if full.Redacted:
            raise ConsulError("the replication token may not read token secrets "
                              "(acl:write is needed): tokens are not replicated")
        return self._remember(listed.Index, [t for t in full.Tokens if not t.Local],
                              "AccessorID")

    def local(self) -> dict[Hashable, Any]:
        _, tokens = self._server.store.acl_token_list(None, local=False)
        return {t.AccessorID: _content(t) for t in tokens}

    async def upsert(self, keys: list[Hashable]) -> None:
        await self._server.raft_apply(MessageType.ACL_TOKEN_SET, ACLTokenBatchSetRequest(
            Tokens=[self._fetched[k] for k in keys], AllowMissingLinks=True))

    async def delete(self, keys: list[Hashable]) -> None:
        await self._server.raft_apply(MessageType.ACL_TOKEN_DELETE,
                                      ACLTokenBatchDeleteRequest(TokenIDs=list(keys)))
