"""What the leader does for ACLs: create the built-ins and the configured initial
management token (Consul's ``initializeACLs``), and reap expired tokens."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from msgspec import UNSET
from msgspec.structs import replace

from proconsul.structs.acl import (
    ANONYMOUS_TOKEN_DESCRIPTION,
    ANONYMOUS_TOKEN_ID,
    ANONYMOUS_TOKEN_SECRET,
    GLOBAL_MANAGEMENT_POLICY_ID,
    ACLLink,
    ACLToken,
    acl_id_reserved,
    builtin_policies,
)
from proconsul.structs.acl_rpc import (
    ACLPolicyBatchSetRequest,
    ACLTokenBatchDeleteRequest,
    ACLTokenBatchSetRequest,
    ACLTokenBootstrapRequest,
)
from proconsul.structs.messages import MessageType
from proconsul.structs.system_metadata import (
    SERVER_MANAGEMENT_TOKEN,
    SYSTEM_METADATA_UPSERT,
    SystemMetadataEntry,
    SystemMetadataRequest,
)

if TYPE_CHECKING:
    from proconsul.server.server import Server

log = logging.getLogger(__name__)

INITIAL_MANAGEMENT_DESCRIPTION = "Initial Management Token"
REAP_BATCH = 4096
REAP_INTERVAL = 1.0


class ACLLeader:
    """Leader-only ACL work for one server."""

    def __init__(self, server: Server,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.server = server
        self._now = now

    async def initialize(self) -> None:
        """Rotate the servers' internal management secret (every datacenter), then write
        the built-in policies, the anonymous token and the initial management token when
        missing (primary datacenter only, as Consul)."""
        server = self.server
        await server.raft_apply(MessageType.SYSTEM_METADATA, SystemMetadataRequest(
            Op=SYSTEM_METADATA_UPSERT, Entry=SystemMetadataEntry(
                Key=SERVER_MANAGEMENT_TOKEN, Value=str(uuid.uuid4()))))
        if not server.is_primary:
            return
        await self.ensure_builtin_policies()
        if server.store.acl_tokens.get(ANONYMOUS_TOKEN_ID) is None:
            anonymous = ACLToken(AccessorID=ANONYMOUS_TOKEN_ID, SecretID=ANONYMOUS_TOKEN_SECRET,
                                 Description=ANONYMOUS_TOKEN_DESCRIPTION, CreateTime=self._now())
            anonymous.set_hash()
            await server.raft_apply(MessageType.ACL_TOKEN_SET,
                                    ACLTokenBatchSetRequest(Tokens=[anonymous]))
            log.info("acl: created the anonymous token")
        await self._initial_management()

    async def ensure_builtin_policies(self) -> None:
        """Write the built-in policies that are missing or whose rules are outdated
        (also called by a bootstrap that arrives before the leader got to it)."""
        store = self.server.store
        changed = []
        for policy_id, builtin in builtin_policies().items():
            existing = store.acl_policies.get(policy_id)
            if existing is None:
                policy = builtin
            elif existing.Rules != builtin.Rules or existing.Datacenters:
                policy = replace(existing, Rules=builtin.Rules, Datacenters=UNSET)
            else:
                continue
            policy.set_hash()
            changed.append(policy)
        if changed:
            await self.server.raft_apply(MessageType.ACL_POLICY_SET,
                                         ACLPolicyBatchSetRequest(Policies=changed))
            log.info("acl: created or upgraded the built-in policies")

    async def _initial_management(self) -> None:
        server, store = self.server, self.server.store
        secret = server.config.acl_initial_management
        if not secret or store.acl_tokens.has("secret", secret):
            return
        try:
            uuid.UUID(secret)
        except ValueError:
            log.warning("acl: the initial management token is not a UUID; this is deprecated")
        accessor = str(uuid.uuid4())
        while acl_id_reserved(accessor) or store.acl_tokens.get(accessor) is not None:
            accessor = str(uuid.uuid4())
        token = ACLToken(AccessorID=accessor, SecretID=secret,
                         Description=INITIAL_MANAGEMENT_DESCRIPTION,
                         Policies=[ACLLink(ID=GLOBAL_MANAGEMENT_POLICY_ID)],
                         CreateTime=self._now())
        token.set_hash()
        if store.acl_can_bootstrap()[0]:  # the configured token consumes the bootstrap
            await server.raft_apply(MessageType.ACL_BOOTSTRAP,
                                    ACLTokenBootstrapRequest(Token=token))
        else:
            await server.raft_apply(MessageType.ACL_TOKEN_SET,
                                    ACLTokenBatchSetRequest(Tokens=[token]))
        log.info("acl: created the initial management token")

    async def reap_expired(self) -> None:
        """Delete expired tokens, a batch at a time, for as long as this server leads."""
        while True:
            full = await self.reap_once()
            if not full:
                await asyncio.sleep(REAP_INTERVAL)

    async def reap_once(self) -> bool:
        """One reaping pass; True when a batch was full (more may be waiting)."""
        now = self._now()
        full = False
        for local in (True, False):
            if not local and not self.server.is_primary:
                continue
            expired = self.server.store.acl_tokens_expired(now, local, REAP_BATCH)
            if expired:
                await self.server.raft_apply(MessageType.ACL_TOKEN_DELETE,
                                             ACLTokenBatchDeleteRequest(TokenIDs=expired))
                log.debug("acl: reaped %d expired tokens", len(expired))
            full |= len(expired) == REAP_BATCH
        return full
