"""CSR rate limiting: Go rate.Limiter(limit, burst 1) semantics, the concurrency cap,
and Consul's "Rate limit reached, try again later"."""

from __future__ import annotations

import asyncio

import pytest

from proconsul.server.connect.ca import ERR_RATE_LIMITED, CSRLimiter, RateLimited
from proconsul.server.connect.ca.limiter import CSRConcurrencyLimit, CSRRateLimit

# (per_second, [arrival times], [expected wait or "limited"])
RATE_TABLE = [
    (1.0, [0.0], [0.0]),
    (1.0, [0.0, 0.0], [0.0, "limited"]),            # the next token is 1 s away
    (1.0, [0.0, 0.6], [0.0, pytest.approx(0.4)]),  # 0.4 s away: wait for it
    (1.0, [0.0, 0.4], [0.0, "limited"]),           # 0.6 s away: over the 0.5 s budget
    (1.0, [0.0, 0.6, 0.6], [0.0, pytest.approx(0.4), "limited"]),
    (1.0, [0.0, 1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0]),
    (1.0, [0.0, 10.0, 10.0], [0.0, 0.0, "limited"]),  # burst stays 1 after idling
    (4.0, [0.0, 0.0, 0.0, 0.0], [0.0, pytest.approx(0.25), pytest.approx(0.5), "limited"]),
    (50.0, [0.0] * 26, [pytest.approx(i / 50) for i in range(26)]),
    (50.0, [0.0] * 27, [pytest.approx(i / 50) for i in range(26)] + ["limited"]),
]


@pytest.mark.parametrize(("per_second", "arrivals", "expected"), RATE_TABLE)
def test_rate_limit_table(per_second, arrivals, expected):
    bucket = CSRRateLimit(per_second, now=0.0)
    got = []
    for at in arrivals:
        try:
            got.append(bucket.reserve(at))
        except RateLimited as exc:
            assert str(exc) == ERR_RATE_LIMITED == "Rate limit reached, try again later"
            assert exc.status == 429
            got.append("limited")
    assert got == expected


def test_refused_request_consumes_nothing():
    bucket = CSRRateLimit(1.0, now=0.0)
    bucket.reserve(0.0)
    for _ in range(5):
        with pytest.raises(RateLimited):
            bucket.reserve(0.1)
    assert bucket.reserve(0.6) == pytest.approx(0.4)


def test_concurrency_limit():
    limit = CSRConcurrencyLimit(2)
    assert [limit.try_acquire() for _ in range(3)] == [True, True, False]
    limit.release()
    assert limit.try_acquire()
    with pytest.raises(RuntimeError):
        CSRConcurrencyLimit(1).release()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_limiter_per_second_wins_and_disables():
    clock = FakeClock()
    limiter = CSRLimiter(clock)
    limiter.configure(per_second=1.0, max_concurrent=1)
    async with limiter.slot():
        pass
    with pytest.raises(RateLimited):
        async with limiter.slot():
            pass
    limiter.configure(per_second=0, max_concurrent=0)  # 0 disables every limit
    for _ in range(10):
        async with limiter.slot():
            pass


async def test_limiter_concurrency_waits_for_a_slot_then_gives_up():
    limiter = CSRLimiter()
    limiter.configure(per_second=0, max_concurrent=1)
    entered = asyncio.Event()
    release = asyncio.Event()

    async def holder():
        async with limiter.slot():
            entered.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await entered.wait()
    with pytest.raises(RateLimited):  # nobody frees the slot within 0.5 s
        async with limiter.slot():
            pass

    async def waiter():
        async with limiter.slot():
            return "signed"

    second = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    release.set()
    assert await second == "signed"
    await task
