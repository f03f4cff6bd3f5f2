"""Session TTL timers, run on the leader only."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from proconsul.lib.duration import parse_duration
from proconsul.structs.messages import MessageType
from proconsul.structs.session import SESSION_TTL_MULTIPLIER, Session, SessionRequest

if TYPE_CHECKING:
    from proconsul.server.server import Server

log = logging.getLogger(__name__)


class SessionTimers:
    """One timer per TTL session; expiry destroys the session through Raft.

    As in Consul, a session expires after ``TTL * 2`` without a renewal.
    """

    def __init__(self, server: Server) -> None:
        self._server = server
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def __len__(self) -> int:
        return len(self._timers)

    def initialize(self) -> None:
        """Start timers for every TTL session (on gaining leadership)."""
        for session in self._server.store.sessions.rows():
            self.reset(session)

    def reset(self, session: Session) -> None:
        if not session.TTL:
            return
        self.clear_one(session.ID)
        seconds = parse_duration(session.TTL) * SESSION_TTL_MULTIPLIER / 1e9
        loop = asyncio.get_running_loop()
        self._timers[session.ID] = loop.call_later(seconds, self._expire, session.ID)

    def clear_one(self, session_id: str) -> None:
        timer = self._timers.pop(session_id, None)
        if timer is not None:
            timer.cancel()

    def clear(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _expire(self, session_id: str) -> None:
        self._timers.pop(session_id, None)
        self._server.routines.start(f"session-expire-{session_id}",
                                    lambda: self._destroy(session_id), label="session-expire")

    async def _destroy(self, session_id: str) -> None:
        log.info("session %s expired", session_id)
        await self._server.raft_apply(MessageType.SESSION, SessionRequest(
            Op="destroy", Session=Session(ID=session_id),
            Datacenter=self._server.config.datacenter))
