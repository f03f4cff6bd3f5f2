"""The KV short way's ACL question -- may this token read (or write) this key? --
answered from memory when it was asked before.

A token's answers are kept with the ACL change count they were made at and the
token's expiry, the same two things that keep the server's resolver cache valid
(:mod:`proconsul.server.acl.resolver`): any ACL write or restore, or the token's
expiry, and they are dropped before the next answer, which the resolver makes
afresh (or refuses). At most ``size`` answers are kept in all (then all are
dropped), and keys longer than ``MAX_KEY`` are asked each time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from msgspec import UNSET

from proconsul.lib.acl.authorizer import ALLOW
from proconsul.server.acl.resolver import TokenResolver
from proconsul.structs.errors import ConsulError

MEMO_SIZE = 4096
MAX_KEY = 256

# a token's answers: the ACL change count they hold at, the token's expiry (None:
# never), the answers by key, the token's bound check
_Entry = tuple[int, datetime | None, dict[str, bool], Callable[[str], Any]]


class KeyDecisions:
    """One key check's (``key_read`` or ``key_write``) answers, by token and key."""

    def __init__(self, resolver: TokenResolver, check: str, size: int = MEMO_SIZE,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._resolver = resolver
        self._store = resolver.store
        self._check = check
        self._size = size
        self._now = now
        self._tokens: dict[str, _Entry] = {}
        self._kept = 0  # answers remembered since the last reset (some may be dropped)

    def allowed(self, secret: str, key: str) -> bool:
        """Whether the token of ``secret`` passes the check on ``key``; False too when
        the secret does not resolve (the general path then says why)."""
        entry = self._tokens.get(secret)
        if entry is None or entry[0] != self._store.acl_changes or (
                entry[1] is not None and self._now() >= entry[1]):
            entry = self._resolve(secret)
            if entry is None:
                return False
        answers = entry[2]
        allowed = answers.get(key)
        if allowed is None:
            allowed = entry[3](key) is ALLOW
            if len(key) <= MAX_KEY:
                if self._kept >= self._size:
                    answers.clear()
                    self._tokens = {secret: entry}
                    self._kept = 0
                answers[key] = allowed
                self._kept += 1
        return allowed

    def _resolve(self, secret: str) -> _Entry | None:
        changes = self._store.acl_changes
        try:
            resolved = self._resolver.resolve(secret)
        except ConsulError:
            self._tokens.pop(secret, None)
            return None
        token = resolved.token
        expires = (token.ExpirationTime if token is not None
                   and token.ExpirationTime is not UNSET else None)
        entry = (changes, expires, {}, getattr(resolved.authorizer, self._check))
        self._tokens[secret] = entry
        return entry
