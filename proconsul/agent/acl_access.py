"""The agent's side of ACL enforcement: its token slots, and a request's token
turned into an :class:`~proconsul.server.acl_enforce.Identity` for the checks
the agent itself makes (agent endpoints, local services and checks, events).

A server agent asks its own server's resolver. The ``agent_recovery`` token is
answered locally, as Consul does, so it works with no server reachable. A client
agent has no ACL state of its own: until it can ask a server, a token other
than those is resolved as ``down_policy`` says when no server answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from proconsul.lib.acl.authorizer import agent_recovery_authorizer, down_authorizer
from proconsul.server.acl_enforce import UNRESTRICTED, Identity

if TYPE_CHECKING:
    from proconsul.agent.config.runtime import ACLConfig
    from proconsul.server.server import Server

AGENT_RECOVERY_ACCESSOR = "agent-recovery"


class AgentACL:
    """Token slots and token resolution for one agent."""

    def __init__(self, config: ACLConfig, node_name: str, server: Server | None) -> None:
        self.enabled = config.enabled
        self.tokens = config.tokens
        self.server = server
        self._recovery = (Identity(agent_recovery_authorizer(node_name), AGENT_RECOVERY_ACCESSOR)
                          if config.enabled and config.tokens.agent_recovery else None)
        self._down = Identity(down_authorizer(config.down_policy, config.default_policy), "",
                              enforcing=config.enabled)

    def default_token(self) -> str:
        """The token a request without one acts with ("" = anonymous)."""
        return self.tokens.default

    def agent_token(self) -> str:
        """The token of the agent's own work (anti-entropy, coordinates): agent, else default."""
        return self.tokens.agent or self.tokens.default

    def dns_token(self) -> str:
        """The token DNS lookups act with: dns, else default."""
        return self.tokens.dns or self.tokens.default

    def resolve(self, secret: str) -> Identity:
        """The identity of ``secret``; 403 ``ACL not found`` for an unknown token."""
        if not self.enabled:
            return UNRESTRICTED
        if self._recovery is not None and secret == self.tokens.agent_recovery:
            return self._recovery
        if self.server is not None:
            return self.server.authz.resolve(secret)
        return self._down
