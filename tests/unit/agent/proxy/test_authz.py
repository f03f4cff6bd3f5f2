"""Authorization verdicts remembered briefly, shared by concurrent connections."""

from __future__ import annotations

import asyncio

from proconsul.agent.proxy.agent_api import AgentAPIError
from proconsul.agent.proxy.authz import AuthzCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_verdict_is_kept_for_the_ttl_then_asked_again():
    calls = []

    async def ask(target, uri, serial):
        calls.append((target, uri))
        return len(calls) == 1, f"call {len(calls)}"
    clock = Clock()
    cache = AuthzCache(ask, ttl=1.0, clock=clock)
    assert await cache.authorize("api", "spiffe://x/web", "01") == (True, "call 1")
    clock.now += 0.9
    assert await cache.authorize("api", "spiffe://x/web", "02") == (True, "call 1")
    clock.now += 0.2
    assert await cache.authorize("api", "spiffe://x/web", "03") == (False, "call 2")
    assert await cache.authorize("api", "spiffe://x/db", "03") == (False, "call 3")


async def test_concurrent_connections_share_one_call_and_errors_are_not_kept():
    gate = asyncio.Event()
    calls = 0

    async def ask(target, uri, serial):
        nonlocal calls
        calls += 1
        await gate.wait()
        if calls == 1:
            raise AgentAPIError(0, "agent unreachable")
        return True, "ok"
    cache = AuthzCache(ask)
    waiters = [asyncio.ensure_future(cache.authorize("api", "u", "s")) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert calls == 1 and all(isinstance(r, AgentAPIError) for r in results)
    assert await cache.authorize("api", "u", "s") == (True, "ok")
    assert calls == 2
