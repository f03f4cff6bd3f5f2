"""JSON replies encoded as Consul's Go code writes them."""

from __future__ import annotations

from typing import Any

import msgspec

from proconsul.agent.http.params import set_meta
from proconsul.lib import httpserver as web
from proconsul.structs.query import QueryMeta

_encoder = msgspec.json.Encoder()


def encode(request: web.Request, obj: Any) -> bytes:
    """Compact JSON, or 4-space indented with a trailing newline under ``?pretty``."""
    body = _encoder.encode(obj)
    if "pretty" in request.query:
        body = msgspec.json.format(body, indent=4) + b"\n"
    return body


def json_reply(request: web.Request, obj: Any, status: int = 200,
               meta: QueryMeta | None = None) -> web.Response:
    response = web.Response(body=encode(request, obj), status=status,
                            content_type="application/json")
    if meta is not None:
        set_meta(response, meta)
    return response


def empty_reply(status: int, meta: QueryMeta | None = None) -> web.Response:
    """A reply with no body (e.g. a KV miss: 404 that still carries X-Consul-Index)."""
    response = web.Response(status=status)
    if meta is not None:
        set_meta(response, meta)
    return response
