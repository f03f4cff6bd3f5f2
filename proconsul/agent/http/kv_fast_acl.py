"""The KV short way's ACL question -- may this token read (or write) this key? --
answered from memory when it was asked before.

The server's resolver is still asked first, every time: it hands back the same
:class:`~proconsul.server.acl_enforce.Identity` while a token's resolution holds,
and a new one (or an error) as soon as the ACL state changes or the token expires.
A remembered answer is used only with the identity it was made for, so it is never
stale. At most ``size`` answers are kept in all (then all are dropped), and keys
longer than ``MAX_KEY`` are asked each time.
"""

from __future__ import annotations

from collections.abc import Callable

from proconsul.server.acl_enforce import Identity
from proconsul.structs.errors import ConsulError

MEMO_SIZE = 4096
MAX_KEY = 256


class KeyDecisions:
    """One key check's (``key_read`` or ``key_write``) answers, by token and key."""

    def __init__(self, resolve: Callable[[str], Identity], check: str,
                 size: int = MEMO_SIZE) -> None:
        self._resolve = resolve
        self._check = check
        self._size = size
        self._tokens: dict[str, tuple[Identity, dict[str, bool]]] = {}
        self._kept = 0  # answers remembered since the last reset (some may be dropped)

    def allowed(self, secret: str, key: str) -> bool:
        """Whether the token of ``secret`` passes the check on ``key``; False too when
        the secret does not resolve (the general path then says why)."""
        try:
            identity = self._resolve(secret)
        except ConsulError:
            return False
        entry = self._tokens.get(secret)
        if entry is None or entry[0] is not identity:
            entry = self._tokens[secret] = (identity, {})
        answers = entry[1]
        allowed = answers.get(key)
        if allowed is None:
            allowed = identity.allowed(self._check, key)
            if len(key) <= MAX_KEY:
                if self._kept >= self._size:
                    answers.clear()
                    self._tokens = {secret: entry}
                    self._kept = 0
                answers[key] = allowed
                self._kept += 1
        return allowed
