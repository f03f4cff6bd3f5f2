"""The routine supervisor: failures are logged, counted and restarted with backoff."""

from __future__ import annotations

import asyncio
import logging

from proconsul.lib.metrics import registry as metrics
from proconsul.lib.routine import RESTARTS_METRIC, RoutineManager, restart_delay


def restarts(label: str) -> float:
    return metrics._counter_totals.get((RESTARTS_METRIC, (("routine", label),)), 0.0)


def test_restart_delay_doubles_up_to_the_cap():
    assert [restart_delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


async def test_a_failing_routine_is_logged_restarted_and_counted(caplog):
    manager = RoutineManager(min_backoff=0.01, max_backoff=0.02)
    runs: list[int] = []
    third = asyncio.Event()

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise OverflowError("int too big to convert")
        third.set()
        await asyncio.Event().wait()

    before = restarts("flaky-test")
    with caplog.at_level(logging.ERROR, "proconsul.lib.routine"):
        manager.start("flaky-test", flaky)
        await asyncio.wait_for(third.wait(), 2)
    [status] = manager.statuses()
    assert (status.running, status.restarts) == (True, 2)
    assert status.last_error == "OverflowError: int too big to convert"
    assert status.to_json()["LastErrorTime"].endswith("Z")
    assert restarts("flaky-test") - before == 2
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["routine flaky-test failed, restarting in 0.01s: OverflowError: int too "
                     "big to convert",
                     "routine flaky-test failed, restarting in 0.02s: OverflowError: int too "
                     "big to convert"]
    await manager.stop_all()
    assert manager.statuses() == [] and manager.running() == []


async def test_an_injected_failure_restarts_the_routine():
    manager = RoutineManager(min_backoff=0.01)
    started = asyncio.Queue()

    async def forever() -> None:
        started.put_nowait(1)
        await asyncio.Event().wait()

    manager.start("loop", forever, label="loop-test")
    await asyncio.wait_for(started.get(), 1)
    assert manager.inject_failure("loop")
    await asyncio.wait_for(started.get(), 1)
    [status] = manager.statuses()
    assert (status.running, status.restarts, status.last_error) == (
        True, 1, "InjectedFailure: killed by a test hook")
    assert not manager.inject_failure("nope")
    await manager.stop("loop")
    assert not manager.is_running("loop")


async def test_a_routine_that_returns_is_done_and_one_name_runs_once():
    manager = RoutineManager()
    gate = asyncio.Event()

    async def once() -> None:
        await gate.wait()

    assert manager.start("once", once)
    assert not manager.start("once", once)
    gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert manager.statuses() == [] and not manager.is_running("once")
    assert manager.start("once", once)
    await manager.stop_all()
