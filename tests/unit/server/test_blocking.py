"""run_blocking: a read that is woken but finds its index unchanged goes back to waiting."""

from __future__ import annotations

import asyncio

from proconsul.server.blocking import run_blocking
from proconsul.state.watch import WatchRegistry, WatchSet
from proconsul.structs.query import QueryOptions

TOPIC = ("rows", "t")


class Source:
    """A fake store: an index, a watch registry and a count of query runs."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.runs = 0
        self.generation = 0
        self.watches = WatchRegistry()

    def query(self, ws: WatchSet | None) -> int:
        self.runs += 1
        if ws is not None:
            ws.add(TOPIC)
        return self.index

    def block(self, min_index: int, wait: float) -> asyncio.Task:
        opts = QueryOptions(MinQueryIndex=min_index, MaxQueryTime=int(wait * 1e9))
        return asyncio.create_task(
            run_blocking(self.watches, lambda: self.generation, opts, self.query))


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_plain_read_never_answers_zero() -> None:
    source = Source(0)
    assert await run_blocking(source.watches, lambda: 0, QueryOptions(), source.query) == 1


async def test_woken_without_a_newer_index_it_waits_out_its_time() -> None:
    source = Source(7)
    loop = asyncio.get_running_loop()
    start = loop.time()
    task = source.block(7, 0.2)
    await settle()
    for _ in range(3):
        source.watches.fire([TOPIC])
        await settle()
    assert not task.done()
    assert await task == 7
    assert loop.time() - start >= 0.2
    assert source.runs == 4  # the first run and one per wake-up, none after the timeout


async def test_woken_with_a_newer_index_it_returns_at_once() -> None:
    source = Source(7)
    task = source.block(7, 30)
    await settle()
    source.index = 9
    source.watches.fire([TOPIC])
    assert await asyncio.wait_for(task, 1) == 9


async def test_an_index_already_past_the_callers_returns_without_waiting() -> None:
    source = Source(9)
    assert await asyncio.wait_for(source.block(7, 30), 1) == 9
    assert source.runs == 1


async def test_a_restore_returns_even_with_the_same_index() -> None:
    source = Source(7)
    task = source.block(7, 30)
    await settle()
    source.generation += 1
    source.watches.fire_all()
    assert await asyncio.wait_for(task, 1) == 7
