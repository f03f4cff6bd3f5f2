"""Sessions, their links to health checks, and invalidation."""

from __future__ import annotations

from msgspec.structs import replace

from proconsul.state.base import StoreBase, WriteTxn, lower
from proconsul.state.catalog import ERR_MISSING_NODE, StateError
from proconsul.state.prepared_queries import PreparedQueryMixin
from proconsul.state.watch import WatchSet
from proconsul.structs.base import UNSET
from proconsul.structs.catalog import HEALTH_CRITICAL
from proconsul.structs.session import BEHAVIOR_DELETE, Session


class SessionMixin(PreparedQueryMixin, StoreBase):
    """Session create/destroy; destroying releases or deletes the session's locks and
    deletes the prepared queries bound to the session."""

    def session_create(self, tx: WriteTxn, session: Session) -> None:
        node_key = lower(session.Node)
        if self.nodes.get(node_key) is None:
            raise StateError(ERR_MISSING_NODE)
        links = []
        for _kind, check_id in session.check_ids():
            check = self.checks.get((node_key, check_id))
            if check is None:
                raise StateError(f"Missing check '{check_id}' registration")
            if check.Status == HEALTH_CRITICAL:
                raise StateError(f"Check '{check_id}' is in {check.Status} state")
            links.append((node_key, check_id, session.ID))
        self.sessions.put(replace(session, CreateIndex=tx.index, ModifyIndex=tx.index), tx.undo)
        for link in links:
            self.session_checks.put(link, tx.undo)
        tx.bump("sessions")
        tx.touch(("session", session.ID), ("node_sessions", node_key))

    def delete_session(self, tx: WriteTxn, session_id: str) -> None:
        """Destroy a session: release (or delete) what it locks, set lock delays."""
        session = self.sessions.delete(session_id, tx.undo)
        if session is None:
            return
        for link in self.session_checks.by("session", session_id):
            self.session_checks.delete(link, tx.undo)
        held = self.kvs.by("session", session_id)
        for entry in held:
            if session.Behavior == BEHAVIOR_DELETE:
                self.kv_delete(tx, entry.Key)
            else:
                self._kv_put(tx, replace(entry, Session=UNSET, ModifyIndex=tx.index))
            if session.LockDelay > 0:
                self.set_lock_delay(entry.Key, session.LockDelay / 1e9)
        for query in self.prepared_queries.by("session", session_id):
            self.prepared_query_delete(tx, query.ID)
        tx.bump("sessions")
        tx.touch(("session", session_id), ("node_sessions", lower(session.Node)))

    def session_get(self, ws: WatchSet | None, session_id: str) -> tuple[int, Session | None]:
        if ws is not None:
            ws.add(("session", session_id))
        return self.max_index("sessions"), self.sessions.get(session_id)

    def session_list(self, ws: WatchSet | None) -> tuple[int, list[Session]]:
        if ws is not None:
            ws.add(("index", "sessions"))
        return self.max_index("sessions"), list(self.sessions.rows())

    def node_sessions(self, ws: WatchSet | None, node: str) -> tuple[int, list[Session]]:
        if ws is not None:
            ws.add(("node_sessions", lower(node)))
        return self.max_index("sessions"), self.sessions.by("node", lower(node))
