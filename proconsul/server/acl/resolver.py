"""Token resolution on servers: a SecretID becomes an identity and a compiled authorizer.

:meth:`TokenResolver.resolve` is the one call token resolution needs
(:meth:`TokenResolver.identity` the one enforcement needs). Results are cached
by secret and stay valid while no ACL object has changed (one integer
comparison against :attr:`~proconsul.state.acl.ACLMixin.acl_changes`) and the
token has not expired, so the rules are compiled once per token and change.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from msgspec import UNSET

from proconsul.lib.acl.authorizer import (
    ALLOW,
    MANAGE_ALL,
    ChainedAuthorizer,
    StaticAuthorizer,
    new_authorizer,
    permission_denied,
)
from proconsul.lib.acl.rules import ParsedRules, RulesError, parse_rules
from proconsul.lib.metrics import registry as metrics
from proconsul.server.acl_enforce import Identity
from proconsul.state.store import Store
from proconsul.structs.acl import (
    ANONYMOUS_TOKEN_ID,
    ANONYMOUS_TOKEN_SECRET,
    ROOT_TOKEN_NAMES,
    ACLPolicy,
    ACLRole,
    ACLToken,
)
from proconsul.structs.errors import Forbidden
from proconsul.structs.system_metadata import SERVER_MANAGEMENT_TOKEN

log = logging.getLogger(__name__)

ERR_NOT_FOUND = "ACL not found"
ERR_NOT_BOOTSTRAPPED = ("ACL system must be bootstrapped before making any requests that "
                        "require authorization: ACL not found")
ERR_ROOT = "Permission denied: Cannot resolve root ACL"
CACHE_SIZE = 4096

Authorizer = ChainedAuthorizer | StaticAuthorizer


class ACLNotFound(Forbidden):
    """The secret names no live token (unknown, deleted or expired)."""

    def __init__(self, message: str = ERR_NOT_FOUND) -> None:
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class ResolvedToken:
    """Who a request is (``accessor_id``; the token itself when ACLs are on) and what
    it may do (``authorizer``)."""

    authorizer: Authorizer
    accessor_id: str
    token: ACLToken | None = None

    def allowed(self, check: str, *args: str) -> bool:
        return getattr(self.authorizer, check)(*args) is ALLOW

    def require(self, check: str, *args: str, token_source: str = "") -> None:
        """Raise Forbidden with Consul's text (plus where the token came from) unless
        ``check`` (an authorizer method name such as ``"acl_write"``) allows."""
        if getattr(self.authorizer, check)(*args) is not ALLOW:
            name = args[0] if args else ""
            raise Forbidden(permission_denied(check, self.accessor_id, name, token_source))


ACLS_DISABLED = ResolvedToken(MANAGE_ALL, "")


def expand(store: Store, token: ACLToken | ACLRole, datacenter: str
           ) -> tuple[list[ACLPolicy], list[ACLRole]]:
    """Every policy in force for ``token`` in ``datacenter`` (its own, its roles', and the
    synthetic ones of identities and templated policies, once each) and its roles."""
    policies: dict[str, ACLPolicy] = {}
    roles: list[ACLRole] = []

    def add(policy: ACLPolicy | None) -> None:
        if policy is not None and policy.ID not in policies and policy.applies_in(datacenter):
            policies[policy.ID] = policy

    holders: list[ACLToken | ACLRole] = [token]
    for link in getattr(token, "Roles", None) or ():
        role = store.acl_roles.get(link.ID)
        if role is not None:
            roles.append(role)
            holders.append(role)
    for holder in holders:
        for link in holder.Policies or ():
            add(store.acl_policies.get(link.ID))
        for sid in holder.ServiceIdentities or ():
            add(sid.synthetic_policy())
        for nid in holder.NodeIdentities or ():
            if nid.Datacenter == datacenter:
                add(nid.synthetic_policy())
        for tp in holder.TemplatedPolicies or ():
            if tp.variables_error() is None:
                add(tp.synthetic_policy())
    return list(policies.values()), roles


def _parsed(policies: list[ACLPolicy]) -> Iterator[tuple[str, ParsedRules]]:
    for policy in policies:
        try:
            yield policy.Name, parse_rules(policy.Rules)
        except RulesError as err:  # stored before a stricter parser; skip, as Consul logs
            log.warning("skipping ACL policy %s with rules that no longer parse: %s",
                        policy.Name, err)


# a cached resolution: the store's acl_changes it was compiled at, the token's expiry
# (None: never), the resolution and the identity enforcement uses
_Entry = tuple[int, datetime | None, ResolvedToken, Identity]


class TokenResolver:
    """Resolves secrets against this server's state store, with a change-aware cache."""

    def __init__(self, store: Store, datacenter: str, default_policy: str = "allow",
                 enabled: bool = True, primary: bool = True,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.datacenter = datacenter
        self.default_policy = default_policy
        self.enabled = enabled
        self.primary = primary
        self._now = now
        self._cache: dict[str, _Entry] = {}

    def resolve(self, secret: str) -> ResolvedToken:
        """The identity and authorizer of ``secret`` (empty: the anonymous token).

        Raises :class:`ACLNotFound` for a secret that names no live token and
        Forbidden for the root names ``allow``/``deny``/``manage``."""
        if not self.enabled:
            return ACLS_DISABLED
        entry = self._cache.get(secret)
        if entry is not None and entry[0] == self.store.acl_changes and (
                entry[1] is None or self._now() < entry[1]):
            return entry[2]
        return self._miss(secret)[2]

    def identity(self, secret: str) -> Identity:
        """What enforcement asks for (ACLs on): the :class:`Identity` of ``secret``, kept
        in the same cache entry as its resolution. The hit is checked inline (as in
        :meth:`resolve`): this runs on every request."""
        entry = self._cache.get(secret)
        if entry is not None and entry[0] == self.store.acl_changes and (
                entry[1] is None or self._now() < entry[1]):
            return entry[3]
        return self._miss(secret)[3]

    def _miss(self, secret: str) -> _Entry:
        """Compile ``secret``'s resolution and cache it (the servers' internal management
        secret is never cached: a new leader replaces it)."""
        changes = self.store.acl_changes
        if self._is_server_management(secret):
            resolved = ResolvedToken(MANAGE_ALL, SERVER_MANAGEMENT_TOKEN)
            return (changes, None, resolved, Identity.of(resolved, secret))
        start = metrics.timer()
        resolved, expires = self._compile(secret or ANONYMOUS_TOKEN_SECRET)
        # Consul's timer of a token resolution; only the compiling misses are timed here,
        # a cached answer costs a dict lookup and is not worth a sample per request.
        metrics.measure_since("consul.acl.ResolveToken", start)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        entry = (changes, expires, resolved, Identity.of(resolved, secret))
        self._cache[secret] = entry
        return entry

    def _is_server_management(self, secret: str) -> bool:
        entry = self.store.system_metadata_get(SERVER_MANAGEMENT_TOKEN)
        return bool(secret) and entry is not None and bool(entry.Value) and \
            hmac.compare_digest(entry.Value.encode(), secret.encode())

    def live_token(self, secret: str) -> ACLToken | None:
        """The stored token for ``secret`` unless it has expired."""
        token = self.store.acl_token_by_secret(None, secret)[1]
        if token is None or token.is_expired(self._now()):
            return None
        return token

    def _compile(self, secret: str) -> tuple[ResolvedToken, datetime | None]:
        if secret in ROOT_TOKEN_NAMES:
            raise Forbidden(ERR_ROOT)
        token = self.live_token(secret)
        if token is None:
            if secret == ANONYMOUS_TOKEN_SECRET:  # not created yet: the default policy alone
                return ResolvedToken(new_authorizer([], self.default_policy),
                                     ANONYMOUS_TOKEN_ID), None
            if self.primary and self.store.acl_can_bootstrap()[0]:
                raise ACLNotFound(ERR_NOT_BOOTSTRAPPED)
            raise ACLNotFound()
        policies, _ = expand(self.store, token, self.datacenter)
        authorizer = new_authorizer(_parsed(policies), self.default_policy)
        expires = token.ExpirationTime if token.ExpirationTime is not UNSET else None
        return ResolvedToken(authorizer, token.AccessorID, token), expires
