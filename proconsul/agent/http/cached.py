"""``?cached`` reads: serve through the agent cache and report X-Cache / Age."""

from __future__ import annotations

from typing import Any

from proconsul.agent.cache import CacheControl, CacheResult, CacheType
from proconsul.lib import httpserver as web
from proconsul.structs.errors import BadRequest


def cache_control(request: web.Request) -> CacheControl:
    """The request's Cache-Control directives (400 on a bad number)."""
    try:
        return CacheControl.parse(request.headers.get("Cache-Control", ""))
    except ValueError:
        raise BadRequest("Invalid Cache-Control header.") from None


async def cached_rpc(request: web.Request, ctype: CacheType,
                     req: Any) -> tuple[Any, CacheResult | None]:
    """The reply of ``ctype.rpc_method``: from the cache under ``?cached``, else the RPC."""
    control = cache_control(request)
    agent = request.app["agent"]
    if not req.UseCache:
        return await agent.rpc(ctype.rpc_method, req), None
    result = await agent.cache.get(ctype, req, control)
    return result.value, result


def set_cache_meta(response: web.StreamResponse, result: CacheResult | None) -> web.StreamResponse:
    """``X-Cache: HIT|MISS``, and ``Age`` in whole seconds on a hit."""
    if result is not None:
        response.headers["X-Cache"] = "HIT" if result.hit else "MISS"
        if result.hit:
            response.headers["Age"] = str(round(result.age))
    return response
