"""The agent cache against a fake server: refresh, errors, eviction, Cache-Control."""

from __future__ import annotations

import asyncio

import pytest

from proconsul.agent.cache import Cache, CacheControl, CatalogDatacenters, HealthServices
from proconsul.agent.cache.cache import backoff
from proconsul.structs.errors import ConsulError
from proconsul.structs.requests import (
    DCSpecificRequest,
    IndexedCheckServiceNodes,
    ServiceSpecificRequest,
)


class FakeServer:
    """Health.ServiceNodes with an index that moves on ``bump``; blocking like a server."""

    def __init__(self) -> None:
        self.index = 5
        self.calls: list[int] = []
        self.fail: ConsulError | None = None
        self.changed = asyncio.Event()
        self.datacenters = ["dc1"]

    def bump(self) -> None:
        self.index += 1
        self.changed.set()
        self.changed = asyncio.Event()

    async def rpc(self, method: str, req):
        if method == "Catalog.ListDatacenters":
            self.calls.append(0)
            if self.fail:
                raise self.fail
            return list(self.datacenters)
        self.calls.append(req.MinQueryIndex)
        if self.fail:
            raise self.fail
        if req.MinQueryIndex >= self.index:
            await self.changed.wait()
        return IndexedCheckServiceNodes(Index=self.index)


def health(name="web", index=0, wait=0) -> ServiceSpecificRequest:
    return ServiceSpecificRequest(Datacenter="dc1", ServiceName=name, MinQueryIndex=index,
                                  MaxQueryTime=wait, UseCache=True)


@pytest.fixture
async def server():
    return FakeServer()


@pytest.fixture
async def cache(server):
    cache = Cache(server.rpc)
    yield cache
    await cache.stop()


async def test_miss_then_hit_and_background_refresh(server, cache):
    first = await cache.get(HealthServices(), health())
    assert (first.hit, first.index) == (False, 5)
    assert (await cache.get(HealthServices(), health())).hit
    blocked = asyncio.create_task(cache.get(HealthServices(), health(index=5)))
    await asyncio.sleep(0)
    assert not blocked.done()
    server.bump()
    woke = await blocked
    assert (woke.hit, woke.index) == (False, 6)
    assert server.calls[:2] == [0, 5]   # one plain read, then blocking refreshes


async def test_requests_are_keyed_by_what_they_ask(server, cache):
    await cache.get(HealthServices(), health("web"))
    await cache.get(HealthServices(), health("web", index=0, wait=10))
    assert len(cache) == 1
    await cache.get(HealthServices(), health("db"))
    assert len(cache) == 2


async def test_blocking_read_times_out_with_last_value(server, cache):
    await cache.get(HealthServices(), health())
    result = await cache.get(HealthServices(), health(index=5, wait=10_000_000))
    assert (result.hit, result.index) == (False, 5)


async def test_first_error_is_returned_and_refresh_keeps_trying(server, cache):
    server.fail = ConsulError("No cluster leader")
    with pytest.raises(ConsulError, match="No cluster leader"):
        await cache.get(HealthServices(), health())
    server.fail = None
    server.bump()  # the retry may be blocked on nothing; any later read must succeed
    result = await cache.get(HealthServices(), health())
    assert result.index == 6


async def test_age_of_a_refreshing_entry_counts_from_lost_contact(server):
    now = [100.0]
    cache = Cache(server.rpc, clock=lambda: now[0])
    try:
        await cache.get(HealthServices(), health())
        server.fail = ConsulError("rpc error")
        server.bump()  # wakes the refresh, whose next fetch fails
        for _ in range(5):
            await asyncio.sleep(0)
        now[0] = 130.0
        result = await cache.get(HealthServices(), health())
        assert result.hit and result.age == 30.0
    finally:
        await cache.stop()


async def test_max_age_and_stale_if_error(server):
    now = [0.0]
    cache = Cache(server.rpc, clock=lambda: now[0])
    try:
        dcs = DCSpecificRequest(UseCache=True)
        await cache.get(CatalogDatacenters(), dcs)
        now[0] = 10.0
        assert (await cache.get(CatalogDatacenters(), dcs)).age == 10.0
        assert not (await cache.get(CatalogDatacenters(), dcs, CacheControl(max_age=5))).hit
        server.fail = ConsulError("no servers")
        now[0] = 20.0
        with pytest.raises(ConsulError):
            await cache.get(CatalogDatacenters(), dcs, CacheControl(max_age=5))
        stale = await cache.get(CatalogDatacenters(), dcs,
                                CacheControl(max_age=5, stale_if_error=60))
        assert stale.value == ["dc1"] and stale.age == 10.0
    finally:
        await cache.stop()


async def test_datacenters_index_moves_only_when_the_list_changes(server, cache):
    dcs = DCSpecificRequest(UseCache=True)
    revalidate = CacheControl(must_revalidate=True)
    assert (await cache.get(CatalogDatacenters(), dcs)).index == 1
    assert (await cache.get(CatalogDatacenters(), dcs, revalidate)).index == 1
    server.datacenters.append("dc2")
    assert (await cache.get(CatalogDatacenters(), dcs, revalidate)).index == 2


async def test_unread_entries_are_evicted(server):
    cache = Cache(server.rpc, ttl=0.05)
    try:
        await cache.get(HealthServices(), health())
        assert len(cache) == 1
        while len(cache):
            await asyncio.sleep(0.02)
        assert not (await cache.get(HealthServices(), health())).hit
    finally:
        await cache.stop()


def test_cache_control_parsing():
    assert CacheControl.parse("") == CacheControl()
    assert CacheControl.parse("max-age=30, stale-if-error=600") == CacheControl(30, False, 600)
    assert CacheControl.parse("Max-Age=0") == CacheControl(0, True, 0)
    assert CacheControl.parse("must-revalidate, no-cache").must_revalidate
    for bad in ("max-age=x", "max-age=", "stale-if-error=1s"):
        with pytest.raises(ValueError):
            CacheControl.parse(bad)


def test_backoff_grows_after_a_few_failures_and_caps():
    assert backoff(3) == 0
    assert 2 <= backoff(4) <= 4
    assert 60 <= backoff(40) <= 120
