"""The shared blocking-read core: one evaluation per index for all the waiters of a query."""

from __future__ import annotations

import asyncio
import contextlib
from types import SimpleNamespace

import pytest

from proconsul.agent.http.shared_reads import shared
from proconsul.lib import httpserver as web
from proconsul.lib.duration import parse_duration
from proconsul.lib.httpserver.message import Headers


class FakeState:
    """A store with an index: the handler blocks Consul's way on it and counts its runs."""

    def __init__(self) -> None:
        self.index = 5
        self.runs: list[str | None] = []
        self.changed = asyncio.Condition()
        self.fail = False
        self.generation = 0  # moved by a restore, which wakes blocked reads

    async def handler(self, request: web.Request) -> web.Response:
        self.runs.append(request.query.get("index"))
        if self.fail:
            raise ValueError("broken")
        text = request.query.get("index", "0")
        wanted = int(text) if text.isascii() and text.isdigit() else 0  # else a 400, really
        wait = parse_duration(request.query["wait"]) / 1e9 if "wait" in request.query else 60
        generation = self.generation
        async with self.changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait_for(
                    lambda: not wanted or self.index > wanted or self.generation != generation),
                    wait)
        return web.Response(body=f'{{"at":{self.index}}}'.encode(),
                            headers={"X-Consul-Index": str(self.index)})

    async def restore(self, index: int) -> None:
        async with self.changed:
            self.index, self.generation = index, self.generation + 1
            self.changed.notify_all()

    async def write(self) -> None:
        async with self.changed:
            self.index += 1
            self.changed.notify_all()


def request(query: str, app: dict, token: str = "") -> web.Request:
    headers = Headers({"x-consul-token": token}) if token else Headers()
    return web.Request("GET", f"/v1/x?{query}".encode(), headers, b"", app=app)


@pytest.fixture
def app():
    return {"agent": SimpleNamespace(tokens=SimpleNamespace(default=""))}


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_waiters_share_one_evaluation_and_one_reply(app):
    state = FakeState()
    serve = shared(state.handler)
    waiters = [asyncio.create_task(serve(request("index=5&wait=10s", app))) for _ in range(300)]
    await settle()
    assert state.runs == ["5"]  # one blocking read for all of them
    await state.write()
    replies = await asyncio.gather(*waiters)
    assert all(r is replies[0] for r in replies) and replies[0].body == b'{"at":6}'
    assert app["shared_reads"] == {}  # the group ends with its last waiter


async def test_a_late_waiter_gets_the_last_reply_at_once(app):
    state = FakeState()
    serve = shared(state.handler)
    parked = asyncio.create_task(serve(request("index=5", app)))
    await settle()
    behind = await serve(request("index=3", app))  # behind the running read: its own read
    assert behind.body == b'{"at":5}' and state.runs == ["5", "3"]
    ahead = asyncio.create_task(serve(request("index=6", app)))
    await settle()
    await state.write()
    assert (await parked).body == b'{"at":6}'
    await settle()
    late = await serve(request("index=4", app))  # behind the group's last reply: that reply
    assert late.body == b'{"at":6}' and state.runs == ["5", "3", "6"]
    await state.write()
    assert (await ahead).body == b'{"at":7}'


async def test_tokens_and_queries_do_not_share(app):
    state = FakeState()
    serve = shared(state.handler)
    tasks = [asyncio.create_task(serve(request(q, app, token=t)))
             for q, t in (("index=5", "a"), ("index=5", "b"), ("index=5&stale", "a"))]
    await settle()
    assert len(app["shared_reads"]) == 3
    await state.write()
    replies = await asyncio.gather(*tasks)
    assert len({id(r) for r in replies}) == 3


async def test_timed_out_waiters_get_a_read_as_of_their_wait(app):
    state = FakeState()
    serve = shared(state.handler)
    first = asyncio.create_task(serve(request("index=5&wait=10s", app)))
    await settle()
    joined = await serve(request("index=5&wait=20ms", app))  # before any reply: a plain read
    assert joined.headers["X-Consul-Index"] == "5" and state.runs == ["5", None]
    await state.write()
    assert (await first).headers["X-Consul-Index"] == "6"
    alone = await serve(request("index=6&wait=20ms", app))  # the first waiter's own read
    assert alone.headers["X-Consul-Index"] == "6" and state.runs == ["5", None, "6"]


async def test_the_evaluation_stops_when_its_waiters_leave(app):
    state = FakeState()
    serve = shared(state.handler)
    waiter = asyncio.create_task(serve(request("index=5", app)))
    await settle()
    evaluator = app["shared_reads"][next(iter(app["shared_reads"]))]._task
    waiter.cancel()  # the client went away
    await settle()
    assert evaluator.cancelled() and app["shared_reads"] == {}


async def test_an_error_reaches_every_waiter(app):
    state = FakeState()
    state.fail = True
    serve = shared(state.handler)
    results = await asyncio.gather(*(serve(request("index=5", app)) for _ in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results) and state.runs == ["5"]


async def test_plain_reads_and_odd_indexes_go_to_the_handler(app):
    state = FakeState()
    serve = shared(state.handler)
    for query in ("", "index=0", "index=%C2%B2", "index=-1", "index=5&cached"):
        state.runs.clear()
        if query.endswith("cached"):
            task = asyncio.create_task(serve(request(query, app)))
            await settle()
            await state.write()
            await task
        else:
            await serve(request(query, app))
        assert len(state.runs) == 1, query


async def test_a_restore_wakes_every_waiter_with_the_lower_index(app):
    state = FakeState()
    serve = shared(state.handler)
    waiters = [asyncio.create_task(serve(request("index=5&wait=60s", app))) for _ in range(3)]
    await settle()
    await state.restore(3)
    replies = await asyncio.wait_for(asyncio.gather(*waiters), 5)  # not at their wait's end
    assert [r.headers["X-Consul-Index"] for r in replies] == ["3"] * 3
