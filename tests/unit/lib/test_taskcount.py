"""The live task count behind consul.runtime.num_goroutines: right, and O(1) to read."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from proconsul.agent.telemetry import record_runtime
from proconsul.lib.metrics import Metrics
from proconsul.lib.taskcount import TaskCounter, live_tasks


async def _scenario() -> None:
    loop = asyncio.get_running_loop()
    release = loop.create_future()
    early = [asyncio.create_task(asyncio.wait_for(asyncio.shield(release), None))
             for _ in range(3)]
    await asyncio.sleep(0)
    assert live_tasks() == len(asyncio.all_tasks())  # counts what ran before it was asked
    late = [asyncio.create_task(asyncio.sleep(3600)) for _ in range(5)]
    assert live_tasks() == len(asyncio.all_tasks()) == 1 + 3 + 5
    late[0].cancel()
    release.set_result(None)
    await asyncio.gather(*early)
    await asyncio.gather(late[0], return_exceptions=True)
    await asyncio.sleep(0)  # done callbacks run in the next turn
    assert live_tasks() == len(asyncio.all_tasks()) == 1 + 4
    for task in late[1:]:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    await asyncio.sleep(0)
    assert live_tasks() == 1


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_live_tasks_follows_tasks_as_they_start_and_finish(run) -> None:
    run(_scenario())


def test_reading_the_gauge_does_not_walk_the_tasks(monkeypatch) -> None:
    async def main() -> float:
        live_tasks()  # installs the counter (the one walk)
        parked = [asyncio.create_task(asyncio.sleep(3600)) for _ in range(100)]

        def walk(*_args: object) -> set:
            raise AssertionError("asyncio.all_tasks() walked every task")

        monkeypatch.setattr(asyncio, "all_tasks", walk)
        metrics = Metrics()
        record_runtime(metrics)
        for task in parked:
            task.cancel()
        return metrics.prometheus()

    assert "consul_runtime_num_goroutines 101" in asyncio.run(main()).splitlines()


def test_a_factory_set_before_is_kept() -> None:
    made = []

    def factory(loop, coro, **kwargs):
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    async def main() -> None:
        asyncio.get_running_loop().set_task_factory(factory)
        live_tasks()
        await asyncio.create_task(asyncio.sleep(0))
        assert isinstance(asyncio.get_running_loop().get_task_factory(), TaskCounter)

    asyncio.run(main())
    assert len(made) >= 1
