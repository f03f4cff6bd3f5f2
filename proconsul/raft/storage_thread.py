"""The thread a Raft node's blocking storage calls run in, in order."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

Report = Callable[[Any, BaseException | None], None]
"""``report(result, error)``: how a call's outcome comes back, run on the event loop."""


def settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class StorageThread:
    """One thread that runs blocking storage calls in order, for one event loop.

    :meth:`run` reports a call's outcome straight into the loop (one
    ``call_soon_threadsafe``, no future): the node's persist of each Ready
    goes this way. :meth:`call` wraps the same in a future, for the rare calls
    a coroutine awaits (snapshots, closing).
    """

    def __init__(self, name: str) -> None:
        self._loop = asyncio.get_running_loop()
        self._calls: queue.SimpleQueue[tuple[Callable[..., Any], tuple, Report] | None] = (
            queue.SimpleQueue())
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def run(self, function: Callable[..., Any], args: tuple, report: Report) -> None:
        """Run ``function(*args)`` in the thread, then ``report(result, error)`` on the loop."""
        self._calls.put((function, args, report))

    def call(self, function: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run ``function(*args)`` in the thread; the future gets its result."""
        future = self._loop.create_future()
        self._calls.put((function, args, lambda result, error: settle(future, result, error)))
        return future

    def stop(self) -> None:
        """Let the thread end once the calls already made have run."""
        self._calls.put(None)

    def _serve(self) -> None:
        report_soon = self._loop.call_soon_threadsafe
        while (call := self._calls.get()) is not None:
            function, args, report = call
            try:
                result = function(*args)
            except BaseException as error:  # handed to the caller's report
                report_soon(report, None, error)
            else:
                report_soon(report, result, None)
