"""The replication loop over a fake replicated type: rounds, status, backoff, resume."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any

from proconsul.server.replication import replicator
from proconsul.server.replication.diff import Remote
from proconsul.server.replication.replicator import RateLimiter, Replicator
from proconsul.structs.errors import ConsulError


class Fake:
    """A primary with ``remote`` objects and a secondary holding ``here``."""

    name = "things"

    def __init__(self) -> None:
        self.remote: dict[Hashable, Any] = {}
        self.here: dict[Hashable, Any] = {}
        self.index = 1
        self.fail: list[Exception] = []
        self.fetched_from: list[int] = []
        self.applied = 0
        self.changed = asyncio.Event()

    async def fetch(self, primary: str, index: int) -> tuple[int, dict[Hashable, Remote]]:
        self.fetched_from.append(index)
        if self.fail:
            raise self.fail.pop(0)
        if index >= self.index:
            await self.changed.wait()
            self.changed.clear()
        return self.index, {k: Remote(self.index, v) for k, v in self.remote.items()}

    def local(self) -> dict[Hashable, Any]:
        return dict(self.here)

    async def upsert(self, keys: list[Hashable]) -> None:
        self.applied += len(keys)
        self.here.update({k: self.remote[k] for k in keys})

    async def delete(self, keys: list[Hashable]) -> None:
        for k in keys:
            del self.here[k]

    def write(self, **objects: Any) -> None:
        self.remote = dict(objects)
        self.index += 1
        self.changed.set()


async def test_a_round_copies_upserts_and_deletes_and_records_the_index() -> None:
    kind = Fake()
    kind.here = {"stale": 1}
    kind.remote = {"a": 1, "b": 2}
    r = Replicator(kind, "dc1", rate=100, burst=5)
    changes = await r.round()
    assert sorted(changes.upserts) == ["a", "b"] and changes.deletes == ["stale"]
    assert kind.here == {"a": 1, "b": 2}
    assert r.state.replicated_index == 1 and r.state.last_success > 0 and r.state.rounds == 1
    status = r.state.to_json()
    assert status["SourceDatacenter"] == "dc1" and status["ReplicationType"] == "things"


async def test_the_loop_backs_off_on_errors_then_recovers_and_blocks_from_the_last_index(
        monkeypatch) -> None:
    monkeypatch.setattr(replicator, "BACKOFF_MIN", 0.001)
    kind = Fake()
    kind.fail = [ConsulError("No path to datacenter")]
    kind.remote = {"a": 1}
    r = Replicator(kind, "dc1", rate=1000, burst=5)
    task = asyncio.create_task(r.run())
    while kind.here != {"a": 1}:
        await asyncio.sleep(0.001)
    assert r.state.running and r.state.last_error_message == "No path to datacenter"
    kind.write(a=1, b=2)
    while "b" not in kind.here:
        await asyncio.sleep(0.001)
    assert kind.fetched_from[:3] == [0, 0, 1]  # failed, retried, then blocked from index 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert not r.state.running

    # A new run (a new leader) starts from 0 and re-applies nothing already equal.
    applied = kind.applied
    again = Replicator(kind, "dc1", rate=1000, burst=5)
    await again.round()
    assert kind.applied == applied and again.state.replicated_index == kind.index


async def test_the_rate_limiter_allows_a_burst_then_paces() -> None:
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(rate=50, burst=3)
    start = loop.time()
    for _ in range(3):
        await limiter.wait()
    assert loop.time() - start < 0.02
    await limiter.wait()
    assert loop.time() - start >= 0.015


class Saved:
    """Progress kept in a dict, as raft keeps it for the real replicators."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.saves = 0

    def load(self, name: str) -> int:
        return self.index.get(name, 0)

    async def save(self, name: str, index: int) -> None:
        self.saves += 1
        self.index[name] = index


async def test_a_new_run_resumes_from_the_saved_index_and_waits_for_news() -> None:
    kind, saved = Fake(), Saved()
    kind.remote = {"a": 1}
    first = Replicator(kind, "dc1", rate=1000, burst=5, progress=saved)
    await first.round()
    assert saved.index == {"things": 1} and saved.saves == 1

    # The next leader's first fetch blocks from the saved index: no round, no copy.
    kind.fetched_from.clear()
    again = Replicator(kind, "dc1", rate=1000, burst=5, progress=saved)
    task = asyncio.create_task(again.run())
    while not kind.fetched_from:
        await asyncio.sleep(0.001)
    assert kind.fetched_from == [1]  # parked on the primary from the saved index
    assert again.state.replicated_index == 1 and again.state.rounds == 0
    kind.write(a=1, b=2)
    while again.state.rounds < 1:
        await asyncio.sleep(0.001)
    assert kind.applied == 2 and saved.index == {"things": 2}  # "a" once, then "b"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
