"""One evaluation per watched query: blocking GETs that ask the same thing share a reply.

Blocking reads of one (path, query, token) form a :class:`WatchedQuery`. One
task, the group's evaluator, runs the first waiter's read as it would have run
alone, then the route's handler as a blocking read past the lowest waiting
``?index``; each reply is handed to every waiter whose ``?index`` it passes: the
same response object (one query run and one JSON encoding for all of them). A
waiter whose ``?index`` is behind the group's last reply gets that reply at once.
Later waiters keep their own wait: when it runs out, a waiter gets the group's
last evaluation, as a timed-out blocking query returns its last run.

The token is part of the key, so a waiter never sees a reply computed for
another token's ACL view. Replies are handed out in chunks that yield to the
loop, so a write's own reply is not queued behind the fan-out it caused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from proconsul.agent.http.params import token
from proconsul.lib import httpserver as web
from proconsul.lib.duration import DurationError, parse_duration
from proconsul.lib.httpserver.message import parse_query
from proconsul.server.blocking import max_query_time_ns, query_timeout, wait_seconds

Handler = Callable[[web.Request], Awaitable[web.Response]]

FAN_OUT_CHUNK = 128  # waiters woken per loop turn
_GROUPS = "shared_reads"  # the app's entry holding the groups by key
_NOT_SHARED = frozenset(("cached", "index", "wait"))


def shared(handler: Handler) -> Handler:
    """Serve ``handler``'s blocking GETs through shared evaluations (others as usual)."""

    async def serve(request: web.Request) -> web.Response:
        if request.method != "GET" or not request.query_string:
            return await handler(request)
        query = request.query
        index_text = query.get("index", "")
        if not (index_text.isascii() and index_text.isdigit()) or "cached" in query:
            return await handler(request)
        min_index = int(index_text)
        try:
            wait = parse_duration(query["wait"]) if "wait" in query else 0
        except DurationError:
            return await handler(request)  # it answers the bad ?wait
        if min_index == 0 or min_index >= 1 << 64:
            return await handler(request)
        pairs = [p for p in parse_query(request.query_string) if p[0] not in _NOT_SHARED]
        key = (request.path, tuple(pairs), token(request))
        groups: dict = request.app.setdefault(_GROUPS, {})
        group = groups.get(key)
        if group is None:
            group = groups[key] = WatchedQuery(key, handler, request, pairs, groups)
        return await group.wait(request, min_index, wait)

    serve.__name__ = serve.__qualname__ = getattr(handler, "__name__", "shared")
    serve.__doc__ = handler.__doc__
    return serve


def reply_index(response: web.Response) -> int | None:
    """The X-Consul-Index of a reply (None for replies without one, e.g. errors)."""
    value = response.headers.get("X-Consul-Index")
    return int(value) if value is not None and value.isdigit() else None


class WatchedQuery:
    """The waiters of one blocking read and the task that evaluates it for all of them."""

    def __init__(self, key: tuple, handler: Handler, request: web.Request,
                 pairs: list[tuple[str, str]], groups: dict) -> None:
        self.key = key
        self.handler = handler
        self.groups = groups
        self.waiters: dict[asyncio.Future, int] = {}  # future -> the waiter's ?index
        self.index: int | None = None  # the index of ``reply``
        self.reply: web.Response | None = None  # the last evaluation's
        self._template = request
        self._pairs = pairs
        self._task: asyncio.Task | None = None
        self._first: asyncio.Future | None = None  # the waiter whose read the first run is
        self._first_index = 0

    async def wait(self, request: web.Request, min_index: int, wait_ns: int) -> web.Response:
        """The first reply past ``min_index``; once its wait is over, the last evaluation's.

        The first waiter's read is the group's first run, exactly as it would have
        run alone; later waiters keep their own timers."""
        if self.reply is not None and self.index is not None and self.index > min_index:
            return self.reply
        if self.reply is None and self._task is not None and min_index < self._first_index:
            return await self.handler(request)  # the running read may be past it already
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.waiters[future] = min_index
        timer = None
        if self._task is None:
            self._first, self._first_index = future, min_index
            self._task = loop.create_task(self._evaluate(min_index, wait_ns))
        else:
            timer = loop.call_later(query_timeout(wait_ns), _expire, future)
        try:
            reply = await future
        finally:
            if timer is not None:
                timer.cancel()
            self._leave(future)
        if reply is None:  # this waiter's time ran out
            if self.reply is not None:
                return self.reply
            return await self.handler(_copy(request, urlencode(self._pairs)))
        return reply

    def _leave(self, future: asyncio.Future) -> None:
        """A waiter leaves before being handed a reply; the last one ends the group."""
        if self.waiters.pop(future, None) is not None and not self.waiters:
            if self.groups.get(self.key) is self:
                del self.groups[self.key]
            if self._task is not None:
                self._task.cancel()

    async def _evaluate(self, index: int, wait_ns: int) -> None:
        """Block past ``index`` (the first waiter's read), then past the lowest waiting
        ``?index`` until no waiter is left; hand each reply to the waiters it passes."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                started = loop.time()
                reply = await self.handler(self._at(index, wait_ns))
                new_index = reply_index(reply)
                if new_index is None:  # an error: the same for every waiter
                    await self._hand_out(reply, None)
                    break
                # Back early without passing the index: the state was restored.
                restored = new_index <= index and loop.time() - started < wait_seconds(wait_ns)
                self.reply, self.index = reply, new_index
                first, self._first = self._first, None
                if first is not None and self.waiters.pop(first, None) is not None:
                    first.set_result(reply)  # its own read's answer, even a timed-out one
                await self._hand_out(reply, None if restored else new_index)
                if not self.waiters:
                    break
                # as long as allowed: the waiters' own timers end their waits
                index, wait_ns = min(self.waiters.values()), max_query_time_ns()
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the handler's error goes to every waiter
            for future in list(self.waiters):
                if not future.done():
                    future.set_exception(err)
        finally:
            self._task = None
            if self.groups.get(self.key) is self:
                del self.groups[self.key]

    async def _hand_out(self, reply: web.Response, index: int | None) -> None:
        """Give ``reply`` to the waiters ``index`` passes (to all of them for None)."""
        waiters = self.waiters
        ready = [f for f, m in waiters.items() if index is None or index > m]
        for future in ready:
            del waiters[future]
        for start in range(0, len(ready), FAN_OUT_CHUNK):
            if start:
                await asyncio.sleep(0)
            for future in ready[start:start + FAN_OUT_CHUNK]:
                if not future.done():
                    future.set_result(reply)

    def _at(self, index: int, wait_ns: int) -> web.Request:
        """The template request as a blocking read past ``index`` for ``wait_ns``."""
        pairs = [*self._pairs, ("index", str(index))]
        if wait_ns > 0:
            pairs.append(("wait", f"{wait_ns}ns"))
        return _copy(self._template, urlencode(pairs))


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def _copy(request: web.Request, query_string: str) -> web.Request:
    copy = web.Request(request.method, b"", request.headers, b"", app=request.app)
    copy.path = request.path
    copy.query_string = query_string
    copy.match_info = request.match_info
    copy.route = request.route
    return copy
