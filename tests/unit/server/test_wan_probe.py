"""The WAN router's driver: unreachable servers are routed to again once they answer."""

from __future__ import annotations

import asyncio
import random

from proconsul.rpc.pool import FakePool
from proconsul.server.reconcile import MemberState
from proconsul.server.wan_probe import probe, run_wan_router
from proconsul.server.wan_router import WANRouter

A, B = "10.0.2.1:8300", "10.0.2.2:8300"


def router() -> WANRouter:
    r = WANRouter("dc1", random.Random(2))
    r.update([MemberState(name, address.partition(":")[0],
                          {"role": "consul", "dc": "dc2", "port": "8300"}, "alive")
              for name, address in (("a.dc2", A), ("b.dc2", B))])
    return r


async def pong(request):
    return True


async def test_a_server_that_answers_a_probe_is_routed_to_again() -> None:
    pool = FakePool()
    pool.register(A, "Status.Ping", pong)  # B never answers (nothing registered there)
    r = router()
    r.mark_unreachable("dc2", A)
    r.mark_unreachable("dc2", B)
    task = asyncio.create_task(run_wan_router(r, pool, probe_interval=0.01))
    try:
        async with asyncio.timeout(5):
            while r.is_unreachable(A):
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert r.candidates("dc2") == [A] and r.unreachable() == [("dc2", B)]


async def test_a_probe_that_times_out_drops_the_connection() -> None:
    pool = FakePool()

    async def stuck(request):
        await asyncio.sleep(10)

    pool.register(A, "Status.Ping", stuck)
    assert not await probe(pool, A, timeout=0.02)
    assert pool.dropped == [A]
    pool.register(B, "Status.Ping", pong)
    assert await probe(pool, B)
