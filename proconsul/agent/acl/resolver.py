"""Token resolution for the agent's own requests.

On a server agent the server's resolver answers from local state. A client
agent asks a server (``ACL.TokenRead`` by secret, which returns the token's
policies expanded) and caches the compiled result for ``acl.token_ttl``. When no
server answers, ``acl.down_policy`` decides: ``allow``/``deny`` as named,
``extend-cache`` keeps using an expired entry, ``async-cache`` also returns it
at once and refreshes in the background; without an entry the cache modes fall
back to the default policy. "ACL not found" always evicts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from proconsul.agent.acl.tokens import TokenStore
from proconsul.agent.config.runtime import ACLConfig
from proconsul.lib.acl.authorizer import agent_recovery_authorizer, down_authorizer, new_authorizer
from proconsul.lib.acl.rules import RulesError, parse_rules
from proconsul.server.acl.resolver import ACLS_DISABLED, ERR_ROOT, ACLNotFound, ResolvedToken
from proconsul.structs.acl import ANONYMOUS_TOKEN_SECRET, ROOT_TOKEN_NAMES
from proconsul.structs.acl_rpc import TOKEN_ID_SECRET, ACLTokenGetRequest
from proconsul.structs.errors import ConsulError, Forbidden

AGENT_RECOVERY_ACCESSOR = "agent-recovery-token"

RPC = Callable[[str, Any], Awaitable[Any]]


class AgentTokenResolver:
    """``await resolve(secret)`` -> :class:`ResolvedToken`, on servers and client agents."""

    def __init__(self, config: ACLConfig, node_name: str, tokens: TokenStore, rpc: RPC,
                 local: Callable[[str], ResolvedToken] | None = None, datacenter: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.node_name = node_name
        self.tokens = tokens
        self._rpc = rpc
        self._local = local  # the server's resolver, on server agents
        self._datacenter = datacenter
        self._clock = clock
        self._cache: dict[str, tuple[float, ResolvedToken]] = {}
        self._refreshing: dict[str, asyncio.Task] = {}

    async def resolve(self, secret: str) -> ResolvedToken:
        if not self.config.enabled:
            return ACLS_DISABLED
        if self.tokens.is_agent_recovery(secret):
            return ResolvedToken(agent_recovery_authorizer(self.node_name),
                                 AGENT_RECOVERY_ACCESSOR)
        if self._local is not None:
            return self._local(secret)
        secret = secret or ANONYMOUS_TOKEN_SECRET
        if secret in ROOT_TOKEN_NAMES:
            raise Forbidden(ERR_ROOT)
        entry = self._cache.get(secret)
        token = entry[1].token if entry is not None else None
        if token is not None and token.is_expired(datetime.now(UTC)):
            del self._cache[secret]
            raise ACLNotFound()
        if entry is not None and self._clock() < entry[0]:
            return entry[1]
        if entry is not None and self.config.down_policy == "async-cache":
            if secret not in self._refreshing:
                task = asyncio.get_running_loop().create_task(self._fetch_quietly(secret))
                self._refreshing[secret] = task
                task.add_done_callback(lambda _t: self._refreshing.pop(secret, None))
            return entry[1]
        try:
            return await self._fetch(secret)
        except ConsulError as err:
            if err.status == Forbidden.status:  # an answer, not an outage
                raise
            return self._down(entry)

    def _down(self, entry: tuple[float, ResolvedToken] | None) -> ResolvedToken:
        down = self.config.down_policy
        if entry is not None and down in ("extend-cache", "async-cache"):
            return entry[1]
        accessor = entry[1].accessor_id if entry is not None else ""
        return ResolvedToken(down_authorizer(down, self.config.default_policy), accessor)

    async def _fetch_quietly(self, secret: str) -> None:
        try:
            await self._fetch(secret)
        except ConsulError:
            pass  # not found evicted; unreachable keeps the old entry

    async def _fetch(self, secret: str) -> ResolvedToken:
        request = ACLTokenGetRequest(TokenID=secret, TokenIDType=TOKEN_ID_SECRET,
                                     AllowStale=True, Datacenter=self._datacenter)
        try:
            reply = await self._rpc("ACL.TokenRead", request)
        except ConsulError as err:  # remote errors arrive as text with their status
            if "ACL not found" in err.message:
                self._cache.pop(secret, None)
                raise ACLNotFound(err.message) from None
            raise
        parsed = []
        for policy in reply.ExpandedPolicies or ():
            try:
                parsed.append((policy.Name, parse_rules(policy.Rules)))
            except RulesError:
                continue
        resolved = ResolvedToken(new_authorizer(parsed, self.config.default_policy),
                                 reply.Token.AccessorID, reply.Token)
        self._cache[secret] = (self._clock() + self.config.token_ttl, resolved)
        return resolved
