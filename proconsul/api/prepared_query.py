"""``/v1/query``: Consul's ``api.PreparedQuery`` (queries are plain dicts with Consul's fields)."""

from __future__ import annotations

from typing import Any

from proconsul.api.errors import APIError
from proconsul.api.options import QueryMeta, QueryOptions, WriteMeta, WriteOptions


class PreparedQuery:
    def __init__(self, client) -> None:
        self.c = client

    def create(self, query: dict[str, Any], w: WriteOptions | None = None
               ) -> tuple[str, WriteMeta]:
        reply, meta = self.c.write("POST", "/v1/query", query, w)
        return reply["ID"], meta

    def update(self, query: dict[str, Any], w: WriteOptions | None = None) -> WriteMeta:
        return self.c.write("PUT", f"/v1/query/{query['ID']}", query, w)[1]

    def list(self, q: QueryOptions | None = None) -> tuple[list[dict], QueryMeta]:
        return self.c.query("/v1/query", q)

    def get(self, query_id: str, q: QueryOptions | None = None
            ) -> tuple[list[dict], QueryMeta]:
        """The query as a one-item list (Consul's shape); an unknown ID raises a 404 APIError."""
        return self.c.query(f"/v1/query/{query_id}", q)

    def delete(self, query_id: str, w: WriteOptions | None = None) -> WriteMeta:
        return self.c.write("DELETE", f"/v1/query/{query_id}", w=w)[1]

    def execute(self, id_or_name: str, q: QueryOptions | None = None, *, limit: int = 0,
                connect: bool = False) -> tuple[dict, QueryMeta]:
        """Run the query (``q.near`` sorts by RTT from a node, ``_agent`` or ``_ip``)."""
        params = [("limit", str(limit))] if limit else []
        if connect:
            params.append(("connect", "true"))
        return self.c.query(f"/v1/query/{id_or_name}/execute", q, params)

    def explain(self, id_or_name: str, q: QueryOptions | None = None) -> tuple[dict, QueryMeta]:
        return self.c.query(f"/v1/query/{id_or_name}/explain", q)

    def exists(self, query_id: str) -> bool:
        try:
            self.get(query_id)
        except APIError as err:
            if err.status == 404:
                return False
            raise
        return True
