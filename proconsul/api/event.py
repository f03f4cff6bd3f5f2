"""``/v1/event``: Consul's ``api.Event``."""

from __future__ import annotations

from proconsul.api.options import QueryMeta, QueryOptions, WriteMeta, WriteOptions
from proconsul.lib.watch import id_to_index  # Consul's Event.IDToIndex

__all__ = ["Event", "id_to_index"]


class Event:
    def __init__(self, client) -> None:
        self.c = client

    def fire(self, name: str, payload: bytes = b"", node: str = "", service: str = "",
             tag: str = "", w: WriteOptions | None = None) -> tuple[str, WriteMeta]:
        params = [(k, v) for k, v in (("node", node), ("service", service), ("tag", tag)) if v]
        event, meta = self.c.write("PUT", f"/v1/event/fire/{name}", w=w, params=params,
                                   raw_body=payload or b"")
        return event["ID"], meta

    def list(self, name: str = "", q: QueryOptions | None = None) -> tuple[list[dict], QueryMeta]:
        events, meta = self.c.query("/v1/event/list", q, [("name", name)] if name else [])
        return events or [], meta
