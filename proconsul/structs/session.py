"""Session types."""

from __future__ import annotations

from proconsul.structs.base import Int, Record, Uint64

BEHAVIOR_RELEASE = "release"
BEHAVIOR_DELETE = "delete"
DEFAULT_LOCK_DELAY_NS = 15_000_000_000
SESSION_TTL_MIN_NS = 10_000_000_000
SESSION_TTL_MAX_NS = 86_400_000_000_000
SESSION_TTL_MULTIPLIER = 2


class ServiceCheck(Record):
    """A service check a session is tied to."""

    ID: str = ""
    Namespace: str = ""


class Session(Record):
    """A session (``SessionEntry``); LockDelay is in nanoseconds, TTL a Go duration string."""

    ID: str = ""
    Name: str = ""
    Node: str = ""
    LockDelay: Int = 0
    Behavior: str = BEHAVIOR_RELEASE
    TTL: str = ""
    NodeChecks: list[str] | None = None
    ServiceChecks: list[ServiceCheck] | None = None
    CreateIndex: Uint64 = 0
    ModifyIndex: Uint64 = 0

    def check_ids(self) -> list[tuple[str, str]]:
        """(kind, check ID) pairs this session depends on."""
        return [("node", c) for c in self.NodeChecks or ()] + [
            ("service", c.ID) for c in self.ServiceChecks or ()
        ]


class SessionRequest(Record):
    """Session.Apply: create or destroy one session."""

    Op: str
    Session: Session
    Datacenter: str = ""
    Token: str = ""
