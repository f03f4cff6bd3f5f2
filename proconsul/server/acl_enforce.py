"""ACL enforcement on a server: a request's token becomes an :class:`Identity`
that endpoints ask before acting and use to filter what they return.

:class:`Enforcer` is the one seam between enforcement and the ACL state's
resolver, which turns a token SecretID into an authorizer and the token's
AccessorID. With ACLs off every request gets :data:`UNRESTRICTED` (no
allocation, every check allowed, filters return their input unchanged).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from proconsul.lib.acl.authorizer import (
    ALLOW,
    CHECKS,
    MANAGE_ALL,
    ChainedAuthorizer,
    StaticAuthorizer,
    permission_denied,
)
from proconsul.structs.errors import Forbidden

T = TypeVar("T")

ANONYMOUS_SECRET = "anonymous"
_UNNAMED = frozenset(check for check, spec in CHECKS.items() if not spec.named)


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

    @classmethod
    def of(cls, resolved: Any, secret: str) -> Identity:
        """The identity of a resolver's answer (authorizer, accessor_id) for ``secret``."""
        return cls(resolved.authorizer, resolved.accessor_id,
                   anonymous=not secret or secret == ANONYMOUS_SECRET)

    def allowed(self, check: str, *args: str) -> bool:
        """Whether ``check`` (a name in ``authorizer.CHECKS``) passes for ``args``."""
        return getattr(self.authorizer, check)(*args) is ALLOW

    def require(self, check: str, name: str = "") -> None:
        """Raise Consul's 403 ``Permission denied`` unless ``check`` passes on ``name``."""
        if not self.enforcing:
            return
        method = getattr(self.authorizer, check)
        if (method() if check in _UNNAMED else method(name)) is not ALLOW:
            raise Forbidden(permission_denied(check, self.accessor_id, name))

    def keep(self, items: Iterable[T], allowed: Callable[[T], bool], meta: Any = None) -> list[T]:
        """The items ``allowed`` keeps; marks ``meta`` when some were dropped."""
        if not self.enforcing:
            return items if isinstance(items, list) else list(items)
        items = list(items)
        kept = [item for item in items if allowed(item)]
        if len(kept) != len(items):
            self.mark_filtered(meta)
        return kept

    def mark_filtered(self, meta: Any) -> None:
        """Set ``ResultsFilteredByACLs`` on a reply, unless the request was anonymous."""
        if meta is not None and not self.anonymous:
            meta.ResultsFilteredByACLs = True


UNRESTRICTED = Identity(MANAGE_ALL, "", enforcing=False)


class Enforcer:
    """SecretID -> :class:`Identity` on a server, through the ACL state's resolver
    (``identity(secret)``, cached with the resolution itself, or raising 403
    ``ACL not found``). ``resolve`` is bound once: ACLs on or off is fixed at start."""

    def __init__(self, resolver: Any) -> None:
        self.resolver = resolver
        self.resolve: Callable[[str], Identity] = (
            resolver.identity if resolver.enabled else _unrestricted)


def _unrestricted(secret: str) -> Identity:
    """The identity of every request when ACLs are off."""
    return UNRESTRICTED


def request_token(req: object) -> str:
    """The ``Token`` of a request that may arrive as a struct, a decoded map or None."""
    if isinstance(req, dict):
        return str(req.get("Token") or "")
    return getattr(req, "Token", "") or ""
