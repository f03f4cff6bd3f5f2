"""``/v1/txn``: Consul's ``api.Txn``."""

from __future__ import annotations

import json
from typing import Any

from proconsul.api.client import decode
from proconsul.api.errors import APIError
from proconsul.api.options import QueryMeta, QueryOptions


class Txn:
    def __init__(self, client) -> None:
        self.c = client

    def txn(self, ops: list[dict[str, Any]],
            q: QueryOptions | None = None) -> tuple[bool, dict, QueryMeta]:
        """Apply ``ops``; return (committed, {"Results", "Errors"}, meta). 409 = rolled back."""
        q = q or QueryOptions()
        params = self.c._defaults(q.params(), q.datacenter)
        reply, took = self.c.raw("PUT", "/v1/txn", params, json.dumps(ops).encode(), q.token)
        if reply.status not in (200, 409):
            raise APIError(reply.status, reply.body.decode(errors="replace"))
        return reply.status == 200, decode(reply.body), QueryMeta.from_headers(reply.headers,
                                                                                took)
