"""ACL enforcement on a server: a request's token becomes an :class:`Identity`
that endpoints ask before acting and use to filter what they return.

The resolver is the one seam between enforcement and the ACL state: it turns a
token SecretID into an authorizer and the token's AccessorID. With ACLs off
every request gets :data:`UNRESTRICTED` (no allocation, every check allowed,
filters return their input unchanged).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from proconsul.lib.acl.authorizer import (
    ALLOW,
    ANONYMOUS_TOKEN_ID,
    CHECKS,
    MANAGE_ALL,
    ChainedAuthorizer,
    StaticAuthorizer,
    new_authorizer,
    permission_denied,
)
from proconsul.structs.errors import Forbidden

T = TypeVar("T")

ACL_NOT_FOUND = "ACL not found"
ANONYMOUS_SECRET = "anonymous"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request acts as: the compiled authorizer and the token's AccessorID.

    ``enforcing`` is False only when ACLs are off; ``anonymous`` says the request
    carried no token (Consul then hides that results were filtered).
    """

    authorizer: ChainedAuthorizer | StaticAuthorizer
    accessor_id: str
    enforcing: bool = True
    anonymous: bool = False

    def allowed(self, check: str, *args: str) -> bool:
        """Whether ``check`` (a name in ``authorizer.CHECKS``) passes for ``args``."""
        return getattr(self.authorizer, check)(*args) is ALLOW

    def require(self, check: str, name: str = "") -> None:
        """Raise Consul's 403 ``Permission denied`` unless ``check`` passes on ``name``."""
        if not self.enforcing:
            return
        method = getattr(self.authorizer, check)
        if (method(name) if CHECKS[check].named else method()) is not ALLOW:
            raise Forbidden(permission_denied(check, self.accessor_id, name))

    def keep(self, items: Iterable[T], allowed: Callable[[T], bool], meta: Any = None) -> list[T]:
        """The items ``allowed`` keeps; marks ``meta`` when some were dropped."""
        items = list(items)
        if not self.enforcing:
            return items
        kept = [item for item in items if allowed(item)]
        if len(kept) != len(items):
            self.mark_filtered(meta)
        return kept

    def mark_filtered(self, meta: Any) -> None:
        """Set ``ResultsFilteredByACLs`` on a reply, unless the request was anonymous."""
        if meta is not None and not self.anonymous:
            meta.ResultsFilteredByACLs = True


UNRESTRICTED = Identity(MANAGE_ALL, "", enforcing=False)


class TokenResolver:
    """SecretID -> :class:`Identity` on a server.

    Knows the configured ``initial_management`` secret (management) and the
    anonymous token (no policies, so the default policy decides); any other
    secret is ``ACL not found`` until the ACL state answers for it through
    ``lookup`` (a callable returning an Identity or None).
    """

    def __init__(self, enabled: bool, default_policy: str = "allow",
                 initial_management: str = "",
                 lookup: Callable[[str], Identity | None] | None = None) -> None:
        self.enabled = enabled
        self.default_policy = default_policy
        self.initial_management = initial_management
        self.lookup = lookup
        self.anonymous = Identity(new_authorizer([], default_policy) if enabled else MANAGE_ALL,
                                  ANONYMOUS_TOKEN_ID, enforcing=enabled, anonymous=True)
        self.management = Identity(MANAGE_ALL, "initial-management")

    def resolve(self, secret: str) -> Identity:
        """The identity of ``secret``; raises 403 ``ACL not found`` for an unknown one."""
        if not self.enabled:
            return UNRESTRICTED
        if not secret or secret == ANONYMOUS_SECRET:
            return self.anonymous
        if self.initial_management and secret == self.initial_management:
            return self.management
        if self.lookup is not None:
            found = self.lookup(secret)
            if found is not None:
                return found
        raise Forbidden(ACL_NOT_FOUND)


def request_token(req: object) -> str:
    """The ``Token`` of a request that may arrive as a struct, a decoded map or None."""
    if isinstance(req, dict):
        return str(req.get("Token") or "")
    return getattr(req, "Token", "") or ""
