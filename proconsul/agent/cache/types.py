"""Cache types: what one kind of cached read fetches, and how its requests are keyed.

A new type is one small subclass naming its RPC method; the defaults make it
a background-refreshing blocking query (Consul's ``RegisterOptionsBlockingRefresh``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, NamedTuple

import msgspec
from msgspec.structs import replace

from proconsul.structs.query import MAX_QUERY_TIME_NS

Rpc = Callable[[str, Any], Awaitable[Any]]

# Query options that say how to read, not what: they never split cache entries.
_HOW_FIELDS = {"Token": "", "MinQueryIndex": 0, "MaxQueryTime": 0, "AllowStale": False,
               "RequireConsistent": False, "UseCache": False, "MaxStaleDuration": 0}


class FetchResult(NamedTuple):
    value: Any
    index: int


class CacheType:
    """One kind of cached read. Subclasses set ``name`` and ``rpc_method``."""

    name: ClassVar[str]
    rpc_method: ClassVar[str]
    refresh: ClassVar[bool] = True      # keep entries fresh with a background blocking query
    blocking: ClassVar[bool] = True     # results carry an index a reader can block on
    query_timeout_ns: ClassVar[int] = MAX_QUERY_TIME_NS

    def key(self, request: Any) -> bytes:
        """What identifies the request within its datacenter and token."""
        what = replace(request, **{f: v for f, v in _HOW_FIELDS.items()
                                   if hasattr(request, f)})
        return msgspec.msgpack.encode(what)

    async def fetch(self, rpc: Rpc, request: Any, min_index: int,
                    last: FetchResult | None) -> FetchResult:
        """One read; blocking on ``min_index`` when it is set. Always stale-allowed."""
        req = replace(request, MinQueryIndex=min_index, MaxQueryTime=self.query_timeout_ns,
                      AllowStale=True, RequireConsistent=False, UseCache=False)
        reply = await rpc(self.rpc_method, req)
        return FetchResult(reply, reply.Index)


class PolledType(CacheType):
    """A read with no index of its own: never refreshed in the background, asked again on
    each fetch, its index a counter that moves only when ``answer`` of the reply does."""

    refresh = False
    blocking = False

    def answer(self, reply: Any) -> Any:
        """What of a reply counts as a change: all of it, unless a subclass says less."""
        return reply

    async def fetch(self, rpc: Rpc, request: Any, min_index: int,
                    last: FetchResult | None) -> FetchResult:
        reply = await rpc(self.rpc_method, replace(request, AllowStale=True, UseCache=False))
        if last is None:
            return FetchResult(reply, 1)
        return FetchResult(reply, last.index + (self.answer(reply) != self.answer(last.value)))


class CatalogDatacenters(PolledType):
    """Datacenter names: no index, so a synthetic one that moves when the list changes."""

    name = "catalog-datacenters"
    rpc_method = "Catalog.ListDatacenters"


class CatalogListServices(CacheType):
    name = "catalog-list-services"
    rpc_method = "Catalog.ListServices"


class CatalogServices(CacheType):
    name = "catalog-services"
    rpc_method = "Catalog.ServiceNodes"


class GatewayServices(CacheType):
    name = "gateway-services"
    rpc_method = "Catalog.GatewayServices"


class HealthServices(CacheType):
    name = "health-services"
    rpc_method = "Health.ServiceNodes"


class PreparedQueryExecute(CacheType):
    """Prepared query results: fetched on a miss or when older than max-age, never
    refreshed in the background (as Consul's ``prepared-query`` type)."""

    name = "prepared-query"
    rpc_method = "PreparedQuery.Execute"
    refresh = False
    blocking = False

    async def fetch(self, rpc: Rpc, request: Any, min_index: int,
                    last: FetchResult | None) -> FetchResult:
        reply = await rpc(self.rpc_method, replace(request, AllowStale=True, UseCache=False))
        return FetchResult(reply, max(reply.Index, 1))
