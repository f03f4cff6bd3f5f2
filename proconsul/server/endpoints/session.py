"""Session.*: create and destroy, reads, and TTL renewal."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from msgspec.structs import replace

from proconsul.lib.duration import DurationError, format_duration, parse_duration
from proconsul.lib.metrics import timed
from proconsul.server import acl_filter
from proconsul.structs.errors import BadRequest
from proconsul.structs.messages import MessageType
from proconsul.structs.requests import (
    DCSpecificRequest,
    IndexedSessions,
    NodeSpecificRequest,
    SessionSpecificRequest,
)
from proconsul.structs.session import (
    BEHAVIOR_DELETE,
    BEHAVIOR_RELEASE,
    SESSION_TTL_MAX_NS,
    SessionRequest,
)

if TYPE_CHECKING:
    from proconsul.server.server import Server


class SessionEndpoint:
    """The Session RPC service."""

    NAME = "Session"
    METHODS = ("Apply", "Get", "List", "NodeSessions", "Renew")

    def __init__(self, server: Server) -> None:
        self.server = server

    @timed("consul.session.apply")
    async def Apply(self, req: SessionRequest) -> str:
        ident = self.server.authz.resolve(req.Token)
        if req.Op == "destroy":
            if not req.Session.ID:
                raise BadRequest("Must provide ID")
            existing = self.server.store.sessions.get(req.Session.ID)
            if existing is not None:
                ident.require("session_write", existing.Node)
            await self.server.raft_apply(MessageType.SESSION, req)
            self.server.session_timers.clear_one(req.Session.ID)
            return req.Session.ID
        if req.Op != "create":
            raise BadRequest(f"Invalid session operation '{req.Op}'")
        session = req.Session
        if not session.Node:
            raise BadRequest("Must provide Node")
        ident.require("session_write", session.Node)
        behavior = session.Behavior or BEHAVIOR_RELEASE
        if behavior not in (BEHAVIOR_RELEASE, BEHAVIOR_DELETE):
            raise BadRequest(f"Invalid Behavior setting '{behavior}'")
        if session.TTL:
            try:
                ttl = parse_duration(session.TTL)
            except DurationError as err:
                raise BadRequest(f"Session TTL '{session.TTL}' invalid: {err}") from None
            ttl_min = self.server.config.session_ttl_min_ns
            if ttl != 0 and not ttl_min <= ttl <= SESSION_TTL_MAX_NS:
                raise BadRequest(
                    f"Invalid Session TTL '{ttl}', must be between "
                    f"[{format_duration(ttl_min)}={format_duration(SESSION_TTL_MAX_NS)}]")
        session_id = str(uuid.uuid4())
        while self.server.store.sessions.get(session_id) is not None:
            session_id = str(uuid.uuid4())
        session = replace(session, ID=session_id, Behavior=behavior)
        await self.server.raft_apply(MessageType.SESSION, replace(req, Session=session))
        stored = self.server.store.sessions.get(session_id)
        if stored is not None and self.server.consensus.is_leader():
            self.server.session_timers.reset(stored)
        return session_id

    async def Get(self, req: SessionSpecificRequest) -> IndexedSessions:
        return await self._read(req, lambda ws: self._one(ws, req.SessionID))

    async def List(self, req: DCSpecificRequest) -> IndexedSessions:
        return await self._read(req, self.server.store.session_list)

    async def NodeSessions(self, req: NodeSpecificRequest) -> IndexedSessions:
        return await self._read(req, lambda ws: self.server.store.node_sessions(ws, req.Node))

    @timed("consul.session.renew")
    async def Renew(self, req: SessionSpecificRequest) -> IndexedSessions:
        reply = IndexedSessions()
        index, sessions = self._one(None, req.SessionID)
        ident = self.server.authz.resolve(req.Token)
        for session in sessions:
            ident.require("session_write", session.Node)
        reply.Index, reply.Sessions = index, sessions
        for session in sessions:
            self.server.session_timers.reset(session)
        self.server.set_query_meta(reply, req)
        return reply

    def _one(self, ws, session_id: str):
        index, session = self.server.store.session_get(ws, session_id)
        return index, [session] if session is not None else []

    async def _read(self, req, read) -> IndexedSessions:
        ident = self.server.authz.resolve(req.Token)
        return await self.server.read_into(
            req, IndexedSessions(), "Sessions", read,
            acl=lambda rows, reply: acl_filter.sessions(ident, rows, reply))
