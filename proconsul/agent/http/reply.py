"""JSON replies encoded as Consul's Go code writes them."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import msgspec

from proconsul.agent.http.params import set_meta
from proconsul.lib import httpserver as web
from proconsul.structs.query import QueryMeta

_encoder = msgspec.json.Encoder()

MAX_SHARED_BODY_BYTES = 64 << 20


class BodyCache:
    """Encoded JSON of read results that readers share (the store keeps a hot list
    until it changes), by the identity of the result and a variant of its encoding.

    An entry holds its result, so the identity cannot be reused while it is cached.
    The oldest entries go once the bodies pass ``max_bytes``."""

    def __init__(self, max_bytes: int = MAX_SHARED_BODY_BYTES) -> None:
        self._max = max_bytes
        self._bytes = 0
        self._entries: dict[tuple[int, Hashable], tuple[Any, bytes]] = {}

    def body(self, source: Any, variant: Hashable, make: Callable[[], bytes]) -> bytes:
        key = (id(source), variant)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is source:
            return entry[1]
        body = make()
        self._entries[key] = (source, body)
        self._bytes += len(body)
        while self._bytes > self._max and len(self._entries) > 1:
            self._bytes -= len(self._entries.pop(next(iter(self._entries)))[1])
        return body


SHARED_BODIES = BodyCache()


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


def shared_json_reply(request: web.Request, source: Any, meta: QueryMeta,
                      derive: Callable[[Any], Any] | None = None,
                      variant: Hashable = None) -> web.Response:
    """:func:`json_reply` of ``derive(source)``, the body encoded once per ``source``
    object and ``variant`` (which names the ``derive``) while the store shares it."""
    if "pretty" in request.query:
        return json_reply(request, derive(source) if derive else source, meta=meta)
    body = SHARED_BODIES.body(source, variant, lambda: _encoder.encode(
        derive(source) if derive else source))
    response = web.Response(body=body, content_type="application/json")
    set_meta(response, meta)
    return response


def empty_reply(status: int, meta: QueryMeta | None = None) -> web.Response:
    """A reply with no body (e.g. a KV miss: 404 that still carries X-Consul-Index)."""
    response = web.Response(status=status)
    if meta is not None:
        set_meta(response, meta)
    return response
