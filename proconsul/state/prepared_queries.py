"""The prepared queries table: set, delete, get, list, and resolve an ID or name.

Names are unique (case-insensitively) and may not alias another query's ID;
at most one template has the empty name. Queries bound to a session are
deleted with it (see :meth:`~.sessions.SessionMixin.delete_session`). Every
read answers with the table's index, as Consul's do.
"""

from __future__ import annotations

from msgspec.structs import replace

from proconsul.state.base import StoreBase, WriteTxn
from proconsul.state.catalog import StateError
from proconsul.state.query_template import CompiledTemplate, TemplateError
from proconsul.state.watch import WatchSet
from proconsul.structs.prepared_query import (
    ERR_MISSING_QUERY_ID,
    PreparedQuery,
    QuerySource,
    is_uuid,
)

TABLE = "prepared-queries"


def compile_template(query: PreparedQuery) -> CompiledTemplate:
    try:
        return CompiledTemplate(query)
    except TemplateError as err:
        raise StateError(f"failed compiling template: {err}") from None


class PreparedQueryMixin(StoreBase):
    """Prepared query writes (from the FSM) and reads (from the endpoint)."""

    def prepared_query_set(self, tx: WriteTxn, query: PreparedQuery) -> None:
        if not query.ID:
            raise StateError(ERR_MISSING_QUERY_ID)
        table = self.prepared_queries
        existing = table.get(query.ID)
        if query.Name:
            others = table.by("name", query.Name.lower())
            if others and others[0].ID != query.ID:
                raise StateError(f"name '{query.Name}' aliases an existing query name")
        elif query.is_template():
            others = table.by("template", "")
            if others and others[0].ID != query.ID:
                raise StateError("a query template with an empty name already exists")
        if is_uuid(query.Name) and table.get(query.Name) is not None:
            raise StateError(f"name '{query.Name}' aliases an existing query ID")
        if query.Session and self.sessions.get(query.Session) is None:
            raise StateError(f'invalid session "{query.Session}"')
        if query.is_template():
            compile_template(query)
        create = existing.CreateIndex if existing is not None else tx.index
        table.put(replace(query, CreateIndex=create, ModifyIndex=tx.index), tx.undo)
        tx.bump(TABLE)
        tx.touch(("prepared_query", query.ID))

    def prepared_query_delete(self, tx: WriteTxn, query_id: str) -> None:
        if self.prepared_queries.delete(query_id, tx.undo) is None:
            return
        tx.bump(TABLE)
        tx.touch(("prepared_query", query_id))

    def prepared_query_get(self, ws: WatchSet | None, query_id: str
                           ) -> tuple[int, PreparedQuery | None]:
        if ws is not None:
            ws.add(("prepared_query", query_id))
        return self.max_index(TABLE), self.prepared_queries.get(query_id)

    def prepared_query_list(self, ws: WatchSet | None) -> tuple[int, list[PreparedQuery]]:
        """Every query, ordered by ID."""
        if ws is not None:
            ws.add(("index", TABLE))
        return self.max_index(TABLE), sorted(self.prepared_queries.rows(), key=lambda q: q.ID)

    def prepared_query_resolve(self, id_or_name: str, source: QuerySource
                               ) -> tuple[int, PreparedQuery | None]:
        """The query an ID or name stands for: by ID, by exact name, then the template
        with the longest name prefixing it (rendered for that name)."""
        if not id_or_name:
            raise StateError(ERR_MISSING_QUERY_ID)
        index, table = self.max_index(TABLE), self.prepared_queries
        if is_uuid(id_or_name):
            query = table.get(id_or_name)
            if query is not None:
                if query.is_template():
                    raise StateError("prepared query templates can only be resolved up by "
                                     "name, not by ID")
                return index, query
        wanted = id_or_name.lower()
        found = table.by("name", wanted)
        query = found[0] if found else None
        if query is None:
            templates = [q for q in table.rows() if q.is_template() and
                         wanted.startswith(q.Name.lower())]
            query = max(templates, key=lambda q: len(q.Name), default=None)
        if query is None or not query.is_template():
            return index, query
        try:
            return index, compile_template(query).render(id_or_name, source.Segment)
        except TemplateError as err:
            raise StateError(str(err)) from None
