"""lib/deadlines: many timeouts, one timer."""

from __future__ import annotations

import asyncio

import pytest

from proconsul.lib.deadlines import Deadlines


async def test_pending_futures_fail_at_their_deadlines_in_order():
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop)
    late, early, done = loop.create_future(), loop.create_future(), loop.create_future()
    deadlines.add(late, 0.05)
    deadlines.add(early, 0.01)
    deadlines.add(done, 0.02)
    done.set_result("kept")
    with pytest.raises(TimeoutError):
        await early
    assert not late.done()
    with pytest.raises(TimeoutError):
        await late
    assert done.result() == "kept"


async def test_finished_futures_leave_the_heap_as_new_ones_come():
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop, error=lambda: RuntimeError("too slow"))
    for _ in range(1000):
        future = loop.create_future()
        deadlines.add(future, 30)
        future.set_result(None)
    assert len(deadlines._heap) == 1
    last = loop.create_future()
    deadlines.add(last, 0.01)
    with pytest.raises(RuntimeError, match="too slow"):
        await last
    deadlines.cancel()
